/**
 * Frames in -> frames out for every forwarding method other than NAT (nat.test.ts has NAT):
 * direct routing changes only the MAC and the TTL; tunnelling wraps the client's packet in
 * IPIP, GUE or GRE towards the real server, with the kernel's MTU rules; full NAT rewrites both
 * ends towards the real server and back, from a local address whose ports are unique per real
 * server. State tables and counters follow the method (INPUT_ONLY for DR and TUN).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DestConfig } from '../../src/control/protocol.js';
import { Drop } from '../../src/dataplane/drops.js';
import { ConnFlag } from '../../src/ipvs/conn-table.js';
import { TcpState } from '../../src/ipvs/tcp-state.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import {
  CLIENT,
  CLIENT_MAC,
  DIP,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  resolveNeighbours,
  type TestDirector,
  VIP,
} from '../helpers/director.js';
import { ACK, arpFrame, decode, FIN, ICMP, ip, ipFrame, SYN, TCP, UDP } from '../helpers/frames.js';

const ZERO = new Uint8Array(6);
const service = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
const hexMac = (m: Uint8Array): string => Array.from(m, (x) => x.toString(16).padStart(2, '0')).join(':');
const LIP = ip('192.168.2.140');

function withService(td: TestDirector, rs: string, config: Partial<DestConfig>): void {
  td.run({
    op: 'addService',
    service,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({
    op: 'addDest',
    service,
    dest: { addr: rs, port: 80 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0, ...config },
  });
}

function fromClient(flags: number, o: { sport?: number; payload?: Buffer; df?: boolean; seq?: number } = {}): Buffer {
  return ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    {
      proto: TCP,
      sport: o.sport ?? 40000,
      dport: 80,
      flags,
      seq: o.seq ?? 1000,
      ...(o.payload ? { payload: o.payload } : {}),
    },
    o.df === undefined ? {} : { df: o.df },
  );
}

/** The inner IPv4 packet at b[off..] as a frame decode() reads (a made-up Ethernet header). */
function inner(b: Buffer, off: number): ReturnType<typeof decode> {
  const f = Buffer.alloc(14 + b.length - off);
  f.writeUInt16BE(0x0800, 12);
  b.copy(f, 14, off);
  return decode(f);
}

test('DR: the client packet goes to the real server MAC with VIP:80 kept and TTL - 1; INPUT_ONLY states', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'route' });
  const syn = fromClient(SYN);
  td.send('ext', [syn]);
  const [f] = td.int.take();
  const d = decode(f);
  assert.equal(d.dstMac, hexMac(RS1_MAC));
  assert.equal(d.srcMac, hexMac(INT_MAC));
  assert.deepEqual([d.src, d.dst, d.sport, d.dport, d.ttl], ['192.168.222.1', '192.168.222.131', 40000, 80, 63]);
  assert.ok(d.ipCsumOk && d.l4CsumOk);
  // Only the TTL (and so the IP checksum) differs from what the client sent.
  assert.deepEqual(f.subarray(14 + 20), syn.subarray(14 + 20));
  const c = td.ipvs.conns;
  const id = c.lookupIn(TCP, CLIENT, 40000, VIP, 80, false);
  assert.ok(id >= 0);
  assert.equal(c.state[id], TcpState.SYN_RECV);
  assert.ok((c.flags[id] & ConnFlag.NOOUTPUT) !== 0);
  td.send('ext', [fromClient(ACK)]);
  assert.equal(c.state[id], TcpState.ESTABLISHED);
  assert.equal(td.ipvs.services[0].dests[0].activeConns, 1);
  // INPUT_ONLY: a client FIN in ESTABLISHED is FIN_WAIT (two-way INPUT would say CLOSE_WAIT).
  td.send('ext', [fromClient(FIN | ACK)]);
  assert.equal(c.state[id], TcpState.FIN_WAIT);
  assert.equal(td.ipvs.services[0].dests[0].inactConns, 1);
  assert.equal(td.int.take().length, 2);
  // The director never sees the reply: nothing for ipvs-out, and no OutPkts.
  assert.equal(td.ipvs.services[0].stats.outPkts, 0);
  assert.equal(td.ipvs.services[0].stats.inPkts, 3);
});

