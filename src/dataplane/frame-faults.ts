/**
 * Exceptions in the packet path: a bug, never bad input (bad input is a Drop reason, STYLE §7).
 * The batch loop catches them, drops the frame being processed (Drop.Exception), counts them and
 * tells the daemon here, which logs one error line per fault with the exception and the frame's
 * trace: a tcpdump-like summary and the hex of its first FAULT_HEX_BYTES bytes. The frame is shown
 * as it was when the exception came, so a NAT rewrite may have been half done.
 *
 * Reports are rate-limited by a token bucket (FAULT_BURST at once, then FAULT_PER_S a second, on
 * the dataplane's batch clock), so a storm of faults (every frame of a flow hitting the same bug)
 * costs a few log lines a second, not one per frame; the next report says how many were left out.
 * The counters see every fault. Everything here runs only after an exception: it may allocate.
 */
import { describeFrame } from '../trace/describe.js';

/** Bytes of the frame shown in hex: Ethernet, IPv4 with options and the TCP header fit in 96. */
export const FAULT_HEX_BYTES = 96;
export const FAULT_BURST = 10;
export const FAULT_PER_S = 1;

/** One fault, as the daemon logs it. */
export interface FrameFault {
  /** The link the frame came in on. */
  readonly link: string;
  /** What threw (its stack when it is an Error). */
  readonly error: string;
  /** The frame: describeFrame()'s line, or '' for a fault outside any frame (the batch's flush). */
  readonly frame: string;
  /** Hex of the frame's first FAULT_HEX_BYTES bytes ('' outside a frame). */
  readonly hex: string;
  /** The frame's length in bytes (0 outside a frame). */
  readonly length: number;
  /** Faults not reported since the last report (the rate limit). */
  readonly suppressed: number;
}

export type FrameFaultReporter = (fault: FrameFault) => void;

export class FrameFaults {
  /** Exceptions caught in batches: frames dropped for one, and faults after the frames (flush). */
  exceptions = 0;
  /** Faults the rate limit kept out of the log. */
  suppressed = 0;
  /** The daemon's logger; null: counted only (tests, benchmarks). */
  reporter: FrameFaultReporter | null = null;
  /** The last fault reported (for tests' messages). */
  last: FrameFault | null = null;
  private tokens = FAULT_BURST;
  private lastMs = -1;
  private pendingSuppressed = 0;

  /** A frame u8[off, off+len) of `link` threw `e` at batch time `nowMs`. */
  frame(link: string, e: unknown, u8: Uint8Array, off: number, len: number, nowMs: number): void {
    this.exceptions++;
    if (!this.allow(nowMs)) return;
    const end = Math.min(off + Math.max(len, 0), u8.length);
    let frame: string;
    try {
      frame = describeFrame(u8, off, len);
    } catch (d) {
      frame = `(undescribable: ${String(d)})`;
    }
    const hex = Buffer.from(u8.buffer, u8.byteOffset + off, Math.max(0, Math.min(FAULT_HEX_BYTES, end - off))).toString(
      'hex',
    );
    this.emit({ link, error: errorText(e), frame, hex, length: len, suppressed: this.takeSuppressed() });
  }

  /** `link`'s batch threw `e` after its frames (flushing, waking the control plane). */
  batch(link: string, e: unknown, nowMs: number): void {
    this.exceptions++;
    if (!this.allow(nowMs)) return;
    this.emit({ link, error: errorText(e), frame: '', hex: '', length: 0, suppressed: this.takeSuppressed() });
  }

  private allow(nowMs: number): boolean {
    if (this.lastMs >= 0 && nowMs > this.lastMs)
      this.tokens = Math.min(FAULT_BURST, this.tokens + ((nowMs - this.lastMs) * FAULT_PER_S) / 1000);
    if (this.lastMs < 0 || nowMs > this.lastMs) this.lastMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.suppressed++;
    this.pendingSuppressed++;
    return false;
  }

  private takeSuppressed(): number {
    const n = this.pendingSuppressed;
    this.pendingSuppressed = 0;
    return n;
  }

  private emit(f: FrameFault): void {
    this.last = f;
    const r = this.reporter;
    if (r === null) return;
    try {
      r(f);
    } catch {
      // A logger that fails must not turn one fault into a second one inside the batch loop.
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
}
