/**
 * The packet views against frames captured from a real kernel (test/fixtures/lab-basic.pcap, made
 * by test/fixtures/capture.sh) and tshark's decode of them (lab-basic.expect.json), the oracle.
 *
 * Four groups: every field of every captured header as tshark reads it; the NAT rewrites the
 * director does, whose incremental checksums must equal a full recomputation; truncated frames,
 * which must fail at the header that no longer fits without ever throwing; hand-broken headers
 * (IHL, total length, data offset, UDP length, ARP and 802.1Q oddities) giving the right Parse code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ArpView } from '../../../src/packet/arp.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../../../src/packet/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN, type EthView, formatMac } from '../../../src/packet/eth.js';
import type { IcmpView } from '../../../src/packet/icmp.js';
import { formatIpv4, Ipv4View, parseIpv4 } from '../../../src/packet/ipv4.js';
import { Parse } from '../../../src/packet/parse.js';
import type { TcpView } from '../../../src/packet/tcp.js';
import type { UdpView } from '../../../src/packet/udp.js';
import { PacketViews } from '../../../src/packet/views.js';
import { fixturePath, parsePcap, readPcap } from '../../helpers/pcap.js';

// ---- fixture and oracle ------------------------------------------------------------------------

interface ExpectFrame {
  frame: number;
  len: number;
  protocols: string;
  eth: { dst: string; src: string; type: number };
  vlan?: { id: number; priority: number; etype: number };
  arp?: { opcode: number; srcMac: string; srcIp: string; dstMac: string; dstIp: string };
  ip?: {
    version: number;
    headerLen: number;
    tos: number;
    totalLen: number;
    id: number;
    flags: number;
    fragOffset: number;
    ttl: number;
    protocol: number;
    csum: number;
    src: string;
    dst: string;
    csumStatus: number;
    options?: { type: number; len?: number; ptr?: number }[];
  };
  tcp?: {
    srcPort: number;
    dstPort: number;
    seq: number;
    ack: number;
    headerLen: number;
    flags: number;
    window: number;
    csum: number;
    payloadLen: number;
    csumStatus: number;
  };
  udp?: { srcPort: number; dstPort: number; length: number; csum: number; csumStatus: number };
  icmp?: {
    type: number;
    code: number;
    csum: number;
    csumStatus: number;
    ident?: number;
    seq?: number;
    inner?: {
      src: string;
      dst: string;
      protocol: number;
      totalLen: number;
      udp?: { srcPort: number; dstPort: number; length: number };
    };
  };
}

/** tshark's checksum status values (epan/proto.h). */
const CSUM_GOOD = 1;
const CSUM_NOT_PRESENT = 3;
const PROTO_ICMP = 1,
  PROTO_TCP = 6,
  PROTO_UDP = 17;

const FRAMES = readPcap(fixturePath('lab-basic.pcap'));
const EXPECT = (JSON.parse(readFileSync(fixturePath('lab-basic.expect.json'), 'utf8')) as { frames: ExpectFrame[] })
  .frames;

interface Case {
  n: number;
  bytes: Buffer;
  x: ExpectFrame;
}
const CASES: Case[] = FRAMES.map((r, i) => ({ n: i + 1, bytes: r.data, x: EXPECT[i] }));
const withIp = CASES.filter((c) => c.x.ip !== undefined);
const withTcp = CASES.filter((c) => c.x.tcp !== undefined);
const withUdp = CASES.filter((c) => c.x.udp !== undefined);
const withIcmp = CASES.filter((c) => c.x.icmp !== undefined);

/** The views over one buffer, made afresh for each (the dataplane keeps one set per RX ring). */
class Views {
  private v = new PacketViews(new Uint8Array(0));
  get u8(): Uint8Array {
    return this.v.u8;
  }
  get dv(): DataView {
    return this.v.dv;
  }
  get eth(): EthView {
    return this.v.eth;
  }
  get arp(): ArpView {
    return this.v.arp;
  }
  get ip(): Ipv4View {
    return this.v.ip;
  }
  get tcp(): TcpView {
    return this.v.tcp;
  }
  get udp(): UdpView {
    return this.v.udp;
  }
  get icmp(): IcmpView {
    return this.v.icmp;
  }
  attach(b: Uint8Array): this {
    this.v = new PacketViews(b);
    return this;
  }
}
const V = new Views();

/** A copy in an ArrayBuffer of exactly its own size, so any DataView read past it throws. */
function exact(b: Uint8Array, len = b.length): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(len));
  out.set(b.subarray(0, len));
  return out;
}

function bindOk(code: Parse, what: string): void {
  assert.equal(code, Parse.Ok, what);
}

/** Binds Ethernet then IPv4 of a captured IP frame, asserting both bind. */
function bindIp(v: Views, b: Uint8Array): Ipv4View {
  v.attach(b);
  bindOk(v.eth.bind(0, b.length), 'eth');
  bindOk(v.ip.bind(v.eth.payloadOff, b.length), 'ipv4');
  return v.ip;
}

/** Full TCP/UDP checksum over the pseudo-header and [off, end): 0 when the stored one is right. */
function l4Verify(u8: Uint8Array, ip: Ipv4View, off: number, end: number): number {
  return csumFinish(onesSum(u8, off, end, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, end - off)));
}

/** The value a full computation puts in the 16-bit checksum field at `field` (field as zero). */
function l4Full(u8: Uint8Array, dv: DataView, ip: Ipv4View, off: number, end: number, field: number): number {
  const saved = dv.getUint16(field);
  dv.setUint16(field, 0);
  const c = csumFinish(onesSum(u8, off, end, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, end - off)));
  dv.setUint16(field, saved);
  return c;
}

