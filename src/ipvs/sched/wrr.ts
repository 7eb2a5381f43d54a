/**
 * wrr: weighted round robin (ip_vs_wrr.c, ip_vs_wrr_schedule() and ip_vs_wrr_dest_changed();
 * docs/ipvs-behaviour.md#wrr).
 *
 * State: the position `cl` in the dest list (-1 is the list head, i.e. "before the first dest"),
 * the current weight `cw`, the maximum weight `mw` and the step `di`. di is the gcd of all
 * weights > 0 (1 if none) and mw = max weight − (di − 1), so the last pass of a cycle runs at
 * cw = 1 and still catches a dest whose weight dropped below di. schedule() walks on from `cl`
 * and returns the first dest with no OVERLOAD and weight ≥ cw; at the end of the list cw drops by
 * di and wraps to mw at ≤ 0. It gives up (null) once every dest was examined at the last pass.
 *
 * Example: weights 4, 3, 2 in list order A, B, C give A A B A B C A B C and repeat.
 *
 * destsChanged() (IPVS add/del/upd_dest) resets cl to the head, recomputes di and mw, and moves
 * cw as the kernel does: to mw if cw > mw or cw = 0, else to (cw div di) × di + 1 when di > 1.
 * The registry's caller must call destsChanged() once after binding (IPVS init_service), which
 * with cw = 0 starts the first cycle at cw = mw exactly as ip_vs_wrr_init_svc.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import { gcd } from './hash.js';
import type { Scheduler } from './scheduler.js';

export class WeightedRoundRobin implements Scheduler {
  readonly name = 'wrr';
  /** Index of the current dest in svc.dests; -1 = list head. */
  private cl = -1;
  /** Current weight. */
  private cw = 0;
  /** Maximum weight minus (di − 1). */
  private mw = 0;
  /** Decreasing interval: gcd of the positive weights. */
  private di = 1;

  destsChanged(svc: Service): void {
    const dests = svc.dests;
    let g = 0,
      max = 0;
    for (let i = 0; i < dests.length; i++) {
      const w = dests[i].weight;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > max) max = w;
    }
    this.cl = -1;
    this.di = g > 0 ? g : 1;
    this.mw = max - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }

  schedule(svc: Service, _flow?: FlowKey, _nowMs?: number): Dest | null {
    const dests = svc.dests;
    const n = dests.length;
    let i = this.cl;
    if (i >= n) i = -1; // defensive: the list shrank without destsChanged()
    if (this.mw === 0) return null; // "no destination available"; cl stays
    const last = i;
    // -2: no stop mark yet. Set once the last pass (cw ≤ di) restarts from the head after a
    // wrap, so the scan ends when it comes back to where it started (kernel's `stop`).
    let stop = -2;
    let lastPass = false,
      restarted = false;
    for (;;) {
      for (i = i + 1; i < n; i++) {
        const d = dests[i];
        if (!d.overloaded && d.weight >= this.cw) {
          this.cl = i;
          return d;
        }
        if (i === stop) {
          this.cl = i;
          return null;
        } // all destinations are overloaded
      }
      i = -1; // walked off the end: back at the head
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === -1) {
          this.cl = -1;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  }
}
