/**
 * IPv4 reassembly (RFC 791 §3.2, RFC 815) with fixed memory, like the kernel's defrag in front of
 * IPVS (`net/ipv4/ip_fragment.c`, `net/ipv4/inet_fragment.c`; IPVS calls it from
 * `ip_vs_gather_frags` before it looks at ports).
 *
 * Contract
 * - `add()` takes one fragment whose header the caller has validated (version, IHL, total length,
 *   header checksum) and returns a `Defrag` code. On `Complete` the whole datagram is in
 *   `out[0, outLen)` until the next `add()`: the first fragment's header and options, MF and
 *   offset cleared, total length and header checksum rewritten.
 * - All memory is allocated by the constructor; `add()` and `expire()` allocate nothing. Fragment
 *   data lives in one arena of `maxTotalBytes` cut into 1 KiB pages that datagrams take on demand
 *   (so `maxTotalBytes` bounds the data held, like ipfrag_high_thresh bounds skb truesize), plus
 *   per-slot metadata (~1.4 KiB each) and one 64 KiB output area.
 * - Key: (src, dst, id, protocol), as `ip4_frag_key` (the kernel adds the defrag user and VRF).
 *
 * Kernel behaviour matched (ip_frag_queue / inet_frag_queue_insert / ip_frag_reasm):
 * - a last fragment (MF=0) that disagrees with the known end, or any fragment past the end of a
 *   datagram whose last fragment is in, invalidates the datagram (`discard_qp`): BadFragment;
 * - a datagram longer than 65535 bytes (ping of death) is dropped: TooBig;
 * - ECN: fragments mixing Not-ECT with ECT/CE invalidate the datagram (`ip_frag_ecn_table`), and
 *   CE on any fragment sets CE on the whole: BadFragment for the invalid mix;
 * - the rebuilt header has DF only when the largest fragment had DF, and `outMaxFragSize` is that
 *   largest fragment (IPCB frag_max_size): whoever forwards the datagram re-fragments it to at
 *   most that size, so defragmentation stays invisible on the wire (ip_do_fragment).
 * - timeout (ipfrag_time) runs from the first fragment's arrival; an expired datagram whose first
 *   fragment arrived may be answered with ICMP time exceeded, code 1 (RFC 792, RFC 1122 §3.3.2).
 *
 * Deliberate differences
 * - Overlaps (RFC 5722 spirit, applied to IPv4 as Linux does since CVE-2018-5391): an overlap
 *   whose bytes differ from what is held drops the whole datagram (Overlap). Bytes that overlap
 *   with identical content are accepted (an exact duplicate is ignored and reported Pending).
 *   Linux ignores any fragment contained in what it holds without comparing, and drops every other
 *   overlap even when the bytes agree; comparing is stricter against forged data and kinder to
 *   honest re-fragmentation.
 * - Malformed fragments on their own (zero length, a non-last fragment whose length is not a
 *   multiple of 8, offset 0 with MF clear, i.e. no fragment at all) are dropped without touching
 *   the datagram they name; Linux truncates non-last lengths to a multiple of 8.
 * - When the slot table or the page pool is exhausted, the oldest datagram (by first arrival) is
 *   evicted, as the kernel's LRU evictor did before 4.17; `maxFragmentsPerDatagram` has no kernel
 *   counterpart (it bounds the work a single datagram can cause). ipfrag_max_dist is not modelled.
 *
 * Not here: deciding which packets to reassemble, sending the ICMP error (the caller gets the
 * quote through `onTimeout`), IPv6.
 */

import { TapvsError } from '../errors.js';
import { checksum } from '../packet/checksum.js';
import { IP_DF, IP_MF, IP_OFFMASK, IPV4_MIN_HLEN } from '../packet/ipv4.js';
import { copyBytes } from './fragment.js';

/** add() results: small integers, so they double as counter indexes. */
export const Defrag = {
  /** Kept (or an exact duplicate); more fragments are needed. */
  Pending: 0,
  /** The datagram is complete in `out[0, outLen)`. */
  Complete: 1,
  /** The datagram would exceed maxDatagramBytes (65535: ping of death); dropped whole. */
  TooBig: 2,
  /** The fragment overlaps held bytes with different content; dropped whole. */
  Overlap: 3,
  /** Limits hit even after evicting older datagrams (or maxFragmentsPerDatagram); dropped whole. */
  NoMemory: 4,
  /** Malformed fragment, or one inconsistent with the datagram's known end or ECN. */
  BadFragment: 5,
} as const;
export type Defrag = (typeof Defrag)[keyof typeof Defrag];