test('DR: a real server behind a gateway is not reachable by MAC rewriting: not_on_link', () => {
  const td = makeDirector({ extGateway: ip('192.168.222.254') });
  resolveNeighbours(td);
  withService(td, '10.9.0.1', { fwd: 'route' });
  td.send('ext', [fromClient(SYN)]);
  assert.equal(td.ext.take().length, 0);
  assert.equal(td.int.take().length, 0);
  assert.equal(td.dp.ports[0].drops[Drop.NotOnLink], 1);
});

test('TUN ipip: the client packet inside IPv4 from the DIP to the real server, TTL - 1 on both', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'tunnel' });
  const syn = fromClient(SYN);
  td.send('ext', [syn]);
  const [f] = td.int.take();
  const o = decode(f);
  assert.equal(o.dstMac, hexMac(RS1_MAC));
  assert.deepEqual([o.src, o.dst, o.proto, o.ttl], ['192.168.2.136', '192.168.2.129', 4, 63]);
  assert.ok(o.ipCsumOk);
  assert.equal(f.readUInt16BE(14 + 2), 20 + syn.length - 14, 'outer total length');
  assert.equal(f.readUInt16BE(14 + 6) & 0x4000, 0x4000, 'DF copied from the inner packet');
  const i = inner(f, 14 + 20);
  assert.deepEqual([i.src, i.dst, i.sport, i.dport, i.ttl], ['192.168.222.1', '192.168.222.131', 40000, 80, 63]);
  assert.ok(i.ipCsumOk && i.l4CsumOk);
});

test('TUN gue with --tun-csum and gre with --tun-csum: headers and checksums as the kernel builds them', () => {
  for (const [type, port] of [
    ['gue', 6080],
    ['gre', 0],
  ] as const) {
    const td = makeDirector();
    resolveNeighbours(td);
    withService(td, '192.168.2.129', { fwd: 'tunnel', tunnel: { type, port, csum: 'csum' } });
    td.send('ext', [fromClient(SYN)]);
    const [f] = td.int.take();
    const o = decode(f);
    assert.ok(o.ipCsumOk);
    const l4 = 14 + 20;
    const total = f.readUInt16BE(14 + 2);
    if (type === 'gue') {
      assert.equal(o.proto, UDP);
      assert.equal(f.readUInt16BE(l4 + 2), 6080);
      const sport = f.readUInt16BE(l4);
      assert.ok(sport >= 32768 && sport <= 60999, `source port ${sport} in the ephemeral range`);
      assert.equal(f.readUInt16BE(l4 + 4), total - 20);
      assert.deepEqual([...f.subarray(l4 + 8, l4 + 12)], [0, 4, 0, 0], 'GUE v0, no options, proto IPIP');
      const sum = csumFinish(onesSum(f, l4, 14 + total, pseudoHeaderSum(DIP, RS1, UDP, total - 20)));
      assert.equal(sum, 0, 'UDP checksum verifies');
      assert.ok(inner(f, l4 + 12).l4CsumOk);
    } else {
      assert.equal(o.proto, 47);
      assert.equal(f.readUInt16BE(l4), 0x8000, 'C bit');
      assert.equal(f.readUInt16BE(l4 + 2), 0x0800);
      assert.equal(checksum(f, l4, 14 + total), 0, 'GRE checksum verifies');
      assert.ok(inner(f, l4 + 8).l4CsumOk);
    }
  }
});

