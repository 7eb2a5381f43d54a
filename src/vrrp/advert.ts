/**
 * VRRP advertisements on the wire, IPv4 only: version 2 (RFC 3768 §5) with no authentication or
 * the simple text password, and version 3 (RFC 5798 §5). Built whole (IPv4 header included, as
 * keepalived's vrrp.c vrrp_build_ip4() does: TOS 0xc0, TTL 255, DF clear, protocol 112, to
 * 224.0.0.18) into a caller-owned buffer, and parsed with keepalived's checks in its order
 * (vrrp.c, vrrp_check_packet()): a packet that fails one is a counted drop, never an exception.
 *
 * Checksums: v2 over the VRRP message alone; v3 with the IPv4 pseudo-header in front, as
 * keepalived sends it by default (RFC 5798 §5.2.8), or without it (`v3_checksum_as_v2`).
 */
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../packet/checksum.js';
import { IPV4_MIN_HLEN } from '../packet/ipv4.js';

export const IPPROTO_VRRP = 112;
/** 224.0.0.18 (RFC 5798 §5.1.1.2), int32. */
export const VRRP_GROUP = 0xe0000012 | 0;
const VRRP_TTL = 255;
const TOS_INTERNETWORK_CONTROL = 0xc0;
const TYPE_ADVERTISEMENT = 1;
const AUTH_NONE = 0;
const AUTH_PASS = 1;
const AUTH_DATA_LEN = 8;
const VRRP_HLEN = 8;

/** Why an advert was not taken; the names are the counters' keys. */
export const AdvertDrop = {
  Truncated: 'truncated',
  BadTtl: 'ttl_not_255',
  BadVersion: 'version_mismatch',
  BadType: 'not_an_advertisement',
  BadLength: 'bad_length',
  AuthMismatch: 'auth_mismatch',
  IntervalMismatch: 'advert_interval_mismatch',
  BadChecksum: 'bad_checksum',
} as const;
export type AdvertDrop = (typeof AdvertDrop)[keyof typeof AdvertDrop];

/** A parsed advert (one reused object per engine: read its fields before the next parse). */
export class Advert {
  src = 0;
  version = 0;
  vrid = 0;
  priority = 0;
  /** Advertisement interval in milliseconds (v2: seconds x 1000; v3: centiseconds x 10). */
  intervalMs = 0;
  count = 0;
  /** Offset of the first address in the parsed buffer. */
  addrOff = 0;
}

/** What one instance sends: everything but the priority, which changes (0 when it resigns). */
export interface AdvertSpec {
  version: 2 | 3;
  vrid: number;
  intervalMs: number;
  authPass: string | null;
  addresses: readonly number[];
  checksumAsV2: boolean;
}

/** Writes an advert from `src` with `priority` into buf[0, …); returns the packet's length. */
export function buildAdvert(buf: Uint8Array, spec: AdvertSpec, src: number, priority: number, ipId: number): number {
  const n = spec.addresses.length;
  const vrrpLen = VRRP_HLEN + 4 * n + (spec.version === 2 ? AUTH_DATA_LEN : 0);
  const total = IPV4_MIN_HLEN + vrrpLen;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  buf[0] = 0x45;
  buf[1] = TOS_INTERNETWORK_CONTROL;
  dv.setUint16(2, total);
  dv.setUint16(4, ipId & 0xffff);
  dv.setUint16(6, 0);
  buf[8] = VRRP_TTL;
  buf[9] = IPPROTO_VRRP;
  dv.setUint16(10, 0);
  dv.setInt32(12, src);
  dv.setInt32(16, VRRP_GROUP);
  dv.setUint16(10, checksum(buf, 0, IPV4_MIN_HLEN));
  const v = IPV4_MIN_HLEN;
  buf[v] = (spec.version << 4) | TYPE_ADVERTISEMENT;
  buf[v + 1] = spec.vrid;
  buf[v + 2] = priority;
  buf[v + 3] = n;
  if (spec.version === 2) {
    buf[v + 4] = spec.authPass === null ? AUTH_NONE : AUTH_PASS;
    buf[v + 5] = v2Seconds(spec.intervalMs);
  } else {
    dv.setUint16(v + 4, Math.max(1, Math.min(4095, Math.round(spec.intervalMs / 10))) & 0x0fff);
  }
  dv.setUint16(v + 6, 0);
  for (let i = 0; i < n; i++) dv.setInt32(v + VRRP_HLEN + 4 * i, spec.addresses[i]);
  if (spec.version === 2) {
    const a = v + VRRP_HLEN + 4 * n;
    buf.fill(0, a, a + AUTH_DATA_LEN);
    if (spec.authPass !== null) {
      const pass = Buffer.from(spec.authPass, 'latin1');
      for (let i = 0; i < Math.min(AUTH_DATA_LEN, pass.length); i++) buf[a + i] = pass[i];
    }
  }
  const sum =
    spec.version === 3 && !spec.checksumAsV2
      ? onesSum(buf, v, v + vrrpLen, pseudoHeaderSum(src, VRRP_GROUP, IPPROTO_VRRP, vrrpLen))
      : onesSum(buf, v, v + vrrpLen, 0);
  dv.setUint16(v + 6, csumFinish(sum));
  return total;
}

