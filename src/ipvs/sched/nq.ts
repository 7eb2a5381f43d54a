/**
 * nq: never queue (ip_vs_nq.c, ip_vs_nq_schedule(); docs/ipvs-behaviour.md#nq). Skipping OVERLOAD
 * and weight-0 dests, the first dest with no active connection is returned at once; otherwise the
 * sed rule picks the dest with the smallest (active + 1) / weight by cross multiplication, the
 * earlier dest winning a tie.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export class NeverQueue implements Scheduler {
  readonly name = 'nq';
  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if (d.overloaded || d.weight === 0) continue;
      if (d.activeConns === 0) return d; // an idle server never makes a client queue
      const doh = d.activeConns + 1;
      if (least === null || loh * d.weight > doh * least.weight) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
