/**
 * A pcapng writer (draft-ietf-opsawg-pcapng, little-endian, one section) for tapvsd's packet
 * traces: one Section Header Block, one Interface Description Block per capture point (a link and
 * a direction, e.g. "ext rx"), then one Enhanced Packet Block per frame with an optional comment
 * (opt_comment) saying what the director decided.
 *
 * Contract:
 * - Blocks are assembled in one preallocated buffer and written with fs.writeSync when it fills,
 *   on flush() (also every `flushIntervalMs` by an unref'd timer) and on close(). A write moves
 *   at most `bufferBytes` (default 1 MiB, page-cache speed), so the event loop never waits long.
 * - Every block is written whole, so the file is a valid capture after any flush, including one
 *   cut short by a limit: tshark and Wireshark read it to the last packet.
 * - Limits: the file never grows past `maxBytes` (default 100 MB) and never holds more than
 *   `maxPackets` (default 1,000,000) packets. The first packet that would cross a limit is not
 *   written; the writer flushes, closes the file and reports `stopped`. A failed write (ENOSPC,
 *   EIO) stops it too (`write-error`). writePacket() never throws.
 * - Timestamps are microseconds since the epoch (if_tsresol 6, written in every IDB). Each EPB
 *   may carry epb_flags (§4.3.1) with the packet's direction (EPB_INBOUND / EPB_OUTBOUND):
 *   Wireshark shows it as frame.packet_flags_direction.
 *
 * Not here: reading pcapng, several sections, other link types than Ethernet, name resolution
 * blocks. Block layouts: draft-ietf-opsawg-pcapng §4.1 (SHB), §4.2 (IDB), §4.3 (EPB).
 */
import * as fs from 'node:fs';
import { TapvsError } from '../errors.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** LINKTYPE_ETHERNET (tcpdump.org link-layer header types). */
const LINKTYPE_ETHERNET = 1;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const EPB_FLAGS = 2;
/** epb_flags bits 0-1, the direction: 01 inbound, 10 outbound (00: not known). */
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
/** Block type, block length, interface id, timestamp (2 words), captured and original length. */
const EPB_HEADER = 28;
/** opt_comment header + opt_endofopt. */
const EPB_OPTS_OVERHEAD = 4 + 4;
/** epb_flags: a 4-byte option with its header. */
const EPB_FLAGS_BYTES = 8;

export const DEFAULT_MAX_BYTES = 100_000_000;
export const DEFAULT_MAX_PACKETS = 1_000_000;
/** tcpdump's default snapshot length: whole frames, including 64 KB GSO super-frames. */
export const DEFAULT_SNAPLEN = 262_144;
export const MAX_SNAPLEN = 1 << 20;
/** Longer comments are cut (at a character boundary): a comment explains, it does not carry data. */
const MAX_COMMENT_BYTES = 4096;

export type PcapngStopReason = 'size-limit' | 'count-limit' | 'write-error';

export interface PcapngInterface {
  /** if_name, e.g. "ext rx". */
  name: string;
  /** if_description, free text. */
  description?: string;
}

export interface PcapngOptions {
  /** One IDB each; EPBs name them by index. */
  interfaces: PcapngInterface[];
  snaplen?: number;
  maxBytes?: number;
  maxPackets?: number;
  /** Size of the write buffer; at least one whole block at `snaplen`. */
  bufferBytes?: number;
  /** Pending blocks reach the file at least this often (0: only when the buffer fills). */
  flushIntervalMs?: number;
  /** shb_userappl. */
  application?: string;
}

export class PcapngWriter {
  readonly path: string;
  readonly snaplen: number;
  readonly maxBytes: number;
  readonly maxPackets: number;
  readonly interfaceCount: number;
  private readonly buf: Buffer;
  private readonly dv: DataView;
  private used = 0;
  private fd: number;
  private timer: NodeJS.Timeout | null = null;
  /** Packets written (or buffered to be written). */
  packets = 0;
  /** File size once everything buffered is flushed, headers included. */
  bytes = 0;
  stopped: PcapngStopReason | null = null;
  /** The error behind `write-error`. */
  error: Error | null = null;

