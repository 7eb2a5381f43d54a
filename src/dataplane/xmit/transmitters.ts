/**
 * One transmitter per forwarding method, chosen by the connection's method as IPVS binds
 * cp->packet_xmit from the dest's conn_flags (ip_vs_bind_xmit() in ip_vs_conn.c): the stages
 * that deliver client packets (ipvs-in.ts) and replies (ipvs-out.ts) call here.
 */
import type { ConnTable } from '../../ipvs/conn-table.js';
import { type Dest, Fwd } from '../../ipvs/dest.js';
import type { DrXmit } from './dr.js';
import type { FullNatXmit } from './fullnat.js';
import type { NatXmit } from './nat.js';
import type { TunXmit } from './tun.js';

export class Transmitters {
  constructor(
    private readonly conns: ConnTable,
    readonly nat: NatXmit,
    readonly dr: DrXmit,
    readonly tun: TunXmit,
    readonly fullnat: FullNatXmit,
  ) {}

  /** Client -> real server: the current packet of connection `id`, whose dest is `d`. */
  toDest(id: number, d: Dest, proto: number): number {
    switch (this.conns.fwd[id]) {
      case Fwd.ROUTE:
        return this.dr.toDest(d.addr, d.id);
      case Fwd.TUNNEL:
        return this.tun.toDest(d);
      case Fwd.FULLNAT:
        return this.fullnat.toDest(id, d.id, proto);
      default:
        return this.nat.toDest(id, d.id, proto);
    }
  }

  /**
   * Client -> real server, for a packet that is not the connection's own (an ICMP error about a
   * reply): DR and TUN forward it unchanged to the real server that sent the reply.
   */
  relayToDest(id: number, d: Dest): number {
    return this.conns.fwd[id] === Fwd.TUNNEL ? this.tun.toDest(d) : this.dr.toDest(d.addr, d.id);
  }
}
