/**
 * Packet tracing for debugging: the director records the frames a capture filter selects, on
 * every link and in both directions, each with a comment saying what it decided ("NAT in: ...",
 * "drop: bad_checksum"), to a pcapng file (one interface per link and direction, e.g. "ext rx",
 * "int tx") and/or as tcpdump-like lines to a live callback.
 *
 * Contract for the dataplane (the way IPVS's IP_VS_DBG sits behind a test):
 * - Nothing is built per packet unless `tracer !== null && tracer.active && tracer.matches(...)`;
 *   matches() reads bytes and compares numbers, allocating nothing.
 * - record() writes a frame as it is now. hold() copies a frame that is about to be rewritten in
 *   place (NAT, echo reply) and release(comment) writes it once the verdict is known; frames
 *   record()ed in between are staged and written after it, so the file reads in causal order
 *   (ext rx, then the int tx it caused). While `holding`, the dataplane should record the frames
 *   it sends even if they do not match the filter: NAT changes the addresses the filter saw.
 * - Limits (maxBytes of file, or of frames without a file; maxPackets) end the trace:
 *   `active` turns false and `stopped` says why. A failed write or a throwing live callback ends
 *   it too. record(), hold() and release() never throw.
 *
 * Not here: deciding what to trace (the control path), rate-limiting live output, decoding
 * beyond one line (open the pcapng in tshark: the comments are `frame.comment`).
 */
import { TapvsError } from '../errors.js';
import { formatIpv4 } from '../packet/ipv4.js';
import { describeFrame } from './describe.js';
import { CaptureFilter } from './filter.js';
import type { PcapngStopReason } from './pcapng.js';
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_PACKETS,
  DEFAULT_SNAPLEN,
  EPB_INBOUND,
  EPB_OUTBOUND,
  MAX_SNAPLEN,
  PcapngWriter,
  positiveInt,
  positiveLimit,
} from './pcapng.js';

/** Direction of a traced frame on its link. */
export const TRACE_RX = 0;
export const TRACE_TX = 1;
export type TraceDir = 0 | 1;

export type TraceStopReason = PcapngStopReason | 'live-error';

export interface TracerOptions {
  /** The director's links in dataplane order (Port.index); names label interfaces and lines. */
  links: Array<{ name: string }>;
  /** pcapng output path (created or truncated, mode 0600). */
  file?: string;
  /** Receives one line per frame: `<time> <link> <rx|tx> <describeFrame> [| <comment>]`. */
  live?: (line: string) => void;
  /** Capture filter, a tcpdump expression (see filter.ts); empty or absent: every frame. */
  filter?: string;
  /** Only this link's frames (dataplane index; tcpdump's -i); absent: every link. */
  link?: number;
  /**
   * 'frame' (default): each frame is stamped when it is recorded, to the microsecond, by a
   * monotonic clock (performance.now()) anchored to the wall clock when the trace starts.
   * 'caller': the nowMs the dataplane passes (one clock read per batch) is used as given.
   * Either way the stamps written strictly increase (by 1 µs where the clock did not move).
   */
  clock?: 'frame' | 'caller';
  /** Default 100 MB: the file's size, or the frames' bytes without a file. */
  maxBytes?: number;
  /** Default 1,000,000. */
  maxPackets?: number;
  /** Bytes kept of each frame; default 262144 (whole frames). */
  snaplen?: number;
}

export interface TraceSummary {
  packets: number;
  bytes: number;
  file?: string;
  stopped?: TraceStopReason;
}

export interface TraceStatus extends TraceSummary {
  active: boolean;
  filter: string;
  links: string[];
  maxBytes: number;
  maxPackets: number;
  snaplen: number;
  live: boolean;
}

/** Frames staged behind one held frame; more are written at once (out of causal order). */
const MAX_STAGED = 32;

export class Tracer {
  readonly file: string | null;
  readonly snaplen: number;
  readonly maxBytes: number;
  readonly maxPackets: number;
  /** The one link traced (-i), or -1 for all. */
  readonly link: number;
  private readonly links: string[];
  private readonly callerClock: boolean;
  /** Wall clock minus performance.now() when the trace started (ms). */
  private readonly clockOffset: number;
  /** The last stamp written (µs since the epoch), so the next is later. */
  private lastUs = 0;
  private readonly filter: CaptureFilter;
  private readonly writer: PcapngWriter | null;
  private readonly live: ((line: string) => void) | null;
  private on = true;
  private stoppedReason: TraceStopReason | null = null;
  private packets = 0;
  /** Frame bytes recorded (the size measure without a file). */
  private frameBytes = 0;
  // The held frame and the frames staged behind it, copied into `stage` back to back.
  private stage: Buffer | null = null;
  private stageUsed = 0;
  private staged = 0;
  private readonly sLink = new Int32Array(MAX_STAGED + 1);
  private readonly sDir = new Int32Array(MAX_STAGED + 1);
  private readonly sOff = new Int32Array(MAX_STAGED + 1);
  private readonly sCap = new Int32Array(MAX_STAGED + 1);
  private readonly sLen = new Int32Array(MAX_STAGED + 1);
  private readonly sMs = new Float64Array(MAX_STAGED + 1);
  private readonly sComment: Array<string | null> = new Array<string | null>(MAX_STAGED + 1).fill(null);