  /** Creates (truncates) the file, mode 0600: frames may carry secrets. Throws TapvsError on bad options or an unusable path. */
  constructor(path: string, opts: PcapngOptions) {
    this.path = path;
    this.snaplen = positiveInt('snaplen', opts.snaplen ?? DEFAULT_SNAPLEN, MAX_SNAPLEN);
    this.maxBytes = positiveLimit('maxBytes', opts.maxBytes ?? DEFAULT_MAX_BYTES);
    this.maxPackets = positiveLimit('maxPackets', opts.maxPackets ?? DEFAULT_MAX_PACKETS);
    if (opts.interfaces.length === 0) throw new TapvsError('BAD_ARGUMENT', 'pcapng: at least one interface is needed');
    this.interfaceCount = opts.interfaces.length;
    const minBuf = EPB_HEADER + pad4(this.snaplen) + EPB_FLAGS_BYTES + EPB_OPTS_OVERHEAD + MAX_COMMENT_BYTES + 4;
    this.buf = Buffer.alloc(Math.max(opts.bufferBytes ?? 1 << 20, minBuf));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    try {
      this.fd = fs.openSync(path, 'w', 0o600);
    } catch (e) {
      throw new TapvsError('BAD_ARGUMENT', `cannot create trace file ${path}: ${(e as Error).message}`, { cause: e });
    }
    this.writeSectionHeader(opts.application ?? 'tapvs');
    for (const itf of opts.interfaces) this.writeInterface(itf);
    // The headers reach the file at once, so even a trace that sees no packet is readable.
    this.flush();
    const every = opts.flushIntervalMs ?? 1000;
    if (every > 0 && this.stopped === null) {
      this.timer = setInterval(() => this.flush(), every);
      this.timer.unref();
    }
  }

  /** True until a limit, a write error or close(). */
  get open(): boolean {
    return this.fd >= 0;
  }

  /**
   * Appends one Enhanced Packet Block: a frame of `len` bytes at u8[off] on interface `ifIndex`,
   * of which `capLen` are present (default all), cut to the snaplen; stamped `tsMs` (milliseconds
   * since the epoch, fractions kept to the microsecond), with `comment` as opt_comment and
   * `flags` (non-zero) as epb_flags. Returns false when nothing was written (closed, bad
   * interface, or a limit reached now or before).
   */
  writePacket(
    ifIndex: number,
    u8: Uint8Array,
    off: number,
    len: number,
    tsMs: number,
    comment: string | null,
    capLen: number = len,
    flags = 0,
  ): boolean {
    if (this.fd < 0) return false;
    if (ifIndex < 0 || ifIndex >= this.interfaceCount || off < 0) return false;
    if (this.packets >= this.maxPackets) {
      this.stop('count-limit');
      return false;
    }
    const cap = Math.max(0, Math.min(capLen, len, this.snaplen, u8.length - off));
    // The comment is encoded straight into the buffer; the worst case is reserved up front.
    const hasComment = comment !== null && comment.length > 0;
    const worst = EPB_HEADER + pad4(cap) + EPB_FLAGS_BYTES + EPB_OPTS_OVERHEAD + MAX_COMMENT_BYTES + 4;
    if (this.used + worst > this.buf.length) {
      this.flush();
      if (this.fd < 0) return false;
    }
    const start = this.used,
      dv = this.dv,
      buf = this.buf;
    let p = start + EPB_HEADER;
    buf.set(u8.subarray(off, off + cap), p);
    p += cap;
    while ((p & 3) !== 0) buf[p++] = 0;
    if (hasComment) {
      const n = buf.write(comment, p + 4, MAX_COMMENT_BYTES, 'utf8');
      dv.setUint16(p, OPT_COMMENT, true);
      dv.setUint16(p + 2, n, true);
      p += 4 + n;
      while ((p & 3) !== 0) buf[p++] = 0;
    }
    if (flags !== 0) {
      dv.setUint16(p, EPB_FLAGS, true);
      dv.setUint16(p + 2, 4, true);
      dv.setUint32(p + 4, flags >>> 0, true);
      p += EPB_FLAGS_BYTES;
    }
    if (hasComment || flags !== 0) {
      dv.setUint32(p, OPT_ENDOFOPT, true); // code 0, length 0
      p += 4;
    }
    const blockLen = p + 4 - start;
    if (this.bytes + blockLen > this.maxBytes) {
      this.stop('size-limit');
      return false;
    }
    const us = Math.round(tsMs * 1000);
    const hi = Math.floor(us / 0x1_0000_0000);
    dv.setUint32(start, PCAPNG_EPB, true);
    dv.setUint32(start + 4, blockLen, true);
    dv.setUint32(start + 8, ifIndex, true);
    dv.setUint32(start + 12, hi >>> 0, true);
    dv.setUint32(start + 16, (us - hi * 0x1_0000_0000) >>> 0, true);
    dv.setUint32(start + 20, cap, true);
    dv.setUint32(start + 24, len, true);
    dv.setUint32(p, blockLen, true);
    this.used = p + 4;
    this.bytes += blockLen;
    this.packets++;
    return true;
  }

