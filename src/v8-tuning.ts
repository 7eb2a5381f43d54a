/**
 * V8 settings for the per-packet path, applied by tapvsd at start-up and by the in-process
 * benchmarks (so they measure what the daemon runs).
 *
 * The fast path is a chain of small functions (lookups, state machine, counters, checksum
 * updates); with V8's default cumulative inlining budget (920 bytes of bytecode) TurboFan stops
 * inlining part-way and every remaining call costs a frame. A larger budget lets it compile the
 * chain as one function: bench/micro/fastpath.ts measured ~166 -> ~137 ns per packet. At 3000,
 * FastPath.tryNat still called lookupOut, countIn/countOut, csumUpdate32 and the hop cache out of
 * line (--trace-turbo-inlining); it needs about 5000 now, 6000 leaves room (155 -> 141 ns).
 *
 * At a low packet rate the same chain never reached TurboFan: V8 optimises a function after it
 * has used up its interrupt budget (132 KB of executed bytecode by default) a few times, and one
 * frame runs a few hundred bytes of each dataplane function, so at 100 frames/s (issue 14's ping
 * every 10 ms) processBatch, runFrames, the classifier and the host's ICMP echo stayed in
 * Sparkplug baseline code for the whole run (--trace-opt: none optimised after 450 pings). A 2 KB
 * budget optimises them after a few dozen frames; the ping to the VIP went from ~0.236 to
 * ~0.170 ms (docs/dataplane.md, "Waiting for frames"). It applies to every function, but only
 * the ones that keep running get there, and the bulk rate is unchanged (bench/micro/fastpath.ts).
 *
 * The flags only change optimisation decisions, never behaviour, and take effect for functions
 * optimised after the call (the hot path is optimised after warm-up).
 */
import { setFlagsFromString } from 'node:v8';

const V8_TUNING_FLAGS: readonly string[] = ['--max-inlined-bytecode-size-cumulative=6000', '--interrupt-budget=2048'];

export function applyV8Tuning(): void {
  for (const f of V8_TUNING_FLAGS) setFlagsFromString(f);
}