  /** Validates everything before creating the file. Throws TapvsError('BAD_ARGUMENT'). */
  constructor(opts: TracerOptions) {
    if (opts.links.length === 0) throw new TapvsError('BAD_ARGUMENT', 'a trace needs at least one link');
    if (opts.file === undefined && opts.live === undefined) {
      throw new TapvsError('BAD_ARGUMENT', 'a trace needs a pcapng file, a live output or both');
    }
    this.links = opts.links.map((l) => l.name);
    this.snaplen = positiveInt('snaplen', opts.snaplen ?? DEFAULT_SNAPLEN, MAX_SNAPLEN);
    this.filter = new CaptureFilter(opts.filter ?? '', this.snaplen);
    const link = opts.link ?? -1;
    if (!Number.isInteger(link) || link < -1 || link >= this.links.length) {
      throw new TapvsError('BAD_ARGUMENT', `trace: no link ${link}`);
    }
    this.link = link;
    this.callerClock = opts.clock === 'caller';
    this.clockOffset = Date.now() - performance.now();
    this.maxBytes = positiveLimit('maxBytes', opts.maxBytes ?? DEFAULT_MAX_BYTES);
    this.maxPackets = positiveLimit('maxPackets', opts.maxPackets ?? DEFAULT_MAX_PACKETS);
    this.live = opts.live ?? null;
    this.file = opts.file ?? null;
    this.writer =
      opts.file === undefined
        ? null
        : new PcapngWriter(opts.file, {
            interfaces: this.links.flatMap((name) => [
              { name: `${name} rx`, description: `tapvs link ${name}: frames received` },
              { name: `${name} tx`, description: `tapvs link ${name}: frames sent` },
            ]),
            snaplen: this.snaplen,
            maxBytes: this.maxBytes,
            maxPackets: this.maxPackets,
          });
  }

  /** False after stop(), a limit or a write error. */
  get active(): boolean {
    return this.on;
  }

  /** True between hold() and release(). */
  get holding(): boolean {
    return this.staged > 0;
  }

  /** The capture filter (BPF). Allocation-free; call it before building any comment. */
  matches(u8: Uint8Array, off: number, len: number): boolean {
    return this.filter.match(u8, off, len);
  }

  /** The frame's time: the per-frame clock, or the caller's (see TracerOptions.clock). */
  private stamp(nowMs: number): number {
    return this.callerClock ? nowMs : this.clockOffset + performance.now();
  }

  /**
   * Records the Ethernet frame u8[off, off+len) seen on link `link` (dataplane index) in `dir`,
   * with an optional comment, stamped nowMs (ms since the epoch; fractions kept to the µs).
   * While a frame is held, it is staged and written after the held one.
   */
  record(
    link: number,
    dir: TraceDir,
    u8: Uint8Array,
    off: number,
    len: number,
    comment: string | null,
    nowMs: number,
  ): void {
    if (!this.on || (this.link >= 0 && link !== this.link)) return;
    const ms = this.stamp(nowMs);
    if (this.staged > 0 && this.stageFrame(link, dir, u8, off, len, comment, ms)) return;
    this.emit(link, dir, u8, off, len, len, comment, ms);
  }

  /**
   * Copies a frame that is about to be rewritten in place; release() writes it with the verdict.
   * A frame still held is released first, without a comment.
   */
  hold(link: number, dir: TraceDir, u8: Uint8Array, off: number, len: number, nowMs: number): void {
    if (!this.on || (this.link >= 0 && link !== this.link)) return;
    if (this.staged > 0) this.release(null);
    this.stageFrame(link, dir, u8, off, len, null, this.stamp(nowMs));
  }

  /** Writes the held frame with `comment`, then the frames staged behind it. */
  release(comment: string | null): void {
    const n = this.staged,
      stage = this.stage;
    if (n === 0 || stage === null) return;
    this.sComment[0] = comment;
    this.staged = 0;
    this.stageUsed = 0;
    for (let i = 0; i < n && this.on; i++) {
      this.emit(
        this.sLink[i],
        this.sDir[i] as TraceDir,
        stage,
        this.sOff[i],
        this.sCap[i],
        this.sLen[i],
        this.sComment[i],
        this.sMs[i],
      );
    }
    for (let i = 0; i < n; i++) this.sComment[i] = null;
  }

