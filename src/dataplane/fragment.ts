/**
 * IPv4 fragmentation (RFC 791 §3.2 "Fragmentation", RFC 1812 §4.2.2.7), written straight into
 * caller-provided memory (a TX ring slot or a scratch buffer) through a `FragmentSink`.
 *
 * Contract
 * - `fragmentInto` splits the datagram at src[ipOff, ipOff + ipLen) (header validated by the
 *   caller) into fragments of at most `mtu` bytes and returns how many it emitted, or a negative
 *   `Frag` code before emitting anything (except `NoRoom`, see below). A datagram that already
 *   fits is emitted once, unchanged.
 * - Every fragment but the last carries a multiple of 8 data bytes and MF; offsets are in 8-byte
 *   units and continue the source's own offset, and the last fragment keeps the source's MF, so a
 *   fragment can be fragmented again. ID, TOS, TTL, protocol and addresses are copied; total
 *   length and header checksum are per fragment.
 * - Options: the first fragment keeps them all; the others keep only options whose "copied" flag
 *   (bit 0x80 of the type) is set, padded with End of Option List to a 4-byte boundary, so their
 *   header may be shorter. Linux instead overwrites uncopied options with NOPs and keeps the
 *   header length (ip_options_fragment); both are RFC 791 fragmentation.
 * - DF set and too big: `Frag.DontFragment`; the caller answers ICMP fragmentation needed with its
 *   MTU (RFC 1191). `FRAG_IGNORE_DF` fragments anyway and keeps DF on every fragment: that is for
 *   re-fragmenting a reassembled datagram to its largest original fragment (the kernel's
 *   IPSKB_FRAG_PMTU in ip_do_fragment), never for traffic that arrived whole.
 * - Allocates nothing once warm: module state is a 40-byte scratch for the copied options and a
 *   small cache of DataViews, one per buffer ever copied from or to (see copyBytes).
 *
 * Not here: choosing the MTU (route), ICMP, link headers.
 */
import { checksum } from '../packet/checksum.js';
import { IP_DF, IP_MF, IP_OFFMASK, IPV4_MIN_HLEN } from '../packet/ipv4.js';

/** Negative results of fragmentInto / countFragments. */
export const Frag = {
  /** DF is set and the datagram is larger than the MTU: send ICMP fragmentation needed. */
  DontFragment: -1,
  /** MTU below 68 (RFC 791: every link must carry 68 bytes unfragmented). */
  MtuTooSmall: -2,
  /** An option's length runs past the header or is below 2. */
  BadOptions: -3,
  /** The sink refused a fragment; the ones before it were already committed. */
  NoRoom: -4,
} as const;
export type Frag = (typeof Frag)[keyof typeof Frag];

/** Flag for fragmentInto: fragment despite DF, keeping DF on the fragments (reassembled datagrams). */
export const FRAG_IGNORE_DF = 1;
/** RFC 791: the smallest MTU; 60 bytes of header plus 8 of data. */
const IPV4_MIN_MTU = 68;

/**
 * Where fragments go. `reserve` returns the offset in `buf` at which a fragment of `len` IP bytes
 * may be written (or -1); after writing it, fragmentInto calls `commit` with the same offset.
 * `buf` is read after each reserve, so a sink may switch buffers (e.g. flush a full TX ring).
 * Make one sink per link or worker, once: fragmentInto creates no closures.
 */
export interface FragmentSink {
  buf: Uint8Array;
  reserve(len: number): number;
  commit(off: number, len: number): void;
}

/**
 * DataViews over the buffers copies run between, made once per buffer: RX/TX rings and arenas
 * live as long as their owner, so after warm-up no copy allocates. Eight entries, round robin.
 */
const VIEW_CACHE = 8;
const viewKeys: Array<Uint8Array | null> = new Array<Uint8Array | null>(VIEW_CACHE).fill(null);
const viewVals: Array<DataView | null> = new Array<DataView | null>(VIEW_CACHE).fill(null);
let viewNext = 0;

