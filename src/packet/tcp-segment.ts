/**
 * Software segmentation of a TCP/IPv4 GSO super-frame (what the kernel's tcp_gso_segment() does
 * when the device cannot): for transmitters that cannot hand the super-frame on whole, such as a
 * tunnel, whose outer header no virtio-net GSO type describes. Each segment gets the super-frame's
 * IP and TCP headers with its own total length, IP ID (+1 per segment), sequence number and
 * complete checksums; FIN and PSH stay on the last segment only, CWR on the first only.
 * Allocates nothing.
 */
import { readI32, writeI32 } from './bytes.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from './checksum.js';
import { IPPROTO_TCP } from './ipv4.js';

/** Where segments go: the same reserve/commit contract as the fragmenter's sink. */
export interface SegmentSink {
  readonly buf: Uint8Array;
  /** Offset for a piece of `len` bytes, or -1 when there is no room. */
  reserve(len: number): number;
  commit(off: number, len: number): void;
}

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * Cuts the TCP/IPv4 packet at src[ipOff, ipOff + ipLen) into segments of at most `mss` payload
 * bytes, each written `headroom` bytes into a piece reserved from `sink` (room for the caller's
 * outer headers). Returns the number of segments, or -1 when the packet is not TCP/IPv4, its
 * headers do not fit, or the sink runs out of room.
 */
export function segmentTcp(
  src: Uint8Array,
  ipOff: number,
  ipLen: number,
  mss: number,
  sink: SegmentSink,
  headroom: number,
): number {
  const hl = (src[ipOff] & 0x0f) << 2;
  if (src[ipOff] >>> 4 !== 4 || src[ipOff + 9] !== IPPROTO_TCP || hl < 20 || ipLen < hl + 20) return -1;
  const l4 = ipOff + hl;
  const thl = (src[l4 + 12] >>> 4) << 2;
  if (thl < 20 || ipLen < hl + thl) return -1;
  const hdrs = hl + thl;
  const payload = ipLen - hdrs;
  if (mss <= 0) mss = payload > 0 ? payload : 1;
  const saddr = readI32(src, ipOff + 12),
    daddr = readI32(src, ipOff + 16);
  const id0 = (src[ipOff + 4] << 8) | src[ipOff + 5];
  const seq0 = readI32(src, l4 + 4) >>> 0;
  const flags = src[l4 + 13];
  let pos = 0,
    n = 0;
  do {
    const len = Math.min(mss, payload - pos);
    const last = pos + len >= payload;
    const segLen = hdrs + len;
    const o0 = sink.reserve(headroom + segLen);
    if (o0 < 0) return -1;
    const b = sink.buf,
      o = o0 + headroom;
    for (let k = 0; k < hdrs; k++) b[o + k] = src[ipOff + k];
    for (let k = 0; k < len; k++) b[o + hdrs + k] = src[ipOff + hdrs + pos + k];
    b[o + 2] = segLen >>> 8;
    b[o + 3] = segLen & 0xff;
    const id = (id0 + n) & 0xffff;
    b[o + 4] = id >>> 8;
    b[o + 5] = id & 0xff;
    b[o + 10] = 0;
    b[o + 11] = 0;
    const ic = checksum(b, o, o + hl);
    b[o + 10] = ic >>> 8;
    b[o + 11] = ic & 0xff;
    const t = o + hl;
    const seq = (seq0 + pos) >>> 0;
    writeI32(b, t + 4, seq);
    let f = flags;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    if (n > 0) f &= ~TCP_CWR;
    b[t + 13] = f;
    b[t + 16] = 0;
    b[t + 17] = 0;
    const tc = csumFinish(onesSum(b, t, o + segLen, pseudoHeaderSum(saddr, daddr, IPPROTO_TCP, segLen - hl)));
    b[t + 16] = tc >>> 8;
    b[t + 17] = tc & 0xff;
    sink.commit(o0, headroom + segLen);
    pos += len;
    n++;
  } while (pos < payload);
  return n;
}
