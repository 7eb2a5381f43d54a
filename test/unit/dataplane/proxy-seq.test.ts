/**
 * ProxySeq on hand-built IPv4/TCP segments. Every checksum is verified by recomputing it from
 * scratch with a reference sum written here (not the one under test). Groups: the first data
 * segment grown (and its retransmission, identically), later segments shifted, the ack/SACK
 * mapping at each boundary, the MTU/GSO standalone path, NEEDS_CSUM frames, sequence numbers
 * wrapping at 2^32, a whole simulated exchange, and hostile input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapAck, PROXY_STANDALONE_MAX_LEN, ProxySeq } from '../../../src/dataplane/xmit/proxy-seq.js';
import { writeProxyHeader } from '../../../src/packet/proxy-protocol.js';

const ip = (a: number, b: number, c: number, d: number) => (a << 24) | (b << 16) | (c << 8) | d | 0;
const CLIENT = ip(192, 168, 222, 1),
  VIP = ip(192, 168, 222, 131);
const LIP = ip(10, 0, 0, 1),
  RIP = ip(10, 0, 0, 2);
const CPORT = 40000,
  VPORT = 80,
  LPORT = 5000,
  RPORT = 8080;
const V1 = 'PROXY TCP4 192.168.222.1 192.168.222.131 40000 80\r\n';
const H1 = V1.length; // 51
const H2 = 28;
const ISN = 0x12345678;
const S = ISN + 1;
const FIN = 0x01,
  SYN = 0x02,
  RST = 0x04,
  PSH = 0x08,
  ACK = 0x10;
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

// ---- reference checksums and a segment builder -------------------------------------------------

function refSum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}
const be32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const rd16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const rd32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** The TCP pseudo-header sum, folded (what a NEEDS_CSUM frame holds in its checksum field). */
function pseudo(src: number, dst: number, l4len: number): number {
  return refSum([...be32(src), ...be32(dst), 0, 6, l4len >> 8, l4len & 255]);
}

interface Seg {
  src?: number;
  dst?: number;
  sport?: number;
  dport?: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: number[];
  payload?: Uint8Array | number[];
  /** Put the pseudo-header sum in the checksum field, as a NEEDS_CSUM frame has it. */
  partial?: boolean;
  ipOptions?: number[];
  id?: number;
}

/** An IPv4/TCP datagram written out byte by byte, checksums from the reference sum. */
function seg(p: Seg): Uint8Array {
  const src = p.src ?? LIP,
    dst = p.dst ?? RIP;
  const ipOpts = p.ipOptions ?? [],
    opts = p.options ?? [],
    pay = [...(p.payload ?? [])];
  assert.equal(ipOpts.length % 4, 0);
  assert.equal(opts.length % 4, 0);
  const ihl = 20 + ipOpts.length,
    doff = 20 + opts.length;
  const total = ihl + doff + pay.length;
  const id = p.id ?? 0x1234;
  const iph = [
    0x40 | (ihl >> 2),
    0,
    total >> 8,
    total & 255,
    id >> 8,
    id & 255,
    0x40,
    0,
    64,
    6,
    0,
    0,
    ...be32(src),
    ...be32(dst),
    ...ipOpts,
  ];
  const ic = ~refSum(iph) & 0xffff;
  iph[10] = ic >> 8;
  iph[11] = ic & 255;
  const sport = p.sport ?? LPORT,
    dport = p.dport ?? RPORT,
    win = p.window ?? 0xfaf0;
  const tcp = [
    sport >> 8,
    sport & 255,
    dport >> 8,
    dport & 255,
    ...be32(p.seq),
    ...be32(p.ack ?? 0),
    (doff >> 2) << 4,
    p.flags,
    win >> 8,
    win & 255,
    0,
    0,
    0,
    0,
    ...opts,
    ...pay,
  ];
  const tc = p.partial
    ? pseudo(src, dst, tcp.length)
    : ~refSum([...be32(src), ...be32(dst), 0, 6, tcp.length >> 8, tcp.length & 255, ...tcp]) & 0xffff;
  tcp[16] = tc >> 8;
  tcp[17] = tc & 255;
  return Uint8Array.from([...iph, ...tcp]);
}

