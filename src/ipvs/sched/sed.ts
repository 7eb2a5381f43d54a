/**
 * sed: shortest expected delay (ip_vs_sed.c, ip_vs_sed_schedule(); docs/ipvs-behaviour.md#sed).
 * As wlc, but the overhead is active + 1 (inactive connections ignored): the dest minimising
 * (active + 1) / weight wins, compared by cross multiplication; the earlier dest wins a tie. The
 * first candidate is the first dest with no OVERLOAD and weight > 0; quiesced dests can never win
 * afterwards.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export class ShortestExpectedDelay implements Scheduler {
  readonly name = 'sed';
  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    const n = dests.length;
    let i = 0;
    let least: Dest | null = null;
    for (; i < n; i++) {
      const d = dests[i];
      if (!d.overloaded && d.weight > 0) {
        least = d;
        break;
      }
    }
    if (least === null) return null;
    let loh = least.activeConns + 1;
    for (i++; i < n; i++) {
      const d = dests[i];
      if (d.overloaded) continue;
      const doh = d.activeConns + 1;
      if (loh * d.weight > doh * least.weight) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