export interface ReassemblerOptions {
  /** Datagrams in progress at once (slots). Default 64. */
  maxDatagrams?: number;
  /** Largest datagram accepted, header included; at most 65535 (the default). */
  maxDatagramBytes?: number;
  /** Fragment data held in all, rounded down to whole 1 KiB pages. Default 4 MiB (ipfrag_high_thresh). */
  maxTotalBytes?: number;
  /** Lifetime of an incomplete datagram from its first fragment. Default 30000 (ipfrag_time). */
  timeoutMs?: number;
  /** Distinct fragments one datagram may hold. Default 64. */
  maxFragmentsPerDatagram?: number;
  /** Default for expire(): receives the first fragment's header + 8 data bytes of an expired datagram. */
  onTimeout?: TimeoutQuote;
}

/**
 * Gets the first fragment's IP header plus its first 8 data bytes (RFC 792 quote for ICMP time
 * exceeded, code 1) in `quote[0, len)`. The buffer is reused: copy what you keep. Must not call
 * back into the Reassembler.
 */
export type TimeoutQuote = (quote: Uint8Array, len: number) => void;

export interface ReassemblerCounters {
  /** Datagrams completed. */
  reassembled: number;
  /** Datagrams dropped by expire(). */
  timedOut: number;
  /** Datagrams dropped to make room for others. */
  evicted: number;
  overlaps: number;
  tooBig: number;
  badFragments: number;
  /** NoMemory results. */
  noMemory: number;
  /** Exact (or contained, identical) duplicates ignored. */
  duplicates: number;
  /** Fragments that added data to a datagram. */
  fragments: number;
}

const PAGE_SHIFT = 10;
const PAGE_BYTES = 1 << PAGE_SHIFT;
const MAX_IP = 65535;
/** Pages that can cover any datagram payload (< 64 KiB). */
const PAGES_PER_SLOT = 65536 >> PAGE_SHIFT;
/** 8-byte blocks of a payload, as 32-bit bitmap words: 8192 blocks. */
const BITMAP_WORDS = (65536 >> 3) >> 5;
const MAX_HLEN = 60;
const FIRST_IN = 1;
const LAST_IN = 2;
/** `ip_frag_ecn_table` indexed by the OR of 1 << (tos & 3) over fragments; 0xff: invalid mix. */
const ECN_NOT_ECT = 1,
  ECN_ECT_1 = 2,
  ECN_ECT_0 = 4,
  ECN_CE = 8;
const ECN_TABLE = (() => {
  const t = new Uint8Array(16);
  for (let bits = 0; bits < 16; bits++) {
    if ((bits & ECN_NOT_ECT) !== 0 && (bits & (ECN_ECT_1 | ECN_ECT_0 | ECN_CE)) !== 0) t[bits] = 0xff;
    else if ((bits & ECN_CE) !== 0) t[bits] = 3;
  }
  return t;
})();

export class Reassembler {
  readonly maxDatagrams: number;
  readonly maxDatagramBytes: number;
  readonly maxTotalBytes: number;
  readonly timeoutMs: number;
  readonly maxFragmentsPerDatagram: number;
  /** Page pool size: maxTotalBytes in whole pages. */
  readonly totalPages: number;
  /** The last completed datagram, `outLen` bytes, IP header first. Valid until the next add(). */
  readonly out: Uint8Array;
  /** A DataView over `out` for header views (Ipv4View.attach). */
  readonly outDv: DataView;
  outLen = 0;
  /** Largest fragment (IP total length) of the last completed datagram: re-fragment to this. */
  outMaxFragSize = 0;
  /** Fragments the last completed datagram was made of. */
  outFragments = 0;
  readonly counters: ReassemblerCounters = {
    reassembled: 0,
    timedOut: 0,
    evicted: 0,
    overlaps: 0,
    tooBig: 0,
    badFragments: 0,
    noMemory: 0,
    duplicates: 0,
    fragments: 0,
  };

