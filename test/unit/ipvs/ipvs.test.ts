/**
 * The IPVS model's mutators, on numbers only: what ip_vs_ctl.c does to the tables once a request
 * has been validated (control/rule-editor.ts does that part), and the assertions that catch a
 * caller breaking the contract.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Dest } from '../../../src/ipvs/dest.js';
import { type DestSettings, Ipvs, type ServiceSettings, TRASH_IDLE_MAX } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import type { Scheduler } from '../../../src/ipvs/sched/scheduler.js';
import type { Service } from '../../../src/ipvs/service.js';
import { Dir } from '../../../src/ipvs/tcp-state.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../../src/packet/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../../src/packet/tcp.js';
import { ip } from './sched/sched-fixtures.js';

const VIP = ip('192.168.222.131'),
  VIP2 = ip('192.168.222.132'),
  CLIENT = ip('192.168.222.1');
const RS1 = ip('192.168.2.129'),
  RS2 = ip('192.168.2.130');
const NOW = 1_000_000;

function settings(scheduler: Scheduler = createScheduler('rr'), over: Partial<ServiceSettings> = {}): ServiceSettings {
  return { scheduler, schedFlags: 0, persistent: false, timeoutS: 0, netmask: -1, ops: false, ...over };
}
const W1: DestSettings = { weight: 1, uThreshold: 0, lThreshold: 0 };

/** A director with one rr service on VIP:80 and dests RS2 then RS1 (so RS1 is first). */
function director(): { ipvs: Ipvs; svc: Service; d1: Dest; d2: Dest } {
  const ipvs = new Ipvs({ maxConns: 64 });
  const svc = ipvs.addService(IPPROTO_TCP, VIP, 80, settings());
  const d2 = ipvs.addDest(svc, RS2, 80, W1);
  const d1 = ipvs.addDest(svc, RS1, 80, W1);
  return { ipvs, svc, d1, d2 };
}

function connect(ipvs: Ipvs, svc: Service, cport: number): number {
  const id = ipvs.newConnection(svc, IPPROTO_TCP, CLIENT, cport, VIP, 80, NOW);
  assert.ok(id >= 0, `no connection: ${id}`);
  return id;
}

test('ipvs: addService registers the key for the hot path; exactService has no port-0 fallback', () => {
  const ipvs = new Ipvs({ maxConns: 64 });
  const web = ipvs.addService(IPPROTO_TCP, VIP, 80, settings());
  const any = ipvs.addService(
    IPPROTO_TCP,
    VIP,
    0,
    settings(createScheduler('wlc'), { persistent: true, timeoutS: 300 }),
  );
  assert.deepEqual(ipvs.services, [web, any]);
  assert.equal(ipvs.findService(IPPROTO_TCP, VIP, 80), web);
  assert.equal(ipvs.findService(IPPROTO_TCP, VIP, 443), any);
  assert.equal(ipvs.findService(IPPROTO_UDP, VIP, 80), null);
  assert.equal(ipvs.exactService(IPPROTO_TCP, VIP, 80), web);
  assert.equal(ipvs.exactService(IPPROTO_TCP, VIP, 443), null);
  assert.deepEqual(ipvs.vipAddresses(), [VIP], 'a second service on a known VIP is no new VIP');
  assert.equal(any.persistent, true);
  assert.equal(any.timeoutS, 300);
  assert.equal(any.scheduler.name, 'wlc');
});

test('ipvs: addDest puts the newest dest first and gives each an id in destsById', () => {
  const { ipvs, svc, d1, d2 } = director();
  assert.deepEqual(svc.dests, [d1, d2]);
  assert.equal(ipvs.destsById[d1.id], d1);
  assert.equal(ipvs.destsById[d2.id], d2);
  assert.equal(ipvs.svcOfDest(d1), svc);
  assert.equal(svc.findDest(RS1, 80), d1);
});

/**
 * ip_vs_ctl.c, __ip_vs_del_dest() puts every deleted dest in the trash ("dest lives in trash with
 * reference"); ip_vs_dest_trash_expire() runs 60 s after the trash stops being empty and every
 * 60 s after, stamps an unreferenced dest idle at the first run that sees it so, and frees it at
 * the first run 120 s (IP_VS_DEST_TRASH_PERIOD) after that: here 180 s after the delete.
 */