/** Both checksums of the datagram at b[off..off+len) verified from scratch. */
function assertChecksums(b: Uint8Array, off: number, len: number, what: string): void {
  const d = [...b.subarray(off, off + len)];
  const ihl = (d[0] & 15) << 2;
  assert.equal(rd16(b, off + 2), len, `${what}: IP total length`);
  assert.equal(refSum(d.slice(0, ihl)), 0xffff, `${what}: IP header checksum`);
  const l4 = d.slice(ihl);
  assert.equal(
    refSum([...d.slice(12, 20), 0, 6, l4.length >> 8, l4.length & 255, ...l4]),
    0xffff,
    `${what}: TCP checksum`,
  );
}

const tcpAt = (b: Uint8Array, off = 0) => off + ((b[off] & 15) << 2);
const seqOf = (b: Uint8Array, off = 0) => rd32(b, tcpAt(b, off) + 4);
const ackOf = (b: Uint8Array, off = 0) => rd32(b, tcpAt(b, off) + 8);
const flagsOf = (b: Uint8Array, off = 0) => b[tcpAt(b, off) + 13];
const payloadOf = (b: Uint8Array, off: number, len: number) => {
  const t = tcpAt(b, off);
  return b.subarray(t + ((b[t + 12] >> 4) << 2), off + len);
};
const text = (b: Uint8Array) => String.fromCharCode(...b);

function conn(version: 1 | 2, isn = ISN): ProxySeq {
  const p = new ProxySeq(64);
  assert.equal(p.start(7, version, isn, CLIENT, CPORT, VIP, VPORT), version === 1 ? H1 : H2);
  return p;
}

// ---- client -> real server ----------------------------------------------------------------------

test('first data segment: grown with the v1 header in front of the payload, full checksums', () => {
  const p = conn(1);
  const orig = seg({ seq: S, ack: 0xabcdef01, flags: ACK | PSH, payload: ascii('GET / HTTP/1.0\r\n\r\n'), id: 77 });
  const before = orig.slice();
  const out = new Uint8Array(2000).fill(0xee);
  const n = p.inbound(7, orig, 0, orig.length, false, false, 1500, out, 10);
  assert.equal(n, orig.length + H1);
  assert.deepEqual(orig, before, 'the original is left as it was: the caller sends out instead');
  assertChecksums(out, 10, n, 'grown');
  assert.equal(seqOf(out, 10), S >>> 0, 'the header takes the first data byte');
  assert.equal(ackOf(out, 10), 0xabcdef01);
  assert.equal(flagsOf(out, 10), ACK | PSH);
  assert.equal(rd16(out, 10 + 4), 77, 'IP id kept');
  assert.equal(text(payloadOf(out, 10, n)), `${V1}GET / HTTP/1.0\r\n\r\n`);
  assert.equal(out[9], 0xee);
  assert.equal(out[10 + n], 0xee);
});

test('first data segment with IP and TCP options, v2: options kept, header after them', () => {
  const p = conn(2);
  const tsOpt = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
  const orig = seg({ seq: S, ack: 5, flags: ACK, payload: [1, 2, 3], options: tsOpt, ipOptions: [1, 1, 1, 0] });
  const out = new Uint8Array(200);
  const n = p.inbound(7, orig, 0, orig.length, false, false, 1500, out, 0);
  assert.equal(n, orig.length + H2);
  assertChecksums(out, 0, n, 'grown v2');
  assert.deepEqual([...out.subarray(0, 24 + 32)].slice(24 + 20), tsOpt, 'TCP options copied');
  const pl = payloadOf(out, 0, n);
  assert.deepEqual([...pl.subarray(0, 16)], [13, 10, 13, 10, 0, 13, 10, 0x51, 0x55, 0x49, 0x54, 10, 0x21, 0x11, 0, 12]);
  assert.deepEqual([...pl.subarray(16, 28)], [192, 168, 222, 1, 192, 168, 222, 131, 0x9c, 0x40, 0, 80]);
  assert.deepEqual([...pl.subarray(28)], [1, 2, 3]);
});

