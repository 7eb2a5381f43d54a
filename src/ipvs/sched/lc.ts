/**
 * lc: least connection (ip_vs_lc.c, ip_vs_lc_schedule(); docs/ipvs-behaviour.md#lc). The dest with
 * the smallest overhead (active × 256 + inactive) among those with no OVERLOAD and weight ≠ 0; the
 * earlier dest in list order wins a tie. Weight is otherwise ignored. No tables.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export class LeastConn implements Scheduler {
  readonly name = 'lc';
  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if (d.overloaded || d.weight === 0) continue;
      const doh = d.activeConns * 256 + d.inactConns;
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
