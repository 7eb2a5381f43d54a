/**
 * The addresses and routes of the director as a host: per link, the owned addresses with their
 * prefixes (connected routes) and an optional gateway. Longest prefix wins; a link's gateway is
 * the default route. Numbers only; the lists are tiny (a handful of prefixes), so scans beat maps.
 */
import { prefixMask } from '../packet/ipv4.js';

export interface LinkAddress {
  /** int32 host order */
  addr: number;
  prefixLen: number;
}

/** A routing decision: the link a packet leaves on and the next hop's address. Callers own one each. */
export class Route {
  link = -1;
  nextHop = 0;
}

export class HostRoutes {
  /** Per link: owned addresses, their network and mask (parallel arrays). */
  private addrs: Int32Array[] = [];
  private nets: Int32Array[] = [];
  private masks: Int32Array[] = [];
  private prefixLens: Uint8Array[] = [];
  private gateways: Int32Array = new Int32Array(0);

  constructor(perLink: Array<{ addrs: LinkAddress[]; gateway: number }>) {
    this.gateways = new Int32Array(perLink.length);
    for (let l = 0; l < perLink.length; l++) {
      this.setLinkAddresses(l, perLink[l].addrs);
      this.gateways[l] = perLink[l].gateway | 0;
    }
  }

  /**
   * Replaces a link's addresses and connected prefixes (VRRP virtual addresses come and go with
   * mastership). The control plane calls it between batches.
   */
  setLinkAddresses(link: number, a: readonly LinkAddress[]): void {
    this.addrs[link] = Int32Array.from(a, (x) => x.addr);
    this.masks[link] = Int32Array.from(a, (x) => prefixMask(x.prefixLen));
    this.nets[link] = Int32Array.from(a, (x) => x.addr & prefixMask(x.prefixLen));
    this.prefixLens[link] = Uint8Array.from(a, (x) => x.prefixLen);
  }

  get linkCount(): number {
    return this.addrs.length;
  }

  /** True when `a` is one of the link's own addresses. */
  ownsOnLink(link: number, a: number): boolean {
    const arr = this.addrs[link];
    for (let i = 0; i < arr.length; i++) if (arr[i] === a) return true;
    return false;
  }

  /** True when `a` lies in one of the link's connected prefixes. */
  onLink(link: number, a: number): boolean {
    const nets = this.nets[link],
      masks = this.masks[link];
    for (let i = 0; i < nets.length; i++) if ((a & masks[i]) === nets[i]) return true;
    return false;
  }

  /** True for the directed broadcast address of one of the link's prefixes. */
  isSubnetBroadcast(link: number, a: number): boolean {
    const nets = this.nets[link],
      masks = this.masks[link];
    for (let i = 0; i < nets.length; i++) {
      if (masks[i] !== -1 && (a | masks[i]) === -1 && (a & masks[i]) === nets[i]) return true;
    }
    return false;
  }

  /**
   * Routes `dst` into `r` and returns true, or returns false without a route (r untouched).
   * Connected prefixes first (longest wins), then the first link with a gateway.
   */
  route(dst: number, r: Route): boolean {
    let best = -1,
      bestLen = -1;
    for (let l = 0; l < this.nets.length; l++) {
      const nets = this.nets[l],
        masks = this.masks[l],
        lens = this.prefixLens[l];
      for (let i = 0; i < nets.length; i++) {
        if ((dst & masks[i]) === nets[i] && lens[i] > bestLen) {
          best = l;
          bestLen = lens[i];
        }
      }
    }
    if (best >= 0) {
      r.link = best;
      r.nextHop = dst;
      return true;
    }
    for (let l = 0; l < this.gateways.length; l++) {
      if (this.gateways[l] !== 0) {
        r.link = l;
        r.nextHop = this.gateways[l];
        return true;
      }
    }
    return false;
  }

  /** The link's address to use as a source towards `dst` (same prefix if possible, else the first). */
  sourceFor(link: number, dst: number): number {
    const arr = this.addrs[link],
      nets = this.nets[link],
      masks = this.masks[link];
    for (let i = 0; i < arr.length; i++) if ((dst & masks[i]) === nets[i]) return arr[i];
    return arr.length > 0 ? arr[0] : 0;
  }

  addressesOf(link: number): Int32Array {
    return this.addrs[link];
  }
}