/**
 * Checks and parses the IPv4 packet b[off, off + len) as an advert for an instance speaking
 * `spec`'s version, authentication and interval. Returns null and fills `out`, or the drop reason.
 * The vrid is parsed before the instance is known: call `peekVrid` first to find it.
 */
export function parseAdvert(b: Uint8Array, off: number, len: number, spec: AdvertSpec, out: Advert): AdvertDrop | null {
  if (len < IPV4_MIN_HLEN) return AdvertDrop.Truncated;
  const ihl = (b[off] & 0x0f) << 2;
  const total = (b[off + 2] << 8) | b[off + 3];
  if (ihl < IPV4_MIN_HLEN || total > len || total < ihl + VRRP_HLEN) return AdvertDrop.Truncated;
  if (b[off + 8] !== VRRP_TTL) return AdvertDrop.BadTtl;
  const v = off + ihl;
  const vrrpLen = total - ihl;
  const version = b[v] >>> 4;
  if (version !== spec.version) return AdvertDrop.BadVersion;
  const count = b[v + 3];
  const expected = VRRP_HLEN + 4 * count + (version === 2 ? AUTH_DATA_LEN : 0);
  if (vrrpLen < expected) return AdvertDrop.BadLength;
  if (version === 2) {
    const authType = b[v + 4];
    if (authType !== (spec.authPass === null ? AUTH_NONE : AUTH_PASS)) return AdvertDrop.AuthMismatch;
    if (spec.authPass !== null && !passwordMatches(b, v + VRRP_HLEN + 4 * count, spec.authPass))
      return AdvertDrop.AuthMismatch;
    if (b[v + 5] !== v2Seconds(spec.intervalMs)) return AdvertDrop.IntervalMismatch;
  }
  if ((b[v] & 0x0f) !== TYPE_ADVERTISEMENT) return AdvertDrop.BadType;
  const src = (b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15];
  const dst = (b[off + 16] << 24) | (b[off + 17] << 16) | (b[off + 18] << 8) | b[off + 19];
  const plain = onesSum(b, v, v + expected, 0);
  const ok =
    version === 2
      ? csumFinish(plain) === 0
      : csumFinish(onesSum(b, v, v + expected, pseudoHeaderSum(src, dst, IPPROTO_VRRP, expected))) === 0 ||
        (spec.checksumAsV2 && csumFinish(plain) === 0);
  if (!ok) return AdvertDrop.BadChecksum;
  out.src = src;
  out.version = version;
  out.vrid = b[v + 1];
  out.priority = b[v + 2];
  out.count = count;
  out.intervalMs = version === 2 ? b[v + 5] * 1000 : (((b[v + 4] << 8) | b[v + 5]) & 0x0fff) * 10;
  out.addrOff = v + VRRP_HLEN;
  return null;
}

/** The VRID of an IPv4 packet carrying VRRP, or -1 when too short to tell. */
export function peekVrid(b: Uint8Array, off: number, len: number): number {
  if (len < IPV4_MIN_HLEN) return -1;
  const ihl = (b[off] & 0x0f) << 2;
  return ihl + 2 <= len ? b[off + ihl + 1] : -1;
}

/** A v2 interval: whole seconds 1..255 (RFC 3768 §5.3.7). */
function v2Seconds(ms: number): number {
  return Math.max(1, Math.min(255, Math.round(ms / 1000)));
}

/** Constant-time comparison of the 8 authentication bytes with the NUL-padded password. */
function passwordMatches(b: Uint8Array, at: number, pass: string): boolean {
  const p = Buffer.from(pass, 'latin1');
  let diff = 0;
  for (let i = 0; i < AUTH_DATA_LEN; i++) diff |= b[at + i] ^ (i < p.length ? p[i] : 0);
  return diff === 0;
}