function ipFull(u8: Uint8Array, dv: DataView, ip: Ipv4View): number {
  const field = ip.offset + 10;
  const saved = dv.getUint16(field);
  dv.setUint16(field, 0);
  const c = checksum(u8, ip.offset, ip.offset + ip.headerLen);
  dv.setUint16(field, saved);
  return c;
}

function addr(s: string): number {
  const a = parseIpv4(s);
  assert.notEqual(a, null, s);
  return a as number;
}

// ---- the fixture itself ------------------------------------------------------------------------

test('the pcap reader returns every frame tshark decoded, with its captured length', () => {
  assert.equal(FRAMES.length, EXPECT.length);
  assert.ok(FRAMES.length >= 20, `only ${FRAMES.length} frames`);
  for (const c of CASES) assert.equal(c.bytes.length, c.x.len, `frame ${c.n}`);
  for (let i = 1; i < FRAMES.length; i++) {
    const a = FRAMES[i - 1],
      b = FRAMES[i];
    assert.ok(b.tsSec > a.tsSec || (b.tsSec === a.tsSec && b.tsUsec >= a.tsUsec), `timestamps ordered at ${i + 1}`);
  }
});

test('the pcap reader reads the same records from big-endian and nanosecond files', () => {
  const le = readFileSync(fixturePath('lab-basic.pcap'));
  // Re-encode the file big-endian with nanosecond timestamps (the fields are all 32 or 16 bits).
  const be = Buffer.alloc(le.length);
  be.writeUInt32BE(0xa1b23c4d, 0);
  be.writeUInt16BE(le.readUInt16LE(4), 4);
  be.writeUInt16BE(le.readUInt16LE(6), 6);
  for (let o = 8; o < 24; o += 4) be.writeUInt32BE(le.readUInt32LE(o), o);
  let off = 24;
  while (off < le.length) {
    be.writeUInt32BE(le.readUInt32LE(off), off);
    be.writeUInt32BE(le.readUInt32LE(off + 4) * 1000 + 999, off + 4);
    be.writeUInt32BE(le.readUInt32LE(off + 8), off + 8);
    be.writeUInt32BE(le.readUInt32LE(off + 12), off + 12);
    const cap = le.readUInt32LE(off + 8);
    le.copy(be, off + 16, off + 16, off + 16 + cap);
    off += 16 + cap;
  }
  assert.deepEqual(parsePcap(be), FRAMES);
  assert.throws(() => parsePcap(le.subarray(0, le.length - 1)), /cut/);
  const sll = Buffer.from(le.subarray(0, 24));
  sll.writeUInt32LE(113, 20);
  assert.throws(() => parsePcap(sll), /linktype 113/);
});

test('the capture holds ARP, ICMP echo, a whole TCP connection, UDP, ICMP errors, IP options and a VLAN tag', () => {
  const has = (p: (c: Case) => boolean, what: string): void => assert.ok(CASES.some(p), `no ${what} frame`);
  has((c) => c.x.arp?.opcode === 1, 'ARP request');
  has((c) => c.x.arp?.opcode === 2, 'ARP reply');
  has((c) => c.x.icmp?.type === 8, 'echo request');
  has((c) => c.x.icmp?.type === 0, 'echo reply');
  has((c) => c.x.tcp?.flags === 0x02, 'SYN');
  has((c) => c.x.tcp?.flags === 0x12, 'SYN-ACK');
  has((c) => (c.x.tcp?.payloadLen ?? 0) > 0, 'TCP data');
  has((c) => ((c.x.tcp?.flags ?? 0) & 0x01) !== 0, 'FIN');
  has((c) => c.x.udp !== undefined && c.x.udp.csum !== 0, 'UDP with checksum');
  has((c) => c.x.udp?.csum === 0, 'UDP without checksum');
  has((c) => c.x.icmp?.type === 3 && c.x.icmp.code === 3, 'port unreachable');
  has((c) => (c.x.ip?.headerLen ?? 0) > 20, 'IP options');
  has((c) => c.x.vlan !== undefined, '802.1Q');
  for (const c of withIp) assert.equal(c.x.ip?.csumStatus, CSUM_GOOD, `tshark: IP checksum of frame ${c.n}`);
});

// ---- every field -------------------------------------------------------------------------------

test('eth: every captured frame binds with the addresses, EtherType, tag and payload offset tshark reads', () => {
  for (const c of CASES) {
    const b = c.bytes,
      x = c.x,
      m = `frame ${c.n}`;
    V.attach(b);
    bindOk(V.eth.bind(0, b.length), m);
    assert.equal(formatMac(b, V.eth.dstOff), x.eth.dst, m);
    assert.equal(formatMac(b, V.eth.srcOff), x.eth.src, m);
    assert.equal(V.eth.isBroadcastDst(), x.eth.dst === 'ff:ff:ff:ff:ff:ff', m);
    assert.equal(V.eth.isMulticastDst(), (parseInt(x.eth.dst.slice(0, 2), 16) & 1) === 1, m);
    if (x.vlan !== undefined) {
      assert.equal(x.eth.type, ETHERTYPE_VLAN, m);
      assert.equal(V.eth.vlanId, x.vlan.id, m);
      assert.equal(V.eth.etherType, x.vlan.etype, m);
      assert.equal(V.eth.payloadOff, 18, m);
      // The tag's PCP bits are not part of the VLAN id.
      assert.equal(b.readUInt16BE(14) >>> 13, x.vlan.priority, m);
    } else {
      assert.equal(V.eth.vlanId, -1, m);
      assert.equal(V.eth.etherType, x.eth.type, m);
      assert.equal(V.eth.payloadOff, 14, m);
    }
  }
});

