/**
 * rr: round robin (ip_vs_rr.c, ip_vs_rr_schedule(); docs/ipvs-behaviour.md#rr). Remembers the last
 * chosen dest and scans the list circularly starting after it, returning the first dest that is
 * neither quiesced (weight 0) nor overloaded; the last chosen one is re-checked at the end of the
 * circle. The first pick after creation is the list head (the most recently added dest). When the
 * remembered dest is deleted, the position moves to its predecessor.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

export class RoundRobin implements Scheduler {
  readonly name = 'rr';
  /** The last chosen dest, or null for "before the head". */
  private last: Dest | null = null;
  /** Index of `last` in the list seen at the previous call, to find its predecessor on deletion. */
  private lastIndex = -1;

  destsChanged(svc: Service): void {
    if (this.last === null) return;
    const i = svc.dests.indexOf(this.last);
    if (i >= 0) {
      this.lastIndex = i;
      return;
    }
    // Deleted: IPVS moves the cursor to the predecessor in list order (ip_vs_rr_del_dest).
    const prev = this.lastIndex - 1;
    this.last = prev >= 0 && prev < svc.dests.length ? svc.dests[prev] : null;
    this.lastIndex = this.last === null ? -1 : prev;
  }

  schedule(svc: Service, _flow: FlowKey): Dest | null {
    const dests = svc.dests;
    const n = dests.length;
    if (n === 0) return null;
    // Position of the cursor: -1 means the list head itself comes first.
    let start = this.lastIndex;
    if (this.last !== null && (start < 0 || start >= n || dests[start] !== this.last)) {
      start = dests.indexOf(this.last);
    }
    for (let k = 1; k <= n; k++) {
      const i = start < 0 ? k - 1 : (start + k) % n;
      const d = dests[i];
      if (d.weight > 0 && !d.overloaded) {
        this.last = d;
        this.lastIndex = i;
        return d;
      }
    }
    return null;
  }
}
