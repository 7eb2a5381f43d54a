/**
 * Virtual time for the health-check engine's tests: timers run when a test advances the clock,
 * in time order (ties in the order they were set), and promise callbacks (probe results) settle
 * after each timer, so a test of minutes of checking runs in milliseconds and never sleeps.
 */
import type { Clock, TimerHandle } from '../../src/health/clock.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  readonly startMs: number;

  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs;
    this.startMs = startMs;
  }

  now(): number {
    return this.t;
  }

  /** Milliseconds since the clock was made. */
  get elapsed(): number {
    return this.t - this.startMs;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const seq = ++this.seq;
    this.timers.set(seq, { at: this.t + Math.max(0, delayMs), seq, fn });
    return seq;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Timers waiting to run. */
  get pending(): number {
    return this.timers.size;
  }

  /** Runs every timer due within `ms` from now, in order, then sets the clock to now + ms. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: Timer | null = null;
      for (const tm of this.timers.values()) {
        if (tm.at <= end && (next === null || tm.at < next.at || (tm.at === next.at && tm.seq < next.seq))) next = tm;
      }
      if (next === null) break;
      this.timers.delete(next.seq);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await settle();
  }

  /** Advances to `elapsedMs` since the start. */
  async advanceTo(elapsedMs: number): Promise<void> {
    await this.advance(this.startMs + elapsedMs - this.t);
  }
}

/** Lets pending promise callbacks run (a macrotask turn drains the microtask queue). */
export async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
}
