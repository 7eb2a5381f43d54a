/**
 * ICMPv4 (RFC 792): 0 type, 1 code, 2 checksum, 4 rest-of-header (id/seq, MTU, pointer), 8 data.
 * Errors carry the offending IP header plus at least 8 bytes of its payload in their data.
 */
import { checksum } from './checksum.js';
import { Parse } from './parse.js';

export const ICMP_HLEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
/** Codes of destination unreachable. */
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;

export class IcmpView {
  private off = 0;
  private end = 0;
  constructor(private u8: Uint8Array, private dv: DataView) {}
  attach(u8: Uint8Array, dv: DataView): void { this.u8 = u8; this.dv = dv; }

  bind(off: number, limit: number): Parse {
    if (limit - off < ICMP_HLEN) return Parse.Truncated;
    this.off = off;
    this.end = limit;
    return Parse.Ok;
  }
  get offset(): number { return this.off; }
  get messageEnd(): number { return this.end; }
  get type(): number { return this.u8[this.off]; }
  get code(): number { return this.u8[this.off + 1]; }
  get csum(): number { return this.dv.getUint16(this.off + 2); }
  set csum(v: number) { this.dv.setUint16(this.off + 2, v); }
  /** The whole-message checksum verifies. */
  checksumOk(): boolean { return checksum(this.u8, this.off, this.end) === 0; }
  /** Recomputes the whole-message checksum. */
  fixChecksum(): void {
    this.dv.setUint16(this.off + 2, 0);
    this.dv.setUint16(this.off + 2, checksum(this.u8, this.off, this.end));
  }
  /**
   * True for the error types IPVS relates to connections: 3, 4, 11 (ip_vs_core.c, ip_vs_in_icmp()
   * and ip_vs_out_icmp(); docs/ipvs-behaviour.md#icmp-errors-related-to-connections).
   */
  isRelatedError(): boolean {
    const t = this.type;
    return t === ICMP_DEST_UNREACH || t === ICMP_SOURCE_QUENCH || t === ICMP_TIME_EXCEEDED;
  }
}
