/**
 * tapvsd under systemd's protocol, in the lab: READY=1 on $NOTIFY_SOCKET once it serves, a SIGHUP
 * (systemctl reload) that applies a changed rules file between RELOADING=1 and READY=1 while a
 * download through the VIP goes on intact, a broken file that changes nothing, STOPPING=1 on
 * SIGTERM. Root only; the lab is built and removed here, also on failure.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobSha256 } from '../../lab/blob.js';
import { LAB, labDown, labUp, nsExec, pidAlive, sleep, startTapvsd, tapvsadm } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';

/** A unix datagram socket (python3: Node has none) printing each datagram as a JSON line. */
function notifyReceiver(path: string): { child: ChildProcessWithoutNullStreams; messages: string[] } {
  const child = spawn('python3', [
    '-c',
    'import json,socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint(json.dumps("bound"),flush=True)\nwhile True: print(json.dumps(s.recv(4096).decode()),flush=True)',
    path,
  ]);
  const messages: string[] = [];
  let buf = '';
  child.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      messages.push(JSON.parse(buf.slice(0, i)) as string);
      buf = buf.slice(i + 1);
    }
  });
  return { child, messages };
}

async function waitFor(messages: string[], pred: (m: string) => boolean, what: string, from = 0): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const at = messages.findIndex((m, j) => j >= from && pred(m));
    if (at >= 0) return at;
    await sleep(50);
  }
  throw new Error(`no ${what} within 10 s; got ${JSON.stringify(messages)}`);
}

test('systemd: READY=1 when serving, SIGHUP reloads a changed file with a download intact, a bad file changes nothing, STOPPING=1', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-service-'));
  const rules = join(dir, 'rules');
  const { vip, rs1, rs2 } = LAB;
  const base = `-A -t ${vip}:80 -s rr\n-a -t ${vip}:80 -r ${rs1}:80 -m -w 1\n-a -t ${vip}:80 -r ${rs2}:80 -m -w 1\n`;
  writeFileSync(rules, base);
  const rx = notifyReceiver(join(dir, 'notify'));
  t.after(async () => {
    rx.child.kill('SIGKILL');
    await labDown();
  });
  await waitFor(rx.messages, (m) => m === 'bound', 'receiver');
  await labUp({ director: false });
  process.env.NOTIFY_SOCKET = join(dir, 'notify');
  let pid: number;
  try {
    pid = await startTapvsd({ rules });
  } finally {
    delete process.env.NOTIFY_SOCKET;
  }
  const ready = await waitFor(rx.messages, (m) => m.startsWith('READY=1'), 'READY=1');
  assert.match(rx.messages[ready] ?? '', /STATUS=1 services, 0 connections/);

  // A download limited to ~5 s, with the reload in its middle.
  const out = join(dir, 'blob');
  const download = nsExec(
    LAB.ns.client,
    'curl',
    ['-sS', '--fail', '--limit-rate', '10M', '--max-time', '60', '-o', out, `http://${vip}/blob`],
    { timeoutMs: 90_000 },
  );
  await sleep(1500);
  writeFileSync(rules, `${base}-A -t ${vip}:8088 -s wrr\n-a -t ${vip}:8088 -r ${rs1}:80 -m -w 3\n`);
  const before = rx.messages.length;
  process.kill(pid, 'SIGHUP');
  const reloading = await waitFor(rx.messages, (m) => m.startsWith('RELOADING=1'), 'RELOADING=1', before);
  const reReady = await waitFor(rx.messages, (m) => m.startsWith('READY=1'), 'READY=1 after reload', reloading);
  assert.match(rx.messages[reReady] ?? '', /STATUS=2 services/);
  const listed = await tapvsadm(['-L', '-n']);
  assert.match(listed.stdout, new RegExp(`TCP  ${vip.replace(/\./g, '\\.')}:8088 wrr`));
  const viaNew = await nsExec(LAB.ns.client, 'curl', ['-sS', '--fail', '--max-time', '5', `http://${vip}:8088/`]);
  assert.equal(viaNew.code, 0, viaNew.stderr);
  assert.match(viaNew.stdout, /^RS1 /);

  const d = await download;
  assert.equal(d.code, 0, d.stderr);
  assert.equal(
    createHash('sha256').update(readFileSync(out)).digest('hex'),
    blobSha256(),
    'download across the reload',
  );

  // A broken file: refused with an error line, the rules and the daemon stay.
  writeFileSync(rules, `${base}-A -t ${vip}:8089 -s nosuchsched\n`);
  const before2 = rx.messages.length;
  process.kill(pid, 'SIGHUP');
  await waitFor(rx.messages, (m) => m.startsWith('READY=1'), 'READY=1 after the refused reload', before2);
  assert.ok(pidAlive(pid));
  assert.match(readFileSync(LAB.log, 'utf8'), /error tapvsd: reload refused: nothing changed/);
  const still = await tapvsadm(['-L', '-n']);
  assert.match(still.stdout, /:8088 wrr/);
  assert.doesNotMatch(still.stdout, /:8089/);

  const before3 = rx.messages.length;
  process.kill(pid, 'SIGTERM');
  await waitFor(rx.messages, (m) => m.startsWith('STOPPING=1'), 'STOPPING=1', before3);
});