  private readonly onTimeout: TimeoutQuote | undefined;
  private readonly arena: Uint8Array;
  private readonly outBase: number;
  private readonly quote = new Uint8Array(MAX_HLEN + 8);
  private readonly seed: number;
  private readonly bucketMask: number;
  private readonly buckets: Int32Array;
  private readonly hashNext: Int32Array;
  private readonly keySrc: Int32Array;
  private readonly keyDst: Int32Array;
  private readonly keyIdProto: Int32Array;
  private readonly lruPrev: Int32Array;
  private readonly lruNext: Int32Array;
  private lruHead = -1;
  private lruTail = -1;
  private readonly created: Float64Array;
  /** Payload end known so far (bytes); final when LAST_IN. */
  private readonly qEnd: Int32Array;
  private readonly qFlags: Int32Array;
  private readonly coveredBlocks: Int32Array;
  private readonly fragCount: Int32Array;
  private readonly slotPages: Int32Array;
  private readonly hlen: Int32Array;
  private readonly maxSize: Int32Array;
  private readonly maxDfSize: Int32Array;
  private readonly ecnBits: Int32Array;
  private readonly headers: Uint8Array;
  private readonly bitmap: Int32Array;
  private readonly pageTable: Int32Array;
  private readonly freeSlots: Int32Array;
  private freeSlotCount: number;
  private readonly freePages: Int32Array;
  private freePageCount: number;

  constructor(opts: ReassemblerOptions = {}) {
    const maxDatagrams = opts.maxDatagrams ?? 64;
    const maxDatagramBytes = opts.maxDatagramBytes ?? MAX_IP;
    const maxTotalBytes = opts.maxTotalBytes ?? 4 * 1024 * 1024;
    const timeoutMs = opts.timeoutMs ?? 30000;
    const maxFrags = opts.maxFragmentsPerDatagram ?? 64;
    if (!Number.isInteger(maxDatagrams) || maxDatagrams < 1 || maxDatagrams > 65536) {
      throw new TapvsError('BAD_ARGUMENT', `reassembly: maxDatagrams must be 1..65536, not ${maxDatagrams}`);
    }
    if (!Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 68 || maxDatagramBytes > MAX_IP) {
      throw new TapvsError('BAD_ARGUMENT', `reassembly: maxDatagramBytes must be 68..65535, not ${maxDatagramBytes}`);
    }
    if (!Number.isInteger(maxTotalBytes) || maxTotalBytes < PAGE_BYTES || maxTotalBytes > 2 ** 30) {
      throw new TapvsError(
        'BAD_ARGUMENT',
        `reassembly: maxTotalBytes must be ${PAGE_BYTES}..2^30, not ${maxTotalBytes}`,
      );
    }
    if (!(timeoutMs > 0)) throw new TapvsError('BAD_ARGUMENT', `reassembly: timeoutMs must be > 0, not ${timeoutMs}`);
    if (!Number.isInteger(maxFrags) || maxFrags < 2 || maxFrags > 8192) {
      throw new TapvsError('BAD_ARGUMENT', `reassembly: maxFragmentsPerDatagram must be 2..8192, not ${maxFrags}`);
    }
    this.maxDatagrams = maxDatagrams;
    this.maxDatagramBytes = maxDatagramBytes;
    this.maxTotalBytes = maxTotalBytes;
    this.timeoutMs = timeoutMs;
    this.maxFragmentsPerDatagram = maxFrags;
    this.onTimeout = opts.onTimeout;
    const pages = maxTotalBytes >> PAGE_SHIFT;
    this.totalPages = pages;
    this.outBase = pages << PAGE_SHIFT;
    // One ArrayBuffer for pages and output: completion copies with copyWithin (a memmove).
    this.arena = new Uint8Array(this.outBase + MAX_IP);
    this.out = this.arena.subarray(this.outBase, this.outBase + MAX_IP);
    this.outDv = new DataView(this.arena.buffer, this.arena.byteOffset + this.outBase, MAX_IP);
    this.seed = (Math.random() * 0x100000000) | 0;
    let nb = 1;
    while (nb < maxDatagrams * 2) nb <<= 1;
    this.bucketMask = nb - 1;
    this.buckets = new Int32Array(nb).fill(-1);
    const n = maxDatagrams;
    this.hashNext = new Int32Array(n).fill(-1);
    this.keySrc = new Int32Array(n);
    this.keyDst = new Int32Array(n);
    this.keyIdProto = new Int32Array(n).fill(-1);
    this.lruPrev = new Int32Array(n).fill(-1);
    this.lruNext = new Int32Array(n).fill(-1);
    this.created = new Float64Array(n);
    this.qEnd = new Int32Array(n);
    this.qFlags = new Int32Array(n);
    this.coveredBlocks = new Int32Array(n);
    this.fragCount = new Int32Array(n);
    this.slotPages = new Int32Array(n);
    this.hlen = new Int32Array(n);
    this.maxSize = new Int32Array(n);
    this.maxDfSize = new Int32Array(n);
    this.ecnBits = new Int32Array(n);
    this.headers = new Uint8Array(n * MAX_HLEN);
    this.bitmap = new Int32Array(n * BITMAP_WORDS);
    this.pageTable = new Int32Array(n * PAGES_PER_SLOT).fill(-1);
    this.freeSlots = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeSlots[i] = n - 1 - i;
    this.freeSlotCount = n;
    this.freePages = new Int32Array(pages);
    for (let i = 0; i < pages; i++) this.freePages[i] = pages - 1 - i;
    this.freePageCount = pages;
  }