test('a retransmission of the first data is grown again, identically', () => {
  const p = conn(1);
  const a = seg({ seq: S, ack: 9, flags: ACK | PSH, payload: ascii('hello') });
  const b = seg({ seq: S, ack: 9, flags: ACK | PSH, payload: ascii('hello') });
  const o1 = new Uint8Array(200),
    o2 = new Uint8Array(200);
  const n1 = p.inbound(7, a, 0, a.length, false, false, 1500, o1, 0);
  // Something else happens in between: later data shifted, a reply mapped.
  const later = seg({ seq: S + 5, ack: 9, flags: ACK, payload: ascii('world') });
  p.inbound(7, later, 0, later.length, false, false, 1500, o2, 0);
  const n2 = p.inbound(7, b, 0, b.length, false, false, 1500, o2, 0);
  assert.equal(n1, n2);
  assert.deepEqual(o1.subarray(0, n1), o2.subarray(0, n2));
});

test('later segments, FIN and RST included, are shifted by H in place with a valid checksum', () => {
  for (const [version, h] of [
    [1, H1],
    [2, H2],
  ] as const) {
    const p = conn(version);
    for (const [flags, pay] of [
      [ACK | PSH, ascii('more data')],
      [ACK, ascii('')],
      [ACK | FIN, ascii('')],
      [ACK | FIN | PSH, ascii('last')],
      [RST, ascii('')],
      [RST | ACK, ascii('')],
    ] as const) {
      for (const delta of [1, 100, 0x7fffffff]) {
        const b = seg({ seq: S + delta, ack: 0x11111111, flags, payload: pay });
        const out = new Uint8Array(10);
        assert.equal(p.inbound(7, b, 0, b.length, false, false, 1500, out, 0), 0);
        assert.equal(seqOf(b), (S + delta + h) >>> 0, `v${version} flags ${flags} +${delta}`);
        assert.equal(ackOf(b), 0x11111111, 'client acks are the server sequence space: untouched');
        assertChecksums(b, 0, b.length, `shifted v${version}`);
      }
    }
  }
});

test('SYN, pure ACK and RST at S, and anything before S, are left alone', () => {
  const p = conn(1);
  const cases = [
    seg({ seq: ISN, flags: SYN, options: [2, 4, 5, 0xb4] }),
    seg({ seq: S, ack: 1, flags: ACK }),
    seg({ seq: S, ack: 1, flags: RST | ACK }),
    seg({ seq: S - 1, ack: 1, flags: ACK }),
    seg({ seq: S - 1, ack: 1, flags: ACK, payload: [0] }),
    seg({ seq: S - 1, ack: 1, flags: ACK | FIN }),
    seg({ seq: S - 0x7fffffff, ack: 1, flags: ACK | PSH, payload: [1] }),
    seg({ seq: ISN, flags: SYN | ACK, payload: [1, 2] }),
  ];
  for (const b of cases) {
    const before = b.slice();
    assert.equal(p.inbound(7, b, 0, b.length, false, false, 1500, new Uint8Array(2000), 0), 0);
    assert.deepEqual(b, before);
  }
});

test('a FIN at S with no data still gets the header, so the FIN is acked right', () => {
  const p = conn(2);
  const b = seg({ seq: S, ack: 3, flags: ACK | FIN });
  const out = new Uint8Array(200);
  const n = p.inbound(7, b, 0, b.length, false, false, 1500, out, 0);
  assert.equal(n, b.length + H2);
  assertChecksums(out, 0, n, 'FIN grown');
  assert.equal(flagsOf(out), ACK | FIN);
  // The server acks header + FIN: S + H + 1, which the client must see as S + 1.
  const reply = seg({ src: RIP, dst: LIP, seq: 1000, ack: S + H2 + 1, flags: ACK | FIN });
  p.outbound(7, reply, 0, reply.length, false);
  assert.equal(ackOf(reply), (S + 1) >>> 0);
  assertChecksums(reply, 0, reply.length, 'FIN ack');
});

