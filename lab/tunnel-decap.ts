/**
 * Decapsulation for the lab's user-space tunnel endpoint (lab/tunnel-endpoint.ts): finds and
 * checks the inner IPv4 packet of what a director sends a tunnel real server (`-i`), in the three
 * encapsulations kernel IPVS speaks (ip_vs_xmit.c, ip_vs_tunnel_xmit(): ipvs_gue_encap() and
 * ipvs_gre_encap(), plain IPIP otherwise):
 *
 * - IPIP (IP protocol 4): outer IPv4 header, then the inner packet.
 * - GRE (IP protocol 47, RFC 2784): version 0, no flag but C (checksum present, then the 16-bit
 *   checksum over the GRE header and payload and 16 reserved bits), protocol type 0x0800.
 * - GUE (a UDP payload, draft-ietf-intarea-gue): version 0, C = 0, protocol 4, and either hlen 0
 *   with no flags, or hlen 2 with only the private-flags flag (0x0001) set, private flags only
 *   REMCSUM (0x80000000), then the remote-checksum fields: start and offset, both relative to
 *   the inner packet (net/ipv4/fou_core.c, gue_remcsum()). With REMCSUM the sender left the inner
 *   TCP/UDP checksum partial (the pseudo-header sum only); the receiver completes it: the sum of
 *   the inner packet from start to its end, complemented, written at offset.
 *
 * Every length, version, flag and checksum is checked; anything else is a drop with a reason,
 * never an exception. The inner IPv4 header must be complete with a correct header checksum, and
 * the inner packet ends at its total length (trailing bytes are ignored). Works on numbers and the
 * caller's buffer only: nothing is allocated per packet (the remote checksum is written in place).
 */
import { csumFinish, onesSum } from '../src/packet/checksum.js';

export type TunnelType = 'ipip' | 'gre' | 'gue';

/** Why a packet was dropped (indices into `Decapsulator.drops`); OK means it was not. */
export const DECAP_OK = 0;
/** The outer IPv4 header is short, not version 4, has a bad checksum, length or protocol, or is a fragment. */
export const DROP_OUTER = 1;
/** The GRE or GUE header is short or has a version, flag or protocol we do not take. */
export const DROP_ENCAP = 2;
/** The GRE checksum is wrong. */
export const DROP_GRE_CSUM = 3;
/** The GUE remote-checksum start/offset do not fit the inner packet. */
export const DROP_REMCSUM = 4;
/** The inner packet is not a complete IPv4 packet with a correct header checksum. */
export const DROP_INNER = 5;
export const DROP_REASONS: readonly string[] = ['ok', 'outer', 'encap', 'gre-csum', 'remcsum', 'inner'];

const IPPROTO_IPIP = 4;
const IPPROTO_GRE = 47;
const IPPROTO_UDP = 17;
const ETH_P_IP = 0x0800;
const IPV4_MIN_HLEN = 20;
const GRE_C = 0x8000;
const GRE_HLEN = 4;
const GRE_CSUM_HLEN = 8;
const GUE_HLEN = 4;
const GUE_FLAG_PRIV = 0x0001;
const GUE_PFLAG_REMCSUM = 0x80000000;
/** hlen (in 32-bit words) of the private flags plus the remote-checksum fields. */
const GUE_REMCSUM_HLEN_WORDS = 2;
const IP_MF_OFFSET_MASK = 0x3fff;

export class Decapsulator {
  /** After DECAP_OK: where the inner IPv4 packet starts in the buffer, and its length. */
  innerOff = 0;
  innerLen = 0;
  /** Packets decapsulated (index 0) and dropped, per reason. */
  readonly drops = new Float64Array(DROP_REASONS.length);
  /** GUE packets whose inner checksum was completed from the remote-checksum fields. */
  remcsumCompleted = 0;

  /** One packet of the given type: the whole outer IPv4 packet for ipip/gre, the UDP payload for gue. */
  decap(type: TunnelType, buf: Uint8Array, len: number): number {
    const r =
      type === 'gue' ? this.gue(buf, 0, len) : this.overIp(type === 'gre' ? IPPROTO_GRE : IPPROTO_IPIP, buf, len);
    this.drops[r]++;
    return r;
  }

  private overIp(proto: number, buf: Uint8Array, len: number): number {
    const hlen = ipv4HeaderLength(buf, 0, len);
    if (hlen === 0) return DROP_OUTER;
    const total = (buf[2] << 8) | buf[3];
    if (buf[9] !== proto) return DROP_OUTER;
    // Raw sockets see packets after reassembly; a fragment here is not one we can use.
    if ((((buf[6] << 8) | buf[7]) & IP_MF_OFFSET_MASK) !== 0) return DROP_OUTER;
    return proto === IPPROTO_GRE ? this.gre(buf, hlen, total) : this.inner(buf, hlen, total);
  }