  /** Datagrams waiting for fragments. */
  get inProgress(): number {
    return this.maxDatagrams - this.freeSlotCount;
  }
  /** Fragment data held, in whole pages. */
  get bytesInUse(): number {
    return (this.totalPages - this.freePageCount) << PAGE_SHIFT;
  }

  /**
   * Takes the fragment at u8[ipOff, ipOff + ipLen) (header validated by the caller) and returns a
   * Defrag code. Allocates nothing.
   */
  add(u8: Uint8Array, ipOff: number, ipLen: number, nowMs: number): number {
    const c = this.counters;
    const hl = (u8[ipOff] & 0x0f) << 2;
    const fw = (u8[ipOff + 6] << 8) | u8[ipOff + 7];
    const off = (fw & IP_OFFMASK) << 3;
    const mf = (fw & IP_MF) !== 0;
    const len = ipLen - hl;
    const end = off + len;
    if (len <= 0 || (mf && (len & 7) !== 0) || (!mf && off === 0)) {
      c.badFragments++;
      return Defrag.BadFragment;
    }
    const src = (u8[ipOff + 12] << 24) | (u8[ipOff + 13] << 16) | (u8[ipOff + 14] << 8) | u8[ipOff + 15];
    const dst = (u8[ipOff + 16] << 24) | (u8[ipOff + 17] << 16) | (u8[ipOff + 18] << 8) | u8[ipOff + 19];
    const idProto = (u8[ipOff + 4] << 16) | (u8[ipOff + 5] << 8) | u8[ipOff + 9];
    const h = this.hash(src, dst, idProto);
    let s = this.find(h, src, dst, idProto);
    // The header length that will lead the datagram: known once the first fragment is in.
    const leadHl = s >= 0 && (this.qFlags[s] & FIRST_IN) !== 0 ? this.hlen[s] : off === 0 ? hl : IPV4_MIN_HLEN;
    const knownEnd = s >= 0 && end < this.qEnd[s] ? this.qEnd[s] : end;
    if (knownEnd + leadHl > this.maxDatagramBytes) {
      if (s >= 0) this.kill(s);
      c.tooBig++;
      return Defrag.TooBig;
    }
    if (s < 0) s = this.create(h, src, dst, idProto, nowMs);

    // End bookkeeping (ip_frag_queue): the last fragment fixes the end; nothing may pass it.
    let fl = this.qFlags[s];
    const qEnd = this.qEnd[s];
    if (!mf) {
      if (end < qEnd || ((fl & LAST_IN) !== 0 && end !== qEnd)) return this.fail(s, Defrag.BadFragment);
      fl |= LAST_IN;
      this.qEnd[s] = end;
    } else if (end > qEnd) {
      if ((fl & LAST_IN) !== 0) return this.fail(s, Defrag.BadFragment);
      this.qEnd[s] = end;
    }
    this.qFlags[s] = fl;

    const data = ipOff + hl;
    const b0 = off >> 3,
      b1 = (end + 7) >> 3;
    const bm = s * BITMAP_WORDS;
    if (this.anySet(bm, b0, b1)) {
      if (!this.sameAsHeld(s, u8, data, off, end)) {
        c.overlaps++;
        this.kill(s);
        return Defrag.Overlap;
      }
      if (this.allSet(bm, b0, b1)) {
        c.duplicates++;
        return this.isComplete(s) ? this.assemble(s) : Defrag.Pending;
      }
    }
    if (this.fragCount[s] >= this.maxFragmentsPerDatagram) return this.fail(s, Defrag.NoMemory);
    if (!this.reservePages(s, off, end)) return this.fail(s, Defrag.NoMemory);

    this.store(s, u8, data, off, end);
    this.coveredBlocks[s] += this.setBits(bm, b0, b1);
    this.fragCount[s]++;
    c.fragments++;
    if (off === 0 && (this.qFlags[s] & FIRST_IN) === 0) {
      // The first copy of the first fragment gives the header (ip_frag_reasm uses the head skb).
      const hb = s * MAX_HLEN;
      for (let i = 0; i < hl; i++) this.headers[hb + i] = u8[ipOff + i];
      this.hlen[s] = hl;
      this.qFlags[s] |= FIRST_IN;
    }
    if (ipLen > this.maxSize[s]) this.maxSize[s] = ipLen;
    if ((fw & IP_DF) !== 0 && ipLen > this.maxDfSize[s]) this.maxDfSize[s] = ipLen;
    this.ecnBits[s] |= 1 << (u8[ipOff + 1] & 3);
    return this.isComplete(s) ? this.assemble(s) : Defrag.Pending;
  }