// ---- too big / GSO: the standalone header segment ------------------------------------------------

test('over the MTU: a standalone header segment, then the original shifted in place', () => {
  const p = conn(1);
  const pay = new Uint8Array(1460).map((_, i) => i & 255);
  const orig = seg({ seq: S, ack: 0x01020304, flags: ACK | PSH, payload: pay, window: 0x1234, options: [1, 1, 1, 1] });
  assert.equal(orig.length, 1504);
  const out = new Uint8Array(PROXY_STANDALONE_MAX_LEN + 4).fill(0xee);
  const n = p.inbound(7, orig, 0, orig.length, false, false, 1500 + H1 - 1, out, 4);
  assert.equal(n, -(40 + H1));
  const m = -n;
  assertChecksums(out, 4, m, 'standalone');
  assert.equal(out[4], 0x45, 'no IP options');
  assert.equal(rd32(out, 4 + 12) | 0, LIP);
  assert.equal(rd32(out, 4 + 16) | 0, RIP);
  assert.equal(rd16(out, 24), LPORT);
  assert.equal(rd16(out, 26), RPORT);
  assert.equal(seqOf(out, 4), S >>> 0);
  assert.equal(ackOf(out, 4), 0x01020304);
  assert.equal(flagsOf(out, 4), ACK | PSH);
  assert.equal(out[24 + 12], 5 << 4, 'no TCP options');
  assert.equal(rd16(out, 24 + 14), 0x1234, 'window copied');
  assert.equal(text(payloadOf(out, 4, m)), V1);
  assert.equal(seqOf(orig), (S + H1) >>> 0);
  assertChecksums(orig, 0, orig.length, 'shifted original');
  assert.deepEqual(payloadOf(orig, 0, orig.length), pay);
  // Exactly at the MTU it is grown instead.
  const again = seg({ seq: S, ack: 0x01020304, flags: ACK | PSH, payload: pay, options: [1, 1, 1, 1] });
  const big = new Uint8Array(1600);
  assert.equal(p.inbound(7, again, 0, again.length, false, false, 1504 + H1, big, 0), 1504 + H1);
  assertChecksums(big, 0, 1504 + H1, 'grown at the MTU');
});

test('GSO super-packet: always the standalone path; without ACK the standalone has only PSH', () => {
  const p = conn(2);
  const orig = seg({ seq: S, flags: PSH, payload: new Uint8Array(3000).fill(7) });
  const out = new Uint8Array(200);
  const n = p.inbound(7, orig, 0, orig.length, false, true, 65535, out, 0);
  assert.equal(n, -(40 + H2));
  assertChecksums(out, 0, -n, 'standalone');
  assert.equal(flagsOf(out), PSH);
  assert.equal(seqOf(orig), (S + H2) >>> 0);
  assertChecksums(orig, 0, orig.length, 'shifted GSO original');
});

test('an out buffer too small to grow into falls back to the standalone segment', () => {
  const p = conn(2);
  const orig = seg({ seq: S, ack: 1, flags: ACK, payload: new Uint8Array(100) });
  const out = new Uint8Array(40 + H2);
  assert.equal(p.inbound(7, orig, 0, orig.length, false, false, 1500, out, 0), -(40 + H2));
  assertChecksums(out, 0, 40 + H2, 'standalone');
  const tiny = new Uint8Array(40 + H2 - 1);
  const orig2 = seg({ seq: S, ack: 1, flags: ACK, payload: new Uint8Array(100) });
  const before = orig2.slice();
  assert.equal(p.inbound(7, orig2, 0, orig2.length, false, false, 1500, tiny, 0), 0, 'no room at all');
  assert.deepEqual(orig2, before);
});

