/**
 * tapvsadm against the real daemon in the lab: ipvsadm's errors and exit codes with rules left
 * unchanged, save/restore round trip, --set, and a hostile control socket (permissions, garbage,
 * huge requests, 50 concurrent clients) while curl traffic keeps flowing.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { LAB, labDown, labUp, nsExec, run, tapvsadm } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
const VIP = '192.168.222.131';

async function adm(args: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
  const r = await tapvsadm(args, input !== undefined ? { input } : {});
  return { code: r.code, out: r.stdout, err: r.stderr };
}

async function textbook(): Promise<void> {
  for (const a of [
    ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
    ['-a', '-t', `${VIP}:80`, '-r', '192.168.2.130', '-m'],
    ['-a', '-t', `${VIP}:80`, '-r', '192.168.2.129', '-m'],
  ]) {
    const r = await adm(a);
    assert.equal(r.code, 0, r.err);
  }
}

test('tapvsadm errors: ipvsadm messages and exit codes, and the rules stay as they were', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp();
  await textbook();
  const saved = (await adm(['-S', '-n'])).out;
  const cases: Array<[string[], number, RegExp]> = [
    [['-A', '-t', `${VIP}:80`, '-s', 'rr'], 255, /^Service already exists\n$/],
    [['-A', '-t', `${VIP}:81`, '-s', 'nosuch'], 255, /^Scheduler or persistence engine not found\n$/],
    [['-D', '-t', `${VIP}:82`], 255, /^No such service\n$/],
    [['-E', '-t', `${VIP}:82`, '-s', 'rr'], 255, /^No such service\n$/],
    [['-a', '-t', `${VIP}:82`, '-r', '192.168.2.129', '-m'], 255, /^Service not defined\n$/],
    [['-a', '-t', `${VIP}:80`, '-r', '192.168.2.129', '-m'], 255, /^Destination already exists\n$/],
    [['-d', '-t', `${VIP}:80`, '-r', '192.168.2.131'], 255, /^No such destination\n$/],
    [['-A', '-t', '192.168.222.300:80'], 2, /^illegal virtual server address\[:port\] specified\n$/],
    [['-A', '-t', `${VIP}:99999`], 2, /^illegal virtual server address\[:port\] specified\n$/],
    [['-a', '-t', `${VIP}:80`, '-r', '192.168.2.140', '-m', '-w', '70000'], 2, /^illegal weight specified\n$/],
    [['-a', '-t', `${VIP}:80`, '-r', '192.168.2.140', '-m', '-y', '5'], 255, /^Numerical result out of range\n$/],
    [['-L', '-t', `${VIP}:82`], 1, /^No such service\n$/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await adm(args);
    assert.equal(r.code, code, `tapvsadm ${args.join(' ')}: exit ${r.code} ${r.err}`);
    assert.match(r.err, msg, `tapvsadm ${args.join(' ')}`);
  }
  assert.equal((await adm(['-S', '-n'])).out, saved, 'rules unchanged by failed commands');
});

test('save and restore round-trip exactly; a bad rules file is rejected whole with its line number', {
  skip,
}, async (t) => {
  t.after(() => labDown());
  await labUp();
  await textbook();
  assert.equal((await adm(['-A', '-u', `${VIP}:53`, '-s', 'wrr', '-p', '600', '-M', '255.255.255.0'])).code, 0);
  assert.equal((await adm(['-a', '-u', `${VIP}:53`, '-r', '192.168.2.129:5353', '-m', '-w', '3'])).code, 0);
  const saved = (await adm(['-S', '-n'])).out;
  assert.equal((await adm(['-C'])).code, 0);
  assert.equal((await adm(['-S', '-n'])).out, '');
  const r = await adm(['-R'], saved);
  assert.equal(r.code, 0, r.err);
  assert.equal((await adm(['-S', '-n'])).out, saved);
  const bad = `${saved}-a -t ${VIP}:80 -r 192.168.2.131 -m -w 99999\n-A -t ${VIP}:90 -s rr\n`;
  assert.equal((await adm(['-C'])).code, 0);
  const r2 = await adm(['-R'], bad);
  assert.notEqual(r2.code, 0);
  assert.match(r2.err, new RegExp(`line ${saved.split('\n').length}`));
  assert.equal((await adm(['-S', '-n'])).out, '', 'nothing of the bad file was applied');
});

test('--set changes the timeouts shown by --timeout', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp();
  assert.equal((await adm(['-L', '--timeout'])).out, 'Timeout (tcp tcpfin udp): 900 120 300\n');
  assert.equal((await adm(['--set', '600', '0', '60'])).code, 0);
  assert.equal((await adm(['-L', '--timeout'])).out, 'Timeout (tcp tcpfin udp): 600 120 60\n');
});

test('control socket: root only (0600), garbage, huge and concurrent requests never hurt the daemon or the traffic', {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  await labUp();
  await textbook();
  const saved = (await adm(['-S', '-n'])).out;
  const st = statSync(LAB.socket);
  assert.equal(st.mode & 0o777, 0o600);
  // An unprivileged user cannot talk to the daemon.
  const nobody = await run(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, LAB.tapvsadmJs, '-L', '-n'],
    { env: { ...process.env, TAPVS_SOCKET: LAB.socket } },
  );
  assert.notEqual(nobody.code, 0);
  assert.match(nobody.stderr, /Permission denied|EACCES/);
  // Traffic keeps flowing while we abuse the socket.
  const traffic = nsExec(
    LAB.ns.client,
    'sh',
    [
      '-c',
      `ok=0; for i in $(seq 60); do curl -sS --fail --max-time 5 http://${VIP}/ >/dev/null && ok=$((ok+1)); sleep 0.05; done; echo $ok`,
    ],
    { timeoutMs: 90_000 },
  );
  const send = (payload: string | Buffer): Promise<string> =>
    new Promise((resolve) => {
      const s = net.connect(LAB.socket);
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
      });
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
      s.on('connect', () => {
        s.write(payload);
        setTimeout(() => s.end(), 300);
      });
    });
  assert.match(await send('this is not json\n'), /"ok":false.*PROTOCOL/);
  assert.match(await send('{"id":5,"op":"nonsense"}\n'), /"id":5,"ok":false/);
  assert.match(
    await send('{"id":6,"op":"addService","service":{"proto":"tcp","addr":"1.2.3.4","port":"x"}}\n'),
    /"ok":false/,
  );
  assert.match(await send(Buffer.alloc(3 << 20, 0x61)), /larger than/);
  assert.match(await send(Buffer.from([0xff, 0xfe, 0x00, 0x0a])), /"ok":false/);
  // 50 concurrent clients listing and zeroing.
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => adm(i % 2 === 0 ? ['-L', '-n'] : ['-Z'])));
  for (const r of many) assert.equal(r.code, 0, r.err);
  const ok = Number((await traffic).stdout.trim());
  assert.equal(ok, 60, 'every request during the abuse succeeded');
  assert.equal((await adm(['-S', '-n'])).out, saved, 'rules intact');
});
