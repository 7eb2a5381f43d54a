/**
 * The director's CPU with no traffic, in two windows after the warm-up, before the timed loads:
 * the first IDLE_FIRST_SECONDS right after it (what is still running then: optimising compiles of
 * the code the warm-up made hot, the garbage collection it left due), and IDLE_SECONDS starting
 * IDLE_SETTLE_SECONDS later, when that is done: the idle CPU a director keeps costing, its timers.
 * With health checks, the difference in the settled window is what the checks cost
 * (bench/README.md, "Health checks' cost"); their count is read just before and just after that
 * window, outside it, so building the status reply is not counted.
 */
import { type CpuUse, cpuSample, sleep } from './sys.js';
import { type CheckCounts, checksPerSecond } from './tapvsd-health.js';

/** The window right after the warm-up. */
export const IDLE_FIRST_SECONDS = 5;
/** From the warm-up's end to the settled window (tapvsd's own transient ends within ~20 s). */
export const IDLE_SETTLE_SECONDS = 20;
/** The settled window. */
export const IDLE_SECONDS = 10;

export interface IdleSample {
  /** The settled window: what the report calls idle CPU. */
  readonly cpu: CpuUse;
  /** The IDLE_FIRST_SECONDS right after the warm-up. */
  readonly first: CpuUse;
  /** Health checks per second over the settled window, or null when the variant runs none. */
  readonly checksPerS: number | null;
  /** The checkers at the end of the window, or null. */
  readonly checks: CheckCounts | null;
}

/** Samples `directorPid`'s CPU in both windows of no traffic. */
export async function idleCpu(
  directorPid: number | null,
  readChecks: (() => Promise<CheckCounts>) | null,
): Promise<IdleSample> {
  const t0 = Date.now();
  const firstDone = cpuSample(directorPid);
  await sleep(IDLE_FIRST_SECONDS * 1000);
  const first = firstDone();
  await sleep(Math.max(0, t0 + IDLE_SETTLE_SECONDS * 1000 - Date.now()));
  const before = readChecks !== null ? await readChecks() : null;
  const done = cpuSample(directorPid);
  await sleep(IDLE_SECONDS * 1000);
  const cpu = done();
  const after = readChecks !== null ? await readChecks() : null;
  return {
    cpu,
    first,
    checksPerS: before !== null && after !== null ? checksPerSecond(before, after) : null,
    checks: after,
  };
}
