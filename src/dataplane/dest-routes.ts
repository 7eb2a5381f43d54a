/**
 * The route to every real server, by dest id, so the packet path never routes a dest. Real
 * servers sit on connected prefixes or behind the gateway, which do not change at run time; the
 * table is rebuilt when rules change (Dataplane.rulesChanged). A dest without an entry (added
 * since, or without a route) is routed per packet by the router, which decides the same.
 */
import type { HostRoutes } from '../host/addresses.js';
import { Route } from '../host/addresses.js';
import type { Dest } from '../ipvs/dest.js';

export class DestRoutes {
  /** Out link per dest id; -1 when unknown. */
  link = new Int32Array(0);
  nextHop = new Int32Array(0);

  /** Routes every dest in the registry (indexed by dest id). */
  rebuild(routes: HostRoutes, dests: ReadonlyArray<Dest | null>): void {
    const link = new Int32Array(dests.length).fill(-1);
    const nextHop = new Int32Array(dests.length);
    const r = new Route();
    for (let id = 0; id < dests.length; id++) {
      const d = dests[id];
      if (d !== null && routes.route(d.addr, r)) {
        link[id] = r.link;
        nextHop[id] = r.nextHop;
      }
    }
    this.link = link;
    this.nextHop = nextHop;
  }

  /** The out link of dest `id`, or -1 when the table has no route for it. */
  linkOf(id: number): number {
    return id >= 0 && id < this.link.length ? this.link[id] : -1;
  }

  /** Copies dest `id`'s route into `r`; false when the table has none. */
  lookup(id: number, r: Route): boolean {
    const link = this.linkOf(id);
    if (link < 0) return false;
    r.link = link;
    r.nextHop = this.nextHop[id];
    return true;
  }
}