  private gre(buf: Uint8Array, off: number, end: number): number {
    if (end - off < GRE_HLEN) return DROP_ENCAP;
    const flags = (buf[off] << 8) | buf[off + 1];
    if ((flags & ~GRE_C) !== 0) return DROP_ENCAP;
    if (((buf[off + 2] << 8) | buf[off + 3]) !== ETH_P_IP) return DROP_ENCAP;
    if (flags === 0) return this.inner(buf, off + GRE_HLEN, end);
    if (end - off < GRE_CSUM_HLEN) return DROP_ENCAP;
    if (csumFinish(onesSum(buf, off, end, 0)) !== 0) return DROP_GRE_CSUM;
    return this.inner(buf, off + GRE_CSUM_HLEN, end);
  }

  private gue(buf: Uint8Array, off: number, end: number): number {
    if (end - off < GUE_HLEN) return DROP_ENCAP;
    const b0 = buf[off];
    // version (2 bits) and C (1 bit) must be 0; the rest is hlen.
    if ((b0 & 0xe0) !== 0) return DROP_ENCAP;
    const hlenWords = b0 & 0x1f;
    if (buf[off + 1] !== IPPROTO_IPIP) return DROP_ENCAP;
    const flags = (buf[off + 2] << 8) | buf[off + 3];
    const innerOff = off + GUE_HLEN + hlenWords * 4;
    if (innerOff > end) return DROP_ENCAP;
    if (hlenWords === 0) return flags === 0 ? this.inner(buf, innerOff, end) : DROP_ENCAP;
    if (hlenWords !== GUE_REMCSUM_HLEN_WORDS || flags !== GUE_FLAG_PRIV) return DROP_ENCAP;
    const pflags = ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
    if (pflags !== GUE_PFLAG_REMCSUM) return DROP_ENCAP;
    const start = (buf[off + 8] << 8) | buf[off + 9];
    const csumAt = (buf[off + 10] << 8) | buf[off + 11];
    const r = this.inner(buf, innerOff, end);
    if (r !== DECAP_OK) return r;
    return this.remcsum(buf, start, csumAt);
  }

  /** Completes the partial inner checksum (after `inner` set innerOff/innerLen). */
  private remcsum(buf: Uint8Array, start: number, csumAt: number): number {
    const len = this.innerLen;
    // The checksummed part must start after the inner IP header and hold the 16-bit field;
    // both are even in every TCP/UDP layout (the field is at start + 16 or start + 6).
    const ihl = (buf[this.innerOff] & 0x0f) * 4;
    if (start < ihl || csumAt < start || csumAt + 2 > len || (start & 1) !== 0 || (csumAt & 1) !== 0) {
      return DROP_REMCSUM;
    }
    const base = this.innerOff;
    let c = csumFinish(onesSum(buf, base + start, base + len, 0));
    // UDP sends "no checksum" as 0, so a computed 0 goes out as 0xffff (RFC 768).
    if (c === 0 && buf[base + 9] === IPPROTO_UDP) c = 0xffff;
    buf[base + csumAt] = c >>> 8;
    buf[base + csumAt + 1] = c & 0xff;
    this.remcsumCompleted++;
    return DECAP_OK;
  }

  private inner(buf: Uint8Array, off: number, end: number): number {
    const hlen = ipv4HeaderLength(buf, off, end - off);
    if (hlen === 0) return DROP_INNER;
    this.innerOff = off;
    this.innerLen = (buf[off + 2] << 8) | buf[off + 3];
    return DECAP_OK;
  }
}

/**
 * The header length of a sound IPv4 header at `off` (version 4, IHL >= 5, header and total
 * length within `avail` bytes, total length >= header, header checksum right), else 0.
 */
export function ipv4HeaderLength(buf: Uint8Array, off: number, avail: number): number {
  if (avail < IPV4_MIN_HLEN) return 0;
  const b0 = buf[off];
  if (b0 >> 4 !== 4) return 0;
  const hlen = (b0 & 0x0f) * 4;
  if (hlen < IPV4_MIN_HLEN || hlen > avail) return 0;
  const total = (buf[off + 2] << 8) | buf[off + 3];
  if (total < hlen || total > avail) return 0;
  if (csumFinish(onesSum(buf, off, off + hlen, 0)) !== 0) return 0;
  return hlen;
}
