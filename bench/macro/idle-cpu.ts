/**
 * The director's CPU with no traffic: after the warm-up, before the timed loads, the run waits
 * IDLE_SECONDS and samples the director process's CPU and the machine's. For tapvsd without
 * health checks that is its timers' cost; with them, the difference is what the checks cost
 * (bench/README.md, "Health checks' cost"). When the variant runs health checks, their count is
 * read just before and just after the window: the checks per second the CPU paid for. The
 * readings stay outside the sampled window, so building the status reply is not counted.
 */
import { type CpuUse, cpuSample, sleep } from './sys.js';
import { type CheckCounts, checksPerSecond } from './tapvsd-health.js';

export const IDLE_SECONDS = 5;

export interface IdleSample {
  readonly cpu: CpuUse;
  /** Health checks per second over the window, or null when the variant runs none. */
  readonly checksPerS: number | null;
  /** The checkers at the end of the window, or null. */
  readonly checks: CheckCounts | null;
}

/** Samples `directorPid`'s CPU over IDLE_SECONDS of no traffic. */
export async function idleCpu(
  directorPid: number | null,
  readChecks: (() => Promise<CheckCounts>) | null,
): Promise<IdleSample> {
  const before = readChecks !== null ? await readChecks() : null;
  const done = cpuSample(directorPid);
  await sleep(IDLE_SECONDS * 1000);
  const cpu = done();
  const after = readChecks !== null ? await readChecks() : null;
  return {
    cpu,
    checksPerS: before !== null && after !== null ? checksPerSecond(before, after) : null,
    checks: after,
  };
}
