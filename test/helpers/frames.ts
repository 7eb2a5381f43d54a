/**
 * Builds test frames with correct checksums (full computation, independent of the dataplane's
 * incremental updates) and decodes output frames for assertions.
 */
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { formatIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../../src/packet/ipv4.js';

export function ip(s: string): number {
  const a = parseIpv4(s);
  if (a === null) throw new Error(`bad ip ${s}`);
  return a;
}

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** The protocol numbers under the short names tests use. */
export const TCP = IPPROTO_TCP,
  UDP = IPPROTO_UDP,
  ICMP = IPPROTO_ICMP;
export const FIN = 0x01,
  SYN = 0x02,
  RST = 0x04,
  PSH = 0x08,
  ACK = 0x10;

export interface L4 {
  proto: number;
  sport?: number;
  dport?: number;
  flags?: number;
  seq?: number;
  ack?: number;
  payload?: Uint8Array;
  /** ICMP type/code/rest */
  type?: number;
  code?: number;
  rest?: number;
  /** UDP: send a zero checksum */
  noCsum?: boolean;
}

export interface IpOpts {
  ttl?: number;
  id?: number;
  df?: boolean;
  fragWord?: number;
}

/** Ethernet + IPv4 + L4 frame. */
export function ipFrame(
  dstMac: Uint8Array,
  srcMac: Uint8Array,
  src: number,
  dst: number,
  l4: L4,
  o: IpOpts = {},
): Buffer {
  const payload = l4.payload ?? new Uint8Array(0);
  const l4Len = (l4.proto === TCP ? 20 : 8) + payload.length;
  const total = 20 + l4Len;
  const b = Buffer.alloc(14 + total);
  b.set(dstMac, 0);
  b.set(srcMac, 6);
  b.writeUInt16BE(0x0800, 12);
  const o4 = 14;
  b[o4] = 0x45;
  b.writeUInt16BE(total, o4 + 2);
  b.writeUInt16BE(o.id ?? 0x1234, o4 + 4);
  b.writeUInt16BE(o.fragWord ?? (o.df === false ? 0 : 0x4000), o4 + 6);
  b[o4 + 8] = o.ttl ?? 64;
  b[o4 + 9] = l4.proto;
  b.writeInt32BE(src, o4 + 12);
  b.writeInt32BE(dst, o4 + 16);
  b.writeUInt16BE(checksum(b, o4, o4 + 20), o4 + 10);
  const t = o4 + 20;
  if (l4.proto === TCP) {
    b.writeUInt16BE(l4.sport ?? 40000, t);
    b.writeUInt16BE(l4.dport ?? 80, t + 2);
    b.writeUInt32BE((l4.seq ?? 1000) >>> 0, t + 4);
    b.writeUInt32BE((l4.ack ?? 0) >>> 0, t + 8);
    b[t + 12] = 5 << 4;
    b[t + 13] = l4.flags ?? SYN;
    b.writeUInt16BE(64240, t + 14);
    b.set(payload, t + 20);
    b.writeUInt16BE(csumFinish(onesSum(b, t, t + l4Len, pseudoHeaderSum(src, dst, TCP, l4Len))), t + 16);
  } else if (l4.proto === UDP) {
    b.writeUInt16BE(l4.sport ?? 40000, t);
    b.writeUInt16BE(l4.dport ?? 53, t + 2);
    b.writeUInt16BE(l4Len, t + 4);
    b.set(payload, t + 8);
    if (l4.noCsum !== true) {
      let c = csumFinish(onesSum(b, t, t + l4Len, pseudoHeaderSum(src, dst, UDP, l4Len)));
      if (c === 0) c = 0xffff;
      b.writeUInt16BE(c, t + 6);
    }
  } else if (l4.proto === ICMP) {
    b[t] = l4.type ?? 8;
    b[t + 1] = l4.code ?? 0;
    b.writeUInt32BE((l4.rest ?? 0x00010001) >>> 0, t + 4);
    b.set(payload, t + 8);
    b.writeUInt16BE(checksum(b, t, t + l4Len), t + 2);
  }
  return b;
}

export function arpFrame(
  op: number,
  sha: Uint8Array,
  spa: number,
  tha: Uint8Array,
  tpa: number,
  dstMac?: Uint8Array,
): Buffer {
  const b = Buffer.alloc(60);
  b.set(dstMac ?? (op === 1 ? new Uint8Array([255, 255, 255, 255, 255, 255]) : tha), 0);
  b.set(sha, 6);
  b.writeUInt16BE(0x0806, 12);
  b.writeUInt16BE(1, 14);
  b.writeUInt16BE(0x0800, 16);
  b[18] = 6;
  b[19] = 4;
  b.writeUInt16BE(op, 20);
  b.set(sha, 22);
  b.writeInt32BE(spa, 28);
  b.set(tha, 32);
  b.writeInt32BE(tpa, 38);
  return b;
}

export interface Decoded {
  dstMac: string;
  srcMac: string;
  etherType: number;
  src?: string;
  dst?: string;
  ttl?: number;
  proto?: number;
  sport?: number;
  dport?: number;
  flags?: number;
  seq?: number;
  ack?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpRest?: number;
  ipCsumOk?: boolean;
  l4CsumOk?: boolean;
  arpOp?: number;
  arpSpa?: string;
  arpTpa?: string;
  payload?: Buffer;
  ipOff?: number;
}

const hex = (b: Buffer, o: number): string =>
  Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

/** Decodes a frame and verifies every checksum with a full computation. */
export function decode(b: Buffer): Decoded {
  const d: Decoded = { dstMac: hex(b, 0), srcMac: hex(b, 6), etherType: b.readUInt16BE(12) };
  if (d.etherType === 0x0806) {
    d.arpOp = b.readUInt16BE(20);
    d.arpSpa = formatIpv4(b.readInt32BE(28));
    d.arpTpa = formatIpv4(b.readInt32BE(38));
    return d;
  }
  if (d.etherType !== 0x0800) return d;
  const o = 14;
  const hl = (b[o] & 15) * 4;
  const total = b.readUInt16BE(o + 2);
  d.ipOff = o;
  d.src = formatIpv4(b.readInt32BE(o + 12));
  d.dst = formatIpv4(b.readInt32BE(o + 16));
  d.ttl = b[o + 8];
  d.proto = b[o + 9];
  d.ipCsumOk = checksum(b, o, o + hl) === 0;
  const t = o + hl,
    end = o + total;
  const src = b.readInt32BE(o + 12),
    dst = b.readInt32BE(o + 16);
  if (d.proto === TCP) {
    d.sport = b.readUInt16BE(t);
    d.dport = b.readUInt16BE(t + 2);
    d.seq = b.readUInt32BE(t + 4);
    d.ack = b.readUInt32BE(t + 8);
    d.flags = b[t + 13];
    d.l4CsumOk = csumFinish(onesSum(b, t, end, pseudoHeaderSum(src, dst, TCP, end - t))) === 0;
    d.payload = b.subarray(t + (b[t + 12] >> 4) * 4, end);
  } else if (d.proto === UDP) {
    d.sport = b.readUInt16BE(t);
    d.dport = b.readUInt16BE(t + 2);
    const c = b.readUInt16BE(t + 6);
    d.l4CsumOk = c === 0 || csumFinish(onesSum(b, t, end, pseudoHeaderSum(src, dst, UDP, end - t))) === 0;
    d.payload = b.subarray(t + 8, end);
  } else if (d.proto === ICMP) {
    d.icmpType = b[t];
    d.icmpCode = b[t + 1];
    d.icmpRest = b.readUInt32BE(t + 4);
    d.l4CsumOk = checksum(b, t, end) === 0;
    d.payload = b.subarray(t + 8, end);
  }
  return d;
}