test('ipvs: a deleted dest without connections waits in the trash and is freed 180 s later (ip_vs_dest_trash_expire())', () => {
  const { ipvs, svc, d1 } = director();
  const id = d1.id;
  ipvs.expire(NOW);
  ipvs.deleteDest(svc, d1);
  assert.equal(ipvs.trashSize, 1);
  assert.equal(ipvs.destsById[id], d1, 'kept, with its id');
  const tick = (to: number) => {
    for (let t = NOW; t <= to; t += 100) ipvs.expire(t);
  };
  tick(NOW + 179_900);
  assert.equal(ipvs.trashSize, 1, 'still there just before the third timer run');
  ipvs.expire(NOW + 180_100);
  assert.equal(ipvs.trashSize, 0);
  assert.equal(ipvs.destsById[id], null);
  assert.equal(d1.id, -1);
  const d3 = ipvs.addDest(svc, ip('192.168.2.131'), 80, W1);
  assert.equal(d3.id, id, 'the id is free again');
});

test('ipvs: the trash timer skips a dest while entries reference it and counts its idle time from when they are gone', () => {
  const { ipvs, svc, d1 } = director();
  const conn = connect(ipvs, svc, 40000);
  ipvs.tcpState(conn, Dir.INPUT, TCP_SYN, NOW);
  ipvs.tcpState(conn, Dir.INPUT, TCP_ACK, NOW); // ESTABLISHED: 900 s
  ipvs.expire(NOW);
  ipvs.deleteDest(svc, d1);
  for (let t = NOW; t <= NOW + 300_000; t += 1000) ipvs.expire(t);
  assert.equal(ipvs.trashSize, 1, 'referenced: never freed');
  ipvs.expireNow(conn); // its last connection goes at NOW + 300 s
  for (let t = NOW + 300_000; t <= NOW + 300_000 + 119_000; t += 1000) ipvs.expire(t);
  assert.equal(ipvs.trashSize, 1, 'idle for less than 120 s since a timer run saw it unreferenced');
  for (let t = NOW + 420_000; t <= NOW + 500_000; t += 1000) ipvs.expire(t);
  assert.equal(ipvs.trashSize, 0);
});

/**
 * ip_vs_ctl.c, ip_vs_add_dest() -> ip_vs_trash_get_dest(): a dest deleted and added again to the
 * same service (same address and port) while it is in the trash is the same object, statistics
 * included, even with no connection holding it; __ip_vs_update_dest() zeroes the statistics only
 * when it comes back to another service object with the same key.
 */
test('ipvs: a dest re-added from the trash keeps its statistics; re-added to a re-created service they are zeroed (ip_vs_trash_get_dest())', () => {
  const { ipvs, svc, d1 } = director();
  ipvs.expireNow(connect(ipvs, svc, 40000)); // one connection counted, none left
  ipvs.estimate();
  assert.equal(d1.stats.snapshot().conns, 1);
  ipvs.deleteDest(svc, d1);
  const back = ipvs.addDest(svc, RS1, 80, W1);
  assert.equal(back, d1, 'revived, not new');
  ipvs.estimate();
  assert.equal(back.stats.snapshot().conns, 1, 'statistics kept');
  // The whole service goes and comes back: a new service object with the same key.
  ipvs.deleteService(svc);
  const svc2 = ipvs.addService(IPPROTO_TCP, VIP, 80, settings());
  const again = ipvs.addDest(svc2, RS1, 80, W1);
  assert.equal(again, d1, 'the trash matches the service key, not the object');
  ipvs.estimate();
  assert.equal(again.stats.snapshot().conns, 0, 'zeroed for the other service object');
  assert.equal(ipvs.svcOfDest(again), svc2);
  // Another port of the same VIP is another service key: a fresh dest.
  const svc3 = ipvs.addService(IPPROTO_TCP, VIP, 81, settings());
  ipvs.deleteDest(svc2, again);
  assert.notEqual(ipvs.addDest(svc3, RS1, 80, W1), d1);
});

test('ipvs: the trash keeps at most TRASH_IDLE_MAX unreferenced dests, freeing the oldest', () => {
  const ipvs = new Ipvs({ maxConns: 64 });
  const svc = ipvs.addService(IPPROTO_TCP, VIP, 80, settings());
  const first = ipvs.addDest(svc, ip('10.0.0.1'), 80, W1);
  ipvs.deleteDest(svc, first);
  for (let i = 0; i < TRASH_IDLE_MAX + 50; i++) ipvs.deleteDest(svc, ipvs.addDest(svc, ip('10.1.0.0') + i, 80, W1));
  assert.equal(ipvs.trashSize, TRASH_IDLE_MAX);
  assert.equal(first.id, -1, 'the oldest was freed');
  assert.ok(ipvs.destsById.length <= TRASH_IDLE_MAX + 2, `registry bounded: ${ipvs.destsById.length}`);
});

