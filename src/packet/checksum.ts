/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624 eqn. 3).
 *
 * Full sums are for verifying and building packets; NAT rewrites use the incremental forms, as
 * ip_vs_proto_tcp.c does. All functions work on numbers only and allocate nothing.
 * A "sum" here is the unfolded 32-bit accumulation; `csumFinish` folds and complements it.
 */

/** Adds bytes [start, end) as big-endian 16-bit words to `sum` (an odd tail is padded with 0). */
export function onesSum(b: Uint8Array, start: number, end: number, sum: number): number {
  let s = sum;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) {
    s += (b[i] << 8) | b[i + 1];
    // Fold early enough that the sum stays an exact small number.
    if (s > 0x3fffffff) s = (s & 0xffff) + (s >>> 16);
  }
  if (i < end) s += b[i] << 8;
  return s;
}

/** Folds a 32-bit accumulation to 16 bits (no complement). */
export function csumFold(sum: number): number {
  let s = (sum & 0xffff) + (sum >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s & 0xffff;
}

/** Folds and complements: the value that goes into a checksum field. */
export function csumFinish(sum: number): number {
  return ~csumFold(sum) & 0xffff;
}

/** The checksum of bytes [start, end) alone (e.g. an IPv4 header with its csum field zeroed). */
export function checksum(b: Uint8Array, start: number, end: number): number {
  return csumFinish(onesSum(b, start, end, 0));
}

/** The IPv4 pseudo-header sum for TCP/UDP (RFC 793 §3.1, RFC 768). Addresses are int32. */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4Len: number): number {
  return ((src >>> 16) & 0xffff) + (src & 0xffff) + ((dst >>> 16) & 0xffff) + (dst & 0xffff) + proto + l4Len;
}

/** RFC 1624 eqn. 3: the checksum after one 16-bit word changes from `old` to `now`. */
export function csumUpdate16(sum: number, old: number, now: number): number {
  let s = (~sum & 0xffff) + (~old & 0xffff) + (now & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** The same for a 32-bit field such as an IPv4 address: two 16-bit words. */
export function csumUpdate32(sum: number, old: number, now: number): number {
  return csumUpdate16(csumUpdate16(sum, (old >>> 16) & 0xffff, (now >>> 16) & 0xffff), old & 0xffff, now & 0xffff);
}

/**
 * RFC 1624 eqn. 3 once for several changed fields: the terms ~m + m' of every changed 16-bit word
 * (csumDelta16, csumDelta32), summed by the caller into `delta` (below 2^24), then added to the
 * checksum with one fold. Bit for bit the value that applying csumUpdate16/csumUpdate32 field
 * after field gives: one's complement addition is associative, and an intermediate fold is 0 only
 * when every term before it is. A field that does not change must not be added (its term is
 * 0xffff, the other zero, which can turn a result of 0x0000 into 0xffff).
 */
export function csumApplyDelta(sum: number, delta: number): number {
  let s = (~sum & 0xffff) + delta;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** csumApplyDelta's term for a 16-bit word changing from `old` to `now`. */
export function csumDelta16(old: number, now: number): number {
  return (~old & 0xffff) + (now & 0xffff);
}

/** csumApplyDelta's terms for a 32-bit field (an IPv4 address) changing from `old` to `now`. */
export function csumDelta32(old: number, now: number): number {
  return ((~old >>> 16) & 0xffff) + (~old & 0xffff) + ((now >>> 16) & 0xffff) + (now & 0xffff);
}

/**
 * Adjusts a *partial* (pseudo-header only, not complemented) checksum as held by frames marked
 * VIRTIO_NET_HDR_F_NEEDS_CSUM when a 32-bit address of the pseudo-header changes. Such a field
 * stores the folded pseudo-header sum itself, so the update is the inverse of csumUpdate32.
 */
export function partialCsumUpdate32(partial: number, old: number, now: number): number {
  return ~csumUpdate32(~partial & 0xffff, old, now) & 0xffff;
}
