/**
 * A Clock for synchronous loops such as the fuzzer: the time is the caller's (a director's
 * virtual `now`), and timers run only when the loop calls runDue(), in time order (ties in the
 * order they were set). VirtualClock (virtual-clock.ts) does the same for async tests.
 */
import type { Clock, TimerHandle } from '../../src/health/clock.js';

export class StepClock implements Clock {
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(private readonly time: () => number) {}

  now(): number {
    return this.time();
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time() + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Runs every timer due by now (timers set meanwhile included, when due). Bounded: 10,000 per call. */
  runDue(): void {
    const now = this.time();
    for (let n = 0; n < 10_000; n++) {
      let id = -1;
      let at = Number.POSITIVE_INFINITY;
      for (const [k, t] of this.timers) if (t.at <= now && t.at < at) [id, at] = [k, t.at];
      if (id < 0) return;
      const t = this.timers.get(id)!;
      this.timers.delete(id);
      t.fn();
    }
  }
}
