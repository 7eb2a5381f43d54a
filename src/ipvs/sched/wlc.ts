/**
 * wlc: weighted least connection, ipvsadm's default (ip_vs_wlc.c, ip_vs_wlc_schedule();
 * docs/ipvs-behaviour.md#wlc).
 * Load = (256 × active + inactive) / weight; the lowest wins, the earlier dest wins a tie.
 * The first candidate is the first dest with no OVERLOAD and weight > 0; later non-OVERLOAD dests
 * replace it when oh_best × w_d > oh_d × w_best (so a quiesced dest can never win).
 * a/b < c/d is tested as a·d < c·b: no division, exact in doubles while products stay < 2^53.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import { leastWeightedConn } from './load.js';
import type { Scheduler } from './scheduler.js';

export class WeightedLeastConn implements Scheduler {
  readonly name = 'wlc';
  destsChanged(): void {}

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    return leastWeightedConn(svc.dests);
  }
}