// ---- NEEDS_CSUM frames ----------------------------------------------------------------------------

test('partial checksum: shifts leave the field alone; grown and standalone packets get full checksums', () => {
  const p = conn(1);
  const later = seg({ seq: S + 10, ack: 1, flags: ACK, payload: [1, 2, 3], partial: true });
  const field = rd16(later, 36);
  assert.equal(p.inbound(7, later, 0, later.length, true, false, 1500, new Uint8Array(0), 0), 0);
  assert.equal(seqOf(later), (S + 10 + H1) >>> 0);
  assert.equal(rd16(later, 36), field, 'the pseudo-header sum does not cover seq');

  const first = seg({ seq: S, ack: 1, flags: ACK, payload: [1, 2, 3], partial: true });
  const out = new Uint8Array(200);
  const n = p.inbound(7, first, 0, first.length, true, false, 1500, out, 0);
  assert.equal(n, first.length + H1);
  assertChecksums(out, 0, n, 'grown from a partial frame');

  const gso = seg({ seq: S, ack: 1, flags: ACK, payload: new Uint8Array(2000), partial: true });
  const gfield = rd16(gso, 36);
  const m = p.inbound(7, gso, 0, gso.length, true, true, 1500, out, 0);
  assert.equal(m, -(40 + H1));
  assertChecksums(out, 0, -m, 'standalone from a partial frame');
  assert.equal(rd16(gso, 36), gfield);
  assert.equal(seqOf(gso), (S + H1) >>> 0);

  const reply = seg({ src: RIP, dst: LIP, seq: 5, ack: S + H1 + 3, flags: ACK, partial: true });
  const rfield = rd16(reply, 36);
  p.outbound(7, reply, 0, reply.length, true);
  assert.equal(ackOf(reply), (S + 3) >>> 0);
  assert.equal(rd16(reply, 36), rfield);
});

// ---- real server -> client --------------------------------------------------------------------------

test('ack mapping at every boundary, with a valid checksum after each', () => {
  const p = conn(1);
  const h = H1;
  const cases: [number, number][] = [
    [S - 0x7fffffff, S - 0x7fffffff],
    [S - 1, S - 1],
    [S, S],
    [S + 1, S],
    [S + h - 1, S],
    [S + h, S],
    [S + h + 1, S + 1],
    [S + h + 1000, S + 1000],
  ];
  for (const [a, want] of cases) {
    const r = seg({ src: RIP, dst: LIP, sport: RPORT, dport: LPORT, seq: 777, ack: a, flags: ACK | PSH, payload: [9] });
    p.outbound(7, r, 0, r.length, false);
    assert.equal(ackOf(r), want >>> 0, `ack S${a - S >= 0 ? '+' : ''}${a - S}`);
    assert.equal(seqOf(r), 777, 'server seq untouched');
    assertChecksums(r, 0, r.length, `ack S+${a - S}`);
  }
  // Without ACK the field means nothing and stays.
  const r = seg({ src: RIP, dst: LIP, seq: 1, ack: S + h + 5, flags: RST });
  const before = r.slice();
  p.outbound(7, r, 0, r.length, false);
  assert.deepEqual(r, before);
  // mapAck itself, as the pure function the dataplane could also use.
  assert.equal(mapAck(S, h, S + h + 1), S + 1);
  assert.equal(mapAck(S, h, S + h), S);
});

