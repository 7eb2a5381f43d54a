/**
 * The Prometheus endpoint scraped during a lab run: node_exporter's ipvs names, and counters that
 * match `tapvsadm -L -n --stats --exact`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB, labDown, labUp, nsExec, tapvsadm } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
const VIP = '192.168.222.131';

test('metrics: node_ipvs_* and tapvs_* series, matching tapvsadm --stats', { skip }, async (t) => {
  t.after(() => labDown());
  const rules = join(mkdtempSync(join(tmpdir(), 'tapvs-rules-')), 'rules');
  writeFileSync(
    rules,
    `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m -w 2\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m -w 1\n`,
  );
  await labUp({ rules, tapvsdArgs: ['--metrics', '127.0.0.1:9180'] });
  const c = await nsExec(
    LAB.ns.client,
    'sh',
    ['-c', `for i in $(seq 12); do curl -sS --fail http://${VIP}/ >/dev/null || exit 1; done`],
    { timeoutMs: 60_000 },
  );
  assert.equal(c.code, 0, c.stderr);
  await new Promise((r) => setTimeout(r, 2300)); // one estimator tick
  const m = await nsExec(LAB.ns.dir, 'curl', ['-sS', '--fail', 'http://127.0.0.1:9180/metrics'], { timeoutMs: 10_000 });
  assert.equal(m.code, 0, m.stderr);
  const stats = (await tapvsadm(['-L', '-n', '--stats', '--exact'])).stdout;
  const svcLine = stats
    .split('\n')
    .find((l) => l.startsWith('TCP'))!
    .trim()
    .split(/\s+/);
  const [conns, inPkts, outPkts, inBytes, outBytes] = svcLine.slice(2).map(Number);
  const val = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(m.stdout)?.[1]);
  assert.equal(val('node_ipvs_connections_total'), conns);
  assert.equal(conns, 12);
  assert.equal(val('node_ipvs_incoming_packets_total'), inPkts);
  assert.equal(val('node_ipvs_outgoing_packets_total'), outPkts);
  assert.equal(val('node_ipvs_incoming_bytes_total'), inBytes);
  assert.equal(val('node_ipvs_outgoing_bytes_total'), outBytes);
  assert.match(
    m.stdout,
    /^node_ipvs_backend_weight\{local_address="192\.168\.222\.131",local_port="80",remote_address="192\.168\.2\.130",remote_port="80",proto="TCP",local_mark=""\} 2$/m,
  );
  assert.match(
    m.stdout,
    /^node_ipvs_backend_connections_inactive\{[^}]*remote_address="192\.168\.2\.129"[^}]*\} \d+$/m,
  );
  assert.match(m.stdout, /^tapvs_drops_total\{link="ext",reason="bad_checksum"\} 0$/m);
  assert.match(m.stdout, /^tapvs_rx_frames_total\{link="ext",device="tapvs-ext"\} [1-9]\d*$/m);
  // The endpoint is on the director namespace's loopback only.
  const outside = await nsExec(LAB.ns.client, 'curl', ['-sS', '--max-time', '2', `http://${VIP}:9180/metrics`], {
    timeoutMs: 10_000,
  });
  assert.notEqual(outside.code, 0);
});