function viewOf(b: Uint8Array): DataView {
  for (let i = 0; i < VIEW_CACHE; i++) {
    if (viewKeys[i] === b) return viewVals[i] as DataView;
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  viewKeys[viewNext] = b;
  viewVals[viewNext] = v;
  viewNext = (viewNext + 1) % VIEW_CACHE;
  return v;
}

/**
 * Copies src[srcOff, srcOff + len) to dst[dstOff, ...) (different memory), 4 bytes at a time
 * through DataViews: measured ~3x faster than a byte loop for 1480 bytes, and unlike
 * `set(subarray)` or Buffer#copy it creates no view per call. Any alignment.
 */
export function copyBytes(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): void {
  let k = 0;
  if (len >= 32) {
    const s = viewOf(src),
      d = viewOf(dst);
    for (const last = len - 4; k <= last; k += 4) d.setInt32(dstOff + k, s.getInt32(srcOff + k));
  }
  for (; k < len; k++) dst[dstOff + k] = src[srcOff + k];
}

/** Options kept in fragments after the first (20-byte base header not included). */
const copiedOpts = new Uint8Array(40);

/**
 * Writes the copied options of the header at src[ipOff, ipOff + hl) into copiedOpts and returns
 * the header length of later fragments, or Frag.BadOptions.
 */
function laterHeaderLen(src: Uint8Array, ipOff: number, hl: number): number {
  let w = 0;
  let i = IPV4_MIN_HLEN;
  while (i < hl) {
    const t = src[ipOff + i];
    if (t === 0) break; // End of Option List
    if (t === 1) {
      i++;
      continue;
    } // NOP: copied flag clear
    if (i + 1 >= hl) return Frag.BadOptions;
    const l = src[ipOff + i + 1];
    if (l < 2 || i + l > hl) return Frag.BadOptions;
    if ((t & 0x80) !== 0) {
      for (let k = 0; k < l; k++) copiedOpts[w + k] = src[ipOff + i + k];
      w += l;
    }
    i += l;
  }
  while ((w & 3) !== 0) copiedOpts[w++] = 0;
  return IPV4_MIN_HLEN + w;
}

/**
 * How many fragments fragmentInto would emit for this datagram and MTU (1 when it fits), or a
 * negative Frag code. Lets a caller check ring space first.
 */
export function countFragments(src: Uint8Array, ipOff: number, ipLen: number, mtu: number, flags = 0): number {
  if (mtu > 65535) mtu = 65535;
  if (mtu < IPV4_MIN_MTU) return Frag.MtuTooSmall;
  if (ipLen <= mtu) return 1;
  if ((src[ipOff + 6] & (IP_DF >>> 8)) !== 0 && (flags & FRAG_IGNORE_DF) === 0) return Frag.DontFragment;
  const hl = (src[ipOff] & 0x0f) << 2;
  const nhl = laterHeaderLen(src, ipOff, hl);
  if (nhl < 0) return nhl;
  const firstData = (mtu - hl) & ~7;
  const rest = ipLen - hl - firstData;
  const lastRoom = mtu - nhl;
  if (rest <= lastRoom) return 2;
  const step = lastRoom & ~7;
  return 2 + Math.ceil((rest - lastRoom) / step);
}

/**
 * Fragments the datagram at src[ipOff, ipOff + ipLen) for `mtu` into `sink`. Returns the number
 * of fragments emitted or a negative Frag code. Allocates nothing.
 */
export function fragmentInto(
  src: Uint8Array,
  ipOff: number,
  ipLen: number,
  mtu: number,
  sink: FragmentSink,
  flags = 0,
): number {
  if (mtu > 65535) mtu = 65535;
  if (mtu < IPV4_MIN_MTU) return Frag.MtuTooSmall;
  if (ipLen <= mtu) {
    const o = sink.reserve(ipLen);
    if (o < 0) return Frag.NoRoom;
    copyBytes(src, ipOff, sink.buf, o, ipLen);
    sink.commit(o, ipLen);
    return 1;
  }
  const fw = (src[ipOff + 6] << 8) | src[ipOff + 7];
  if ((fw & IP_DF) !== 0 && (flags & FRAG_IGNORE_DF) === 0) return Frag.DontFragment;
  const hl = (src[ipOff] & 0x0f) << 2;
  const nhl = laterHeaderLen(src, ipOff, hl);
  if (nhl < 0) return nhl;
  const df = fw & IP_DF;
  const baseOff = (fw & IP_OFFMASK) << 3;
  const lastMf = fw & IP_MF;
  const dataLen = ipLen - hl;
  let pos = 0,
    count = 0;
  while (pos < dataLen) {
    const h = pos === 0 ? hl : nhl;
    const left = dataLen - pos;
    const last = left <= mtu - h;
    const n = last ? left : (mtu - h) & ~7;
    const flen = h + n;
    const o = sink.reserve(flen);
    if (o < 0) return Frag.NoRoom;
    const b = sink.buf;
    if (pos === 0) {
      for (let k = 0; k < hl; k++) b[o + k] = src[ipOff + k];
    } else {
      for (let k = 0; k < IPV4_MIN_HLEN; k++) b[o + k] = src[ipOff + k];
      for (let k = IPV4_MIN_HLEN; k < nhl; k++) b[o + k] = copiedOpts[k - IPV4_MIN_HLEN];
      b[o] = 0x40 | (nhl >>> 2);
    }
    b[o + 2] = flen >>> 8;
    b[o + 3] = flen & 0xff;
    const word = df | (last ? lastMf : IP_MF) | ((baseOff + pos) >>> 3);
    b[o + 6] = word >>> 8;
    b[o + 7] = word & 0xff;
    b[o + 10] = 0;
    b[o + 11] = 0;
    const sum = checksum(b, o, o + h);
    b[o + 10] = sum >>> 8;
    b[o + 11] = sum & 0xff;
    copyBytes(src, ipOff + hl + pos, b, o + h, n);
    sink.commit(o, flen);
    pos += n;
    count++;
  }
  return count;
}

/**
 * A FragmentSink over one buffer: fragments are laid out back to back, their offsets and lengths
 * recorded. For tests and for callers that fragment into scratch memory and transmit each piece.
 */
export class FragmentBuffer implements FragmentSink {
  readonly buf: Uint8Array;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  count = 0;
  private next = 0;

  constructor(bytes: number, maxFragments: number) {
    this.buf = new Uint8Array(bytes);
    this.offsets = new Int32Array(maxFragments);
    this.lengths = new Int32Array(maxFragments);
  }

  reset(): void {
    this.count = 0;
    this.next = 0;
  }

  reserve(len: number): number {
    if (this.count === this.offsets.length || this.next + len > this.buf.length) return -1;
    return this.next;
  }

  commit(off: number, len: number): void {
    this.offsets[this.count] = off;
    this.lengths[this.count] = len;
    this.count++;
    this.next = off + len;
  }
}