test('ipvs: a deleted dest with connections waits in the trash and comes back with them when re-added', () => {
  const { ipvs, svc, d1 } = director();
  const conn = connect(ipvs, svc, 40000); // rr: the first dest, RS1
  assert.equal(ipvs.destOf(conn), d1);
  ipvs.deleteDest(svc, d1);
  assert.equal(ipvs.destOf(conn), null, 'packets of a deleted dest are dropped');
  assert.equal(ipvs.svcOfDest(d1), null);
  assert.equal(ipvs.conns.count, 1, 'the connection stays');
  const again = ipvs.addDest(svc, RS1, 80, { weight: 5, uThreshold: 0, lThreshold: 0 });
  assert.equal(again, d1, 'the same dest, revived');
  assert.equal(again.weight, 5);
  assert.equal(ipvs.destOf(conn), d1);
  assert.equal(d1.inactConns, 1);
});

test('ipvs: with expireNodestConn a deleted dest takes its connections along', () => {
  const { ipvs, svc, d1 } = director();
  ipvs.expireNodestConn = true;
  connect(ipvs, svc, 40000);
  assert.equal(ipvs.conns.count, 1);
  ipvs.deleteDest(svc, d1);
  assert.equal(ipvs.conns.count, 0);
  assert.equal(d1.refs, 0, 'nothing holds the dest: it waits in the trash, idle');
  assert.equal(ipvs.trashSize, 1);
});

/**
 * ip_vs_conn.c, ip_vs_expire_nodest_conn_flush(): with expire_nodest_conn, deleting a dest removes
 * every entry of an unavailable dest that controls nothing, persistence templates included, and
 * a controlling template once it controls nothing more; deleting a service does the same for its
 * dests (__ip_vs_del_dest() queues the flush for each).
 */
test('ipvs: expire_nodest_conn flushes connections and their templates of deleted dests (ip_vs_expire_nodest_conn_flush())', () => {
  const ipvs = new Ipvs({ maxConns: 64 });
  ipvs.expireNodestConn = true;
  const svc = ipvs.addService(
    IPPROTO_TCP,
    VIP,
    80,
    settings(createScheduler('rr'), { persistent: true, timeoutS: 300 }),
  );
  const d1 = ipvs.addDest(svc, RS1, 80, W1);
  const a = ipvs.newConnection(svc, IPPROTO_TCP, CLIENT, 40000, VIP, 80, NOW); // template A + connection
  const b = ipvs.newConnection(svc, IPPROTO_TCP, CLIENT + 1, 40000, VIP, 80, NOW); // template B + connection
  assert.ok(a >= 0 && b >= 0);
  ipvs.expireNow(b); // B's template now controls nothing
  assert.deepEqual([ipvs.conns.count, d1.persistConns, d1.refs], [3, 2, 3]);
  ipvs.deleteDest(svc, d1);
  assert.deepEqual([ipvs.conns.count, d1.persistConns, d1.refs], [0, 0, 0], 'connection and both templates gone');

  const svc2 = ipvs.addService(
    IPPROTO_TCP,
    VIP,
    443,
    settings(createScheduler('rr'), { persistent: true, timeoutS: 300 }),
  );
  const d2 = ipvs.addDest(svc2, RS2, 443, W1);
  assert.ok(ipvs.newConnection(svc2, IPPROTO_TCP, CLIENT, 40001, VIP, 443, NOW) >= 0);
  ipvs.deleteService(svc2);
  assert.deepEqual([ipvs.conns.count, d2.refs], [0, 0], 'deleting the service flushes too');
});

test('ipvs: editService keeps the scheduler it is handed again, and binds a different one afresh', () => {
  const { ipvs, svc } = director();
  const rr = svc.scheduler;
  connect(ipvs, svc, 40000); // rr moves on to RS2
  ipvs.editService(svc, settings(rr, { persistent: true, timeoutS: 600, netmask: ip('255.255.255.0') }));
  assert.equal(svc.scheduler, rr);
  assert.equal(svc.persistent, true);
  assert.equal(svc.timeoutS, 600);
  assert.equal(svc.netmask, ip('255.255.255.0'));
  ipvs.editService(svc, settings(rr));
  const second = connect(ipvs, svc, 40001);
  assert.equal(ipvs.conns.daddr[second], RS2, 'rr kept its position');

  let done = 0;
  const old = svc.scheduler;
  old.done = () => {
    done++;
  };
  const wlc = createScheduler('wlc');
  ipvs.editService(svc, settings(wlc, { schedFlags: 0x08 }));
  assert.equal(done, 1, 'the old scheduler was told');
  assert.equal(svc.scheduler, wlc);
  assert.equal(svc.schedFlags, 0x08);
});

