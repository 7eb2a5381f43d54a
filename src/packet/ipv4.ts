/**
 * IPv4 header (RFC 791 §3.1).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version|  IHL  |Type of Service|          Total Length         |  0
 *   |         Identification        |Flags|      Fragment Offset    |  4
 *   |  Time to Live |    Protocol   |         Header Checksum       |  8
 *   |                       Source Address                          | 12
 *   |                    Destination Address                        | 16
 *   |                    Options (IHL > 5)                          | 20
 *
 * bind() checks version, IHL >= 5, that the header fits, and total length against the frame
 * (a frame may be longer than the datagram: Ethernet padding; never shorter). The header checksum
 * is checked separately (`checksumOk`), so a caller can count it as its own drop reason.
 * Addresses are int32 in host order: a u32 above 2^31 is not a V8 small integer and would cost a
 * heap number per packet.
 */
import { checksum, csumFinish, csumUpdate16, csumUpdate32, onesSum } from './checksum.js';
import { Parse } from './parse.js';

export const IPV4_MIN_HLEN = 20;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;
/** Protocol field values tapvs handles (IANA protocol numbers; Linux uapi in.h IPPROTO_*). */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

const F = { TOS: 1, TOTAL_LEN: 2, ID: 4, FRAG: 6, TTL: 8, PROTO: 9, CSUM: 10, SRC: 12, DST: 16 } as const;

export class Ipv4View {
  private off = 0;
  private end = 0;
  private hlen = 0;
  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
  ) {}

  /** Points the view at a header in [off, limit). Never throws: bad input is a Parse code. */
  bind(off: number, limit: number): Parse {
    if (limit - off < IPV4_MIN_HLEN) return Parse.Truncated;
    const vihl = this.u8[off];
    const hlen = (vihl & 0x0f) << 2;
    if (vihl >>> 4 !== 4 || hlen < IPV4_MIN_HLEN) return Parse.BadHeader;
    if (off + hlen > limit) return Parse.Truncated;
    const total = this.dv.getUint16(off + F.TOTAL_LEN);
    if (total < hlen || off + total > limit) return Parse.BadLength;
    this.off = off;
    this.end = off + total;
    this.hlen = hlen;
    return Parse.Ok;
  }

  get offset(): number {
    return this.off;
  }
  get headerLen(): number {
    return this.hlen;
  }
  /** Offset of the L4 header. */
  get payloadOff(): number {
    return this.off + this.hlen;
  }
  /** End of the datagram (not of the frame). */
  get payloadEnd(): number {
    return this.end;
  }
  get totalLen(): number {
    return this.end - this.off;
  }
  get tos(): number {
    return this.u8[this.off + F.TOS];
  }
  get id(): number {
    return this.dv.getUint16(this.off + F.ID);
  }
  /** Flags and fragment offset word. */
  get fragWord(): number {
    return this.dv.getUint16(this.off + F.FRAG);
  }
  get dontFragment(): boolean {
    return (this.fragWord & IP_DF) !== 0;
  }
  /** True for any fragment (MF set or offset > 0). */
  get isFragment(): boolean {
    return (this.fragWord & (IP_MF | IP_OFFMASK)) !== 0;
  }
  get ttl(): number {
    return this.u8[this.off + F.TTL];
  }
  get protocol(): number {
    return this.u8[this.off + F.PROTO];
  }
  get csum(): number {
    return this.dv.getUint16(this.off + F.CSUM);
  }
  get src(): number {
    return this.dv.getInt32(this.off + F.SRC);
  }
  get dst(): number {
    return this.dv.getInt32(this.off + F.DST);
  }

  checksumOk(): boolean {
    const b = this.u8,
      o = this.off;
    if (this.hlen !== IPV4_MIN_HLEN) return checksum(b, o, o + this.hlen) === 0;
    // The common 20-byte header, unrolled: ten 16-bit words.
    let s =
      ((b[o] << 8) | b[o + 1]) +
      ((b[o + 2] << 8) | b[o + 3]) +
      ((b[o + 4] << 8) | b[o + 5]) +
      ((b[o + 6] << 8) | b[o + 7]) +
      ((b[o + 8] << 8) | b[o + 9]) +
      ((b[o + 10] << 8) | b[o + 11]) +
      ((b[o + 12] << 8) | b[o + 13]) +
      ((b[o + 14] << 8) | b[o + 15]) +
      ((b[o + 16] << 8) | b[o + 17]) +
      ((b[o + 18] << 8) | b[o + 19]);
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    return s === 0xffff;
  }

  /** Rewrites the source address, fixing the header checksum incrementally. */
  setSrc(a: number): void {
    const o = this.off;
    this.dv.setUint16(o + F.CSUM, csumUpdate32(this.csum, this.src, a));
    this.dv.setInt32(o + F.SRC, a);
  }
  /** Rewrites the destination address, fixing the header checksum incrementally. */
  setDst(a: number): void {
    const o = this.off;
    this.dv.setUint16(o + F.CSUM, csumUpdate32(this.csum, this.dst, a));
    this.dv.setInt32(o + F.DST, a);
  }
  /** TTL - 1 with the RFC 1624 update of the TTL/protocol word. Caller checks ttl > 1 first. */
  decrementTtl(): void {
    const o = this.off;
    const oldWord = this.dv.getUint16(o + F.TTL);
    const nowWord = oldWord - 0x100;
    this.dv.setUint16(o + F.TTL, nowWord);
    this.dv.setUint16(o + F.CSUM, csumUpdate16(this.csum, oldWord, nowWord));
  }
}