  /**
   * Drops datagrams older than timeoutMs (from their first fragment) and returns how many. For
   * each one whose first fragment arrived, `onTimeout` (default: the constructor's) gets the quote
   * for ICMP time exceeded, code 1. Call it from the periodic tick.
   */
  expire(nowMs: number, onTimeout: TimeoutQuote | undefined = this.onTimeout): number {
    let n = 0;
    const limit = this.timeoutMs;
    while (this.lruHead >= 0) {
      const s = this.lruHead;
      if (nowMs - this.created[s] < limit) break;
      if (onTimeout !== undefined && (this.qFlags[s] & FIRST_IN) !== 0) {
        const hl = this.hlen[s],
          hb = s * MAX_HLEN,
          q = this.quote;
        for (let i = 0; i < hl; i++) q[i] = this.headers[hb + i];
        // A first fragment carries >= 8 bytes (a non-empty multiple of 8), held in its page 0.
        const p0 = this.pageTable[s * PAGES_PER_SLOT] << PAGE_SHIFT;
        for (let i = 0; i < 8; i++) q[hl + i] = this.arena[p0 + i];
        onTimeout(q, hl + 8);
      }
      this.kill(s);
      this.counters.timedOut++;
      n++;
    }
    return n;
  }

  /** Drops every datagram in progress (counted nowhere): for reconfiguration and tests. */
  clear(): void {
    while (this.lruHead >= 0) this.kill(this.lruHead);
  }

  // ------------------------------------------------------------------ slots

  private hash(src: number, dst: number, idProto: number): number {
    let x = Math.imul(src ^ this.seed, 0x9e3779b1);
    x = Math.imul(x ^ dst ^ (x >>> 15), 0x85ebca6b);
    x = Math.imul(x ^ idProto ^ (x >>> 13), 0xc2b2ae35);
    return (x ^ (x >>> 16)) & this.bucketMask;
  }

  private find(h: number, src: number, dst: number, idProto: number): number {
    let s = this.buckets[h];
    while (s >= 0) {
      if (this.keyIdProto[s] === idProto && this.keySrc[s] === src && this.keyDst[s] === dst) return s;
      s = this.hashNext[s];
    }
    return -1;
  }

