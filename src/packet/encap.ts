/**
 * The outer headers of a tunnelled packet, as the kernel's IPVS tunnel transmitter builds them
 * (ip_vs_xmit.c, ip_vs_tunnel_xmit(), ipvs_gue_encap(), ipvs_gre_encap()): an IPv4 header, then
 * for GUE a UDP header and a 4-byte GUE header (RFC draft-ietf-intarea-gue, version 0, no
 * options), for GRE a 4-byte header (8 with a checksum, RFC 2784), then the inner IPv4 packet.
 *
 * Outer fields: TOS = the inner DSCP and ECN, with CE encapsulated as ECT(0) (RFC 6040's
 * compatibility mode, INET_ECN_encapsulate()); DF copied from the inner packet (pmtu_disc on);
 * ID 0 with DF, else the caller's counter; TTL = the inner TTL after the director's decrement.
 * Allocates nothing.
 */
import { readI32, writeI32 } from './bytes.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from './checksum.js';
import { IP_DF, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN } from './ipv4.js';

/** Tunnel types, as ipvsadm's --tun-type (the kernel's IP_VS_CONN_F_TUNNEL_TYPE_*). */
export const ENCAP_IPIP = 0;
export const ENCAP_GUE = 1;
export const ENCAP_GRE = 2;
/** Checksum flags, as IP_VS_TUNNEL_ENCAP_FLAG_CSUM / _REMCSUM. */
export const ENCAP_CSUM = 1;
export const ENCAP_REMCSUM = 2;

export const IPPROTO_IPIP = 4;
export const IPPROTO_GRE = 47;
const UDP_HLEN = 8;
const GUE_HLEN = 4;
const GRE_HLEN = 4;
const GRE_CSUM_HLEN = 8;
const GRE_FLAG_CSUM = 0x8000;
const ETH_P_IP = 0x0800;
/** The kernel's default ephemeral range (ip_local_port_range), where udp_flow_src_port() puts GUE's source port. */
const EPHEMERAL_LOW = 32768;
const EPHEMERAL_HIGH = 60999;

/**
 * Bytes the encapsulation adds in front of the inner packet. Remote checksum offload only applies
 * to a packet whose checksum is still partial; tapvs completes inner checksums before tunnelling,
 * so --tun-remcsum adds no private fields and sends the UDP checksum, as --tun-csum does.
 */
export function encapOverhead(type: number, flags: number): number {
  if (type === ENCAP_GUE) return IPV4_MIN_HLEN + UDP_HLEN + GUE_HLEN;
  if (type === ENCAP_GRE) return IPV4_MIN_HLEN + ((flags & ENCAP_CSUM) !== 0 ? GRE_CSUM_HLEN : GRE_HLEN);
  return IPV4_MIN_HLEN;
}

/**
 * Writes the outer headers at b[off, off + overhead) for the inner IPv4 packet that already sits
 * at b[off + overhead, off + overhead + innerLen). Returns the outer packet's total length.
 */
export function writeEncap(
  b: Uint8Array,
  off: number,
  innerLen: number,
  type: number,
  flags: number,
  tunPort: number,
  src: number,
  dst: number,
  id: number,
): number {
  const overhead = encapOverhead(type, flags);
  const inner = off + overhead;
  const total = overhead + innerLen;
  let tos = b[inner + 1];
  if ((tos & 3) === 3) tos = (tos & 0xfc) | 2;
  const df = ((b[inner + 6] << 8) | b[inner + 7]) & IP_DF;
  const proto = type === ENCAP_GUE ? IPPROTO_UDP : type === ENCAP_GRE ? IPPROTO_GRE : IPPROTO_IPIP;
  b[off] = 0x45;
  b[off + 1] = tos;
  b[off + 2] = total >>> 8;
  b[off + 3] = total & 0xff;
  const ident = df !== 0 ? 0 : id & 0xffff;
  b[off + 4] = ident >>> 8;
  b[off + 5] = ident & 0xff;
  b[off + 6] = df >>> 8;
  b[off + 7] = 0;
  b[off + 8] = b[inner + 8];
  b[off + 9] = proto;
  b[off + 10] = 0;
  b[off + 11] = 0;
  writeI32(b, off + 12, src);
  writeI32(b, off + 16, dst);
  const hsum = checksum(b, off, off + IPV4_MIN_HLEN);
  b[off + 10] = hsum >>> 8;
  b[off + 11] = hsum & 0xff;
  const l4 = off + IPV4_MIN_HLEN;
  if (type === ENCAP_GUE) {
    const sport = flowSourcePort(b, inner, innerLen);
    const ulen = total - IPV4_MIN_HLEN;
    b[l4] = sport >>> 8;
    b[l4 + 1] = sport & 0xff;
    b[l4 + 2] = tunPort >>> 8;
    b[l4 + 3] = tunPort & 0xff;
    b[l4 + 4] = ulen >>> 8;
    b[l4 + 5] = ulen & 0xff;
    b[l4 + 6] = 0;
    b[l4 + 7] = 0;
    // GUE version 0, C = 0, hlen 0; protocol = the inner packet's (IPv4 in IP: 4); flags 0.
    b[l4 + 8] = 0;
    b[l4 + 9] = IPPROTO_IPIP;
    b[l4 + 10] = 0;
    b[l4 + 11] = 0;
    if ((flags & (ENCAP_CSUM | ENCAP_REMCSUM)) !== 0) {
      let c = csumFinish(onesSum(b, l4, off + total, pseudoHeaderSum(src, dst, IPPROTO_UDP, ulen)));
      if (c === 0) c = 0xffff;
      b[l4 + 6] = c >>> 8;
      b[l4 + 7] = c & 0xff;
    }
  } else if (type === ENCAP_GRE) {
    const csum = (flags & ENCAP_CSUM) !== 0;
    b[l4] = csum ? GRE_FLAG_CSUM >>> 8 : 0;
    b[l4 + 1] = 0;
    b[l4 + 2] = ETH_P_IP >>> 8;
    b[l4 + 3] = ETH_P_IP & 0xff;
    if (csum) {
      b[l4 + 4] = 0;
      b[l4 + 5] = 0;
      b[l4 + 6] = 0;
      b[l4 + 7] = 0;
      const c = checksum(b, l4, off + total);
      b[l4 + 4] = c >>> 8;
      b[l4 + 5] = c & 0xff;
    }
  }
  return total;
}

/**
 * GUE's UDP source port: a hash of the inner flow scaled into the ephemeral range, so that
 * receivers spread flows over queues (udp_flow_src_port()). The same flow always gets the same port.
 */
function flowSourcePort(b: Uint8Array, ip: number, len: number): number {
  let h = Math.imul(readI32(b, ip + 12), 0x9e3779b1) ^ Math.imul(readI32(b, ip + 16), 0x85ebca77) ^ b[ip + 9];
  const hl = (b[ip] & 0x0f) << 2;
  const proto = b[ip + 9];
  const notFirst = (((b[ip + 6] << 8) | b[ip + 7]) & 0x1fff) !== 0;
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && !notFirst && len >= hl + 4) {
    h ^= Math.imul(readI32(b, ip + hl), 0xc2b2ae3d);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return EPHEMERAL_LOW + ((h >>> 0) % (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1));
}
