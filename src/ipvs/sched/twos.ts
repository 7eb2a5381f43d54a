/**
 * twos: power of two choices (ip_vs_twos.c, ip_vs_twos_schedule(), Linux ≥ 5.12;
 * docs/ipvs-behaviour.md#twos).
 *
 * total = sum of the weights of the dests with no OVERLOAD and weight > 0 (none → no
 * destination). Two numbers r1, r2 are drawn uniformly in [0, total] (inclusive: the kernel draws
 * below total + 1). Walking the same dests in list order and subtracting each weight from both,
 * the first dest where r1 ≤ 0 is choice 1 and the first where r2 ≤ 0 is choice 2. Choice 2 wins
 * only if it is strictly less loaded per weight: w2 × oh1 > w1 × oh2 (overhead = 256 × active +
 * inactive). Note the first dest is drawn with weight + 1 chances out of total + 1, as in Linux.
 *
 * Randomness: an injectable `rng` returning uint32 values (tests pass a scripted one). The default
 * is xorshift32 seeded once from crypto. A draw is rng() mod (total + 1), like the original
 * prandom_u32() % n; newer kernels use get_random_u32_below(), a different mapping of the same
 * uniform distribution (the random source differs from the kernel's anyway).
 */
import { randomBytes } from 'node:crypto';
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export interface TwosOptions {
  /** Returns a uniformly distributed uint32 (0..2^32−1) per call. */
  rng?: () => number;
}

/** xorshift32 (Marsaglia 2003) seeded from crypto; never 0. Allocation-free per call. */
export function xorshift32(seed?: number): () => number {
  let x = (seed ?? randomBytes(4).readUInt32LE(0)) | 0;
  if (x === 0) x = 0x9e3779b9 | 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

export class TwoChoices implements Scheduler {
  readonly name = 'twos';
  private readonly rng: () => number;

  constructor(opts: TwosOptions = {}) {
    this.rng = opts.rng ?? xorshift32();
  }

  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    const n = dests.length;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      if (!d.overloaded && d.weight > 0) total += d.weight;
    }
    if (total === 0) return null;
    let r1 = this.rng() % (total + 1);
    let r2 = this.rng() % (total + 1);
    let c1: Dest | null = null,
      c2: Dest | null = null;
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      const w = d.weight;
      if (d.overloaded || w <= 0) continue;
      r1 -= w;
      r2 -= w;
      if (r1 <= 0 && c1 === null) c1 = d;
      if (r2 <= 0 && c2 === null) c2 = d;
      if (c1 !== null && c2 !== null) break;
    }
    // r1, r2 ≤ total, so both are found once the walk has subtracted every weight.
    if (c1 === null || c2 === null) return c1 ?? c2;
    const oh1 = c1.activeConns * 256 + c1.inactConns;
    const oh2 = c2.activeConns * 256 + c2.inactConns;
    return c2.weight * oh1 > c1.weight * oh2 ? c2 : c1;
  }
}
