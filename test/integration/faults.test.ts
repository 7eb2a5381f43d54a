/**
 * Faults: a real server's link dies mid-transfer; the director is SIGKILLed and restarted with
 * its rules file; a small MTU on the real servers' side. Root only; the lab is removed in t.after.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobSha256, patternBytes, patternSha256 } from '../../lab/blob.js';
import { LAB, labDown, labUp, nsExec, startTapvsd, tapvsadm } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
const VIP = '192.168.222.131';
const RULES = `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m -w 1\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m -w 1\n`;

function rulesFile(text = RULES): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-rules-')), 'rules');
  writeFileSync(f, text);
  return f;
}

async function spread(n: number): Promise<{ rs1: number; rs2: number; failed: number }> {
  const r = await nsExec(
    LAB.ns.client,
    'sh',
    ['-c', `for i in $(seq ${n}); do curl -sS --fail --max-time 3 http://${VIP}/ || echo FAIL; done`],
    { timeoutMs: 120_000 },
  );
  return {
    rs1: (r.stdout.match(/192\.168\.2\.129/g) ?? []).length,
    rs2: (r.stdout.match(/192\.168\.2\.130/g) ?? []).length,
    failed: (r.stdout.match(/FAIL/g) ?? []).length,
  };
}

test("a real server's link goes down mid-transfer: its connection stays listed; quiesced, new flows go to the other", {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile() });
  // rr picks RS1 (.129, the newest dest) first: a slow download from it. 48 MiB at 4 MiB/s takes
  // about 12 s, well inside the 25 s limit, and is far more than the sockets buffer on the way
  // (16 MiB could sit in them by the time the link went down): only the lost link makes it time
  // out (exit 28).
  const dl = nsExec(
    LAB.ns.client,
    'curl',
    ['-sS', '--limit-rate', '4M', '--max-time', '25', '-o', '/dev/null', `http://${VIP}/bytes?n=50331648`],
    { timeoutMs: 45_000 },
  );
  await new Promise((r) => setTimeout(r, 1000));
  await nsExec(LAB.ns.rs1, 'ip', ['link', 'set', LAB.veth.rs1.name, 'down']);
  const stalled = await dl;
  assert.equal(stalled.code, 28, `the transfer stalls and times out (curl exit ${stalled.code})`);
  const conns = (await tapvsadm(['-L', '-n', '-c'])).stdout;
  // curl gave up: its FIN (CLOSE_WAIT, 60 s) or, with unread data, its RST (CLOSE, 10 s) reached the
  // director, never the real server: the entry stays listed with its server until it times out.
  assert.match(
    conns,
    /TCP \d\d:\d\d +(ESTABLISHED|CLOSE_WAIT|CLOSE) +192\.168\.222\.1:\d+ +192\.168\.222\.131:80 +192\.168\.2\.129:80/,
    'the entry waits for its timeout',
  );
  assert.equal((await tapvsadm(['-e', '-t', `${VIP}:80`, '-r', '192.168.2.129', '-m', '-w', '0'])).code, 0);
  assert.deepEqual(await spread(10), { rs1: 0, rs2: 10, failed: 0 });
  assert.equal((await tapvsadm(['-d', '-t', `${VIP}:80`, '-r', '192.168.2.129'])).code, 0);
  // Deleted: gone from the service, while its connection stays listed with it until it expires.
  assert.doesNotMatch((await tapvsadm(['-L', '-n'])).stdout, /192\.168\.2\.129/);
  assert.match((await tapvsadm(['-L', '-n', '-c'])).stdout, /192\.168\.222\.131:80 +192\.168\.2\.129:80/);
  assert.deepEqual(await spread(4), { rs1: 0, rs2: 4, failed: 0 });
});

test('SIGKILL then restart with the rules file: service resumes, no stale TAP device or socket remains', {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  const rules = rulesFile();
  const info = await labUp({ rules });
  assert.equal((await spread(2)).failed, 0);
  process.kill(info.pids.tapvsd!, 'SIGKILL');
  for (let i = 0; i < 50; i++) {
    const links = (await nsExec(LAB.ns.dir, 'ip', ['-o', 'link', 'show'])).stdout;
    if (!/tapvs-ext|tapvs-int/.test(links)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.doesNotMatch(
    (await nsExec(LAB.ns.dir, 'ip', ['-o', 'link', 'show'])).stdout,
    /tapvs-ext|tapvs-int/,
    'the kernel removed the TAPs',
  );
  assert.equal((await spread(1)).failed, 1, 'nothing answers while the director is down');
  await startTapvsd({ rules });
  const after = await spread(4);
  assert.equal(after.failed, 0);
  assert.equal(after.rs1 + after.rs2, 4);
  assert.match((await tapvsadm(['-S', '-n'])).stdout, /-A -t 192\.168\.222\.131:80 -s rr/);
});

test("a small MTU (1000) on the real servers' network: 50 MB down and 20 MB up (DF set) complete intact", {
  skip,
  timeout: 180_000,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ director: false });
  for (const [ns, dev] of [
    [LAB.ns.rs1, LAB.veth.rs1.name],
    [LAB.ns.rs2, LAB.veth.rs2.name],
  ] as const) {
    await nsExec(ns, 'ip', ['link', 'set', dev, 'mtu', '1000'], { check: true });
  }
  for (const dev of [LAB.veth.rs1.peer, LAB.veth.rs2.peer])
    await nsExec(LAB.ns.dir, 'ip', ['link', 'set', dev, 'mtu', '1000'], { check: true });
  await startTapvsd({ rules: rulesFile() }); // its int TAP takes the bridge's MTU: 1000
  const mtu = (await nsExec(LAB.ns.dir, 'cat', ['/sys/class/net/tapvs-int/mtu'])).stdout.trim();
  assert.equal(mtu, '1000');
  const dl = await nsExec(
    LAB.ns.client,
    'sh',
    ['-c', `curl -sS --fail --max-time 120 http://${VIP}/blob | sha256sum`],
    { timeoutMs: 150_000 },
  );
  assert.equal(dl.code, 0, dl.stderr);
  assert.equal(dl.stdout.split(' ')[0], blobSha256());
  // Upload (Linux TCP sets DF on every segment): the real server counts and hashes what arrived.
  // The lab's pseudo-random pattern, not zeros: a lost, repeated or reordered segment changes the
  // hash (with zeros, any mix-up of equal-length segments would still hash the same).
  const body = join(mkdtempSync(join(tmpdir(), 'tapvs-upload-')), 'body');
  writeFileSync(body, patternBytes(20_000_000));
  const up = await nsExec(
    LAB.ns.client,
    'curl',
    ['-sS', '--fail', '--max-time', '120', '--data-binary', `@${body}`, `http://${VIP}/upload`],
    { timeoutMs: 150_000 },
  );
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, new RegExp(`^RS[12] 20000000 ${patternSha256(20_000_000)}$`, 'm'));
});

/** UDP echo with 1400-byte datagrams, retried: prints how many of 20 came back intact. */
const UDP_PMTU_CLIENT = `
import socket, sys
vip = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
ok = 0
for i in range(20):
    msg = bytes([(i + k) & 0xff for k in range(1400)])
    for attempt in range(6):
        try:
            s.sendto(msg, (vip, 5353))
            data, _ = s.recvfrom(4096)
            if data == msg:
                ok += 1
                break
        except OSError:
            pass
print(ok)
`;
const UDP_ECHO = `const d=require('dgram').createSocket('udp4');d.on('message',(m,r)=>d.send(m,r.port,r.address));d.bind(5353);`;

