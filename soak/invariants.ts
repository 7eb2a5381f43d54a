/**
 * What a soak run checks about tapvsd from its status and listing, as pure functions over the
 * replies, so the checks themselves are unit-tested (test/unit/soak/invariants.test.ts).
 *
 * - Every received frame ends as exactly one verdict (sent, consumed, or a counted drop reason):
 *   rxFrames = sentVerdicts + consumedVerdicts + Σ drops, per link, at any moment between batches.
 * - The connection table's count equals the sum over listed real servers of ActiveConn +
 *   InActConn + PersistConn, as long as no real server with connections was deleted (the soak's
 *   rule changes never delete one: a deleted server's connections live on unlisted).
 * - Memory is flat after warm-up: the resident set at the end is within a bound of the one
 *   measured just after warm-up.
 */

export interface PortCounters {
  readonly name: string;
  readonly rxFrames: number;
  readonly sentVerdicts: number;
  readonly consumedVerdicts: number;
  readonly drops: readonly number[];
}

/** rxFrames minus every verdict counted: 0 when each frame was accounted for exactly once. */
export function verdictGap(p: PortCounters): number {
  let dropped = 0;
  for (const d of p.drops) dropped += d;
  return p.rxFrames - p.sentVerdicts - p.consumedVerdicts - dropped;
}

export interface ListedDest {
  readonly activeConns: number;
  readonly inactConns: number;
  readonly persistConns: number;
}

/** The table's count minus what the listing attributes to real servers: 0 when they agree. */
export function connSumGap(tableCount: number, services: ReadonlyArray<{ dests: readonly ListedDest[] }>): number {
  let listed = 0;
  for (const s of services) for (const d of s.dests) listed += d.activeConns + d.inactConns + d.persistConns;
  return tableCount - listed;
}

export interface RssSample {
  /** Milliseconds since the soak started. */
  readonly atMs: number;
  readonly rss: number;
}

export interface RssVerdict {
  /** Median of the first three samples after warm-up, bytes. */
  readonly afterWarmup: number;
  /** Median of the last three samples, bytes. */
  readonly atEnd: number;
  /** The allowed end value: afterWarmup × (1 + relSlack) + absSlack. */
  readonly limit: number;
  readonly flat: boolean;
}

function median3(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/**
 * Whether RSS stayed flat after `warmupMs`. Needs at least six samples after warm-up (three to
 * anchor, three to compare); with fewer the verdict is not flat, so a too-short soak cannot pass.
 */
export function rssFlat(
  samples: readonly RssSample[],
  warmupMs: number,
  relSlack = 0.1,
  absSlack = 16 * 1024 * 1024,
): RssVerdict {
  const after = samples.filter((s) => s.atMs >= warmupMs).map((s) => s.rss);
  if (after.length < 6) return { afterWarmup: Number.NaN, atEnd: Number.NaN, limit: Number.NaN, flat: false };
  const afterWarmup = median3(after.slice(0, 3));
  const atEnd = median3(after.slice(-3));
  const limit = afterWarmup * (1 + relSlack) + absSlack;
  return { afterWarmup, atEnd, limit, flat: atEnd <= limit };
}
