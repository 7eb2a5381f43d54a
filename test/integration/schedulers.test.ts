/**
 * Schedulers, weights, quiescing and persistence through the lab with real curl traffic.
 * Root only; each test builds the lab and removes it (t.after), also on failure.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobSha256 } from '../../lab/blob.js';
import { LAB, labDown, labUp, nsExec, tapvsadm } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
const VIP = '192.168.222.131';

function rulesFile(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-rules-')), 'rules');
  writeFileSync(f, text);
  return f;
}

/** n sequential curls from the client in one shell; returns how many answers came from RS1 and RS2. */
async function spread(n: number): Promise<{ rs1: number; rs2: number }> {
  const r = await nsExec(
    LAB.ns.client,
    'sh',
    ['-c', `for i in $(seq ${n}); do curl -sS --fail --max-time 5 http://${VIP}/ || echo FAIL; done`],
    { timeoutMs: 120_000 },
  );
  assert.doesNotMatch(r.stdout, /FAIL/, r.stderr);
  return {
    rs1: (r.stdout.match(/192\.168\.2\.129/g) ?? []).length,
    rs2: (r.stdout.match(/192\.168\.2\.130/g) ?? []).length,
  };
}

async function adm(...args: string[]): Promise<string> {
  const r = await tapvsadm(args);
  assert.equal(r.code, 0, `tapvsadm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('wrr with weights 3:1 sends 300 of 400 requests to the heavier server', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({
    rules: rulesFile(
      `-A -t ${VIP}:80 -s wrr\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m -w 3\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m -w 1\n`,
    ),
  });
  assert.deepEqual(await spread(400), { rs1: 300, rs2: 100 });
});

test('sh keeps one client on one server', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({
    rules: rulesFile(
      `-A -t ${VIP}:80 -s sh\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m\n`,
    ),
  });
  const s = await spread(50);
  assert.ok((s.rs1 === 50 && s.rs2 === 0) || (s.rs1 === 0 && s.rs2 === 50), JSON.stringify(s));
  assert.match(await adm('-L', '-n'), /TCP {2}192\.168\.222\.131:80 sh\n/);
});

test('-p keeps a client on one server across connections; the template is listed', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({
    rules: rulesFile(
      `-A -t ${VIP}:80 -s rr -p 30\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m\n`,
    ),
  });
  const s = await spread(20);
  assert.ok(s.rs1 === 20 || s.rs2 === 20, JSON.stringify(s));
  const conns = await adm('-L', '-n', '-c');
  assert.match(
    conns,
    /^TCP 00:[23]\d {2}NONE {8}192\.168\.222\.1:0 +192\.168\.222\.131:80 +192\.168\.2\.1(29|30):80$|^TCP 00:[0-5]\d {2}ASSURED {5}192\.168\.222\.1:0 /m,
  );
  assert.match(await adm('-L', '-n'), /rr persistent 30\n/);
  // --persistent-conn: Weight, PersistConn, ActiveConn, InActConn: one template on the chosen server.
  assert.match(await adm('-L', '-n', '--persistent-conn'), /-> 192\.168\.2\.1(29|30):80 +1 +1 +0 +20 +\n/);
});

test('weight 0 drains a server: an open download finishes intact, new requests go to the other', {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  await labUp({
    rules: rulesFile(
      `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m\n`,
    ),
  });
  // rr's first pick is the newest dest: RS1 (.129). A rate-limited download stays open for ~8 s.
  const out = join(mkdtempSync(join(tmpdir(), 'tapvs-blob-')), 'blob');
  const dl = nsExec(
    LAB.ns.client,
    'curl',
    ['-sS', '--fail', '--limit-rate', '7M', '--max-time', '60', '-o', out, '-w', '%{remote_ip}', `http://${VIP}/blob`],
    { timeoutMs: 90_000 },
  );
  await new Promise((r) => setTimeout(r, 1000));
  await adm('-e', '-t', `${VIP}:80`, '-r', '192.168.2.129', '-m', '-w', '0');
  const during = await adm('-L', '-n');
  assert.match(
    during,
    /-> 192\.168\.2\.129:80 +Masq +0 +1 /,
    'the download is still an active connection on the quiesced server',
  );
  assert.deepEqual(await spread(10), { rs1: 0, rs2: 10 });
  const r = await dl;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), blobSha256());
});
