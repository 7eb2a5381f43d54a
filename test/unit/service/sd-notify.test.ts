import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadTapAddon } from '../../../src/link/tap.js';
import { formatLogLine, stderrIsJournal } from '../../../src/log.js';
import { ServiceNotifier } from '../../../src/service/sd-notify.js';

function recorder(): { sent: string[]; send: (p: string, m: string) => number } {
  const sent: string[] = [];
  return {
    sent,
    send: (p, m) => {
      sent.push(`${p}|${m}`);
      return 0;
    },
  };
}

test('sd-notify: READY with STATUS, RELOADING then READY, STOPPING; the variables leave the environment', () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', OTHER: 'x' };
  const r = recorder();
  const n = new ServiceNotifier(env, r.send, 42);
  assert.equal(n.enabled, true);
  assert.deepEqual(Object.keys(env), ['OTHER'], 'NOTIFY_SOCKET is not passed on to scripts tapvsd runs');
  n.ready(() => '2 services', 60_000);
  n.reloading();
  n.reloaded('3 services');
  n.stopping();
  assert.deepEqual(r.sent, [
    '/run/systemd/notify|READY=1\nSTATUS=2 services',
    '/run/systemd/notify|RELOADING=1\nSTATUS=reloading',
    '/run/systemd/notify|READY=1\nSTATUS=3 services',
    '/run/systemd/notify|STOPPING=1\nSTATUS=stopping',
  ]);
});

test('sd-notify: nothing is sent without NOTIFY_SOCKET; the watchdog only for our own pid', () => {
  const r = recorder();
  const off = new ServiceNotifier({}, r.send, 42);
  off.ready(() => 'x');
  off.stopping();
  assert.equal(off.enabled, false);
  assert.deepEqual(r.sent, []);
  const ours = new ServiceNotifier({ NOTIFY_SOCKET: '@n', WATCHDOG_USEC: '10000000', WATCHDOG_PID: '42' }, r.send, 42);
  assert.equal(ours.watchdogIntervalMs, 10_000);
  const other = new ServiceNotifier({ NOTIFY_SOCKET: '@n', WATCHDOG_USEC: '10000000', WATCHDOG_PID: '7' }, r.send, 42);
  assert.equal(other.watchdogIntervalMs, 0, 'a watchdog meant for another process is not ours to feed');
});

test('sd-notify: the addon delivers the datagram to a unix socket; a missing socket is an errno, not a throw', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-notify-'));
  const path = join(dir, 'notify');
  const out = join(dir, 'got');
  // A receiver outside Node (which has no AF_UNIX datagram sockets): one datagram, then exit.
  const rx = spawn('python3', [
    '-c',
    'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\nopen(sys.argv[2],"wb").write(s.recv(4096))',
    path,
    out,
  ]);
  t.after(() => rx.kill('SIGKILL'));
  await new Promise<void>((resolve) => rx.stdout.once('data', () => resolve()));
  assert.equal(loadTapAddon().sdNotify(path, 'READY=1\nSTATUS=ok'), 0);
  await new Promise<void>((resolve) => rx.once('exit', () => resolve()));
  assert.equal(readFileSync(out, 'utf8'), 'READY=1\nSTATUS=ok');
  assert.equal(loadTapAddon().sdNotify(join(dir, 'absent'), 'READY=1'), 2, 'ENOENT');
});

test('log: journald priority prefixes replace the timestamp only when stderr is the journal', () => {
  assert.equal(formatLogLine('error', 'link failed', { link: 'ext' }, true), '<3>error tapvsd: link failed link="ext"');
  assert.equal(formatLogLine('warn', 'w', undefined, true), '<4>warn tapvsd: w');
  assert.equal(formatLogLine('info', 'ready', undefined, true), '<6>info tapvsd: ready');
  assert.equal(formatLogLine('debug', 'd', undefined, true), '<7>debug tapvsd: d');
  assert.equal(
    formatLogLine('info', 'ready', { n: 2 }, false, new Date(0)),
    '1970-01-01T00:00:00.000Z info tapvsd: ready n=2',
  );
  const st = () => ({ dev: 21, ino: 8934 });
  assert.equal(stderrIsJournal('21:8934', st), true);
  assert.equal(stderrIsJournal('21:8935', st), false, 'another stream (stderr redirected to a file)');
  assert.equal(stderrIsJournal(undefined, st), false);
  assert.equal(stderrIsJournal('garbage', st), false);
});
