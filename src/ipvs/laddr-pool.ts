/**
 * A full NAT service's local addresses (DPVS's laddr list, ip_vs_laddr.c): the sources the
 * director puts on packets towards the real servers, so that their replies come back to it
 * without the director being their gateway.
 *
 * Choice of address: round robin over the list, as DPVS's __get_laddr() does (without its 5% skip,
 * which only breaks lock-step with rr across DPVS's per-core pools). Choice of port: a per-address
 * cursor over 1025..65535 that takes the first port not in use towards the same real server
 * address and port (the 4-tuple the replies are matched on must be unique), probing at most
 * MAX_PROBES ports per address. DPVS keeps free lists per (address, core, real-server bucket)
 * (sa_pool.c); the uniqueness rule is the same, the probe costs one table lookup.
 */
import type { ConnTable } from './conn-table.js';

export const LPORT_MIN = 1025;
export const LPORT_MAX = 65535;
const MAX_PROBES = 64;

export class LaddrPool {
  /** Local addresses, int32 host order, in the order they were added. */
  addrs: number[] = [];
  /** The link each one was added for (-F), or '' for the link that routes to it. */
  links: string[] = [];
  /** Live connections using each address (DPVS's CONNS). */
  conns: number[] = [];
  /** Allocations that probed MAX_PROBES used ports on an address (DPVS's CONFLICTS). */
  conflicts: number[] = [];
  private next = 0;
  private cursors: number[] = [];

  indexOf(addr: number): number {
    return this.addrs.indexOf(addr | 0);
  }

  add(addr: number, link: string): void {
    this.addrs.push(addr | 0);
    this.links.push(link);
    this.conns.push(0);
    this.conflicts.push(0);
    this.cursors.push(LPORT_MIN + ((addr >>> 0) % (LPORT_MAX - LPORT_MIN + 1)));
  }

  /** Removes entry `i`; its connections keep their address until they end (as DPVS's laddr_del). */
  remove(i: number): void {
    this.addrs.splice(i, 1);
    this.links.splice(i, 1);
    this.conns.splice(i, 1);
    this.conflicts.splice(i, 1);
    this.cursors.splice(i, 1);
    if (this.next >= this.addrs.length) this.next = 0;
  }

  /**
   * Picks a local address and port for a new connection to daddr:dport and writes them to entry
   * `id` of `conns` (laddr/lport). Returns false when every address is out of ports.
   */
  allocate(conns: ConnTable, id: number, proto: number, daddr: number, dport: number): boolean {
    const n = this.addrs.length;
    for (let tried = 0; tried < n; tried++) {
      const i = this.next;
      this.next = i + 1 === n ? 0 : i + 1;
      const laddr = this.addrs[i];
      let port = this.cursors[i];
      for (let p = 0; p < MAX_PROBES; p++) {
        const candidate = port;
        port = port === LPORT_MAX ? LPORT_MIN : port + 1;
        if (conns.lookupOut(proto, daddr, dport, laddr, candidate) < 0) {
          this.cursors[i] = port;
          conns.laddr[id] = laddr;
          conns.lport[id] = candidate;
          this.conns[i]++;
          return true;
        }
      }
      this.cursors[i] = port;
      this.conflicts[i]++;
    }
    return false;
  }

  /** A connection that used local address `laddr` ended. */
  release(laddr: number): void {
    const i = this.addrs.indexOf(laddr);
    if (i >= 0 && this.conns[i] > 0) this.conns[i]--;
  }
}