test('arp: requests and replies bind with the opcode and the sender and target addresses tshark reads', () => {
  const arps = CASES.filter((c) => c.x.arp !== undefined);
  assert.ok(arps.length >= 2);
  for (const c of arps) {
    const b = c.bytes,
      x = c.x.arp!,
      m = `frame ${c.n}`;
    V.attach(b);
    bindOk(V.eth.bind(0, b.length), m);
    assert.equal(V.eth.etherType, ETHERTYPE_ARP, m);
    bindOk(V.arp.bind(V.eth.payloadOff, b.length), m);
    assert.equal(V.arp.op, x.opcode, m);
    assert.equal(formatMac(b, V.arp.shaOff), x.srcMac, m);
    assert.equal(formatIpv4(V.arp.spa), x.srcIp, m);
    assert.equal(formatMac(b, V.arp.thaOff), x.dstMac, m);
    assert.equal(formatIpv4(V.arp.tpa), x.dstIp, m);
    assert.equal(V.arp.spa, addr(x.srcIp), m);
  }
});

test('ipv4: every captured header binds with each field tshark reads, and its checksum verifies', () => {
  for (const c of withIp) {
    const b = c.bytes,
      x = c.x.ip!,
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    assert.equal(V.eth.etherType, ETHERTYPE_IPV4, m);
    assert.equal(b[ip.offset] >>> 4, x.version, m);
    assert.equal(ip.headerLen, x.headerLen, m);
    assert.equal(ip.tos, x.tos, m);
    assert.equal(ip.totalLen, x.totalLen, m);
    assert.equal(ip.payloadOff, ip.offset + x.headerLen, m);
    assert.equal(ip.payloadEnd, ip.offset + x.totalLen, m);
    assert.equal(ip.id, x.id, m);
    assert.equal(ip.fragWord >>> 13, x.flags, m);
    assert.equal(ip.fragWord & 0x1fff, x.fragOffset, m);
    assert.equal(ip.dontFragment, (x.flags & 2) !== 0, m);
    assert.equal(ip.isFragment, false, m);
    assert.equal(ip.ttl, x.ttl, m);
    assert.equal(ip.protocol, x.protocol, m);
    assert.equal(ip.csum, x.csum, m);
    assert.equal(formatIpv4(ip.src), x.src, m);
    assert.equal(formatIpv4(ip.dst), x.dst, m);
    assert.equal(ip.src, addr(x.src), m);
    assert.equal(ip.dst, addr(x.dst), m);
    assert.equal(ip.checksumOk(), true, m);
    assert.equal(ipFull(b, V.dv, ip), ip.csum, m);
  }
});

test('ipv4: record-route frames have a header longer than 20 bytes and bind the payload after the options', () => {
  const opts = withIp.filter((c) => c.x.ip!.options !== undefined);
  assert.ok(opts.length >= 2, 'echo request and reply with record route');
  for (const c of opts) {
    const b = c.bytes,
      x = c.x.ip!,
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    assert.ok(ip.headerLen > 20, m);
    assert.equal(ip.headerLen, 60, m); // ping -R asks for all nine slots: NOP + 39-byte RR
    assert.equal(ip.checksumOk(), true, m);
    // The options as tshark lists them, read back from the bytes between 20 and headerLen.
    let o = ip.offset + 20;
    for (const opt of x.options!) {
      assert.equal(b[o], opt.type, `${m} option at ${o - ip.offset}`);
      if (opt.type <= 1) {
        o += 1;
        continue;
      }
      assert.equal(b[o + 1], opt.len, m);
      assert.equal(b[o + 2], opt.ptr, m);
      o += b[o + 1];
    }
    assert.ok(o <= ip.payloadOff, m);
    bindOk(V.icmp.bind(ip.payloadOff, ip.payloadEnd), m);
    assert.equal(V.icmp.type, c.x.icmp!.type, m);
    assert.equal(V.icmp.checksumOk(), true, m);
  }
});

test('tcp: every captured segment binds with ports, sequence numbers, flags and window as tshark reads them', () => {
  assert.ok(withTcp.length >= 8);
  for (const c of withTcp) {
    const b = c.bytes,
      x = c.x.tcp!,
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    assert.equal(ip.protocol, PROTO_TCP, m);
    bindOk(V.tcp.bind(ip.payloadOff, ip.payloadEnd), m);
    const t = V.tcp;
    assert.equal(t.offset, ip.payloadOff, m);
    assert.equal(t.segmentEnd, ip.payloadEnd, m);
    assert.equal(t.srcPort, x.srcPort, m);
    assert.equal(t.dstPort, x.dstPort, m);
    assert.equal(t.seq, x.seq, m);
    assert.equal(t.ack, x.ack, m);
    assert.equal(t.headerLen, x.headerLen, m);
    assert.equal(t.flags, x.flags, m);
    assert.equal(t.window, x.window, m);
    assert.equal(t.csum, x.csum, m);
    assert.equal(t.segmentEnd - t.offset - t.headerLen, x.payloadLen, m);
  }
});

test('tcp: every captured checksum verifies with a full pseudo-header computation', () => {
  for (const c of withTcp) {
    const m = `frame ${c.n}`;
    const ip = bindIp(V, c.bytes);
    bindOk(V.tcp.bind(ip.payloadOff, ip.payloadEnd), m);
    assert.equal(c.x.tcp!.csumStatus, CSUM_GOOD, `tshark: ${m}`);
    assert.equal(l4Verify(c.bytes, ip, V.tcp.offset, V.tcp.segmentEnd), 0, m);
    assert.equal(l4Full(c.bytes, V.dv, ip, V.tcp.offset, V.tcp.segmentEnd, V.tcp.offset + 16), V.tcp.csum, m);
  }
});