  /** Writes buffered blocks to the file now (they also go every second and on stop). */
  flush(): void {
    this.writer?.flush();
  }

  /** Ends the trace (a held frame is written first) and closes the file. Idempotent. */
  stop(): TraceSummary {
    if (this.on) {
      this.release(null);
      this.on = false;
    }
    this.writer?.close();
    return this.summary();
  }

  status(): TraceStatus {
    return {
      ...this.summary(),
      active: this.on,
      filter: this.filter.text,
      links: this.link >= 0 ? [this.links[this.link]] : this.links.slice(),
      maxBytes: this.maxBytes,
      maxPackets: this.maxPackets,
      snaplen: this.snaplen,
      live: this.live !== null,
    };
  }

  private summary(): TraceSummary {
    const s: TraceSummary = {
      packets: this.packets,
      bytes: this.writer !== null ? this.writer.bytes : this.frameBytes,
    };
    if (this.file !== null) s.file = this.file;
    if (this.stoppedReason !== null) s.stopped = this.stoppedReason;
    return s;
  }

  /** Copies a frame into the staging area; false when it is full (the caller writes at once). */
  private stageFrame(
    link: number,
    dir: TraceDir,
    u8: Uint8Array,
    off: number,
    len: number,
    comment: string | null,
    nowMs: number,
  ): boolean {
    const i = this.staged;
    if (i > MAX_STAGED) return false;
    const avail = u8.length - off;
    const cap = Math.max(0, Math.min(len, this.snaplen, avail));
    if (this.stage === null) this.stage = Buffer.alloc(Math.max(1 << 16, 2 * this.snaplen));
    const stage = this.stage;
    if (this.stageUsed + cap > stage.length) return false;
    stage.set(u8.subarray(off, off + cap), this.stageUsed);
    this.sLink[i] = link;
    this.sDir[i] = dir;
    this.sOff[i] = this.stageUsed;
    this.sCap[i] = cap;
    this.sLen[i] = len;
    this.sMs[i] = nowMs;
    this.sComment[i] = comment;
    this.stageUsed += cap;
    this.staged = i + 1;
    return true;
  }

  /** Writes one frame (cap bytes present of len) to the file and the live output. */
  private emit(
    link: number,
    dir: TraceDir,
    u8: Uint8Array,
    off: number,
    cap: number,
    len: number,
    comment: string | null,
    nowMs: number,
  ): void {
    if (link < 0 || link >= this.links.length) return;
    // Whole microseconds (the file's resolution), strictly increasing in file order, even for
    // frames staged behind a held one.
    let us = Math.round(nowMs * 1000);
    if (us <= this.lastUs) us = this.lastUs + 1;
    this.lastUs = us;
    nowMs = us / 1000;
    const w = this.writer;
    if (w !== null) {
      const flags = dir === TRACE_RX ? EPB_INBOUND : EPB_OUTBOUND;
      if (!w.writePacket(link * 2 + dir, u8, off, len, nowMs, comment, cap, flags)) {
        this.end(w.stopped ?? 'write-error');
        return;
      }
    } else {
      if (this.packets >= this.maxPackets) {
        this.end('count-limit');
        return;
      }
      const kept = Math.min(cap, this.snaplen);
      if (this.frameBytes + kept > this.maxBytes) {
        this.end('size-limit');
        return;
      }
      this.frameBytes += kept;
    }
    this.packets++;
    const live = this.live;
    if (live !== null) {
      try {
        live(traceLine(nowMs, this.links[link], dir === TRACE_RX ? 'rx' : 'tx', u8, off, cap, comment));
      } catch {
        this.end('live-error');
        return;
      }
    }
    // The Nth packet ends a -c N trace at once (not when an N+1th shows up).
    if (this.packets >= this.maxPackets) this.end('count-limit');
  }

  private end(reason: TraceStopReason): void {
    if (this.stoppedReason === null) this.stoppedReason = reason;
    this.on = false;
    this.staged = 0;
    this.stageUsed = 0;
    this.sComment.fill(null);
    this.writer?.close();
  }
}

// ------------------------------------------------------------------ comments

/** "TCP", "UDP", "ICMP" or "proto N". */
export function protoName(proto: number): string {
  return proto === 6 ? 'TCP' : proto === 17 ? 'UDP' : proto === 1 ? 'ICMP' : `proto ${proto}`;
}