test('TUN MTU: DF and too big once encapsulated -> frag needed with MTU - 20; without DF the outer packet is fragmented', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'tunnel' });
  td.send('ext', [fromClient(SYN)]);
  td.int.take();
  const big = Buffer.alloc(1500 - 40, 7);
  td.send('ext', [fromClient(ACK, { payload: big, seq: 1001 })]);
  const [err] = td.ext.take();
  const e = decode(err);
  assert.deepEqual([e.icmpType, e.icmpCode, e.src, e.dst], [3, 4, '192.168.222.131', '192.168.222.1']);
  assert.equal(e.icmpRest! & 0xffff, 1480, 'next-hop MTU is the link MTU less the IPIP header');
  assert.equal(td.int.take().length, 0);
  assert.equal(td.dp.ports[0].drops[Drop.TooBig], 1);
  td.send('ext', [fromClient(ACK, { payload: big, seq: 1001, df: false })]);
  const frags = td.int.take().map(decode);
  assert.equal(frags.length, 2, 'the outer packet in two fragments');
  for (const f of frags) assert.deepEqual([f.dst, f.proto, f.ipCsumOk], ['192.168.2.129', 4, true]);
});

test('full NAT: both ends rewritten towards the real server, from the local address; the reply back to the client', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'fullnat' });
  td.send('ext', [fromClient(SYN)]);
  assert.equal(td.int.take().length, 0, 'no local address yet');
  assert.equal(td.dp.ports[0].drops[Drop.NoLocalAddress], 1);
  td.run({ op: 'addLaddr', service, laddr: { addr: '192.168.2.140' } });
  // The director answers ARP for the local address on the link it is on.
  td.send('int', [arpFrame(1, RS1_MAC, RS1, ZERO, LIP)]);
  assert.equal(decode(td.int.take()[0]).arpSpa, '192.168.2.140');
  td.send('ext', [fromClient(SYN, { sport: 40001 }), fromClient(SYN, { sport: 40002 })]);
  const raws = td.int.take();
  const out = raws.map(decode);
  assert.equal(out.length, 2);
  for (const d of out) {
    assert.deepEqual([d.src, d.dst, d.dport, d.ttl], ['192.168.2.140', '192.168.2.129', 80, 63]);
    assert.ok(d.ipCsumOk && d.l4CsumOk);
    assert.ok(d.sport! >= 1025);
  }
  assert.notEqual(out[0].sport, out[1].sport, 'one port per connection to the same real server');
  // The real server answers the local address; the client gets VIP:80 -> CIP:40001.
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, LIP, {
      proto: TCP,
      sport: 80,
      dport: out[0].sport!,
      flags: SYN | ACK,
      seq: 5000,
      ack: 1001,
    }),
  ]);
  const [r] = td.ext.take();
  const d = decode(r);
  assert.deepEqual([d.src, d.dst, d.sport, d.dport, d.ttl], ['192.168.222.131', '192.168.222.1', 80, 40001, 63]);
  assert.equal(d.dstMac, hexMac(CLIENT_MAC));
  assert.ok(d.ipCsumOk && d.l4CsumOk);
  const laddrs = td.run({ op: 'listLaddrs', service }) as { services: { laddrs: { conns: number }[] }[] };
  assert.equal(laddrs.services[0].laddrs[0].conns, 2);
  // A real server's ICMP error about what we sent it (to the LIP) reaches the client about its packet.
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, LIP, {
      proto: ICMP,
      type: 3,
      code: 3,
      rest: 0,
      payload: raws[0].subarray(14, 14 + 28),
    }),
  ]);
  const [icmp] = td.ext.take();
  const e = decode(icmp);
  assert.deepEqual([e.icmpType, e.icmpCode, e.src, e.dst], [3, 3, '192.168.222.131', '192.168.222.1']);
  assert.ok(e.ipCsumOk && e.l4CsumOk);
  const q = 14 + 20 + 8;
  assert.deepEqual(
    [icmp.readInt32BE(q + 12), icmp.readInt32BE(q + 16), icmp.readUInt16BE(q + 20), icmp.readUInt16BE(q + 22)],
    [CLIENT, VIP, 40001, 80],
    'the quote is the client packet as the client sent it',
  );
  assert.equal(checksum(icmp, q, q + 20), 0, 'quoted IP header checksum');
});