test('SACK edges mapped like acks, aligned and at an odd offset; other options untouched', () => {
  const p = conn(2);
  const h = H2;
  const blocks = [S + h + 100, S + h + 200, S + 5, S + h + 2, S - 10, S];
  const sack = [5, 2 + 8 * 3, ...blocks.flatMap(be32)];
  const ts = [8, 10, 0, 0, 0, 1, ...be32(S + h + 100)];
  // NOP NOP SACK: edges 32-bit aligned within the header.
  const aligned = seg({
    src: RIP,
    dst: LIP,
    seq: 1,
    ack: S + h + 50,
    flags: ACK,
    options: [1, 1, ...sack, 1, 1, ...ts],
  });
  // NOP SACK ... NOP: edges at odd offsets.
  const odd = seg({ src: RIP, dst: LIP, seq: 1, ack: S + h + 50, flags: ACK, options: [1, ...sack, 1, 1, 1, ...ts] });
  const want = [S + 100, S + 200, S, S + 2, S - 10, S].map((x) => x >>> 0);
  for (const [r, start] of [
    [aligned, 40 + 4],
    [odd, 40 + 3],
  ] as const) {
    p.outbound(7, r, 0, r.length, false);
    assert.equal(ackOf(r), (S + 50) >>> 0);
    for (let k = 0; k < 6; k++) assert.equal(rd32(r, start + 4 * k), want[k], `edge ${k} at ${start}`);
    assertChecksums(r, 0, r.length, `SACK at ${start}`);
    assert.equal(rd32(r, r.length - 4), (S + h + 100) >>> 0, 'a timestamp echo is not a sequence number');
  }
});

test('a one-block SACK (length 10) is mapped too', () => {
  const p = conn(1);
  const r = seg({
    src: RIP,
    dst: LIP,
    seq: 1,
    ack: S,
    flags: ACK,
    options: [1, 1, 5, 10, ...be32(S + H1 + 10), ...be32(S + H1 + 20)],
  });
  p.outbound(7, r, 0, r.length, false);
  assert.equal(rd32(r, 44), (S + 10) >>> 0);
  assert.equal(rd32(r, 48), (S + 20) >>> 0);
  assertChecksums(r, 0, r.length, 'one block');
});

test('options parsed safely: a SACK overrunning the header, zero length, EOL stop the walk', () => {
  const p = conn(1);
  const h = H1;
  const over = seg({
    src: RIP,
    dst: LIP,
    seq: 1,
    ack: S + h + 1,
    flags: ACK,
    options: [1, 1, 5, 18, ...be32(S + h + 9)],
  });
  p.outbound(7, over, 0, over.length, false);
  assert.equal(ackOf(over), (S + 1) >>> 0);
  assert.equal(rd32(over, 44), (S + h + 9) >>> 0, 'a block past the header end is not touched');
  assertChecksums(over, 0, over.length, 'overrun');
  const zero = seg({
    src: RIP,
    dst: LIP,
    seq: 1,
    ack: S,
    flags: ACK,
    options: [8, 0, 5, 10, ...be32(S + h + 9), ...be32(S + h + 9)],
  });
  p.outbound(7, zero, 0, zero.length, false);
  assert.equal(rd32(zero, 44), (S + h + 9) >>> 0, 'an option of length 0 ends the walk');
  const eol = seg({
    src: RIP,
    dst: LIP,
    seq: 1,
    ack: S,
    flags: ACK,
    options: [0, 1, 5, 10, ...be32(S + h + 9), ...be32(S + h + 9)],
  });
  p.outbound(7, eol, 0, eol.length, false);
  assert.equal(rd32(eol, 44), (S + h + 9) >>> 0, 'nothing after EOL');
  const badLen = seg({
    src: RIP,
    dst: LIP,
    seq: 1,
    ack: S,
    flags: ACK,
    options: [5, 9, ...be32(S + h + 9), 0, 0, 0, 0, 0, 0],
  });
  p.outbound(7, badLen, 0, badLen.length, false);
  assert.equal(rd32(badLen, 42), (S + h + 9) >>> 0, 'a SACK length not 2 + 8n is skipped');
});

// ---- wrap-around ----------------------------------------------------------------------------------

