/**
 * The IPVS model's mutators, on numbers only: what ip_vs_ctl.c does to the tables once a request
 * has been validated (control/rule-editor.ts does that part), and the assertions that catch a
 * caller breaking the contract.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Dest } from '../../../src/ipvs/dest.js';
import { type DestSettings, Ipvs, type ServiceSettings } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import type { Scheduler } from '../../../src/ipvs/sched/scheduler.js';
import type { Service } from '../../../src/ipvs/service.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../../src/packet/ipv4.js';
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

test('ipvs: a deleted dest without connections frees its id for the next one', () => {
  const { ipvs, svc, d1 } = director();
  const id = d1.id;
  ipvs.deleteDest(svc, d1);
  assert.equal(ipvs.destsById[id], null);
  assert.equal(d1.id, -1);
  const d3 = ipvs.addDest(svc, ip('192.168.2.131'), 80, W1);
  assert.equal(d3.id, id);
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
  const id = d1.id;
  ipvs.deleteDest(svc, d1);
  assert.equal(ipvs.conns.count, 0);
  assert.equal(ipvs.destsById[id], null, 'nothing holds the dest: it is freed, not trashed');
  assert.equal(d1.refs, 0);
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
