/**
 * The health checks of a running tapvsd, as the bench counts them: how many checkers, how many
 * up, and how many checks they have run in all (`tapvsd status --json`, its `health` part,
 * present only with --keepalived). Two readings some seconds apart give the checks per second.
 */
import { LAB, run } from '../../lab/lab-lib.js';

export interface CheckCounts {
  readonly checkers: number;
  readonly up: number;
  /** Sum of every checker's checksRun. */
  readonly checksRun: number;
  /** When the reading came back (ms, Date.now()). */
  readonly atMs: number;
}

/** The `health` part of `tapvsd status --json`, as far as the bench reads it. */
export interface HealthJson {
  readonly checkers: readonly { readonly state: 'up' | 'down'; readonly checksRun: number }[];
}

/** Counts from the `health` part of a status reply. */
export function countChecks(h: HealthJson, atMs: number): CheckCounts {
  let up = 0;
  let checksRun = 0;
  for (const c of h.checkers) {
    if (c.state === 'up') up++;
    checksRun += c.checksRun;
  }
  return { checkers: h.checkers.length, up, checksRun, atMs };
}

/** Asks the running tapvsd; throws when it does not answer or runs no health checks. */
export async function readCheckCounts(tapvsdJs: string): Promise<CheckCounts> {
  const r = await run(process.execPath, [tapvsdJs, 'status', '--json', '--socket', LAB.socket], { timeoutMs: 10_000 });
  const atMs = Date.now();
  if (r.code !== 0) throw new Error(`tapvsd status --json: exit ${r.code}: ${r.stderr.trim()}`);
  const health = (JSON.parse(r.stdout) as { health?: HealthJson }).health;
  if (health === undefined) throw new Error('tapvsd status --json shows no health checks');
  return countChecks(health, atMs);
}

/** Checks per second between two readings. */
export function checksPerSecond(a: CheckCounts, b: CheckCounts): number {
  return ((b.checksRun - a.checksRun) * 1000) / Math.max(1, b.atMs - a.atMs);
}

/** "1000 checkers, 1000 up, 61234 checks run" */
export function describeChecks(c: CheckCounts): string {
  return `${c.checkers} checkers, ${c.up} up, ${c.checksRun} checks run`;
}