test('sequence numbers wrapping at 2^32: S itself near or at the wrap', () => {
  for (const isn of [0xffffffff - 10, 0xffffffff, 0xfffffffe, 0x7fffffff]) {
    const s = (isn + 1) >>> 0;
    const p = conn(1, isn | 0);
    const first = seg({ seq: s, ack: 1, flags: ACK, payload: [1] });
    const out = new Uint8Array(200);
    assert.equal(p.inbound(7, first, 0, first.length, false, false, 1500, out, 0), first.length + H1, `isn ${isn}`);
    assert.equal(seqOf(out), s);
    for (const d of [1, 20, 5000]) {
      const later = seg({ seq: (s + d) >>> 0, ack: 1, flags: ACK, payload: [1] });
      p.inbound(7, later, 0, later.length, false, false, 1500, out, 0);
      assert.equal(seqOf(later), (s + d + H1) >>> 0, `isn ${isn} +${d}`);
      assertChecksums(later, 0, later.length, 'wrapped shift');
    }
    for (const [a, want] of [
      [s - 1, s - 1],
      [s + 3, s],
      [s + H1, s],
      [s + H1 + 1, s + 1],
      [s + H1 + 70000, s + 70000],
    ]) {
      const r = seg({ src: RIP, dst: LIP, seq: 1, ack: a >>> 0, flags: ACK });
      p.outbound(7, r, 0, r.length, false);
      assert.equal(ackOf(r), want >>> 0, `isn ${isn} ack S+${a - s}`);
      assertChecksums(r, 0, r.length, 'wrapped ack');
    }
  }
});

// ---- a whole exchange -------------------------------------------------------------------------------

test('simulated exchange with loss and the MTU path: the server reads header + data, the client sees its own acks', () => {
  for (const [version, mtu] of [
    [1, 1500],
    [2, 1500],
    [1, 60],
    [2, 60],
  ] as const) {
    const p = conn(version);
    const data = ascii('The quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps.');
    // Client segments of 16 bytes; the first is "lost" once and retransmitted.
    const server = new Map<number, number>(); // absolute server-side seq -> byte
    const deliver = (b: Uint8Array, off: number, len: number) => {
      assertChecksums(b, off, len, 'delivered');
      const pl = payloadOf(b, off, len);
      const sq = seqOf(b, off);
      for (let i = 0; i < pl.length; i++) server.set((sq + i) >>> 0, pl[i]);
    };
    const send = (k: number) => {
      const b = seg({ seq: (S + k) >>> 0, ack: 1, flags: ACK | PSH, payload: data.subarray(k, k + 16) });
      const out = new Uint8Array(300);
      const n = p.inbound(7, b, 0, b.length, false, false, mtu, out, 0);
      if (n > 0) deliver(out, 0, n);
      else {
        if (n < 0) deliver(out, 0, -n);
        deliver(b, 0, b.length);
      }
    };
    send(0); // lost below: throw away what the server got
    server.clear();
    for (let k = 16; k < data.length; k += 16) send(k);
    send(0); // retransmission
    const h = p.headerLen(7);
    let stream = '';
    for (let i = 0; i < h + data.length; i++) {
      const c = server.get((S + i) >>> 0);
      assert.notEqual(c, undefined, `v${version} mtu ${mtu}: hole at ${i}`);
      stream += String.fromCharCode(c as number);
    }
    assert.equal(server.size, h + data.length, 'nothing beyond');
    const hdr = new Uint8Array(64);
    writeProxyHeader(version, hdr, 0, CLIENT, VIP, CPORT, VPORT);
    assert.equal(stream.slice(0, h), text(hdr.subarray(0, h)));
    assert.equal(stream.slice(h), text(data));
    // The server acks everything: the client sees exactly its data acked.
    const r = seg({ src: RIP, dst: LIP, seq: 1, ack: (S + h + data.length) >>> 0, flags: ACK });
    p.outbound(7, r, 0, r.length, false);
    assert.equal(ackOf(r), (S + data.length) >>> 0);
  }
});

// ---- lifecycle and hostile input ----------------------------------------------------------------------