test('udp: every captured datagram binds with ports, length and checksum, and a nonzero checksum verifies', () => {
  for (const c of withUdp) {
    const b = c.bytes,
      x = c.x.udp!,
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    assert.equal(ip.protocol, PROTO_UDP, m);
    bindOk(V.udp.bind(ip.payloadOff, ip.payloadEnd), m);
    const u = V.udp;
    assert.equal(u.offset, ip.payloadOff, m);
    assert.equal(u.srcPort, x.srcPort, m);
    assert.equal(u.dstPort, x.dstPort, m);
    assert.equal(u.length, x.length, m);
    assert.equal(u.length, ip.payloadEnd - ip.payloadOff, m);
    assert.equal(u.csum, x.csum, m);
    if (x.csum === 0) {
      assert.equal(x.csumStatus, CSUM_NOT_PRESENT, `tshark: ${m}`);
    } else {
      assert.equal(x.csumStatus, CSUM_GOOD, `tshark: ${m}`);
      assert.equal(l4Verify(b, ip, u.offset, u.offset + u.length), 0, m);
      assert.equal(l4Full(b, V.dv, ip, u.offset, u.offset + u.length, u.offset + 6), u.csum, m);
    }
  }
});

test('icmp: echo and error messages bind with type, code, id and sequence, and their checksum verifies', () => {
  for (const c of withIcmp) {
    const b = exact(c.bytes),
      x = c.x.icmp!,
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    assert.equal(ip.protocol, PROTO_ICMP, m);
    bindOk(V.icmp.bind(ip.payloadOff, ip.payloadEnd), m);
    const i = V.icmp;
    assert.equal(i.offset, ip.payloadOff, m);
    assert.equal(i.messageEnd, ip.payloadEnd, m);
    assert.equal(i.type, x.type, m);
    assert.equal(i.code, x.code, m);
    assert.equal(i.csum, x.csum, m);
    assert.equal(x.csumStatus, CSUM_GOOD, `tshark: ${m}`);
    assert.equal(i.checksumOk(), true, m);
    assert.equal(i.isRelatedError(), x.type === 3 || x.type === 4 || x.type === 11, m);
    if (x.ident !== undefined) {
      assert.equal(V.dv.getUint16(i.offset + 4), x.ident, m);
      assert.equal(V.dv.getUint16(i.offset + 6), x.seq, m);
    }
    // fixChecksum() recomputes the very value the kernel sent.
    V.dv.setUint16(i.offset + 2, 0x1234);
    assert.equal(i.checksumOk(), false, m);
    i.fixChecksum();
    assert.equal(i.csum, x.csum, m);
    assert.deepEqual(b, exact(c.bytes), m);
  }
});

test('icmp: the port unreachable quotes the offending IPv4 and UDP headers, which bind in its data', () => {
  const errs = withIcmp.filter((c) => c.x.icmp!.inner !== undefined);
  assert.ok(errs.length >= 1);
  for (const c of errs) {
    const b = c.bytes,
      x = c.x.icmp!.inner!,
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    bindOk(V.icmp.bind(ip.payloadOff, ip.payloadEnd), m);
    const inner = new Ipv4View(V.u8, V.dv);
    bindOk(inner.bind(V.icmp.offset + 8, V.icmp.messageEnd), m);
    assert.equal(formatIpv4(inner.src), x.src, m);
    assert.equal(formatIpv4(inner.dst), x.dst, m);
    // The error goes back to the sender: the quoted header is the reverse of the outer one.
    assert.equal(inner.src, ip.dst, m);
    assert.equal(inner.dst, ip.src, m);
    assert.equal(inner.protocol, x.protocol, m);
    assert.equal(inner.totalLen, x.totalLen, m);
    assert.equal(inner.checksumOk(), true, m);
    if (x.udp !== undefined) {
      bindOk(V.udp.bind(inner.payloadOff, inner.payloadEnd), m);
      assert.equal(V.udp.srcPort, x.udp.srcPort, m);
      assert.equal(V.udp.dstPort, x.udp.dstPort, m);
      assert.equal(V.udp.length, x.udp.length, m);
    }
  }
});

test('eth, ipv4 and udp ignore Ethernet padding after the datagram', () => {
  for (const c of [...withUdp, ...CASES.filter((k) => k.x.arp !== undefined)]) {
    const m = `frame ${c.n}`;
    const padded = exact(Buffer.concat([c.bytes, Buffer.alloc(Math.max(6, 60 - c.bytes.length), 0xee)]));
    V.attach(padded);
    bindOk(V.eth.bind(0, padded.length), m);
    if (c.x.arp !== undefined) {
      bindOk(V.arp.bind(V.eth.payloadOff, padded.length), m);
      assert.equal(formatIpv4(V.arp.tpa), c.x.arp.dstIp, m);
      continue;
    }
    bindOk(V.ip.bind(V.eth.payloadOff, padded.length), m);
    assert.equal(V.ip.payloadEnd, c.bytes.length, m);
    bindOk(V.udp.bind(V.ip.payloadOff, V.ip.payloadEnd), m);
    if (V.udp.csum !== 0) assert.equal(l4Verify(padded, V.ip, V.udp.offset, V.udp.offset + V.udp.length), 0, m);
  }
});

// ---- NAT rewrites ------------------------------------------------------------------------------

