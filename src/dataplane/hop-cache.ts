/**
 * The fast path's memory of where a connection's frames leave: out link, next hop and ARP cache
 * slot, per dest (client -> real server) and per connection entry (replies, routed by the
 * client's address), so an established flow does not route and resolve every packet.
 *
 * Contract: a record is used only while it is provably what the lookups would give now. Each
 * record keeps `gen + arp.gen` of its out link from when it was filled: `gen` moves whenever
 * routes or dest routes change (Dataplane.rulesChanged calls `invalidate`), an ArpCache's `gen`
 * whenever one of its slots stops holding the resolved entry it held (ArpCache.allocSlot,
 * freeSlot). Both only grow, so a changed sum means "look up again". A reply record also keeps
 * the address it was routed for, since a connection id is reused by later connections.
 * What it does not do: decide anything. Failed lookups are not remembered (the general path
 * handles those frames), and the MAC is read from the ARP slot at transmit time, so a neighbour
 * that changes its MAC is followed at once; the per-packet refresh check stays in Egress.
 */
import type { HostRoutes, Route } from '../host/addresses.js';
import type { DestRoutes } from './dest-routes.js';
import type { Port } from './port.js';

/** Int32 words per record: [gen + arp gen, key (reply records: routed address), next hop, arpSlot << 8 | link]. */
const REC = 4;

export class HopCache {
  /** Out link, next hop and ARP slot of the last successful `toDest`/`toClient`. */
  link = -1;
  nextHop = 0;
  arpSlot = -1;
  /** Starts at 1 so that a zeroed record never matches. */
  private gen = 1;
  private byDest = new Int32Array(0);
  private readonly byConn: Int32Array;

  constructor(
    private readonly ports: readonly Port[],
    private readonly routes: HostRoutes,
    private readonly destRoutes: DestRoutes,
    /** Scratch for route lookups. */
    private readonly route: Route,
    connCapacity: number,
  ) {
    this.byConn = new Int32Array(connCapacity * REC);
  }

  /** Routes or dest routes changed (and the dest registry may have grown): forget every record. */
  invalidate(destCount: number): void {
    this.gen++;
    if (this.byDest.length < destCount * REC) this.byDest = new Int32Array(destCount * REC);
  }

  /** The hop to dest `destId` (by the dest route table) into link/nextHop/arpSlot; false when unrouted or unresolved. */
  toDest(destId: number): boolean {
    const t = this.byDest,
      r = destId * REC;
    if (r < t.length) {
      const w = t[r + 3];
      if (t[r] === this.gen + this.ports[w & 0xff].arp.gen) {
        this.link = w & 0xff;
        this.nextHop = t[r + 2];
        this.arpSlot = w >> 8;
        return true;
      }
    }
    const link = this.destRoutes.linkOf(destId);
    if (link < 0) return false;
    const nextHop = this.destRoutes.nextHop[destId];
    return this.resolve(t, r, link, nextHop, destId);
  }

  /** The hop of a reply of connection `id` to address `dst` into link/nextHop/arpSlot; false when unrouted or unresolved. */
  toClient(id: number, dst: number): boolean {
    const t = this.byConn,
      r = id * REC;
    const w = t[r + 3];
    if (t[r + 1] === dst && t[r] === this.gen + this.ports[w & 0xff].arp.gen) {
      this.link = w & 0xff;
      this.nextHop = t[r + 2];
      this.arpSlot = w >> 8;
      return true;
    }
    if (!this.routes.route(dst, this.route)) return false;
    return this.resolve(t, r, this.route.link, this.route.nextHop, dst);
  }

  private resolve(t: Int32Array, r: number, link: number, nextHop: number, key: number): boolean {
    const arp = this.ports[link].arp;
    const slot = arp.lookup(nextHop);
    this.link = link;
    this.nextHop = nextHop;
    this.arpSlot = slot;
    if (slot < 0) return false;
    if (r < t.length) {
      t[r] = this.gen + arp.gen;
      t[r + 1] = key;
      t[r + 2] = nextHop;
      t[r + 3] = (slot << 8) | link;
    }
    return true;
  }
}
