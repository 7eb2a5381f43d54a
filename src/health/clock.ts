/**
 * Time as the health-check engine sees it: a wall clock for "when did this change" and one-shot
 * timers for "run the next check in N ms". Injected, so unit tests drive the engine in virtual
 * time (test/helpers/virtual-clock.ts) and never sleep.
 *
 * Timers are one-shot, like keepalived's thread_add_timer(): every check schedules its successor
 * when it completes.
 */

/** An opaque timer handle: whatever setTimer returned, handed back to clearTimer. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch (shown in status and used for MISC_CHECK's start-to-start delay). */
  now(): number;
  /** Runs `fn` once after `delayMs` (0: as soon as possible, after the current task). */
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The process's clock and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
