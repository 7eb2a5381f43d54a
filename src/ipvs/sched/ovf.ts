/**
 * ovf: weighted overflow (ip_vs_ovf.c, ip_vs_ovf_schedule(); docs/ipvs-behaviour.md#ovf). Among
 * dests with no OVERLOAD, weight ≠ 0 and active connections ≤ weight, the one with the highest
 * weight; the earlier dest wins a tie. So the heaviest server takes connections until it has
 * weight + 1 active ones, then the next. Inactive connections are ignored (the kernel notes this
 * makes ovf unsuitable for UDP).
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export class WeightedOverflow implements Scheduler {
  readonly name = 'ovf';
  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    let h: Dest | null = null;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      const w = d.weight;
      if (d.overloaded || d.activeConns > w || w === 0) continue;
      if (h === null || w > h.weight) h = d;
    }
    return h;
  }
}
