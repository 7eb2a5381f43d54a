/**
 * One probe attempt as a settle-once state: every probe runs inside `runAttempt`, which gives it a
 * deadline it can re-arm (connect_timeout per connect and per read), a list of cleanups that run on
 * every path (sockets closed, timers cleared, children reaped), the AbortSignal turned into the
 * failure "aborted", and a catch-all so that a probe never throws: a bug becomes a failed result
 * with a reason instead of a rejected promise in the engine.
 *
 * Failure reasons carry the checker type ("TCP_CHECK: connection refused"); what a passing probe
 * saw does not ("connected", "status 200"), as the contract in check.ts shows.
 */
import type { CheckResult } from './check.js';

export class Attempt {
  private settled = false;
  private readonly cleanups: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private abortHandler: (() => void) | null = null;

  constructor(
    /** The checker type that prefixes failure reasons. */
    readonly type: string,
    private readonly resolve: (result: CheckResult) => void,
  ) {}

  /** True once a result is in: later events (a late reply, a second error) are ignored. */
  get done(): boolean {
    return this.settled;
  }

  /** Runs `cleanup` when the attempt ends, whichever way it ends (now if it already has). */
  defer(cleanup: () => void): void {
    if (this.settled) runQuietly(cleanup);
    else this.cleanups.push(cleanup);
  }

  /** (Re)arms the attempt's single deadline: `onExpiry` runs if `ms` pass before the next call. */
  deadline(ms: number, onExpiry: () => void): void {
    this.clearDeadline();
    if (this.settled) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.settled) this.guard(onExpiry);
    }, ms);
  }

  clearDeadline(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Replaces the default abort (settle "aborted" at once) for probes that must wind something
   * down first: MISC_CHECK settles only once its process group is gone.
   */
  onAbort(handler: () => void): void {
    this.abortHandler = handler;
  }

  abort(): void {
    if (this.settled) return;
    if (this.abortHandler !== null) this.guard(this.abortHandler);
    else this.settle({ ok: false, reason: 'aborted' });
  }

  pass(reason: string, exitStatus?: number | null): void {
    this.settle(exitStatus === undefined ? { ok: true, reason } : { ok: true, reason, exitStatus });
  }

  fail(reason: string, exitStatus?: number | null): void {
    const prefixed = `${this.type}: ${reason}`;
    this.settle(
      exitStatus === undefined ? { ok: false, reason: prefixed } : { ok: false, reason: prefixed, exitStatus },
    );
  }

  /** Settles with `result` as given (the abort path uses it for the bare "aborted"). */
  settle(result: CheckResult): void {
    if (this.settled) return;
    this.settled = true;
    this.clearDeadline();
    for (let i = this.cleanups.length - 1; i >= 0; i--) runQuietly(this.cleanups[i]);
    this.cleanups.length = 0;
    this.resolve(result);
  }

  /** Runs a callback of the probe; whatever it throws fails the attempt instead of escaping. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(`internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function runQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // A cleanup that fails (a socket already destroyed) must not stop the others.
  }
}

/**
 * Runs one probe. `body` starts the work and reports through the Attempt; the promise resolves
 * once, with the first result, and never rejects.
 */
export function runAttempt(type: string, signal: AbortSignal, body: (a: Attempt) => void): Promise<CheckResult> {
  return new Promise((resolve) => {
    const a = new Attempt(type, resolve);
    if (signal.aborted) {
      a.abort();
      return;
    }
    const onAbort = (): void => a.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    a.defer(() => signal.removeEventListener('abort', onAbort));
    a.guard(() => body(a));
  });
}

/** connect_timeout for reasons: 3000 -> "3 s", 1500 -> "1.5 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
