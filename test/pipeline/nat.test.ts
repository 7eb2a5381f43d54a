/**
 * Frames in -> frames out through the real dataplane over loopback links (no root): the
 * textbook LVS-NAT director, checked field by field with independently computed checksums.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Drop } from '../../src/dataplane/drops.js';
import { ConnFlag } from '../../src/ipvs/conn-table.js';
import { TcpState } from '../../src/ipvs/tcp-state.js';
import {
  CLIENT,
  CLIENT_MAC,
  DIP,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  RS2_MAC,
  resolveNeighbours,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { ACK, arpFrame, decode, FIN, ICMP, ip, ipFrame, RST, SYN, TCP, UDP } from '../helpers/frames.js';

const ZERO = new Uint8Array(6);
const hexMac = (m: Uint8Array): string => Array.from(m, (x) => x.toString(16).padStart(2, '0')).join(':');
const svcKey = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };

function syn(sport: number, o: { ttl?: number; flags?: number; seq?: number } = {}): Buffer {
  return ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    { proto: TCP, sport, dport: 80, flags: o.flags ?? SYN, seq: o.seq ?? 1000 },
    o.ttl !== undefined ? { ttl: o.ttl } : {},
  );
}

test('ARP: the director answers for the VIP on ext and the DIP on int, with its own MAC', () => {
  const td = makeDirector();
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VIP)]);
  const [r] = td.ext.take();
  const d = decode(r);
  assert.equal(d.arpOp, 2);
  assert.equal(d.srcMac, hexMac(EXT_MAC));
  assert.equal(d.dstMac, hexMac(CLIENT_MAC));
  assert.equal(d.arpSpa, '192.168.222.131');
  assert.equal(d.arpTpa, '192.168.222.1');
  assert.deepEqual(r.subarray(22, 28), Buffer.from(EXT_MAC));
  td.send('int', [arpFrame(1, RS1_MAC, RS1, ZERO, DIP)]);
  assert.equal(decode(td.int.take()[0]).arpSpa, '192.168.2.136');
});

test('ARP: no answer for an address the director does not own, nor for the DIP on the wrong link', () => {
  const td = makeDirector();
  td.send('ext', [
    arpFrame(1, CLIENT_MAC, CLIENT, ZERO, ip('192.168.222.77')),
    arpFrame(1, CLIENT_MAC, CLIENT, ZERO, DIP),
  ]);
  assert.equal(td.ext.take().length, 0);
});

test('ICMP echo to the VIP is answered with valid checksums and TTL 64', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
      proto: ICMP,
      type: 8,
      rest: 0x12340001,
      payload: Buffer.from('ping!ping!'),
    }),
  ]);
  const [r] = td.ext.take();
  const d = decode(r);
  assert.equal(d.icmpType, 0);
  assert.equal(d.src, '192.168.222.131');
  assert.equal(d.dst, '192.168.222.1');
  assert.equal(d.icmpRest, 0x12340001);
  assert.equal(d.payload?.toString(), 'ping!ping!');
  assert.ok(d.ipCsumOk);
  assert.ok(d.l4CsumOk);
  assert.equal(d.dstMac, hexMac(CLIENT_MAC));
});

test('client SYN to VIP:80 leaves on the internal link DNATed to RS1, then RS2 (rr, newest dest first)', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000), syn(40001), syn(40002)]);
  const out = td.int.take().map(decode);
  assert.deepEqual(
    out.map((d) => d.dst),
    ['192.168.2.129', '192.168.2.130', '192.168.2.129'],
  );
  for (const d of out) {
    assert.equal(d.src, '192.168.222.1');
    assert.equal(d.dport, 80);
    assert.equal(d.srcMac, hexMac(INT_MAC));
    assert.equal(d.ttl, 63);
    assert.ok(d.ipCsumOk, 'ip checksum');
    assert.ok(d.l4CsumOk, 'tcp checksum');
  }
  assert.equal(out[0].dstMac, hexMac(RS1_MAC));
  assert.equal(out[1].dstMac, hexMac(RS2_MAC));
});

test('the real server reply is SNATed back to VIP:80 with valid checksums', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000)]);
  td.int.take();
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, {
      proto: TCP,
      sport: 80,
      dport: 40000,
      flags: SYN | ACK,
      seq: 5000,
      ack: 1001,
    }),
  ]);
  const [r] = td.ext.take();
  const d = decode(r);
  assert.equal(d.src, '192.168.222.131');
  assert.equal(d.sport, 80);
  assert.equal(d.dst, '192.168.222.1');
  assert.equal(d.dport, 40000);
  assert.equal(d.flags, SYN | ACK);
  assert.equal(d.dstMac, hexMac(CLIENT_MAC));
  assert.ok(d.ipCsumOk);
  assert.ok(d.l4CsumOk);
});

test('a real server port different from the service port is rewritten both ways', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.run({
    op: 'addService',
    service: svcKey,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({
    op: 'addDest',
    service: svcKey,
    dest: { addr: '192.168.2.129', port: 8080 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  td.send('ext', [syn(40000)]);
  const d = decode(td.int.take()[0]);
  assert.equal(d.dport, 8080);
  assert.ok(d.l4CsumOk);
  td.send('int', [ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: TCP, sport: 8080, dport: 40000, flags: SYN | ACK })]);
  const e = decode(td.ext.take()[0]);
  assert.equal(e.sport, 80);
  assert.ok(e.l4CsumOk);
});

test('IPVS TCP states and gauges through a whole connection (client closes first)', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  const c = td.ipvs.conns;
  const rs1 = (): { a: number; i: number } => {
    const d = td.ipvs.services[0].findDest(RS1, 80)!;
    return { a: d.activeConns, i: d.inactConns };
  };
  td.send('ext', [syn(40000)]);
  const id = c.lookupIn(TCP, CLIENT, 40000, VIP, 80, false);
  assert.ok(id >= 0);
  assert.equal(c.state[id], TcpState.SYN_RECV);
  assert.deepEqual(rs1(), { a: 1, i: 0 });
  const fromRs = (flags: number): Buffer =>
    ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags });
  td.send('int', [fromRs(SYN | ACK)]);
  assert.equal(c.state[id], TcpState.SYN_RECV);
  td.send('ext', [syn(40000, { flags: ACK })]);
  assert.equal(c.state[id], TcpState.ESTABLISHED);
  assert.equal(c.timeoutMs[id], 900_000);
  td.send('ext', [syn(40000, { flags: FIN | ACK })]);
  assert.equal(c.state[id], TcpState.CLOSE_WAIT);
  assert.deepEqual(rs1(), { a: 0, i: 1 });
  td.send('int', [fromRs(FIN | ACK)]);
  assert.equal(c.state[id], TcpState.TIME_WAIT);
  assert.equal(c.timeoutMs[id], 120_000);
});

test('a TCP ACK to the VIP without a connection is not scheduled: RST from the VIP', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40010, { flags: ACK, seq: 7 })]);
  assert.equal(td.int.take().length, 0);
  assert.equal(td.ipvs.conns.count, 0);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.flags, RST);
  assert.equal(d.src, '192.168.222.131');
  assert.equal(d.sport, 80);
  assert.equal(d.dport, 40010);
  assert.ok(d.l4CsumOk);
  assert.equal(td.dp.ports[0].drops[Drop.LocalUnreachable], 1);
});

test('a SYN to a VIP port without a service gets RST|ACK acknowledging the SYN', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 81, flags: SYN, seq: 99 }),
  ]);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.flags, RST | ACK);
  assert.equal(d.ack, 100);
  assert.equal(d.seq, 0);
});

test('UDP to a VIP port without a service gets ICMP port unreachable quoting the datagram', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: Buffer.from('q') }),
  ]);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.icmpType, 3);
  assert.equal(d.icmpCode, 3);
  assert.equal(d.src, '192.168.222.131');
  assert.ok(d.l4CsumOk);
  assert.equal(d.payload!.readInt32BE(16), VIP); // quoted IP header: dst VIP
});

test('UDP service: DNAT in, SNAT out, a zero UDP checksum stays zero', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  const u = { proto: 'udp' as const, addr: '192.168.222.131', port: 53 };
  td.run({
    op: 'addService',
    service: u,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({
    op: 'addDest',
    service: u,
    dest: { addr: '192.168.2.129', port: 53 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: Buffer.from('query') }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
      proto: UDP,
      sport: 5354,
      dport: 53,
      payload: Buffer.from('query'),
      noCsum: true,
    }),
  ]);
  const [a, b] = td.int.take().map(decode);
  assert.equal(a.dst, '192.168.2.129');
  assert.ok(a.l4CsumOk);
  assert.equal(b.dst, '192.168.2.129');
  assert.equal(td.int.sent.length, 0);
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: UDP, sport: 53, dport: 5353, payload: Buffer.from('answer') }),
  ]);
  const r = decode(td.ext.take()[0]);
  assert.equal(r.src, '192.168.222.131');
  assert.ok(r.l4CsumOk);
  const id = td.ipvs.conns.lookupIn(UDP, CLIENT, 5353, VIP, 53, false);
  assert.equal(td.ipvs.conns.timeoutMs[id], 300_000);
  const dest = td.ipvs.services[0].dests[0];
  assert.equal(dest.activeConns, 0);
  assert.equal(dest.inactConns, 2);
});

test('counters: Conns, InPkts/OutPkts and IP-length bytes on dest, service and total', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000)]);
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, {
      proto: TCP,
      sport: 80,
      dport: 40000,
      flags: SYN | ACK,
      payload: Buffer.alloc(10),
    }),
  ]);
  const svc = td.ipvs.services[0];
  const d = svc.findDest(RS1, 80)!;
  for (const s of [d.stats, svc.stats, td.ipvs.total]) {
    assert.equal(s.conns, 1);
    assert.equal(s.inPkts, 1);
    assert.equal(s.inBytes, 40);
    assert.equal(s.outPkts, 1);
    assert.equal(s.outBytes, 50);
  }
});

test('an unresolved real server: ARP request from the DIP, frame parked, sent on the reply', () => {
  const td = makeDirector();
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VIP)]);
  td.ext.take();
  textbookService(td);
  td.send('ext', [syn(40000)]);
  const [req] = td.int.take().map(decode);
  assert.equal(req.arpOp, 1);
  assert.equal(req.arpSpa, '192.168.2.136');
  assert.equal(req.arpTpa, '192.168.2.129');
  td.send('int', [arpFrame(2, RS1_MAC, RS1, INT_MAC, DIP)]);
  const [f] = td.int.take().map(decode);
  assert.equal(f.dst, '192.168.2.129');
  assert.equal(f.dstMac, hexMac(RS1_MAC));
  assert.ok(f.l4CsumOk);
});

test('a deleted real server: packets of its connections are dropped, the entry stays until it expires', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000)]);
  td.int.take();
  td.run({ op: 'deleteDest', service: svcKey, dest: { addr: '192.168.2.129', port: 80 } });
  td.send('ext', [syn(40000, { flags: ACK })]);
  assert.equal(td.int.take().length, 0);
  assert.equal(td.dp.ports[0].drops[Drop.DestUnavailable], 1);
  assert.equal(td.ipvs.conns.count, 1);
  td.now += 61_000;
  td.dp.tick(td.now);
  assert.equal(td.ipvs.conns.count, 0);
});

test('SYN_RECV entries expire after 60 s and release the gauge', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000)]);
  const d = td.ipvs.services[0].findDest(RS1, 80)!;
  td.dp.tick(td.now);
  td.now += 59_000;
  td.dp.tick(td.now);
  assert.equal(td.ipvs.conns.count, 1);
  td.now += 2_000;
  td.dp.tick(td.now);
  assert.equal(td.ipvs.conns.count, 0);
  assert.equal(d.activeConns + d.inactConns, 0);
});

test('a SYN reusing a TIME_WAIT entry is scheduled afresh (conn_reuse_mode 1)', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000)]);
  const id = td.ipvs.conns.lookupIn(TCP, CLIENT, 40000, VIP, 80, false);
  td.ipvs.conns.state[id] = TcpState.TIME_WAIT;
  td.ipvs.conns.flags[id] &= ~ConnFlag.ACTIVE;
  const d1 = td.ipvs.services[0].findDest(RS1, 80)!;
  d1.activeConns--;
  d1.inactConns++;
  td.int.take();
  td.send('ext', [syn(40000)]);
  const [f] = td.int.take().map(decode);
  assert.equal(f.dst, '192.168.2.130');
  assert.equal(td.ipvs.conns.count, 1);
});

test('quiesced real servers get nothing new: all weights 0 -> ICMP port unreachable', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  for (const rs of ['192.168.2.129', '192.168.2.130']) {
    td.run({
      op: 'editDest',
      service: svcKey,
      dest: { addr: rs, port: 80 },
      config: { fwd: 'masq', weight: 0, uThreshold: 0, lThreshold: 0 },
    });
  }
  td.send('ext', [syn(40000)]);
  assert.equal(td.int.take().length, 0);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.icmpType, 3);
  assert.equal(d.icmpCode, 3);
  assert.equal(td.dp.ports[0].drops[Drop.NoDestination], 1);
});

test('TTL 1 towards the VIP: ICMP time exceeded, nothing forwarded, no rewrite quoted', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [syn(40000, { ttl: 1 })]);
  assert.equal(td.int.take().length, 0);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.icmpType, 11);
  assert.equal(d.payload!.readInt32BE(16), VIP);
});

test('DF and larger than the real server link MTU: ICMP fragmentation needed with the MTU', () => {
  const td = makeDirector({ mtu: 1000 });
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
      proto: TCP,
      sport: 40000,
      dport: 80,
      flags: SYN,
      payload: Buffer.alloc(1200),
    }),
  ]);
  assert.equal(td.int.take().length, 0);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.icmpType, 3);
  assert.equal(d.icmpCode, 4);
  assert.equal(d.icmpRest! & 0xffff, 1000);
  assert.equal(d.src, '192.168.222.131');
});

test('frames to another MAC, IPv6 and unknown EtherTypes are dropped and counted by reason', () => {
  const td = makeDirector();
  const f = syn(40000);
  f[0] = 0x52;
  const v6 = Buffer.from(syn(40000));
  v6.writeUInt16BE(0x86dd, 12);
  const unk = Buffer.from(syn(40000));
  unk.writeUInt16BE(0x88cc, 12);
  td.send('ext', [f, v6, unk, Buffer.alloc(5)]);
  const drops = td.dp.ports[0].drops;
  assert.equal(drops[Drop.NotForUs], 1);
  assert.equal(drops[Drop.Ipv6], 1);
  assert.equal(drops[Drop.UnknownEtherType], 1);
  assert.equal(drops[Drop.Truncated], 1);
});

test('an 802.1Q-tagged ARP request is understood', () => {
  const td = makeDirector();
  const a = arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VIP);
  const tagged = Buffer.concat([a.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x05]), a.subarray(12)]);
  td.send('ext', [tagged]);
  assert.equal(td.ext.take().length, 1);
});

test('real server traffic to the client without a connection is routed unchanged (a gateway)', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.send('int', [ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: TCP, sport: 22, dport: 50000, flags: ACK })]);
  const d = decode(td.ext.take()[0]);
  assert.equal(d.src, '192.168.2.129');
  assert.equal(d.ttl, 63);
  assert.ok(d.ipCsumOk);
  assert.ok(d.l4CsumOk);
});
