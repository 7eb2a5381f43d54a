/**
 * ControlDispatcher's sync-daemon requests (startDaemon, stopDaemon, listDaemon): refused without
 * the hook, every field of a hostile payload checked before the hook sees it, the hook's errors
 * passed through, never part of apply and never a rule change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlDispatcher } from '../../../src/control/dispatch.js';
import type { Command, ListResult, Request } from '../../../src/control/protocol.js';
import type {
  SyncDaemonControl,
  SyncDaemonInfo,
  SyncDaemonSettings,
  SyncRole,
} from '../../../src/control/sync-daemon-control.js';
import { type ErrorCode, TapvsError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';

const settings: SyncDaemonSettings = {
  role: 'master',
  mcastInterface: 'int',
  syncid: 7,
  maxlen: 0,
  group: 0,
  port: 0,
  ttl: 0,
};

/** Records what reached it; throws `fail` when set. */
class FakeSyncDaemons implements SyncDaemonControl {
  started: SyncDaemonSettings[] = [];
  stopped: SyncRole[] = [];
  running: SyncDaemonInfo[] = [];
  fail: ErrorCode | null = null;
  start(s: SyncDaemonSettings): void {
    if (this.fail !== null) throw new TapvsError(this.fail, 'refused');
    this.started.push(s);
  }
  stop(role: SyncRole): void {
    if (this.fail !== null) throw new TapvsError(this.fail, 'refused');
    this.stopped.push(role);
  }
  list(): SyncDaemonInfo[] {
    return this.running;
  }
}

function dispatcher(withHook = true) {
  const daemons = new FakeSyncDaemons();
  let rulesChanged = 0;
  const ctl = new ControlDispatcher(new Ipvs({ maxConns: 64 }), {
    ...(withHook ? { syncDaemons: daemons } : {}),
    rulesChanged: () => {
      rulesChanged++;
    },
  });
  const run = (c: unknown): unknown => ctl.handle({ id: 1, ...(c as object) } as Request);
  return { daemons, run, rulesChanged: () => rulesChanged };
}

const fails = (f: () => unknown, code: ErrorCode, message: string | RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof TapvsError);
    assert.equal(e.code, code);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });

test('dispatch daemon: start, stop and list reach the hook; no rule change', () => {
  const { daemons, run, rulesChanged } = dispatcher();
  const group = 0xef000001 | 0; // 239.0.0.1, negative as an int32
  assert.equal(run({ op: 'startDaemon', daemon: { ...settings, group, port: 9000, ttl: 3, maxlen: 1400 } }), null);
  assert.equal(run({ op: 'startDaemon', daemon: { ...settings, role: 'backup', mcastInterface: 'eth0.10' } }), null);
  assert.deepEqual(daemons.started, [
    { ...settings, group, port: 9000, ttl: 3, maxlen: 1400 },
    { ...settings, role: 'backup', mcastInterface: 'eth0.10' },
  ]);
  assert.equal(run({ op: 'stopDaemon', role: 'backup' }), null);
  assert.deepEqual(daemons.stopped, ['backup']);
  daemons.running = [{ ...settings, maxlen: 1472, group: 0xe0000051 | 0, port: 8848, ttl: 1 }];
  assert.deepEqual(run({ op: 'listDaemon' }), { daemons: daemons.running });
  assert.equal(rulesChanged(), 0);
});

test('dispatch daemon: extreme legal values pass unchanged', () => {
  const { daemons, run } = dispatcher();
  const top = { ...settings, mcastInterface: 'abcdefghijklmno', syncid: 255, maxlen: 65507, port: 65535, ttl: 255 };
  run({ op: 'startDaemon', daemon: { ...top, group: 0xe0000000 | 0 } });
  run({ op: 'startDaemon', daemon: { ...top, group: 0xefffffff | 0 } });
  assert.deepEqual(
    daemons.started.map((s) => s.group),
    [0xe0000000 | 0, 0xefffffff | 0],
  );
});