test('start/stop/active; inactive and out-of-range ids leave packets alone', () => {
  const p = new ProxySeq(16);
  assert.equal(p.active(3), false);
  assert.throws(() => p.start(16, 1, 0, 0, 0, 0, 0), RangeError);
  assert.throws(() => p.start(3, 3, 0, 0, 0, 0, 0), RangeError);
  assert.equal(p.start(3, 2, ISN, CLIENT, CPORT, VIP, VPORT), H2);
  assert.equal(p.active(3), true);
  assert.equal(p.headerLen(3), H2);
  p.stop(3);
  assert.equal(p.active(3), false);
  assert.equal(p.headerLen(3), 0);
  for (const id of [3, -1, 16, 1.5, Number.NaN]) {
    const b = seg({ seq: S + 5, ack: 1, flags: ACK, payload: [1] });
    const before = b.slice();
    assert.equal(p.inbound(id, b, 0, b.length, false, false, 1500, new Uint8Array(200), 0), 0);
    p.outbound(id, b, 0, b.length, false);
    assert.deepEqual(b, before, `id ${id}`);
  }
});

test('hostile input: truncated, bad IHL/data offset/protocol, fragments, bad offsets: untouched, no throw', () => {
  const p = conn(1);
  const base = () => seg({ seq: S, ack: S + H1 + 1, flags: ACK, payload: [1, 2, 3, 4] });
  const cases: [string, Uint8Array, number, number][] = [];
  const b0 = base();
  cases.push(['ipLen 39', b0, 0, 39]);
  cases.push(['ipLen beyond the buffer', base(), 0, b0.length + 1]);
  cases.push(['ipOff beyond', base(), 100, 44]);
  cases.push(['negative ipOff', base(), -1, 44]);
  let b = base();
  b[0] = 0x44;
  cases.push(['IHL 4', b, 0, b.length]);
  b = base();
  b[0] = 0x4f;
  cases.push(['IHL 15', b, 0, b.length]);
  b = base();
  b[0] = 0x65;
  cases.push(['version 6', b, 0, b.length]);
  b = base();
  b[9] = 17;
  cases.push(['UDP', b, 0, b.length]);
  b = base();
  b[6] = 0x20;
  cases.push(['MF', b, 0, b.length]);
  b = base();
  b[7] = 1;
  cases.push(['fragment offset', b, 0, b.length]);
  b = base();
  b[32] = 0x40;
  cases.push(['data offset 4', b, 0, b.length]);
  b = base();
  b[32] = 0xf0;
  cases.push(['data offset 15 past the end', b, 0, b.length]);
  for (const [what, x, off, len] of cases) {
    const before = x.slice();
    const out = new Uint8Array(300);
    assert.equal(p.inbound(7, x, off, len, false, false, 1500, out, 0), 0, what);
    p.outbound(7, x, off, len, false);
    assert.deepEqual(x, before, what);
    assert.ok(
      out.every((v) => v === 0),
      `${what}: nothing written to out`,
    );
  }
  const ok = base();
  assert.equal(p.inbound(7, ok, 0, ok.length, false, false, 1500, new Uint8Array(300), -4), 0, 'negative outOff');
});

test('random bytes never throw (bounded fuzz)', () => {
  const p = conn(1);
  let x = 0x2545f491;
  const r = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const out = new Uint8Array(PROXY_STANDALONE_MAX_LEN + 200);
  for (let i = 0; i < 20000; i++) {
    const len = r() % 120;
    const b = new Uint8Array(len).map(() => r() & 255);
    if (len > 0 && i % 2 === 0) b[0] = 0x45 + (r() % 3);
    if (len > 9) b[9] = 6;
    if (len > 33 && i % 3 === 0) {
      b.set(be32(S + (r() % 3) - 1), 24);
      b[6] = 0;
      b[7] = 0;
    }
    const ipLen = r() % (len + 2);
    p.inbound(7, b, 0, ipLen, (i & 4) !== 0, (i & 8) !== 0, r() % 200, out, 0);
    p.outbound(7, b, 0, ipLen, (i & 4) !== 0);
  }
});