test('ipvs: -E with the same wrr keeps its position and current weight (ip_vs_ctl.c, ip_vs_edit_service())', () => {
  const sequence = (edit: boolean): number[] => {
    const ipvs = new Ipvs({ maxConns: 64 });
    const wrr = createScheduler('wrr');
    const svc = ipvs.addService(IPPROTO_TCP, VIP, 80, settings(wrr));
    ipvs.addDest(svc, RS2, 80, { ...W1, weight: 1 });
    ipvs.addDest(svc, RS1, 80, { ...W1, weight: 3 });
    const picks: number[] = [];
    for (let i = 0; i < 8; i++) {
      if (edit && i === 2) ipvs.editService(svc, settings(wrr, { netmask: ip('255.255.255.0') }));
      picks.push(ipvs.conns.daddr[connect(ipvs, svc, 41000 + i)]);
    }
    return picks;
  };
  const plain = sequence(false);
  assert.deepEqual(plain.slice(0, 4).sort(), [RS1, RS1, RS1, RS2].sort(), 'weights 3:1');
  assert.deepEqual(sequence(true), plain, 'the edit did not restart the wrr sequence');
});

test("ipvs: a deleted dest's replies are counted nowhere, not even in the total (ip_vs_core.c, ip_vs_out_stats())", () => {
  const { ipvs, svc, d1, d2 } = director();
  connect(ipvs, svc, 40000); // holds RS1: deleted, it waits in the trash
  ipvs.countOut(d1, 100);
  ipvs.countOut(d2, 100);
  assert.equal(ipvs.total.outPkts, 2);
  ipvs.deleteDest(svc, d1);
  assert.equal(d1.available, false);
  ipvs.countOut(d1, 100);
  assert.equal(ipvs.total.outPkts, 2, 'the deleted dest added to the total');
  assert.equal(d1.stats.outPkts, 1);
  ipvs.countOut(d2, 100);
  assert.equal(ipvs.total.outPkts, 3);
  assert.equal(svc.stats.outPkts, 3);
});

test('ipvs: editDest replaces weight and thresholds; a higher upper threshold lifts the overload', () => {
  const { ipvs, svc, d1 } = director();
  ipvs.editDest(svc, d1, { weight: 3, uThreshold: 1, lThreshold: 0 });
  connect(ipvs, svc, 40000); // RS1 again: rr's first pick
  assert.equal(d1.overloaded, true);
  ipvs.editDest(svc, d1, { weight: 0, uThreshold: 2, lThreshold: 1 });
  assert.equal(d1.overloaded, false);
  assert.deepEqual([d1.weight, d1.lastWeight, d1.uThreshold, d1.lThreshold], [0, 3, 2, 1]);
});

test('ipvs: deleteService and clear remove services and VIPs, never connections', () => {
  const { ipvs, svc } = director();
  const udp = ipvs.addService(IPPROTO_UDP, VIP2, 53, settings());
  connect(ipvs, svc, 40000);
  assert.deepEqual(ipvs.vipAddresses(), [VIP, VIP2]);
  ipvs.deleteService(udp);
  assert.deepEqual(ipvs.services, [svc]);
  assert.deepEqual(ipvs.vipAddresses(), [VIP], 'the VIP of the last service on it goes');
  ipvs.clear();
  assert.deepEqual(ipvs.services, []);
  assert.deepEqual(ipvs.vipAddresses(), []);
  assert.equal(ipvs.findService(IPPROTO_TCP, VIP, 80), null);
  assert.equal(ipvs.conns.count, 1);
  assert.deepEqual(svc.dests, []);
});

test('ipvs: zeroService clears one service and its dests; zeroAll also the total', () => {
  const { ipvs, svc, d1 } = director();
  const other = ipvs.addService(IPPROTO_TCP, VIP, 443, settings());
  connect(ipvs, svc, 40000);
  other.stats.conns = 7;
  ipvs.estimate();
  const shown = (): number[] => [svc, d1, other, ipvs].map((o) => ('total' in o ? o.total : o.stats).snapshot().conns);
  assert.deepEqual(shown(), [1, 1, 7, 1]);
  ipvs.zeroService(svc);
  assert.deepEqual(shown(), [0, 0, 7, 1]);
  ipvs.zeroAll();
  assert.deepEqual(shown(), [0, 0, 0, 0]);
});

test('ipvs: mutators called against their contract fail an assertion, not silently', () => {
  const { ipvs, svc, d1 } = director();
  const other = ipvs.addService(IPPROTO_TCP, VIP, 443, settings());
  assert.throws(() => ipvs.addService(IPPROTO_TCP, VIP, 80, settings()), assert.AssertionError);
  assert.throws(() => ipvs.addDest(svc, RS1, 80, W1), assert.AssertionError);
  assert.throws(() => ipvs.editDest(other, d1, W1), assert.AssertionError);
  assert.throws(() => ipvs.deleteDest(other, d1), assert.AssertionError);
  ipvs.deleteService(other);
  assert.throws(() => ipvs.editService(other, settings()), assert.AssertionError);
  assert.throws(() => ipvs.deleteService(other), assert.AssertionError);
  assert.deepEqual(ipvs.services, [svc], 'nothing changed');
});