/** New addresses and ports to rewrite to: ordinary, high-bit (negative int32) and extreme values. */
const NEW_ADDRS = [
  '10.0.0.2',
  '172.16.1.11',
  '192.168.222.200',
  '203.0.113.7',
  '224.0.0.1',
  '255.255.255.255',
  '0.0.0.0',
  '1.2.3.4',
].map(addr);
const NEW_PORTS = [80, 8080, 1, 0, 65535, 0x8000, 0x7fff, 40000];

/** Byte offsets a NAT rewrite of (src or dst) may touch. */
function natOffsets(ipOff: number, l4Off: number, l4Csum: number, side: 'src' | 'dst'): Set<number> {
  const s = new Set<number>([ipOff + 10, ipOff + 11, l4Csum, l4Csum + 1]);
  const a = ipOff + (side === 'src' ? 12 : 16);
  for (let i = 0; i < 4; i++) s.add(a + i);
  const p = l4Off + (side === 'src' ? 0 : 2);
  s.add(p);
  s.add(p + 1);
  return s;
}

function assertOnlyChanged(before: Uint8Array, after: Uint8Array, allowed: Set<number>, m: string): void {
  for (let i = 0; i < before.length; i++) {
    if (!allowed.has(i)) assert.equal(after[i], before[i], `${m}: byte ${i} changed`);
  }
}

test('tcp DNAT and SNAT rewrites keep incremental checksums equal to a full recomputation', () => {
  let rewrites = 0;
  for (const c of withTcp) {
    for (let k = 0; k < NEW_ADDRS.length; k++) {
      for (const side of ['dst', 'src'] as const) {
        const b = exact(c.bytes),
          m = `frame ${c.n} ${side} → ${formatIpv4(NEW_ADDRS[k])}:${NEW_PORTS[k]}`;
        const ip = bindIp(V, b);
        bindOk(V.tcp.bind(ip.payloadOff, ip.payloadEnd), m);
        const t = V.tcp,
          now = NEW_ADDRS[k],
          port = NEW_PORTS[k];
        // What the director does: IPVS in (client → RS) rewrites the destination, out the source.
        if (side === 'dst') {
          const old = ip.dst;
          ip.setDst(now);
          t.addrChanged(old, now);
          t.setDstPort(port);
          assert.equal(ip.dst, now, m);
          assert.equal(t.dstPort, port, m);
        } else {
          const old = ip.src;
          ip.setSrc(now);
          t.addrChanged(old, now);
          t.setSrcPort(port);
          assert.equal(ip.src, now, m);
          assert.equal(t.srcPort, port, m);
        }
        assert.equal(ip.checksumOk(), true, m);
        assert.equal(ip.csum, ipFull(b, V.dv, ip), m);
        assert.equal(t.csum, l4Full(b, V.dv, ip, t.offset, t.segmentEnd, t.offset + 16), m);
        assert.equal(l4Verify(b, ip, t.offset, t.segmentEnd), 0, m);
        assertOnlyChanged(c.bytes, b, natOffsets(ip.offset, t.offset, t.offset + 16, side), m);
        rewrites++;
      }
    }
  }
  assert.ok(rewrites >= 100);
});

test('tcp: rewriting to new addresses and ports and back restores the captured bytes exactly', () => {
  for (const c of withTcp) {
    const b = exact(c.bytes),
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    bindOk(V.tcp.bind(ip.payloadOff, ip.payloadEnd), m);
    const src = ip.src,
      dst = ip.dst,
      sp = V.tcp.srcPort,
      dp = V.tcp.dstPort;
    const vip = addr('198.51.100.80'),
      cip = addr('203.0.113.9');
    ip.setDst(vip);
    V.tcp.addrChanged(dst, vip);
    V.tcp.setDstPort(80);
    ip.setSrc(cip);
    V.tcp.addrChanged(src, cip);
    V.tcp.setSrcPort(51000);
    assert.notDeepEqual(b, exact(c.bytes), m);
    ip.setDst(dst);
    V.tcp.addrChanged(vip, dst);
    V.tcp.setDstPort(dp);
    ip.setSrc(src);
    V.tcp.addrChanged(cip, src);
    V.tcp.setSrcPort(sp);
    assert.deepEqual(b, exact(c.bytes), m);
  }
});

test('udp DNAT and SNAT rewrites keep incremental checksums equal to a full recomputation', () => {
  const checked = withUdp.filter((c) => c.x.udp!.csum !== 0);
  assert.ok(checked.length >= 3);
  for (const c of checked) {
    for (let k = 0; k < NEW_ADDRS.length; k++) {
      for (const side of ['dst', 'src'] as const) {
        const b = exact(c.bytes),
          m = `frame ${c.n} ${side} → ${formatIpv4(NEW_ADDRS[k])}:${NEW_PORTS[k]}`;
        const ip = bindIp(V, b);
        bindOk(V.udp.bind(ip.payloadOff, ip.payloadEnd), m);
        const u = V.udp,
          now = NEW_ADDRS[k],
          port = NEW_PORTS[k];
        if (side === 'dst') {
          const old = ip.dst;
          ip.setDst(now);
          u.addrChanged(old, now);
          u.setDstPort(port);
        } else {
          const old = ip.src;
          ip.setSrc(now);
          u.addrChanged(old, now);
          u.setSrcPort(port);
        }
        assert.equal(ip.checksumOk(), true, m);
        const full = l4Full(b, V.dv, ip, u.offset, u.offset + u.length, u.offset + 6);
        // RFC 768: a computed 0 is sent as 0xffff, since 0 means "no checksum".
        assert.equal(u.csum, full === 0 ? 0xffff : full, m);
        assert.notEqual(u.csum, 0, m);
        assert.equal(l4Verify(b, ip, u.offset, u.offset + u.length), 0, m);
        assertOnlyChanged(c.bytes, b, natOffsets(ip.offset, u.offset, u.offset + 6, side), m);
      }
    }
  }
});