test('path MTU through the director: 1400-byte UDP with DF to a 1000-byte network; frag needed, then fragments both ways', {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ director: false });
  for (const [ns, dev] of [
    [LAB.ns.rs1, LAB.veth.rs1.name],
    [LAB.ns.rs2, LAB.veth.rs2.name],
  ] as const) {
    await nsExec(ns, 'ip', ['link', 'set', dev, 'mtu', '1000'], { check: true });
  }
  for (const dev of [LAB.veth.rs1.peer, LAB.veth.rs2.peer])
    await nsExec(LAB.ns.dir, 'ip', ['link', 'set', dev, 'mtu', '1000'], { check: true });
  await startTapvsd({ rules: rulesFile(`-A -u ${VIP}:5353 -s rr\n-a -u ${VIP}:5353 -r 192.168.2.129:5353 -m\n`) });
  const { nsSpawn } = await import('../../lab/lab-lib.js');
  nsSpawn(LAB.ns.rs1, process.execPath, ['-e', UDP_ECHO]);
  await new Promise((r) => setTimeout(r, 500));
  const r = await nsExec(LAB.ns.client, 'python3', ['-c', UDP_PMTU_CLIENT, VIP], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Number(r.stdout.trim()), 20, `echoed intact: ${r.stdout}`);
  // The client learnt the path MTU from the director's ICMP fragmentation needed.
  const route = await nsExec(LAB.ns.client, 'ip', ['route', 'get', VIP]);
  assert.match(route.stdout, /mtu 1000/);
  const { ControlClient } = await import('../../src/control/client.js');
  const c = await ControlClient.connect(LAB.socket);
  const st = (await c.request({ op: 'status' })) as { reassembly: { reassembled: number }; fragmentsSent: number };
  c.close();
  assert.ok(st.reassembly.reassembled >= 40, `reassembled ${st.reassembly.reassembled}`);
  assert.ok(st.fragmentsSent >= 40, `fragments sent ${st.fragmentsSent}`);
});