/** "192.168.222.131:80" from an int32 address and a port. */
export function formatAddrPort(addr: number, port: number): string {
  return `${formatIpv4(addr)}:${port}`;
}

/** How a scheduler chose a new connection's dest, for natComment. */
export interface SchedNote {
  /** The scheduler's -s name (rr, wlc, ...). */
  name: string;
  /** Why this dest, e.g. destLoad(...)'s "weight 1, active 0, inactive 0". */
  reason: string;
}

/** "weight 1, active 0, inactive 0": a dest's load as schedulers see it. */
export function destLoad(weight: number, activeConns: number, inactConns: number): string {
  return `weight ${weight}, active ${activeConns}, inactive ${inactConns}`;
}

/**
 * The comment of a NATed frame. In (client -> real server, DNAT):
 *   "NAT in: dst 192.168.222.131:80 -> 192.168.2.129:80; conn TCP 192.168.222.1:40000 state
 *    SYN_RECV; new flow scheduled by rr -> 192.168.2.129:80 (weight 1, active 0, inactive 0)"
 * Out (real server -> client, SNAT): "NAT out: src 192.168.2.129:80 -> 192.168.222.131:80; conn
 * TCP 192.168.222.1:40000 state ESTABLISHED". Addresses are int32 (c: client, v: VIP, d: dest).
 */
export function natComment(
  dir: 'in' | 'out',
  proto: number,
  caddr: number,
  cport: number,
  vaddr: number,
  vport: number,
  daddr: number,
  dport: number,
  state: string,
  sched?: SchedNote,
): string {
  return methodComment(0, dir, proto, caddr, cport, vaddr, vport, daddr, dport, caddr, cport, state, sched);
}

/**
 * The comment of a connection's packet by its forwarding method (as ipvs/dest.ts numbers them:
 * 0 NAT, 2 tunnel, 3 route, 5 full NAT): what was kept and what rewritten. DR and TUN have no
 * "out" comment: their replies never pass the director.
 */
export function methodComment(
  fwd: number,
  dir: 'in' | 'out',
  proto: number,
  caddr: number,
  cport: number,
  vaddr: number,
  vport: number,
  daddr: number,
  dport: number,
  laddr: number,
  lport: number,
  state: string,
  sched?: SchedNote,
): string {
  const vip = formatAddrPort(vaddr, vport),
    rip = formatAddrPort(daddr, dport),
    cip = formatAddrPort(caddr, cport);
  let s: string;
  if (fwd === 5) {
    const lip = formatAddrPort(laddr, lport);
    s =
      dir === 'in'
        ? `FULLNAT in: src ${cip} -> ${lip}, dst ${vip} -> ${rip}`
        : `FULLNAT out: src ${rip} -> ${vip}, dst ${lip} -> ${cip}`;
  } else if (fwd === 2 || fwd === 3) {
    s = `${fwd === 2 ? 'TUN' : 'DR'} in: dst ${vip} kept, ${fwd === 2 ? 'tunnelled' : 'frame'} to ${formatIpv4(daddr)}`;
  } else {
    s = dir === 'in' ? `NAT in: dst ${vip} -> ${rip}` : `NAT out: src ${rip} -> ${vip}`;
  }
  s += `; conn ${protoName(proto)} ${cip} state ${state}`;
  if (sched !== undefined) s += `; new flow scheduled by ${sched.name} -> ${rip} (${sched.reason})`;
  return s;
}

/** "drop: bad_checksum", or with detail "drop: no_destination (no dest available for TCP 192.168.222.131:80)". */
export function dropComment(reason: string, detail?: string): string {
  return detail === undefined ? `drop: ${reason}` : `drop: ${reason} (${detail})`;
}

/** "forward: via 192.168.2.1 on int" (next hop int32; the destination itself when on-link). */
export function forwardComment(nextHop: number, link: string): string {
  return `forward: via ${formatIpv4(nextHop)} on ${link}`;
}

/** One live trace line: `<time> <link> <rx|tx> <describeFrame> [| <comment>]` (also `trace -r`'s). */
export function traceLine(
  ms: number,
  link: string,
  dir: string,
  u8: Uint8Array,
  off: number,
  cap: number,
  comment: string | null,
): string {
  const line = `${formatTime(ms)} ${link} ${dir} ${describeFrame(u8, off, cap)}`;
  return comment !== null && comment.length > 0 ? `${line} | ${comment}` : line;
}

/** tcpdump's local time of day with microseconds: "18:53:26.123456". */
export function formatTime(ms: number): string {
  const us = Math.round(ms * 1000);
  const secUs = us % 1_000_000;
  const d = new Date((us - secUs) / 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(secUs).padStart(6, '0')}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