test('udp: an update whose result would be 0 writes 0xffff instead', () => {
  const c = withUdp.find((k) => k.x.udp!.csum !== 0)!;
  const b = exact(c.bytes);
  const ip = bindIp(V, b);
  bindOk(V.udp.bind(ip.payloadOff, ip.payloadEnd), 'udp');
  // Pick the destination port that makes the one's-complement sum come out 0xffff (checksum 0):
  // the current checksum says how far the sum is from 0xffff.
  const u = V.udp,
    old = u.dstPort;
  const port = csumFinishPortFor(old, u.csum);
  u.setDstPort(port);
  assert.equal(u.dstPort, port);
  assert.equal(u.csum, 0xffff);
  assert.equal(l4Verify(b, ip, u.offset, u.offset + u.length), 0);
});

/** The port p such that replacing `old` with p turns checksum `c` into 0 (RFC 1624 algebra). */
function csumFinishPortFor(old: number, c: number): number {
  // New sum' = sum - old + p must fold to 0xffff; sum = ~c. So p = old + c (one's complement add).
  let s = old + c;
  s = (s & 0xffff) + (s >>> 16);
  return s & 0xffff;
}

test('udp: a zero checksum stays zero through address and port rewrites', () => {
  const zero = withUdp.filter((c) => c.x.udp!.csum === 0);
  assert.ok(zero.length >= 1, 'the capture has a SO_NO_CHECK datagram');
  for (const c of zero) {
    for (let k = 0; k < NEW_ADDRS.length; k++) {
      const b = exact(c.bytes),
        m = `frame ${c.n} → ${formatIpv4(NEW_ADDRS[k])}`;
      const ip = bindIp(V, b);
      bindOk(V.udp.bind(ip.payloadOff, ip.payloadEnd), m);
      const u = V.udp,
        oldDst = ip.dst,
        oldSrc = ip.src;
      ip.setDst(NEW_ADDRS[k]);
      u.addrChanged(oldDst, NEW_ADDRS[k]);
      u.setDstPort(NEW_PORTS[k]);
      ip.setSrc(NEW_ADDRS[k]);
      u.addrChanged(oldSrc, NEW_ADDRS[k]);
      u.setSrcPort(NEW_PORTS[k]);
      assert.equal(u.csum, 0, m);
      assert.equal(ip.checksumOk(), true, m);
      assert.equal(u.dstPort, NEW_PORTS[k], m);
    }
  }
});

test('ipv4: decrementTtl lowers the TTL by one and keeps the checksum equal to a full recomputation', () => {
  for (const c of withIp) {
    const b = exact(c.bytes),
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    const ttl0 = ip.ttl;
    // Down to 1, as far as a forwarder may go (the caller drops at ttl <= 1 before decrementing).
    for (let ttl = ttl0; ttl > 1; ttl--) {
      ip.decrementTtl();
      assert.equal(ip.ttl, ttl - 1, m);
      assert.equal(ip.protocol, c.x.ip!.protocol, m);
      assert.equal(ip.checksumOk(), true, `${m} ttl ${ttl - 1}`);
      assert.equal(ip.csum, ipFull(b, V.dv, ip), `${m} ttl ${ttl - 1}`);
    }
    const changed = new Set([ip.offset + 8, ip.offset + 10, ip.offset + 11]);
    assertOnlyChanged(c.bytes, b, changed, m);
    // The TCP/UDP checksums do not cover the TTL: they still verify.
    if (c.x.tcp !== undefined || (c.x.udp !== undefined && c.x.udp.csum !== 0)) {
      assert.equal(l4Verify(b, ip, ip.payloadOff, ip.payloadEnd), 0, m);
    }
  }
});

// ---- truncation --------------------------------------------------------------------------------

interface Outcome {
  layer: string;
  code: Parse;
}

/** Binds eth → arp | ipv4 → tcp | udp | icmp as the dataplane does; the first failure, or Ok. */
function parseChain(v: Views, b: Uint8Array, len: number): Outcome {
  v.attach(b);
  let r: Parse = v.eth.bind(0, len);
  if (r !== Parse.Ok) return { layer: 'eth', code: r };
  if (v.eth.etherType === ETHERTYPE_ARP) return { layer: 'arp', code: v.arp.bind(v.eth.payloadOff, len) };
  if (v.eth.etherType !== ETHERTYPE_IPV4) return { layer: 'other', code: Parse.Ok };
  r = v.ip.bind(v.eth.payloadOff, len);
  if (r !== Parse.Ok) return { layer: 'ipv4', code: r };
  const off = v.ip.payloadOff,
    end = v.ip.payloadEnd;
  switch (v.ip.protocol) {
    case PROTO_TCP:
      r = v.tcp.bind(off, end);
      return { layer: 'tcp', code: r };
    case PROTO_UDP:
      r = v.udp.bind(off, end);
      return { layer: 'udp', code: r };
    case PROTO_ICMP:
      r = v.icmp.bind(off, end);
      return { layer: 'icmp', code: r };
    default:
      return { layer: 'other', code: Parse.Ok };
  }
}

