/**
 * The sync daemons as ipvsadm and keepalived start them (ip_vs_sync.c start_sync_thread(),
 * stop_sync_thread()): one per role, the kernel's defaults and errors, the 20 ms flush timer only
 * while a master runs, and a backup that reads only its link, group and port.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SyncDaemonSettings } from '../../../src/control/sync-daemon-control.js';
import { TapvsError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import { Dir, TcpState } from '../../../src/ipvs/tcp-state.js';
import { IPPROTO_TCP } from '../../../src/packet/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../../src/packet/tcp.js';
import { SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, SyncDaemons } from '../../../src/sync/sync-daemons.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';
import { ip } from '../ipvs/sched/sched-fixtures.js';

const VIP = ip('192.168.222.131'),
  CLIENT = ip('10.1.0.1'),
  RS = ip('192.168.2.129');

function director(): Ipvs {
  const ipvs = new Ipvs({ maxConns: 64 });
  const svc = ipvs.addService(IPPROTO_TCP, VIP, 80, {
    scheduler: createScheduler('rr'),
    schedFlags: 0,
    persistent: false,
    timeoutS: 0,
    netmask: -1,
    ops: false,
  });
  ipvs.addDest(svc, RS, 80, { weight: 1, uThreshold: 0, lThreshold: 0 });
  return ipvs;
}

const LINKS = [
  { name: 'eth0', mtu: 1500 },
  { name: 'jumbo', mtu: 9000 },
];
function settings(over: Partial<SyncDaemonSettings>): SyncDaemonSettings {
  return { role: 'master', mcastInterface: 'eth0', syncid: 0, maxlen: 0, group: 0, port: 0, ttl: 0, ...over };
}
function code(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TapvsError);
    return e.code;
  }
  return 'none';
}

test('sync daemons: one per role, defaults as the kernel fills them, errors as ipvsadm reports them', () => {
  const made: Array<[string, number, number, number]> = [];
  const d = new SyncDaemons(
    director(),
    LINKS,
    (link, group, port, ttl) => {
      made.push([link, group, port, ttl]);
      return { send: () => {} };
    },
    new VirtualClock(),
  );
  assert.equal(
    code(() => d.start(settings({ mcastInterface: 'eth9' }))),
    'NO_DEVICE',
  );
  assert.equal(
    code(() => d.start(settings({ syncid: 256 }))),
    'BAD_ARGUMENT',
  );
  assert.equal(
    code(() => d.start(settings({ group: ip('10.0.0.1') }))),
    'BAD_ARGUMENT',
  );
  assert.equal(
    code(() => d.start(settings({ ttl: 256 }))),
    'BAD_ARGUMENT',
  );
  assert.equal(
    code(() => d.stop('master')),
    'DAEMON_NOT_RUNNING',
  );
  d.start(settings({ role: 'backup', mcastInterface: 'jumbo', syncid: 3 }));
  d.start(settings({ ttl: 4 }));
  assert.equal(
    code(() => d.start(settings({}))),
    'DAEMON_EXISTS',
  );
  assert.deepEqual(made, [['eth0', SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, 4]]);
  assert.deepEqual(d.list(), [
    { role: 'master', mcastInterface: 'eth0', syncid: 0, maxlen: 1472, group: 0xe0000051 | 0, port: 8848, ttl: 4 },
    { role: 'backup', mcastInterface: 'jumbo', syncid: 3, maxlen: 8972, group: 0xe0000051 | 0, port: 8848, ttl: 1 },
  ]);
  d.stop('backup');
  d.start(settings({ role: 'backup', maxlen: 100, port: 9000, group: ip('239.1.2.3') }));
  assert.deepEqual(d.list()[1], {
    role: 'backup',
    mcastInterface: 'eth0',
    syncid: 0,
    maxlen: 1024,
    group: ip('239.1.2.3'),
    port: 9000,
    ttl: 1,
  });
  d.stop('master');
  d.stop('backup');
  assert.deepEqual(d.list(), []);
  assert.equal(d.master, null);
});

test('sync daemons: the flush timer runs only while a master runs; a connection crosses in 2 s', async () => {
  const clock = new VirtualClock();
  const a = director(),
    b = director();
  const backupSide = new SyncDaemons(b, LINKS, () => ({ send: () => {} }), clock);
  const sends: number[] = [];
  const masterSide = new SyncDaemons(
    a,
    LINKS,
    (_link, group, port) => ({
      send: (payload, len) => {
        sends.push(clock.elapsed);
        backupSide.deliver('eth0', group, port, payload, 0, len, clock.now());
      },
    }),
    clock,
  );
  backupSide.start(settings({ role: 'backup', syncid: 7 }));
  assert.equal(clock.pending, 0, 'a backup needs no timer');
  masterSide.start(settings({ syncid: 7 }));
  assert.equal(clock.pending, 1);
  const master = masterSide.master!;
  const id = a.newConnection(a.services[0], IPPROTO_TCP, CLIENT, 40000, VIP, 80, clock.now());
  const flags = [TCP_SYN, TCP_ACK, TCP_ACK];
  for (const f of flags) {
    a.conns.pkts[id]++;
    a.tcpState(id, Dir.INPUT, f, clock.now());
    master.afterInbound(id, clock.now());
  }
  await clock.advance(1990);
  assert.deepEqual(sends, []);
  await clock.advance(30);
  assert.deepEqual(sends, [2000], 'the first 20 ms tick at which the message is 2 s old');
  const bid = b.conns.lookupIn(IPPROTO_TCP, CLIENT, 40000, VIP, 80, false);
  assert.ok(bid >= 0);
  assert.equal(b.conns.state[bid], TcpState.ESTABLISHED);
  const st = masterSide.status();
  assert.deepEqual(JSON.parse(JSON.stringify(st)), st, 'plain JSON');
  assert.equal(st.master?.messages, 1);
  assert.equal(st.master?.entries, 1);
  assert.equal(st.backup, null);
  const bs = backupSide.status().backup!;
  assert.deepEqual([bs.messages, bs.bytes, bs.installed, bs.syncid], [1, 44, 1, 7]);
  masterSide.stop('master');
  assert.equal(clock.pending, 0, 'stopping the master stops its timer');
  await clock.advance(10_000);
  assert.deepEqual(sends, [2000]);
});

test('sync daemons: the backup reads only its link, group and port, and no message longer than its maxlen', () => {
  const b = director();
  const d = new SyncDaemons(b, LINKS, () => ({ send: () => {} }), new VirtualClock());
  const msg = new Uint8Array(2000);
  msg.set([0, 0, 0, 8, 0, 1, 0, 0]); // an empty v1 message of 8 bytes
  d.deliver('eth0', SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, msg, 0, 8, 0); // no backup: ignored
  d.start(settings({ role: 'backup', syncid: 1 }));
  d.deliver('jumbo', SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, msg, 0, 8, 0);
  d.deliver('eth0', ip('224.0.0.82'), SYNC_DEFAULT_PORT, msg, 0, 8, 0);
  d.deliver('eth0', SYNC_DEFAULT_GROUP, 8849, msg, 0, 8, 0);
  assert.equal(d.status().backup?.messages, 0);
  d.deliver('eth0', SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, msg, 0, 8, 0);
  assert.deepEqual(d.status().backup?.dropped, { syncid_mismatch: 1 });
  d.deliver('eth0', SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, msg, 0, 1473, 0);
  assert.deepEqual(d.status().backup?.dropped, { syncid_mismatch: 1, longer_than_maxlen: 1 });
  msg[1] = 1;
  d.deliver('eth0', SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, msg, 0, 8, 0);
  assert.equal(d.status().backup?.messages, 2);
  assert.equal(Object.values(d.status().backup?.dropped ?? {}).length, 2, 'the empty message of syncid 1 was read');
});
