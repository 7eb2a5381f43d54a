/**
 * A fixed-size history of per-second rates for the status page (status-page.ts): connections,
 * packets and bytes, in and out, as IPVS counts them (ip_vs_core.c, ip_vs_in_stats() and
 * ip_vs_out_stats(); "in" is client -> real server). Each sample() reads five monotonic counters
 * and stores (counter - previous) / elapsed seconds, so a late timer gives one honest average
 * instead of a spike.
 *
 * Contract: memory is fixed at construction (capacity x 6 doubles, 600 samples = 28 KiB); the
 * oldest sample is overwritten. The first sample() only primes the previous counters. A counter
 * that goes backwards (the object it belongs to was replaced) or a clock that goes backwards
 * re-primes instead of storing a negative rate.
 *
 * Not here: the timer (status-sampler.ts) and the kernel's 2 s EWMA estimator (ipvs/stats.ts),
 * which `tapvsadm --rate` and /metrics keep showing unchanged.
 */

/** Channel indexes: the order of sample()'s counter arguments. */
export const Rate = { Conns: 0, InPkts: 1, OutPkts: 2, InBytes: 3, OutBytes: 4 } as const;
export type Rate = (typeof Rate)[keyof typeof Rate];
export const RATE_CHANNELS = 5;

export class RateRing {
  readonly capacity: number;
  /** When each sample was taken (ms since the epoch). */
  private readonly timesMs: Float64Array;
  /** capacity x RATE_CHANNELS rates per second, sample-major. */
  private readonly rates: Float64Array;
  private readonly prev = new Float64Array(RATE_CHANNELS);
  private prevMs = -1;
  /** Where the next sample goes. */
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`RateRing: capacity ${capacity}`);
    this.capacity = capacity;
    this.timesMs = new Float64Array(capacity);
    this.rates = new Float64Array(capacity * RATE_CHANNELS);
  }

  /** Samples stored (at most capacity). */
  get length(): number {
    return this.count;
  }

  /** Takes one sample of the five counters at `nowMs`. Allocates nothing. */
  sample(nowMs: number, conns: number, inPkts: number, outPkts: number, inBytes: number, outBytes: number): void {
    const p = this.prev;
    const dtS = (nowMs - this.prevMs) / 1000;
    const primed = this.prevMs >= 0 && dtS > 0;
    const forward = conns >= p[0] && inPkts >= p[1] && outPkts >= p[2] && inBytes >= p[3] && outBytes >= p[4];
    if (primed && forward) {
      const o = this.head * RATE_CHANNELS;
      this.rates[o] = (conns - p[0]) / dtS;
      this.rates[o + 1] = (inPkts - p[1]) / dtS;
      this.rates[o + 2] = (outPkts - p[2]) / dtS;
      this.rates[o + 3] = (inBytes - p[3]) / dtS;
      this.rates[o + 4] = (outBytes - p[4]) / dtS;
      this.timesMs[this.head] = nowMs;
      this.head = (this.head + 1) % this.capacity;
      if (this.count < this.capacity) this.count++;
    }
    p[0] = conns;
    p[1] = inPkts;
    p[2] = outPkts;
    p[3] = inBytes;
    p[4] = outBytes;
    this.prevMs = nowMs;
  }

  /** Index in the ring of the i-th of the last n samples (0 = oldest of them). */
  private slot(n: number, i: number): number {
    return (this.head - n + i + this.capacity) % this.capacity;
  }

  /** The last `n` rates of channel `ch`, oldest first (fewer while the ring fills). */
  series(ch: Rate, n: number): number[] {
    const k = Math.min(n, this.count);
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) out[i] = this.rates[this.slot(k, i) * RATE_CHANNELS + ch];
    return out;
  }

  /** The times (ms since the epoch) of the same samples as series(ch, n). */
  times(n: number): number[] {
    const k = Math.min(n, this.count);
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) out[i] = this.timesMs[this.slot(k, i)];
    return out;
  }

  /** The newest rate of channel `ch`, 0 before the second sample. */
  latest(ch: Rate): number {
    return this.count === 0 ? 0 : this.rates[this.slot(1, 0) * RATE_CHANNELS + ch];
  }
}