/** What a frame cut to `len` bytes must give, worked out from the captured bytes and tshark. */
function expectedCut(c: Case, len: number): Outcome {
  const l2 = c.x.vlan !== undefined ? 18 : 14;
  if (len < l2) return { layer: 'eth', code: Parse.Truncated };
  if (c.x.arp !== undefined) return { layer: 'arp', code: len - l2 < 28 ? Parse.Truncated : Parse.Ok };
  const x = c.x.ip!;
  if (len - l2 < 20 || len - l2 < x.headerLen) return { layer: 'ipv4', code: Parse.Truncated };
  if (len - l2 < x.totalLen) return { layer: 'ipv4', code: Parse.BadLength };
  return { layer: c.x.tcp !== undefined ? 'tcp' : c.x.udp !== undefined ? 'udp' : 'icmp', code: Parse.Ok };
}

test('every captured frame cut at every shorter length fails at the header that no longer fits, without throwing', () => {
  let cuts = 0;
  for (const c of CASES) {
    assert.deepEqual(
      parseChain(V, exact(c.bytes), c.bytes.length),
      expectedCut(c, c.bytes.length),
      `frame ${c.n} whole`,
    );
    assert.equal(parseChain(V, exact(c.bytes), c.bytes.length).code, Parse.Ok, `frame ${c.n} whole`);
    for (let len = 0; len < c.bytes.length; len++) {
      // The buffer ends where the cut is, so a read past it would throw a RangeError.
      const got = parseChain(V, exact(c.bytes, len), len);
      assert.deepEqual(got, expectedCut(c, len), `frame ${c.n} cut to ${len}`);
      assert.notEqual(got.code, Parse.Ok, `frame ${c.n} cut to ${len}`);
      cuts++;
    }
  }
  assert.ok(cuts > 2000);
});

test('tcp, udp and icmp bound to every shorter segment give Truncated or BadLength and never throw', () => {
  for (const c of [...withTcp, ...withUdp, ...withIcmp]) {
    const whole = exact(c.bytes);
    const ip = bindIp(V, whole);
    const l4 = ip.payloadOff,
      end = ip.payloadEnd;
    // The TCP header's fields as read from the whole segment: a cut one must read the same.
    let fields = '';
    if (c.x.tcp !== undefined) {
      V.attach(whole);
      assert.equal(V.tcp.bind(l4, end), Parse.Ok);
      fields = `${V.tcp.flags}/${V.tcp.window}/${V.tcp.csum}`;
    }
    for (let lim = l4; lim < end; lim++) {
      const b = exact(c.bytes, lim),
        m = `frame ${c.n} L4 cut to ${lim - l4}`;
      V.attach(b);
      if (c.x.tcp !== undefined) {
        const want = lim - l4 < 20 ? Parse.Truncated : lim - l4 < c.x.tcp.headerLen ? Parse.BadLength : Parse.Ok;
        assert.equal(V.tcp.bind(l4, lim), want, m);
        // A short segment with a whole header binds: its accessors stay inside the buffer.
        if (want === Parse.Ok) assert.equal(`${V.tcp.flags}/${V.tcp.window}/${V.tcp.csum}`, fields, m);
      } else if (c.x.udp !== undefined) {
        assert.equal(V.udp.bind(l4, lim), lim - l4 < 8 ? Parse.Truncated : Parse.BadLength, m);
      } else {
        // ICMP has no length field: any 8 bytes bind, and only the checksum can tell a cut message.
        const r = V.icmp.bind(l4, lim);
        assert.equal(r, lim - l4 < 8 ? Parse.Truncated : Parse.Ok, m);
        if (r === Parse.Ok) assert.equal(V.icmp.type, c.x.icmp!.type, m);
      }
    }
  }
});

// ---- broken headers ----------------------------------------------------------------------------

/** A fresh exact copy of the first captured frame matching `p`, with eth and IPv4 offsets. */
function copyOf(p: (c: Case) => boolean): { b: Uint8Array; dv: DataView; l3: number; c: Case } {
  const c = CASES.find(p);
  assert.ok(c !== undefined);
  const b = exact(c.bytes);
  return { b, dv: new DataView(b.buffer), l3: c.x.vlan !== undefined ? 18 : 14, c };
}

test('ipv4: rejects a total length beyond the frame as BadLength', () => {
  for (const c of withIp) {
    const b = exact(c.bytes),
      dv = new DataView(b.buffer),
      l3 = c.x.vlan !== undefined ? 18 : 14;
    dv.setUint16(l3 + 2, b.length - l3 + 1);
    V.attach(b);
    assert.equal(V.ip.bind(l3, b.length), Parse.BadLength, `frame ${c.n}`);
    dv.setUint16(l3 + 2, 0xffff);
    assert.equal(V.ip.bind(l3, b.length), Parse.BadLength, `frame ${c.n}`);
  }
});

test('ipv4: rejects a total length shorter than the header as BadLength', () => {
  for (const p of [(c: Case) => c.x.ip?.headerLen === 20, (c: Case) => (c.x.ip?.headerLen ?? 0) > 20]) {
    const { b, dv, l3, c } = copyOf(p);
    for (const total of [0, 1, 19, c.x.ip!.headerLen - 1]) {
      dv.setUint16(l3 + 2, total);
      V.attach(b);
      assert.equal(V.ip.bind(l3, b.length), Parse.BadLength, `frame ${c.n} total ${total}`);
    }
  }
});

test('ipv4: rejects an IHL below 5 and a version other than 4 as BadHeader', () => {
  const { b, l3 } = copyOf((c) => c.x.tcp !== undefined);
  V.attach(b);
  for (let ihl = 0; ihl < 5; ihl++) {
    b[l3] = 0x40 | ihl;
    assert.equal(V.ip.bind(l3, b.length), Parse.BadHeader, `IHL ${ihl}`);
  }
  for (const version of [0, 6, 15]) {
    b[l3] = (version << 4) | 5;
    assert.equal(V.ip.bind(l3, b.length), Parse.BadHeader, `version ${version}`);
  }
  b[l3] = 0x45;
  assert.equal(V.ip.bind(l3, b.length), Parse.Ok);
});