test("dispatch daemon: the hook's errors pass through with their codes", () => {
  const { daemons, run } = dispatcher();
  for (const code of ['DAEMON_EXISTS', 'NO_DEVICE'] as const) {
    daemons.fail = code;
    fails(() => run({ op: 'startDaemon', daemon: settings }), code, 'refused');
  }
  daemons.fail = 'DAEMON_NOT_RUNNING';
  fails(() => run({ op: 'stopDaemon', role: 'master' }), 'DAEMON_NOT_RUNNING', 'refused');
});

test('dispatch daemon: without the hook every daemon op is NOT_SUPPORTED, even a malformed one', () => {
  const { run } = dispatcher(false);
  for (const c of [
    { op: 'startDaemon', daemon: settings },
    { op: 'stopDaemon', role: 'master' },
    { op: 'listDaemon' },
    { op: 'startDaemon' },
  ])
    fails(() => run(c), 'NOT_SUPPORTED', 'connection sync is not available here');
});

test('dispatch daemon: hostile payloads are refused before the hook sees them', () => {
  const { daemons, run } = dispatcher();
  const start = (daemon: unknown) => () => run({ op: 'startDaemon', daemon });
  const bad = (k: keyof SyncDaemonSettings, v: unknown) => start({ ...settings, [k]: v });
  for (const d of [undefined, null, 'master', 7, []]) {
    if (Array.isArray(d)) fails(start(d), 'BAD_ARGUMENT', /^startDaemon: mcastInterface/);
    else fails(start(d), 'PROTOCOL', 'startDaemon: daemon must be an object');
  }
  for (const role of [undefined, 'MASTER', 'both', 1, null, ['master']]) {
    fails(bad('role', role), 'BAD_ARGUMENT', 'daemon role must be master or backup');
    fails(() => run({ op: 'stopDaemon', role }), 'BAD_ARGUMENT', 'daemon role must be master or backup');
  }
  for (const name of [undefined, null, 3, ['int']])
    fails(bad('mcastInterface', name), 'BAD_ARGUMENT', 'startDaemon: mcastInterface must be a link name');
  // Names no device can have: the kernel's answer for a missing device.
  for (const name of ['', 'abcdefghijklmnop', '.', '..', 'a/b', 'eth0:1', 'a b', 'a\nb', 'é'])
    fails(bad('mcastInterface', name), 'NO_DEVICE', 'No such device');
  const ranges: Array<[keyof SyncDaemonSettings, number]> = [
    ['syncid', 255],
    ['maxlen', 65507],
    ['port', 65535],
    ['ttl', 255],
  ];
  for (const [k, max] of ranges) {
    for (const v of [-1, max + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null, undefined, true]) {
      fails(bad(k, v), 'BAD_ARGUMENT', `startDaemon: ${k} must be an integer 0..${max}`);
    }
  }
  for (const g of [2 ** 31, -(2 ** 31) - 1, 1.5, '224.0.0.81', null, undefined])
    fails(bad('group', g), 'BAD_ARGUMENT', 'startDaemon: group must be an int32 IPv4 address');
  // 223.255.255.255, 240.0.0.0, 10.0.0.1: not class D.
  for (const g of [0xdfffffff | 0, 0xf0000000 | 0, 0x0a000001])
    fails(bad('group', g), 'BAD_ARGUMENT', 'startDaemon: group must be multicast');
  assert.deepEqual(daemons.started, []);
  assert.deepEqual(daemons.stopped, []);
});

test('dispatch daemon: daemon ops cannot be part of apply, and nothing in the apply runs', () => {
  const { daemons, run, rulesChanged } = dispatcher();
  const service = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
  const config = { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false };
  for (const c of [
    { op: 'startDaemon', daemon: settings },
    { op: 'stopDaemon', role: 'master' },
    { op: 'listDaemon' },
  ]) {
    fails(
      () => run({ op: 'apply', commands: [{ op: 'addService', service, config }, c as Command] }),
      'PROTOCOL',
      'command 2: daemon commands cannot be part of apply',
    );
  }
  assert.deepEqual((run({ op: 'list', service: null }) as ListResult).services, []);
  assert.deepEqual([daemons.started, daemons.stopped, rulesChanged()], [[], [], 0]);
});
