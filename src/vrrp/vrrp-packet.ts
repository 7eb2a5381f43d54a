/**
 * VRRP advertisements over IPv4, versions 2 (RFC 3768 §5.1) and 3 (RFC 5798 §5.1), as keepalived
 * sends and checks them (vrrp.c vrrp_build_ip4(), vrrp_build_vrrp_v2()/_v3(), vrrp_check_packet()).
 *
 * ```
 *  0       4       8               16              24              31
 * +-------+-------+---------------+---------------+---------------+
 * |Version| Type  |     VRID      |   Priority    | Count IPv4    |
 * +-------+-------+---------------+---------------+---------------+
 * v2: | Auth Type (0/1)  | Adver Int (s)  |          Checksum            |
 * v3: | rsvd(4) | Max Adver Int (centiseconds, 12 bits) |  Checksum     |
 * +---------------------------------------------------------------+
 * |                 IPv4 addresses (Count × 4)                    |
 * +---------------------------------------------------------------+
 * | v2 only: 8 bytes of authentication data (password, NUL padded)|
 * +---------------------------------------------------------------+
 * ```
 *
 * The checksum covers the VRRP message. v2: no pseudo-header. v3 over IPv4: keepalived prepends the
 * IPv4 pseudo-header (source, destination, protocol 112, VRRP length) unless
 * `vrrp_v3_checksum_as_v2` asks for the v2 rule (RFC 9568 §5.2.8 reading; some vendors).
 *
 * Not here: IPv6, IPsec AH (auth type 2), keepalived's auth_hmac trailer, unicast peers.
 */
import { readI32, writeI32 } from '../packet/bytes.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../packet/checksum.js';

/** RFC 5798 §5.1.1.2: the VRRP multicast group, and IP protocol number (§5.1.1.4). */
export const VRRP_GROUP = 0xe0000012 | 0;
export const IPPROTO_VRRP = 112;
/** RFC 5798 §5.1.1.3: adverts leave, and must arrive, with TTL 255. */
export const VRRP_TTL = 255;
/** vrrp.c vrrp_build_ip4(): TOS "internetwork control". */
export const VRRP_TOS = 0xc0;
export const VRRP_TYPE_ADVERT = 1;
export const AUTH_NONE = 0;
export const AUTH_PASS = 1;
/** RFC 3768 §5.3.11: 8 bytes of authentication data after the addresses (v2 only). */
export const AUTH_DATA_LEN = 8;
const IP_HLEN = 20;
const VRRP_HLEN = 8;
/** The count field is one byte. */
export const MAX_ADDRESSES = 255;
/** The largest advert: IPv4 header, VRRP header, 255 addresses, v2 auth data. */
export const MAX_ADVERT_LEN = IP_HLEN + VRRP_HLEN + 4 * MAX_ADDRESSES + AUTH_DATA_LEN;

/** What one instance puts in its adverts. */
export interface AdvertSpec {
  readonly version: 2 | 3;
  readonly vrid: number;
  readonly advertIntMs: number;
  /** v2 PASS password (first 8 bytes used), or null for no authentication. */
  readonly authPass: string | null;
  readonly v3ChecksumAsV2: boolean;
  /** The virtual IPv4 addresses (int32), at most 255. */
  readonly addresses: readonly number[];
}

/** The VRRP message length for `count` addresses (vrrp.c vrrp_pkt_len()). */
export function vrrpLength(version: number, count: number): number {
  return VRRP_HLEN + 4 * count + (version === 2 ? AUTH_DATA_LEN : 0);
}

/** The 8 authentication bytes of a PASS password: its first 8 bytes, NUL padded (RFC 2338 §5.3.11). */
export function authBytes(pass: string | null): Uint8Array {
  const out = new Uint8Array(AUTH_DATA_LEN);
  if (pass !== null) out.set(new TextEncoder().encode(pass).subarray(0, AUTH_DATA_LEN));
  return out;
}

/**
 * Writes a whole advert (IPv4 header included) into `buf` from offset 0 and returns its length.
 * `ipId` is the IPv4 identification (keepalived counts one per advert).
 */
export function writeAdvert(buf: Uint8Array, spec: AdvertSpec, priority: number, src: number, ipId: number): number {
  const count = Math.min(spec.addresses.length, MAX_ADDRESSES);
  const vlen = vrrpLength(spec.version, count);
  const total = IP_HLEN + vlen;
  buf[0] = 0x45;
  buf[1] = VRRP_TOS;
  buf[2] = total >>> 8;
  buf[3] = total & 0xff;
  buf[4] = (ipId >>> 8) & 0xff;
  buf[5] = ipId & 0xff;
  buf[6] = 0; // DF clear, as keepalived
  buf[7] = 0;
  buf[8] = VRRP_TTL;
  buf[9] = IPPROTO_VRRP;
  buf[10] = 0;
  buf[11] = 0;
  writeI32(buf, 12, src);
  writeI32(buf, 16, VRRP_GROUP);
  const ipSum = checksum(buf, 0, IP_HLEN);
  buf[10] = ipSum >>> 8;
  buf[11] = ipSum & 0xff;

  const v = IP_HLEN;
  buf[v] = (spec.version << 4) | VRRP_TYPE_ADVERT;
  buf[v + 1] = spec.vrid;
  buf[v + 2] = priority;
  buf[v + 3] = count;
  if (spec.version === 2) {
    buf[v + 4] = spec.authPass === null ? AUTH_NONE : AUTH_PASS;
    buf[v + 5] = Math.min(255, Math.round(spec.advertIntMs / 1000));
  } else {
    const cs = Math.min(4095, Math.round(spec.advertIntMs / 10));
    buf[v + 4] = cs >>> 8;
    buf[v + 5] = cs & 0xff;
  }
  buf[v + 6] = 0;
  buf[v + 7] = 0;
  for (let i = 0; i < count; i++) writeI32(buf, v + VRRP_HLEN + 4 * i, spec.addresses[i]);
  if (spec.version === 2) buf.set(authBytes(spec.authPass), v + VRRP_HLEN + 4 * count);
  const sum = csumFinish(onesSum(buf, v, v + vlen, checksumSeed(spec, src, VRRP_GROUP, vlen)));
  buf[v + 6] = sum >>> 8;
  buf[v + 7] = sum & 0xff;
  return total;
}

