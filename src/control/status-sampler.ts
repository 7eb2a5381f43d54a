/**
 * Samples the IPVS counters once a second into RateRings for the status page: one ring for the
 * director's totals and one per virtual service (the first MAX_SERVICE_RINGS services; the others
 * show totals and the 2 s estimator only). Runs on a timer of the event loop, never on the packet
 * path: it reads five doubles per Stats object, which the dataplane only ever increments.
 *
 * Contract: memory is bounded by (1 + MAX_SERVICE_RINGS) rings of `capacity` samples. A deleted
 * service's ring goes at the next sample; a service deleted and added again starts a new history
 * (its Stats object is new). The timer is unref()ed: it never keeps tapvsd alive.
 */

import type { Ipvs } from '../ipvs/ipvs.js';
import type { Service } from '../ipvs/service.js';
import type { Stats } from '../ipvs/stats.js';
import { RateRing } from './rate-ring.js';

/** 10 minutes of 1 s samples. */
export const DEFAULT_HISTORY_S = 600;
export const SAMPLE_INTERVAL_MS = 1000;
/** 64 rings of 600 samples: 1.8 MiB at most. */
export const MAX_SERVICE_RINGS = 64;

export class StatusSampler {
  readonly total: RateRing;
  private readonly perService = new Map<Service, RateRing>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ipvs: Ipvs,
    readonly capacity: number = DEFAULT_HISTORY_S,
  ) {
    this.total = new RateRing(capacity);
  }

  /** The ring of `svc`, or null when it has none (beyond MAX_SERVICE_RINGS, or added since the last sample). */
  ringOf(svc: Service): RateRing | null {
    return this.perService.get(svc) ?? null;
  }

  /** One sample of every counter at `nowMs` (the timer calls it; tests call it with their own clock). */
  sample(nowMs: number): void {
    take(this.total, nowMs, this.ipvs.total);
    const services = this.ipvs.services;
    if (this.perService.size > 0) {
      for (const svc of this.perService.keys()) if (!services.includes(svc)) this.perService.delete(svc);
    }
    for (let i = 0; i < services.length; i++) {
      const svc = services[i];
      let ring = this.perService.get(svc);
      if (ring === undefined) {
        if (this.perService.size >= MAX_SERVICE_RINGS) continue;
        ring = new RateRing(this.capacity);
        this.perService.set(svc, ring);
      }
      take(ring, nowMs, svc.stats);
    }
  }

  start(): void {
    if (this.timer !== null) return;
    this.sample(Date.now());
    this.timer = setInterval(() => this.sample(Date.now()), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The live counters (not the 2 s "shown" copies, nor minus the -Z zero point: rates need neither). */
function take(ring: RateRing, nowMs: number, s: Stats): void {
  ring.sample(nowMs, s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes);
}