test('ipv4: an IHL reaching past the end of the frame is Truncated', () => {
  const { b, l3 } = copyOf((c) => c.x.udp !== undefined && c.bytes.length - 14 < 60);
  b[l3] = 0x4f;
  V.attach(b);
  assert.equal(V.ip.bind(l3, b.length), Parse.Truncated);
});

test('ipv4: an IHL that swallows the captured UDP header leaves the checksum failing, not the bind', () => {
  // IHL 7 on a datagram without options: the header now claims 8 bytes of UDP as options. bind()
  // still succeeds (lengths are consistent); checksumOk() is what catches it.
  const { b, l3 } = copyOf((c) => c.x.udp !== undefined && c.x.udp.csum !== 0);
  b[l3] = 0x47;
  V.attach(b);
  assert.equal(V.ip.bind(l3, b.length), Parse.Ok);
  assert.equal(V.ip.headerLen, 28);
  assert.equal(V.ip.checksumOk(), false);
});

test('tcp: rejects a data offset below 5 as BadHeader and one beyond the segment as BadLength', () => {
  for (const c of withTcp) {
    const b = exact(c.bytes),
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    const o = ip.payloadOff,
      segLen = ip.payloadEnd - o;
    for (let doff = 0; doff < 5; doff++) {
      b[o + 12] = (doff << 4) | (b[o + 12] & 0x0f);
      assert.equal(V.tcp.bind(o, ip.payloadEnd), Parse.BadHeader, `${m} doff ${doff}`);
    }
    for (let doff = 5; doff <= 15; doff++) {
      b[o + 12] = (doff << 4) | (b[o + 12] & 0x0f);
      assert.equal(V.tcp.bind(o, ip.payloadEnd), doff * 4 > segLen ? Parse.BadLength : Parse.Ok, `${m} doff ${doff}`);
    }
  }
});

test('udp: rejects a length below 8 or beyond the datagram as BadLength', () => {
  for (const c of withUdp) {
    const b = exact(c.bytes),
      dv = new DataView(b.buffer),
      m = `frame ${c.n}`;
    const ip = bindIp(V, b);
    const o = ip.payloadOff;
    for (let len = 0; len < 8; len++) {
      dv.setUint16(o + 4, len);
      assert.equal(V.udp.bind(o, ip.payloadEnd), Parse.BadLength, `${m} length ${len}`);
    }
    dv.setUint16(o + 4, ip.payloadEnd - o + 1);
    assert.equal(V.udp.bind(o, ip.payloadEnd), Parse.BadLength, m);
    dv.setUint16(o + 4, 8);
    assert.equal(V.udp.bind(o, ip.payloadEnd), Parse.Ok, `${m} header only`);
  }
});

test('arp: rejects hardware types, protocol types and address sizes other than Ethernet/IPv4', () => {
  const { b, dv } = copyOf((c) => c.x.arp !== undefined);
  const o = 14;
  V.attach(b);
  assert.equal(V.arp.bind(o, b.length), Parse.Ok);
  const breakers: [string, () => void, () => void][] = [
    ['htype 6', () => dv.setUint16(o, 6), () => dv.setUint16(o, 1)],
    ['ptype IPv6', () => dv.setUint16(o + 2, 0x86dd), () => dv.setUint16(o + 2, 0x0800)],
    [
      'hlen 8',
      () => {
        b[o + 4] = 8;
      },
      () => {
        b[o + 4] = 6;
      },
    ],
    [
      'plen 16',
      () => {
        b[o + 5] = 16;
      },
      () => {
        b[o + 5] = 4;
      },
    ],
  ];
  for (const [name, brk, fix] of breakers) {
    brk();
    assert.equal(V.arp.bind(o, b.length), Parse.BadHeader, name);
    fix();
    assert.equal(V.arp.bind(o, b.length), Parse.Ok, `${name} restored`);
  }
});

test('eth: rejects QinQ and a second 802.1Q tag as BadHeader; keeps VLAN id 0 and 4095 apart from no tag', () => {
  const { b, dv } = copyOf((c) => c.x.vlan !== undefined);
  V.attach(b);
  dv.setUint16(16, ETHERTYPE_VLAN);
  assert.equal(V.eth.bind(0, b.length), Parse.BadHeader, 'two 802.1Q tags');
  dv.setUint16(16, 0x88a8);
  assert.equal(V.eth.bind(0, b.length), Parse.BadHeader, '802.1ad inside 802.1Q');
  dv.setUint16(16, ETHERTYPE_IPV4);
  dv.setUint16(12, 0x88a8);
  assert.equal(V.eth.bind(0, b.length), Parse.BadHeader, 'outer 802.1ad');
  dv.setUint16(12, ETHERTYPE_VLAN);
  for (const [tci, id] of [
    [0x0000, 0],
    [0xefff, 4095],
    [0x100a, 10],
  ]) {
    dv.setUint16(14, tci);
    bindOk(V.eth.bind(0, b.length), `TCI ${tci}`);
    assert.equal(V.eth.vlanId, id, `TCI 0x${tci.toString(16)}`);
    assert.equal(V.eth.payloadOff, 18);
  }
  // Re-binding an untagged frame clears the previous frame's tag.
  const plain = exact(CASES.find((c) => c.x.vlan === undefined)!.bytes);
  V.attach(plain);
  bindOk(V.eth.bind(0, plain.length), 'untagged');
  assert.equal(V.eth.vlanId, -1);
  assert.equal(V.eth.payloadOff, 14);
});
