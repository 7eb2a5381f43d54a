/**
 * Transmit by masquerading (LVS-NAT), both halves: towards the real server the destination
 * becomes RIP:rport (ip_vs_nat_xmit() in ip_vs_xmit.c, with the protocol's dnat_handler), and a
 * reply leaves with VIP:vport as its source (handle_response() in ip_vs_core.c with the
 * snat_handler). Router checks first, then the rewrite with RFC 1624 checksum updates, TTL - 1,
 * and the send. Other forwarding methods get files of their own beside this one.
 */
import type { ConnTable } from '../../ipvs/conn-table.js';
import { IPPROTO_TCP } from '../../packet/ipv4.js';
import { SENT } from '../drops.js';
import type { Egress } from '../egress.js';
import type { FrameContext } from '../frame.js';
import type { Router } from '../router.js';

export class NatXmit {
  constructor(
    private readonly ctx: FrameContext,
    private readonly conns: ConnTable,
    private readonly router: Router,
    private readonly egress: Egress,
  ) {}

  /** Client -> real server: DNAT the current frame to connection `id`'s dest. */
  toDest(id: number, destId: number, proto: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip,
      c = this.conns;
    const daddr = c.daddr[id],
      dport = c.dport[id];
    const v = this.router.check(daddr, destId);
    if (v !== SENT) return v;
    const old = ip.dst;
    ip.setDst(daddr);
    this.rewriteL4(proto, old, daddr, dport, true);
    ip.decrementTtl();
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }

  /** Real server -> client: SNAT the current frame back to connection `id`'s VIP:vport. */
  toClient(id: number, proto: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip,
      c = this.conns;
    const v = this.router.check(ip.dst, -1);
    if (v !== SENT) return v;
    const vaddr = c.vaddr[id],
      vport = c.vport[id];
    const old = ip.src;
    ip.setSrc(vaddr);
    this.rewriteL4(proto, old, vaddr, vport, false);
    ip.decrementTtl();
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }

  /**
   * The L4 half of the rewrite: the pseudo-header address changed from `oldAddr` to `newAddr`,
   * and the destination (dst) or source port becomes `newPort`. A NEEDS_CSUM frame (offloads)
   * holds only the pseudo-header sum: the address is folded in, ports are not.
   */
  private rewriteL4(proto: number, oldAddr: number, newAddr: number, newPort: number, dst: boolean): void {
    const l4 = proto === IPPROTO_TCP ? this.ctx.v.tcp : this.ctx.v.udp;
    if (this.ctx.csumPartial) {
      l4.addrChangedPartial(oldAddr, newAddr);
      if (dst) l4.setDstPortRaw(newPort);
      else l4.setSrcPortRaw(newPort);
      return;
    }
    l4.addrChanged(oldAddr, newAddr);
    if (dst) {
      if (l4.dstPort !== newPort) l4.setDstPort(newPort);
    } else if (l4.srcPort !== newPort) l4.setSrcPort(newPort);
  }
}
