/**
 * TCP header (RFC 793 §3.1; RFC 9293).
 *
 *   0 src port  2 dst port  4 seq  8 ack  12 data offset(4 bits)|rsv  13 flags  14 window
 *   16 checksum  18 urgent  20 options ... (data offset × 4)
 *
 * bind() checks the fixed header and the data offset (5..15 words, within the segment). Options
 * are never touched. Port setters fix the checksum incrementally (RFC 1624).
 */
import { csumFinish, csumUpdate16, csumUpdate32, onesSum, partialCsumUpdate32, pseudoHeaderSum } from './checksum.js';
import { IPPROTO_TCP } from './ipv4.js';
import { Parse } from './parse.js';

export const TCP_MIN_HLEN = 20;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

export class TcpView {
  private off = 0;
  private end = 0;
  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
  ) {}

  /** [off, limit) is the TCP segment (limit = end of the IP datagram). */
  bind(off: number, limit: number): Parse {
    if (limit - off < TCP_MIN_HLEN) return Parse.Truncated;
    const doff = (this.u8[off + 12] >>> 4) << 2;
    if (doff < TCP_MIN_HLEN) return Parse.BadHeader;
    if (off + doff > limit) return Parse.BadLength;
    this.off = off;
    this.end = limit;
    return Parse.Ok;
  }
  get offset(): number {
    return this.off;
  }
  get segmentEnd(): number {
    return this.end;
  }
  get srcPort(): number {
    return this.dv.getUint16(this.off);
  }
  get dstPort(): number {
    return this.dv.getUint16(this.off + 2);
  }
  get seq(): number {
    return this.dv.getUint32(this.off + 4);
  }
  get ack(): number {
    return this.dv.getUint32(this.off + 8);
  }
  get headerLen(): number {
    return (this.u8[this.off + 12] >>> 4) << 2;
  }
  get flags(): number {
    return this.u8[this.off + 13];
  }
  get window(): number {
    return this.dv.getUint16(this.off + 14);
  }
  get csum(): number {
    return this.dv.getUint16(this.off + 16);
  }
  set csum(v: number) {
    this.dv.setUint16(this.off + 16, v);
  }

  setSrcPort(p: number): void {
    this.csum = csumUpdate16(this.csum, this.srcPort, p);
    this.dv.setUint16(this.off, p);
  }
  setDstPort(p: number): void {
    this.csum = csumUpdate16(this.csum, this.dstPort, p);
    this.dv.setUint16(this.off + 2, p);
  }
  /** A pseudo-header address changed from `old` to `now`. */
  addrChanged(old: number, now: number): void {
    this.csum = csumUpdate32(this.csum, old, now);
  }
  /** Same for a NEEDS_CSUM frame, whose field holds only the partial pseudo-header sum. */
  addrChangedPartial(old: number, now: number): void {
    this.csum = partialCsumUpdate32(this.csum, old, now);
  }
  /** Port change on a NEEDS_CSUM frame: the partial sum does not cover ports, so only the field changes. */
  setSrcPortRaw(p: number): void {
    this.dv.setUint16(this.off, p);
  }
  setDstPortRaw(p: number): void {
    this.dv.setUint16(this.off + 2, p);
  }
}

/**
 * Writes a 20-byte TCP header carrying a reset, with its checksum (`src`/`dst` are the IP
 * addresses for the pseudo-header; protocol number 6). `flags` is RST or RST|ACK. Returns the end.
 */
export function writeTcpReset(
  dv: DataView,
  u8: Uint8Array,
  off: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
): number {
  dv.setUint16(off, sport);
  dv.setUint16(off + 2, dport);
  dv.setUint32(off + 4, seq >>> 0);
  dv.setUint32(off + 8, ack >>> 0);
  u8[off + 12] = (TCP_MIN_HLEN / 4) << 4;
  u8[off + 13] = flags;
  dv.setUint16(off + 14, 0);
  dv.setUint16(off + 16, 0);
  dv.setUint16(off + 18, 0);
  dv.setUint16(
    off + 16,
    csumFinish(onesSum(u8, off, off + TCP_MIN_HLEN, pseudoHeaderSum(src, dst, IPPROTO_TCP, TCP_MIN_HLEN))),
  );
  return off + TCP_MIN_HLEN;
}
