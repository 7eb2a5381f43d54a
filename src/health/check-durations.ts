/**
 * How long health checks take, per checker type, kept as Prometheus histograms (seconds): the
 * engine observes one value per completed attempt; the metrics endpoint reads snapshots when
 * scraped. Buckets run from 5 ms (a TCP connect on a LAN) to 30 s (a slow MISC_CHECK script).
 */

/** Upper bounds in seconds; +Inf is implied. */
export const CHECK_DURATION_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export interface DurationSnapshot {
  /** Checker type, e.g. "HTTP_GET". */
  readonly type: string;
  readonly bucketsS: readonly number[];
  /** Cumulative counts per bucket (observations <= bound), as Prometheus exposes them. */
  readonly cumulative: readonly number[];
  readonly sumS: number;
  readonly count: number;
}

class Histogram {
  readonly counts = new Float64Array(CHECK_DURATION_BUCKETS_S.length);
  sumS = 0;
  count = 0;

  observe(s: number): void {
    const i = CHECK_DURATION_BUCKETS_S.findIndex((b) => s <= b);
    if (i >= 0) this.counts[i]++;
    this.sumS += s;
    this.count++;
  }
}

export class CheckDurations {
  private readonly byType = new Map<string, Histogram>();

  observe(type: string, ms: number): void {
    let h = this.byType.get(type);
    if (h === undefined) {
      h = new Histogram();
      this.byType.set(type, h);
    }
    h.observe(Math.max(0, ms) / 1000);
  }

  snapshot(): DurationSnapshot[] {
    const out: DurationSnapshot[] = [];
    for (const [type, h] of this.byType) {
      let run = 0;
      const cumulative = Array.from(h.counts, (c) => {
        run += c;
        return run;
      });
      out.push({ type, bucketsS: CHECK_DURATION_BUCKETS_S, cumulative, sumS: h.sumS, count: h.count });
    }
    return out;
  }
}