test('full NAT: ports are unique per (local address, real server), and a full pool refuses new flows', () => {
  const td = makeDirector({ maxConns: 8192 });
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'fullnat' });
  td.run({ op: 'addLaddr', service, laddr: { addr: '192.168.2.140' } });
  const frames: Buffer[] = [];
  for (let p = 0; p < 3000; p++) frames.push(fromClient(SYN, { sport: 10000 + p }));
  for (let i = 0; i < frames.length; i += 256) {
    td.send('ext', frames.slice(i, i + 256));
  }
  const ports = new Set<number>();
  let n = 0;
  for (const f of td.int.take()) {
    const d = decode(f);
    ports.add(d.sport!);
    n++;
  }
  assert.equal(n, 3000);
  assert.equal(ports.size, 3000, 'every connection to RS1:80 has its own local port');
});

test('TUN: a router saying "fragmentation needed" about the outer packet makes the client get it, MTU - 20, from the VIP', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'tunnel' });
  td.send('ext', [fromClient(SYN)]);
  td.int.take();
  const data = fromClient(ACK, { payload: Buffer.alloc(1400, 1), seq: 1001 });
  td.send('ext', [data]);
  const [outer] = td.int.take();
  // A router on the way (here: RS1's MAC, any neighbour) quotes the outer packet, as Linux does, up to 548 bytes.
  const quote = outer.subarray(14, 14 + 548);
  td.send('int', [ipFrame(INT_MAC, RS1_MAC, RS1, DIP, { proto: ICMP, type: 3, code: 4, rest: 1400, payload: quote })]);
  const [err] = td.ext.take();
  const e = decode(err);
  assert.deepEqual([e.icmpType, e.icmpCode, e.src, e.dst], [3, 4, '192.168.222.131', '192.168.222.1']);
  assert.equal(e.icmpRest! & 0xffff, 1380);
  assert.ok(e.ipCsumOk && e.l4CsumOk);
  const q = 14 + 20 + 8;
  assert.deepEqual([err.readInt32BE(q + 12), err.readInt32BE(q + 16), err.readUInt16BE(q + 20)], [CLIENT, VIP, 40000]);
  // Without DF on the client's packet, nothing is relayed.
  td.send('ext', [fromClient(ACK, { payload: Buffer.alloc(1400, 1), seq: 2401, df: false })]);
  const [outer2] = td.int.take();
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, DIP, {
      proto: ICMP,
      type: 3,
      code: 4,
      rest: 1400,
      payload: outer2.subarray(14, 14 + 548),
    }),
  ]);
  assert.equal(td.ext.take().length, 0);
});

test('DR: an ICMP error about a reply goes unchanged to the real server that sent it, counted in', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  withService(td, '192.168.2.129', { fwd: 'route' });
  td.send('ext', [fromClient(SYN)]);
  td.int.take();
  // What RS1 sent the client directly (VIP:80 -> client), quoted by the client's side.
  const reply = ipFrame(CLIENT_MAC, RS1_MAC, VIP, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags: SYN | ACK });
  const icmp = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
    proto: ICMP,
    type: 3,
    code: 4,
    rest: 1300,
    payload: reply.subarray(14, 14 + 28),
  });
  td.send('ext', [icmp]);
  const [f] = td.int.take();
  assert.equal(decode(f).dstMac, hexMac(RS1_MAC));
  assert.deepEqual(f.subarray(14 + 20), icmp.subarray(14 + 20), 'the ICMP message unchanged');
  assert.equal(decode(f).ttl, 63);
  assert.equal(td.ipvs.services[0].stats.inPkts, 2);
});
