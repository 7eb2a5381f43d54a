/**
 * Transmit by full NAT (DPVS's FULLNAT; __dp_vs_xmit_fnat4() and __dp_vs_out_xmit_fnat4() in
 * DPVS's ip_vs_xmit.c with tcp_fnat_in_handler()/tcp_fnat_out_handler()): towards the real
 * server both ends are rewritten, CIP:cport -> LIP:lport and VIP:vport -> RIP:rport, so the real
 * server answers the director whatever its routes; the reply RIP:rport -> LIP:lport leaves as
 * VIP:vport -> CIP:cport. Checksums are updated incrementally (RFC 1624), TTL - 1 both ways.
 * Services with --proxy-protocol also get the client's address in front of the TCP stream
 * (ProxySeq), which moves sequence numbers by the header's length.
 */
import type { ConnTable } from '../../ipvs/conn-table.js';
import { IPPROTO_TCP } from '../../packet/ipv4.js';
import { SENT } from '../drops.js';
import type { Egress } from '../egress.js';
import type { FrameContext } from '../frame.js';
import type { Port } from '../port.js';
import type { Router } from '../router.js';
import type { ProxySeq } from './proxy-seq.js';

export class FullNatXmit {
  /** The PROXY header's packet (grown first segment, or a standalone header segment). */
  private readonly out = new Uint8Array(65535 + 256);

  constructor(
    private readonly ctx: FrameContext,
    private readonly conns: ConnTable,
    private readonly router: Router,
    private readonly egress: Egress,
    /** Per-connection PROXY protocol state (services with --proxy-protocol). */
    readonly proxy: ProxySeq,
    private readonly ports: readonly Port[],
  ) {}

  /** Client -> real server: SNAT to the connection's local address, DNAT to its dest. */
  toDest(id: number, destId: number, proto: number): number {
    const c = this.conns;
    const v = this.router.check(c.daddr[id], destId);
    if (v !== SENT) return v;
    this.rewrite(proto, c.laddr[id], c.lport[id], c.daddr[id], c.dport[id]);
    const ctx = this.ctx,
      ip = ctx.v.ip;
    if (proto === IPPROTO_TCP && this.proxy.active(id)) {
      const mtu = this.ports[ctx.route.link].mtu;
      const n = this.proxy.inbound(id, ctx.v.u8, ip.offset, ip.totalLen, ctx.csumPartial, ctx.gso, mtu, this.out, 0);
      if (n > 0) return this.egress.transmit(this.out, null, 0, n, ctx.route);
      if (n < 0) {
        const v = this.egress.transmit(this.out, null, 0, -n, ctx.route);
        if (v !== SENT) return v;
      }
    }
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }

  /** Real server -> client: back to VIP:vport -> CIP:cport. */
  toClient(id: number, proto: number): number {
    const c = this.conns;
    const v = this.router.check(c.caddr[id], -1);
    if (v !== SENT) return v;
    const ip = this.ctx.v.ip;
    if (proto === IPPROTO_TCP && this.proxy.active(id))
      this.proxy.outbound(id, this.ctx.v.u8, ip.offset, ip.totalLen, this.ctx.csumPartial);
    this.rewrite(proto, c.vaddr[id], c.vport[id], c.caddr[id], c.cport[id]);
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }

  /** Both addresses and both ports of the current packet, its checksums and TTL. */
  private rewrite(proto: number, saddr: number, sport: number, daddr: number, dport: number): void {
    const ctx = this.ctx,
      ip = ctx.v.ip;
    const oldSrc = ip.src,
      oldDst = ip.dst;
    ip.setSrc(saddr);
    ip.setDst(daddr);
    const l4 = proto === IPPROTO_TCP ? ctx.v.tcp : ctx.v.udp;
    if (ctx.csumPartial) {
      // NEEDS_CSUM: the field holds the pseudo-header sum, which covers addresses but not ports.
      l4.addrChangedPartial(oldSrc, saddr);
      l4.addrChangedPartial(oldDst, daddr);
      l4.setSrcPortRaw(sport);
      l4.setDstPortRaw(dport);
    } else {
      l4.addrChanged(oldSrc, saddr);
      l4.addrChanged(oldDst, daddr);
      if (l4.srcPort !== sport) l4.setSrcPort(sport);
      if (l4.dstPort !== dport) l4.setDstPort(dport);
    }
    ip.decrementTtl();
  }
}