  /** Writes the buffered blocks to the file. Never throws: a failed write stops the writer. */
  flush(): void {
    if (this.fd < 0 || this.used === 0) return;
    let done = 0;
    try {
      while (done < this.used) done += fs.writeSync(this.fd, this.buf, done, this.used - done);
    } catch (e) {
      this.error = e as Error;
      this.used = 0;
      this.stop('write-error');
      return;
    }
    this.used = 0;
  }

  /** Flushes and closes the file. Idempotent. */
  close(): void {
    this.flush();
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* the data was written; nothing left to save */
      }
      this.fd = -1;
    }
  }

  private stop(reason: PcapngStopReason): void {
    if (this.stopped === null) this.stopped = reason;
    this.close();
  }

  private writeSectionHeader(application: string): void {
    const start = this.used,
      dv = this.dv;
    dv.setUint32(start, PCAPNG_SHB, true);
    dv.setUint32(start + 8, PCAPNG_BYTE_ORDER_MAGIC, true);
    dv.setUint16(start + 12, 1, true); // major version
    dv.setUint16(start + 14, 0, true); // minor version
    dv.setInt32(start + 16, -1, true); // section length unknown (64-bit -1)
    dv.setInt32(start + 20, -1, true);
    let p = this.stringOption(start + 24, SHB_USERAPPL, application);
    p = this.endOptions(p);
    this.finishBlock(start, p);
  }

  private writeInterface(itf: PcapngInterface): void {
    const start = this.used,
      dv = this.dv;
    dv.setUint32(start, PCAPNG_IDB, true);
    dv.setUint16(start + 8, LINKTYPE_ETHERNET, true);
    dv.setUint16(start + 10, 0, true);
    dv.setUint32(start + 12, this.snaplen, true);
    let p = this.stringOption(start + 16, IF_NAME, itf.name);
    if (itf.description !== undefined) p = this.stringOption(p, IF_DESCRIPTION, itf.description);
    // if_tsresol 6 (10^-6 s) is the default; written anyway so readers need not assume it.
    dv.setUint16(p, IF_TSRESOL, true);
    dv.setUint16(p + 2, 1, true);
    dv.setUint32(p + 4, 6, true);
    p = this.endOptions(p + 8);
    this.finishBlock(start, p);
  }

  private stringOption(p: number, code: number, text: string): number {
    const n = this.buf.write(text, p + 4, 1024, 'utf8');
    this.dv.setUint16(p, code, true);
    this.dv.setUint16(p + 2, n, true);
    p += 4 + n;
    while ((p & 3) !== 0) this.buf[p++] = 0;
    return p;
  }

  private endOptions(p: number): number {
    this.dv.setUint32(p, OPT_ENDOFOPT, true);
    return p + 4;
  }

  /** Writes the block length at both ends; header blocks count against maxBytes too. */
  private finishBlock(start: number, p: number): void {
    const blockLen = p + 4 - start;
    this.dv.setUint32(start + 4, blockLen, true);
    this.dv.setUint32(p, blockLen, true);
    this.used = p + 4;
    this.bytes += blockLen;
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function positiveInt(what: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new TapvsError('BAD_ARGUMENT', `${what} must be an integer from 1 to ${max}, not ${v}`);
  }
  return v;
}

/** A limit: a positive integer, or Infinity for none. */
export function positiveLimit(what: string, v: number): number {
  if (v === Infinity) return v;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new TapvsError('BAD_ARGUMENT', `${what} must be a positive integer, not ${v}`);
  }
  return v;
}