/**
 * Writes a 20-byte IPv4 header (no options) with a fresh checksum. Returns the payload offset.
 * `totalLen` includes this header.
 */
export function writeIpv4(
  dv: DataView,
  u8: Uint8Array,
  off: number,
  totalLen: number,
  id: number,
  fragWord: number,
  ttl: number,
  proto: number,
  src: number,
  dst: number,
  tos = 0,
): number {
  u8[off] = 0x45;
  u8[off + 1] = tos;
  dv.setUint16(off + 2, totalLen);
  dv.setUint16(off + 4, id & 0xffff);
  dv.setUint16(off + 6, fragWord);
  u8[off + 8] = ttl;
  u8[off + 9] = proto;
  dv.setUint16(off + 10, 0);
  dv.setInt32(off + 12, src);
  dv.setInt32(off + 16, dst);
  dv.setUint16(off + 10, checksum(u8, off, off + IPV4_MIN_HLEN));
  return off + IPV4_MIN_HLEN;
}

/** Dotted-quad text of an int32 address (slow path only: CLI, traces, messages). */
export function formatIpv4(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Parses a strict dotted quad into an int32, or returns null. */
export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  let a = 0;
  for (let i = 1; i <= 4; i++) {
    const v = Number(m[i]);
    if (v > 255 || (m[i].length > 1 && m[i][0] === '0')) return null;
    a = (a << 8) | v;
  }
  return a | 0;
}

/** Netmask (int32) of a prefix length 0..32. */
export function prefixMask(len: number): number {
  return len === 0 ? 0 : (-1 << (32 - len)) | 0;
}

/**
 * Completes in software the TCP or UDP checksum of the datagram at
 * [ipOff, ipOff + len) whose field holds only the pseudo-header sum (a NEEDS_CSUM frame from a
 * TAP with offloads), for frames that leave without a virtio-net header. Other protocols: no-op.
 */
export function completePartialChecksum(b: Uint8Array, ipOff: number, len: number): void {
  const l4 = ipOff + ((b[ipOff] & 0x0f) << 2);
  const proto = b[ipOff + 9];
  const field = proto === IPPROTO_TCP ? l4 + 16 : proto === IPPROTO_UDP ? l4 + 6 : -1;
  if (field < 0) return;
  let c = csumFinish(onesSum(b, l4, ipOff + len, 0));
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
  b[field] = c >>> 8;
  b[field + 1] = c & 0xff;
}