  private create(h: number, src: number, dst: number, idProto: number, nowMs: number): number {
    if (this.freeSlotCount === 0) {
      this.counters.evicted++;
      this.kill(this.lruHead);
    }
    const s = this.freeSlots[--this.freeSlotCount];
    this.keySrc[s] = src;
    this.keyDst[s] = dst;
    this.keyIdProto[s] = idProto;
    this.hashNext[s] = this.buckets[h];
    this.buckets[h] = s;
    this.lruPrev[s] = this.lruTail;
    this.lruNext[s] = -1;
    if (this.lruTail >= 0) this.lruNext[this.lruTail] = s;
    else this.lruHead = s;
    this.lruTail = s;
    this.created[s] = nowMs;
    this.qEnd[s] = 0;
    this.qFlags[s] = 0;
    this.coveredBlocks[s] = 0;
    this.fragCount[s] = 0;
    this.slotPages[s] = 0;
    this.hlen[s] = 0;
    this.maxSize[s] = 0;
    this.maxDfSize[s] = 0;
    this.ecnBits[s] = 0;
    return s;
  }

  /** Drops datagram s with its pages; the slot becomes free. */
  private kill(s: number): void {
    const h = this.hash(this.keySrc[s], this.keyDst[s], this.keyIdProto[s]);
    let p = this.buckets[h];
    if (p === s) this.buckets[h] = this.hashNext[s];
    else {
      while (this.hashNext[p] !== s) p = this.hashNext[p];
      this.hashNext[p] = this.hashNext[s];
    }
    this.hashNext[s] = -1;
    this.keyIdProto[s] = -1;
    const prev = this.lruPrev[s],
      next = this.lruNext[s];
    if (prev >= 0) this.lruNext[prev] = next;
    else this.lruHead = next;
    if (next >= 0) this.lruPrev[next] = prev;
    else this.lruTail = prev;
    const pt = s * PAGES_PER_SLOT;
    if (this.slotPages[s] > 0) {
      for (let i = 0; i < PAGES_PER_SLOT; i++) {
        const pg = this.pageTable[pt + i];
        if (pg >= 0) {
          this.freePages[this.freePageCount++] = pg;
          this.pageTable[pt + i] = -1;
        }
      }
      this.slotPages[s] = 0;
    }
    const bm = s * BITMAP_WORDS,
      words = (((this.qEnd[s] + 7) >> 3) >> 5) + 1;
    for (let i = 0; i < words && i < BITMAP_WORDS; i++) this.bitmap[bm + i] = 0;
    this.freeSlots[this.freeSlotCount++] = s;
  }

  private fail(s: number, code: number): number {
    const c = this.counters;
    if (code === Defrag.NoMemory) c.noMemory++;
    else c.badFragments++;
    this.kill(s);
    return code;
  }

  private isComplete(s: number): boolean {
    return (this.qFlags[s] & LAST_IN) !== 0 && this.coveredBlocks[s] === (this.qEnd[s] + 7) >> 3;
  }

  // ------------------------------------------------------------------ data pages

  /** Gives datagram s the pages under payload bytes [off, end), evicting older datagrams if needed. */
  private reservePages(s: number, off: number, end: number): boolean {
    const pt = s * PAGES_PER_SLOT;
    const p0 = off >> PAGE_SHIFT,
      p1 = (end - 1) >> PAGE_SHIFT;
    let need = 0;
    for (let p = p0; p <= p1; p++) if (this.pageTable[pt + p] < 0) need++;
    if (need === 0) return true;
    if (need > this.totalPages - this.slotPages[s]) return false; // even alone it would not fit
    while (this.freePageCount < need) {
      // Oldest first; s is never the victim (it is younger, or the only one left: see above).
      let v = this.lruHead;
      if (v === s) v = this.lruNext[s];
      this.counters.evicted++;
      this.kill(v);
    }
    for (let p = p0; p <= p1; p++) {
      if (this.pageTable[pt + p] < 0) {
        this.pageTable[pt + p] = this.freePages[--this.freePageCount];
        this.slotPages[s]++;
      }
    }
    return true;
  }

  private store(s: number, u8: Uint8Array, data: number, off: number, end: number): void {
    const pt = s * PAGES_PER_SLOT,
      a = this.arena;
    let pos = off,
      i = data;
    while (pos < end) {
      const pageEnd = (pos | (PAGE_BYTES - 1)) + 1;
      const stop = Math.min(pageEnd, end);
      const d = (this.pageTable[pt + (pos >> PAGE_SHIFT)] << PAGE_SHIFT) + (pos & (PAGE_BYTES - 1));
      const n = stop - pos;
      copyBytes(u8, i, a, d, n);
      i += n;
      pos = stop;
    }
  }

