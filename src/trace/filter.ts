/**
 * A trace's capture filter: a tcpdump expression (`tcp port 80 and not host 10.0.0.1`, `vlan
 * and (port 53 or portrange 8000-8080)`, ...) compiled by libpcap (bpf-compile.ts) and run as
 * classic BPF over each frame (bpf.ts). The empty expression accepts every frame without
 * running anything.
 *
 * Contract: the constructor compiles or throws TapvsError('BAD_ARGUMENT') with libpcap's
 * message; match() is allocation-free, bounded by the program's length and never throws.
 * The frame a trace filters is the one on the wire of its link at that moment: received frames
 * before the director rewrites them, sent frames as they leave (tracer.ts).
 */
import type { BpfProgram } from './bpf.js';
import { compileFilter } from './bpf-compile.js';

export class CaptureFilter {
  /** The expression, words joined by single spaces ("" for none). */
  readonly text: string;
  /** Null for the empty expression. */
  readonly program: BpfProgram | null;

  constructor(expr: string, snaplen: number) {
    this.text = expr.trim().split(/\s+/).filter(Boolean).join(' ');
    this.program = this.text === '' ? null : compileFilter(this.text, snaplen);
  }

  /** True when the filter is empty and accepts everything. */
  get matchesAll(): boolean {
    return this.program === null;
  }

  /** Does the Ethernet frame u8[off, off+len) pass? `wireLen` (default len) is its length on the wire. */
  match(u8: Uint8Array, off: number, len: number, wireLen: number = len): boolean {
    const p = this.program;
    return p === null || p.run(u8, off, len, wireLen) !== 0;
  }
}
