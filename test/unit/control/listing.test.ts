/**
 * Listings built from the model's state: int32 addresses as dotted quads, protocol numbers as
 * names, flag bits as -b words, connection states and seconds left as ipvsadm shows them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONN_SLICE_ENTRIES, ConnListing, listConns, listServices } from '../../../src/control/listing.js';
import { Ipvs, type ServiceSettings } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import { SCHED_FLAG_2, SCHED_FLAG_3 } from '../../../src/ipvs/service.js';
import { Dir } from '../../../src/ipvs/tcp-state.js';
import { formatIpv4 as formatIp, IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../../../src/packet/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../../src/packet/tcp.js';

function ip(s: string): number {
  const a = parseIpv4(s);
  assert.ok(a !== null, s);
  return a;
}
function settings(name: string, over: Partial<ServiceSettings> = {}): ServiceSettings {
  const schedFlags = over.schedFlags ?? 0;
  return {
    scheduler: createScheduler(name, { flags: schedFlags }),
    schedFlags,
    persistent: false,
    timeoutS: 0,
    netmask: -1,
    ops: false,
    ...over,
  };
}
const W = { weight: 1, uThreshold: 0, lThreshold: 0 };
const NOW = 5_000_000;

test('listing: services and dests in protocol form, newest dest first, gauges and totals', () => {
  const ipvs = new Ipvs({ maxConns: 64 });
  const web = ipvs.addService(IPPROTO_TCP, ip('200.0.0.1'), 80, settings('rr'));
  ipvs.addDest(web, ip('10.0.0.2'), 80, W);
  ipvs.addDest(web, ip('10.0.0.3'), 8080, { weight: 0, uThreshold: 9, lThreshold: 4 });
  const sh = ipvs.addService(
    IPPROTO_UDP,
    ip('200.0.0.1'),
    0,
    settings('sh', {
      schedFlags: SCHED_FLAG_2 | SCHED_FLAG_3,
      persistent: true,
      timeoutS: 300,
      netmask: ip('255.255.255.0'),
      ops: true,
    }),
  );
  const id = ipvs.newConnection(web, IPPROTO_TCP, ip('192.168.222.1'), 40000, ip('200.0.0.1'), 80, NOW);
  assert.ok(id >= 0);
  ipvs.estimate();
  const l = listServices(ipvs, ipvs.services);
  assert.equal(l.connTableSize, ipvs.conns.indexSize);
  assert.equal(l.total.conns, 1);
  assert.equal(l.services.length, 2);
  const [a, b] = l.services;
  assert.deepEqual(a.service, { proto: 'tcp', addr: '200.0.0.1', port: 80 });
  assert.deepEqual(a.config, {
    scheduler: 'rr',
    schedFlags: [],
    persistentS: null,
    netmask: '255.255.255.255',
    ops: false,
  });
  assert.equal(a.stats.conns, 1);
  assert.deepEqual(
    a.dests.map((d) => [d.addr, d.port, d.fwd, d.weight, d.uThreshold, d.lThreshold, d.activeConns, d.inactConns]),
    [
      ['10.0.0.3', 8080, 'masq', 0, 9, 4, 0, 0],
      ['10.0.0.2', 80, 'masq', 1, 0, 0, 0, 1],
    ],
  );
  assert.deepEqual(b.service, { proto: 'udp', addr: '200.0.0.1', port: 0 });
  // sh names bit 2 after itself and keeps flag-3 (ipvsadm.c, print_sched_flags()).
  assert.deepEqual(b.config, {
    scheduler: 'sh',
    schedFlags: ['sh-port', 'flag-3'],
    persistentS: 300,
    netmask: '255.255.255.0',
    ops: true,
  });
  assert.deepEqual(b.dests, []);
  assert.deepEqual(listServices(ipvs, [sh]).services, [b]);
});

test('listing: connections and templates with their states and whole seconds left', () => {
  const ipvs = new Ipvs({ maxConns: 64 });
  const vip = ip('192.168.222.131');
  const web = ipvs.addService(IPPROTO_TCP, vip, 80, settings('rr', { persistent: true, timeoutS: 360 }));
  ipvs.addDest(web, ip('10.0.0.2'), 80, W);
  const dns = ipvs.addService(IPPROTO_UDP, vip, 53, settings('rr'));
  ipvs.addDest(dns, ip('10.0.0.3'), 53, W);
  const ops = ipvs.addService(IPPROTO_UDP, vip, 123, settings('rr', { ops: true }));
  ipvs.addDest(ops, ip('10.0.0.4'), 123, W);

  const tcp = ipvs.newConnection(web, IPPROTO_TCP, ip('192.168.222.1'), 40000, vip, 80, NOW);
  ipvs.tcpState(tcp, Dir.INPUT, TCP_SYN, NOW);
  const udp = ipvs.newConnection(dns, IPPROTO_UDP, ip('192.168.222.1'), 5353, vip, 53, NOW);
  ipvs.udpState(udp, Dir.INPUT, NOW);
  const one = ipvs.newConnection(ops, IPPROTO_UDP, ip('192.168.222.1'), 5000, vip, 123, NOW);
  assert.ok(tcp >= 0 && udp >= 0 && one >= 0);

  const byState = (nowMs: number) => new Map(listConns(ipvs, nowMs).map((c) => [c.state, c]));
  const seen = byState(NOW + 1999);
  assert.deepEqual(
    [...seen.keys()].sort(),
    ['NONE', 'SYN_RECV', 'UDP'],
    'one-packet entries are not hashed, not listed',
  );
  assert.deepEqual(seen.get('SYN_RECV'), {
    proto: 'tcp',
    caddr: '192.168.222.1',
    cport: 40000,
    vaddr: '192.168.222.131',
    vport: 80,
    daddr: '10.0.0.2',
    dport: 80,
    state: 'SYN_RECV',
    expireS: 58,
    template: false,
  });
  assert.deepEqual(seen.get('NONE'), {
    proto: 'tcp',
    caddr: '192.168.222.1',
    cport: 0,
    vaddr: '192.168.222.131',
    vport: 80,
    daddr: '10.0.0.2',
    dport: 80,
    state: 'NONE',
    expireS: 358,
    template: true,
  });
  assert.equal(seen.get('UDP')?.expireS, 298);
  assert.equal(byState(NOW + 3_600_000).get('UDP')?.expireS, 0, 'never negative');

  ipvs.tcpState(tcp, Dir.INPUT, TCP_ACK, NOW);
  assert.equal(byState(NOW).get('ASSURED')?.template, true, 'established: the template is assured');
});

test('listing: -L -c in slices shows every entry once, and entries that come and go during it as /proc does', () => {
  const ipvs = new Ipvs({ maxConns: 8192 });
  const vip = ip('192.168.222.131');
  const web = ipvs.addService(IPPROTO_TCP, vip, 80, settings('rr'));
  ipvs.addDest(web, ip('10.0.0.2'), 80, W);
  const ids: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const id = ipvs.newConnection(web, IPPROTO_TCP, ip('192.168.1.1') + (i >> 10), 1024 + i, vip, 80, NOW);
    ipvs.tcpState(id, Dir.INPUT, TCP_SYN, NOW);
    ids.push(id);
  }
  const listing = new ConnListing(ipvs, () => NOW);
  const seen = new Map<string, number>();
  let slices = 0;
  let created = 0;
  for (let part = listing.next(); part !== null; part = listing.next()) {
    slices++;
    assert.ok(part.length <= CONN_SLICE_ENTRIES, `a slice of ${part.length}`);
    for (const c of part) seen.set(`${c.caddr}:${c.cport}`, (seen.get(`${c.caddr}:${c.cport}`) ?? 0) + 1);
    // Between slices the table changes, as it does between two turns of the daemon's loop.
    const id = ipvs.newConnection(web, IPPROTO_TCP, ip('192.168.9.9'), 2000 + created++, vip, 80, NOW);
    ipvs.tcpState(id, Dir.INPUT, TCP_SYN, NOW);
  }
  assert.ok(slices >= 5000 / CONN_SLICE_ENTRIES, `${slices} slices`);
  for (let i = 0; i < 5000; i++) {
    const key = `${formatIp(ip('192.168.1.1') + (i >> 10))}:${1024 + i}`;
    assert.equal(seen.get(key), 1, `${key} listed once`);
  }
  for (const n of seen.values()) assert.equal(n, 1, 'nothing listed twice');
  // The all-at-once form lists the same table in the same order.
  assert.equal(listConns(ipvs, NOW).length, 5000 + created);
  assert.deepEqual(
    JSON.parse(JSON.stringify(new ConnListing(ipvs, () => NOW))),
    JSON.parse(JSON.stringify(listConns(ipvs, NOW))),
  );
});
