/**
 * UDP header (RFC 768): 0 src port, 2 dst port, 4 length, 6 checksum.
 *
 * bind() requires length >= 8 and within the datagram. A checksum of 0 means "none": updates keep
 * it 0, and an updated value that comes out 0 is written as 0xffff (RFC 768).
 */
import { csumUpdate16, csumUpdate32, partialCsumUpdate32 } from './checksum.js';
import { Parse } from './parse.js';

const UDP_HLEN = 8;

export class UdpView {
  private off = 0;
  constructor(private readonly dv: DataView) {}

  bind(off: number, limit: number): Parse {
    if (limit - off < UDP_HLEN) return Parse.Truncated;
    const len = this.dv.getUint16(off + 4);
    if (len < UDP_HLEN || off + len > limit) return Parse.BadLength;
    this.off = off;
    return Parse.Ok;
  }
  get offset(): number {
    return this.off;
  }
  get srcPort(): number {
    return this.dv.getUint16(this.off);
  }
  get dstPort(): number {
    return this.dv.getUint16(this.off + 2);
  }
  get length(): number {
    return this.dv.getUint16(this.off + 4);
  }
  get csum(): number {
    return this.dv.getUint16(this.off + 6);
  }
  set csum(v: number) {
    this.dv.setUint16(this.off + 6, v);
  }

  setSrcPort(p: number): void {
    const c = this.csum;
    if (c !== 0) this.csum = nonZero(csumUpdate16(c, this.srcPort, p));
    this.dv.setUint16(this.off, p);
  }
  setDstPort(p: number): void {
    const c = this.csum;
    if (c !== 0) this.csum = nonZero(csumUpdate16(c, this.dstPort, p));
    this.dv.setUint16(this.off + 2, p);
  }
  addrChanged(old: number, now: number): void {
    const c = this.csum;
    if (c !== 0) this.csum = nonZero(csumUpdate32(c, old, now));
  }
  addrChangedPartial(old: number, now: number): void {
    this.csum = partialCsumUpdate32(this.csum, old, now);
  }
  setSrcPortRaw(p: number): void {
    this.dv.setUint16(this.off, p);
  }
  setDstPortRaw(p: number): void {
    this.dv.setUint16(this.off + 2, p);
  }
}

function nonZero(c: number): number {
  return c === 0 ? 0xffff : c;
}
