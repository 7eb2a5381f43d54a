/**
 * fo: weighted failover (ip_vs_fo.c, ip_vs_fo_schedule(); docs/ipvs-behaviour.md#fo). The dest
 * with the highest weight among those with no OVERLOAD and weight > 0; the earlier dest in list
 * order wins a tie. Connection counts are not looked at.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export class WeightedFailover implements Scheduler {
  readonly name = 'fo';
  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if (!d.overloaded && d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  }
}
