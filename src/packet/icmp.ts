/**
 * ICMPv4 (RFC 792): 0 type, 1 code, 2 checksum, 4 rest-of-header (id/seq, MTU, pointer), 8 data.
 * Errors carry the offending IP header plus at least 8 bytes of its payload in their data.
 */
import { readI32, writeI32 } from './bytes.js';
import { checksum, csumUpdate16, csumUpdate32 } from './checksum.js';
import { Parse } from './parse.js';

export const ICMP_HLEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
const ICMP_SOURCE_QUENCH = 4;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
/** Codes of destination unreachable. */
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;

export class IcmpView {
  private off = 0;
  private end = 0;
  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
  ) {}

  bind(off: number, limit: number): Parse {
    if (limit - off < ICMP_HLEN) return Parse.Truncated;
    this.off = off;
    this.end = limit;
    return Parse.Ok;
  }
  get offset(): number {
    return this.off;
  }
  get messageEnd(): number {
    return this.end;
  }
  get type(): number {
    return this.u8[this.off];
  }
  get code(): number {
    return this.u8[this.off + 1];
  }
  get csum(): number {
    return this.dv.getUint16(this.off + 2);
  }
  set csum(v: number) {
    this.dv.setUint16(this.off + 2, v);
  }
  /** The whole-message checksum verifies. */
  checksumOk(): boolean {
    return checksum(this.u8, this.off, this.end) === 0;
  }
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

/**
 * Writes an ICMP error at `off`: type, code, the next-hop MTU (RFC 1191, for fragmentation
 * needed; 0 otherwise), then `quoteLen` bytes of the offending datagram from `quote`, and the
 * checksum. Returns the message's end.
 */
export function writeIcmpError(
  dv: DataView,
  u8: Uint8Array,
  off: number,
  type: number,
  code: number,
  mtu: number,
  quote: Uint8Array,
  quoteOff: number,
  quoteLen: number,
): number {
  u8[off] = type;
  u8[off + 1] = code;
  dv.setUint16(off + 2, 0);
  dv.setUint16(off + 4, 0);
  dv.setUint16(off + 6, type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED ? mtu : 0);
  for (let i = 0; i < quoteLen; i++) u8[off + ICMP_HLEN + i] = quote[quoteOff + i];
  const end = off + ICMP_HLEN + quoteLen;
  dv.setUint16(off + 2, checksum(u8, off, end));
  return end;
}

/**
 * Turns the echo request at [ipOff, l4) into its reply in place (RFC 792): addresses swapped,
 * a fresh TTL, the IP header checksum recomputed, type 8 -> 0 with an RFC 1624 checksum update.
 */
export function echoReplyInPlace(u8: Uint8Array, ipOff: number, l4: number, ttl: number): void {
  const src = readI32(u8, ipOff + 12),
    dst = readI32(u8, ipOff + 16);
  writeI32(u8, ipOff + 12, dst);
  writeI32(u8, ipOff + 16, src);
  u8[ipOff + 8] = ttl;
  u8[ipOff + 10] = 0;
  u8[ipOff + 11] = 0;
  const hc = checksum(u8, ipOff, l4);
  u8[ipOff + 10] = hc >>> 8;
  u8[ipOff + 11] = hc & 0xff;
  const code = u8[l4 + 1];
  u8[l4] = ICMP_ECHO_REPLY;
  const c = csumUpdate16(
    (u8[l4 + 2] << 8) | u8[l4 + 3],
    (ICMP_ECHO_REQUEST << 8) | code,
    (ICMP_ECHO_REPLY << 8) | code,
  );
  u8[l4 + 2] = c >>> 8;
  u8[l4 + 3] = c & 0xff;
}

/**
 * Rewrites one end of the datagram quoted in an ICMP error (IP header at q, its L4 header at
 * ql4): the source (or destination) address and port, with an RFC 1624 update of the quoted IP
 * header checksum. The quoted L4 checksum is left alone, as IPVS leaves it (ip_vs_nat_icmp()).
 */
export function rewriteQuotedEndpoint(
  u8: Uint8Array,
  q: number,
  ql4: number,
  source: boolean,
  addr: number,
  port: number,
): void {
  const aOff = q + (source ? 12 : 16);
  const sum = csumUpdate32((u8[q + 10] << 8) | u8[q + 11], readI32(u8, aOff), addr);
  u8[q + 10] = sum >>> 8;
  u8[q + 11] = sum & 0xff;
  writeI32(u8, aOff, addr);
  const pOff = ql4 + (source ? 0 : 2);
  u8[pOff] = port >>> 8;
  u8[pOff + 1] = port & 0xff;
}