/** The sum the VRRP checksum starts from: the IPv4 pseudo-header for v3 unless as-v2, else 0. */
function checksumSeed(spec: { version: number; v3ChecksumAsV2: boolean }, src: number, dst: number, vlen: number) {
  return spec.version === 3 && !spec.v3ChecksumAsV2 ? pseudoHeaderSum(src, dst, IPPROTO_VRRP, vlen) : 0;
}

/** Why an advert was dropped: also the keys of an instance's drop counters. */
export type AdvertDrop =
  | 'truncated'
  | 'ttl'
  | 'version'
  | 'auth-type'
  | 'auth-pass'
  | 'interval'
  | 'type'
  | 'length'
  | 'checksum';

/** A checked advert's fields; one reused object per engine. */
export interface AdvertFields {
  src: number;
  vrid: number;
  priority: number;
  /** The sender's advert interval in ms (v2: whole seconds × 1000; v3: centiseconds × 10). */
  advertIntMs: number;
  count: number;
  /** Offset of the first advertised address in the packet. */
  addrOff: number;
}

/** The VRID of an IPv4 packet holding a VRRP header, or -1 when it is too short to tell. */
export function advertVrid(p: Uint8Array, off: number, len: number): number {
  if (len < IP_HLEN) return -1;
  const hlen = (p[off] & 0x0f) << 2;
  if (hlen < IP_HLEN || len < hlen + VRRP_HLEN) return -1;
  return p[off + hlen + 1];
}

/**
 * Checks an advert for `spec` in the order of keepalived's vrrp_check_packet() and fills `out`.
 * Returns null when it is valid, else why it is dropped. Never throws, never reads out of range.
 * The address list is not compared here: a mismatch is only logged (the caller's business).
 */
export function checkAdvert(
  p: Uint8Array,
  off: number,
  len: number,
  spec: AdvertSpec,
  authData: Uint8Array,
  out: AdvertFields,
): AdvertDrop | null {
  if (len < IP_HLEN) return 'truncated';
  const hlen = (p[off] & 0x0f) << 2;
  if (hlen < IP_HLEN || len < hlen + VRRP_HLEN) return 'truncated';
  const v = off + hlen;
  const version = p[v] >>> 4;
  const count = p[v + 3];
  // The expected length comes from the count field; Ethernet padding after it is tolerated.
  const vlen = vrrpLength(version === 2 ? 2 : 3, count);
  if (len < hlen + vlen) return 'length';
  if (p[off + 8] !== VRRP_TTL) return 'ttl';
  if (version !== spec.version) return 'version';
  if (version === 2) {
    const want = spec.authPass === null ? AUTH_NONE : AUTH_PASS;
    if (p[v + 4] !== want) return 'auth-type';
    if (want === AUTH_PASS) {
      const a = v + VRRP_HLEN + 4 * count;
      for (let i = 0; i < AUTH_DATA_LEN; i++) if (p[a + i] !== authData[i]) return 'auth-pass';
    }
    // RFC 3768 §7.1: a v2 advert with another interval is dropped.
    if (p[v + 5] !== Math.min(255, Math.round(spec.advertIntMs / 1000))) return 'interval';
  }
  if ((p[v] & 0x0f) !== VRRP_TYPE_ADVERT) return 'type';
  const total = (p[off + 2] << 8) | p[off + 3];
  if (total < hlen + vlen || total > len) return 'length';
  const src = readI32(p, off + 12);
  const dst = readI32(p, off + 16);
  const sum = onesSum(p, v, v + vlen, checksumSeed(spec, src, dst, vlen));
  if (csumFinish(sum) !== 0) return 'checksum';
  out.src = src;
  out.vrid = p[v + 1];
  out.priority = p[v + 2];
  out.advertIntMs = version === 2 ? p[v + 5] * 1000 : (((p[v + 4] & 0x0f) << 8) | p[v + 5]) * 10;
  out.count = count;
  out.addrOff = v + VRRP_HLEN;
  return null;
}

/** Whether the advert's address list is exactly `addresses`, in order (vrrp.c vrrp_check_packet()). */
export function advertAddressesMatch(p: Uint8Array, fields: AdvertFields, addresses: readonly number[]): boolean {
  const n = Math.min(addresses.length, MAX_ADDRESSES);
  if (fields.count !== n) return false;
  for (let i = 0; i < n; i++) if (readI32(p, fields.addrOff + 4 * i) !== addresses[i]) return false;
  return true;
}
