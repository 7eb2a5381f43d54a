/**
 * The addresses the director answers for: its own (per link) and every service VIP. Every packet
 * asks about its source and destination, so both live in one AddrSet with a bit per kind. The
 * control plane pushes a new set when rules change (Dataplane.rulesChanged); the packet path only
 * looks up.
 *
 * Standby addresses are VRRP virtual addresses this director holds only as a master: while it is
 * a backup they are somebody else's, so they are neither answered for (as owned address or VIP)
 * nor forwarded to (keepalived removes them from the interface; vrrp.c, vrrp_state_leave_master()).
 */
import { AddrSet } from '../addr-set.js';

const OWNED = 1;
const VIP = 2;
/** A full NAT local address: replies of real servers come to it. */
const LADDR = 8;
const STANDBY = 4;

export class LocalAddresses {
  private set = new AddrSet();

  /**
   * Replaces the set: the owned addresses of every link, the VIPs of every service, and the
   * standby addresses (a VIP that is also standby is not ours now).
   */
  update(
    owned: readonly Int32Array[],
    vips: Iterable<number>,
    standby: Iterable<number> = [],
    laddrs: Iterable<number> = [],
  ): void {
    const set = new AddrSet();
    for (const s of standby) if (s !== 0) set.set(s, STANDBY);
    for (const list of owned) for (let i = 0; i < list.length; i++) if (list[i] !== 0) set.set(list[i], OWNED);
    for (const v of vips) if (v !== 0 && set.get(v) !== STANDBY) set.set(v, Math.max(set.get(v), 0) | VIP);
    for (const l of laddrs) if (l !== 0 && set.get(l) !== STANDBY) set.set(l, Math.max(set.get(l), 0) | LADDR);
    this.set = set;
  }

  /** True when the director answers for `a` (an owned address, a service VIP or a local address). */
  isLocal(a: number): boolean {
    const kind = this.set.get(a);
    return kind > 0 && kind !== STANDBY;
  }

  /** True for a full NAT local address (real servers' replies come to it). */
  isLaddr(a: number): boolean {
    const kind = this.set.get(a);
    return kind > 0 && (kind & LADDR) !== 0;
  }

  /** True for a VRRP virtual address held by another director now (we are its backup). */
  isStandby(a: number): boolean {
    return this.set.get(a) === STANDBY;
  }

  /** True when some service uses `a` as its VIP. */
  isVip(a: number): boolean {
    const kind = this.set.get(a);
    return kind > 0 && (kind & VIP) !== 0;
  }
}