  /** True when every held 8-byte block inside [off, end) equals the fragment's bytes. */
  private sameAsHeld(s: number, u8: Uint8Array, data: number, off: number, end: number): boolean {
    const pt = s * PAGES_PER_SLOT,
      bm = s * BITMAP_WORDS,
      a = this.arena;
    for (let pos = off; pos < end; pos += 8) {
      const b = pos >> 3;
      if ((this.bitmap[bm + (b >> 5)] & (1 << (b & 31))) === 0) continue;
      const stop = Math.min(pos + 8, end);
      // A block never straddles a page (pages are multiples of 8 bytes).
      let d = (this.pageTable[pt + (pos >> PAGE_SHIFT)] << PAGE_SHIFT) + (pos & (PAGE_BYTES - 1));
      for (let k = data + (pos - off); k < data + (stop - off); k++) if (a[d++] !== u8[k]) return false;
    }
    return true;
  }

  private assemble(s: number): number {
    const bits = ECN_TABLE[this.ecnBits[s]];
    if (bits === 0xff) return this.fail(s, Defrag.BadFragment);
    const hl = this.hlen[s],
      end = this.qEnd[s],
      total = hl + end;
    const a = this.arena,
      ob = this.outBase,
      hb = s * MAX_HLEN,
      pt = s * PAGES_PER_SLOT;
    for (let i = 0; i < hl; i++) a[ob + i] = this.headers[hb + i];
    for (let pos = 0, p = 0; pos < end; pos += PAGE_BYTES, p++) {
      const from = this.pageTable[pt + p] << PAGE_SHIFT;
      const n = Math.min(end - pos, PAGE_BYTES);
      a.copyWithin(ob + hl + pos, from, from + n);
    }
    a[ob + 1] |= bits;
    a[ob + 2] = total >>> 8;
    a[ob + 3] = total & 0xff;
    // DF only when the largest fragment had it (ip_frag_reasm, IPSKB_FRAG_PMTU).
    const df = this.maxDfSize[s] === this.maxSize[s];
    a[ob + 6] = df ? IP_DF >>> 8 : 0;
    a[ob + 7] = 0;
    a[ob + 10] = 0;
    a[ob + 11] = 0;
    const sum = checksum(a, ob, ob + hl);
    a[ob + 10] = sum >>> 8;
    a[ob + 11] = sum & 0xff;
    this.outLen = total;
    this.outMaxFragSize = this.maxSize[s];
    this.outFragments = this.fragCount[s];
    this.counters.reassembled++;
    this.kill(s);
    return Defrag.Complete;
  }

  // ------------------------------------------------------------------ block bitmap (8-byte blocks)

  private anySet(bm: number, b0: number, b1: number): boolean {
    for (let w = b0 >> 5, wl = (b1 - 1) >> 5; w <= wl; w++) {
      if ((this.bitmap[bm + w] & rangeMask(w, b0, b1)) !== 0) return true;
    }
    return false;
  }

  private allSet(bm: number, b0: number, b1: number): boolean {
    for (let w = b0 >> 5, wl = (b1 - 1) >> 5; w <= wl; w++) {
      const m = rangeMask(w, b0, b1);
      if ((this.bitmap[bm + w] & m) !== m) return false;
    }
    return true;
  }

  /** Sets blocks [b0, b1); returns how many were newly set. */
  private setBits(bm: number, b0: number, b1: number): number {
    let n = 0;
    for (let w = b0 >> 5, wl = (b1 - 1) >> 5; w <= wl; w++) {
      const old = this.bitmap[bm + w];
      const m = rangeMask(w, b0, b1);
      n += popcount(m & ~old);
      this.bitmap[bm + w] = old | m;
    }
    return n;
  }
}

/** Bits of word w that lie in blocks [b0, b1). */
function rangeMask(w: number, b0: number, b1: number): number {
  const lo = b0 > w << 5 ? b0 & 31 : 0;
  const hi = b1 < (w + 1) << 5 ? b1 & 31 : 32;
  const width = hi - lo;
  return width === 32 ? -1 : (((1 << width) - 1) << lo) | 0;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
