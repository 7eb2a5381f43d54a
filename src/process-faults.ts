/**
 * What tapvsd does with an exception nothing caught ('uncaughtException', 'unhandledRejection'):
 * it logs it (rate-limited), counts it (status `uncaughtExceptions`/`unhandledRejections`, metric
 * tapvs_uncaught_exceptions_total) and keeps running.
 *
 * Why not exit, as Node's documentation advises? The connection table and every NAT mapping live
 * in this process: exiting breaks every connection through the director, a certain outage, to
 * avoid a possible one. What can still get here is not the packet path (the batch loop catches
 * its own faults per frame, see dataplane/frame-faults.ts) but one control-plane callback (a
 * socket handler, a timer, a health check), whose half-done work is confined to that operation.
 * State may still be wrong after it, so the counter is there to alert on: an operator restarts at
 * a chosen time (with a second director and connection sync, without losing connections). A storm
 * of faults costs a few log lines a minute, not one per fault.
 */
import type { FrameFault } from './dataplane/frame-faults.js';
import { log } from './log.js';

/** Log lines per minute at most (the counters see every fault). */
const LINES_PER_MIN = 10;

export const processFaults = {
  uncaughtExceptions: 0,
  unhandledRejections: 0,
  /** Faults not logged because of the rate limit. */
  suppressed: 0,
};

let windowStartMs = 0;
let linesInWindow = 0;
let suppressedInWindow = 0;

/** True when one more line may be logged now (a fixed one-minute window). */
function faultLogAllowed(nowMs: number): boolean {
  if (nowMs - windowStartMs >= 60_000) {
    if (suppressedInWindow > 0)
      log('error', 'faults left out of the log in the last minute', { suppressed: suppressedInWindow });
    windowStartMs = nowMs;
    linesInWindow = 0;
    suppressedInWindow = 0;
  }
  if (linesInWindow >= LINES_PER_MIN) {
    processFaults.suppressed++;
    suppressedInWindow++;
    return false;
  }
  linesInWindow++;
  return true;
}

/** Installs the handlers (once, in the daemon). */
export function installProcessFaultHandlers(): void {
  process.on('uncaughtException', (e) => {
    processFaults.uncaughtExceptions++;
    if (faultLogAllowed(Date.now()))
      log('error', 'uncaught exception: kept running (docs/robustness.md)', {
        count: processFaults.uncaughtExceptions,
        error: e.stack ?? String(e),
      });
  });
  process.on('unhandledRejection', (e) => {
    processFaults.unhandledRejections++;
    if (faultLogAllowed(Date.now()))
      log('error', 'unhandled rejection: kept running', {
        count: processFaults.unhandledRejections,
        error: e instanceof Error ? (e.stack ?? String(e)) : String(e),
      });
  });
}

/** The dataplane's reporter (Dataplane.faults): one error line per fault, with the frame's trace. */
export function logFrameFault(f: FrameFault): void {
  if (f.frame === '' && f.length === 0) {
    log('error', 'dataplane exception after the frames of a batch', {
      link: f.link,
      suppressed: f.suppressed,
      error: f.error,
    });
    return;
  }
  log('error', 'dataplane exception: frame dropped, forwarding goes on', {
    link: f.link,
    frame: f.frame,
    length: f.length,
    hex: f.hex,
    suppressed: f.suppressed,
    error: f.error,
  });
}
