/**
 * Transmit by direct routing (LVS-DR, ipvsadm -g), as ip_vs_dr_xmit() in ip_vs_xmit.c: the packet
 * keeps every IP and L4 field (the real server holds the VIP on a non-ARPing device and answers
 * the client itself), only the TTL goes down and the frame goes to the real server's MAC. So the
 * real server must be a neighbour on one of the director's links; one reached through a gateway
 * would get a frame addressed to the gateway, which routes the VIP straight back to us.
 */
import { Drop, SENT } from '../drops.js';
import type { Egress } from '../egress.js';
import type { FrameContext } from '../frame.js';
import type { Router } from '../router.js';

export class DrXmit {
  constructor(
    private readonly ctx: FrameContext,
    private readonly router: Router,
    private readonly egress: Egress,
  ) {}

  /** Client -> real server `rip` (dest `destId`): the current IP packet, unchanged but for TTL. */
  toDest(rip: number, destId: number): number {
    const ip = this.ctx.v.ip;
    const v = this.router.check(rip, destId);
    if (v !== SENT) return v;
    if (this.ctx.route.nextHop !== rip) return Drop.NotOnLink;
    ip.decrementTtl();
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }
}
