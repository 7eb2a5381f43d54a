/**
 * What a router checks before a packet leaves (ip_forward() in net/ipv4/ip_forward.c; IPVS makes
 * the same checks in its transmitters, __ip_vs_get_out_rt() and ensure_mtu_ok() in
 * ip_vs_xmit.c): TTL, a route, the MTU with DF. They run before any rewrite, so an ICMP error
 * quotes what the sender sent. Also plain forwarding of packets that belong to no connection.
 */
import type { HostRoutes } from '../host/addresses.js';
import type { HostIcmp } from '../host/icmp.js';
import type { LocalAddresses } from '../host/local-addresses.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_TIME_EXCEEDED } from '../packet/icmp.js';
import { IP_DF } from '../packet/ipv4.js';
import { forwardComment } from '../trace/tracer.js';
import type { DestRoutes } from './dest-routes.js';
import { Drop, SENT } from './drops.js';
import type { Egress } from './egress.js';
import type { FrameContext } from './frame.js';
import type { Port } from './port.js';

export class Router {
  constructor(
    private readonly ctx: FrameContext,
    private readonly ports: readonly Port[],
    private readonly routes: HostRoutes,
    private readonly destRoutes: DestRoutes,
    private readonly local: LocalAddresses,
    private readonly icmp: HostIcmp,
    private readonly egress: Egress,
  ) {}

  /**
   * The checks for the current frame's datagram towards `dst` (or towards dest `destId` when
   * >= 0, through the dest route table). Leaves the route in ctx.route and, when the datagram
   * must be fragmented, the size in ctx.fragMtu. Returns SENT when the packet may go.
   *
   * `overhead`: bytes a tunnel adds in front. The datagram must then fit the link MTU less them
   * (else fragmentation needed, with that MTU, when DF is set: ensure_mtu_is_adequate() in
   * ip_vs_xmit.c); without DF it is tunnelled whole and ctx.fragMtu asks to fragment the outer
   * packet to the link's MTU.
   */
  check(dst: number, destId: number, overhead = 0): number {
    const ctx = this.ctx,
      ip = ctx.v.ip;
    if (ip.ttl <= 1) {
      this.icmp.error(ICMP_TIME_EXCEEDED, 0, 0, this.icmpSource());
      return Drop.TtlExceeded;
    }
    if (!(destId >= 0 && this.destRoutes.lookup(destId, ctx.route)) && !this.routes.route(dst, ctx.route)) {
      return Drop.NoRoute;
    }
    const out = this.ports[ctx.route.link];
    if (overhead > 0) return this.checkTunnel(out.mtu, overhead);
    // A GSO super-frame is cut to gso_size segments by the receiving side: only plain frames
    // are held to the MTU.
    ctx.fragMtu = 0;
    // A reassembled datagram leaves in fragments no larger than its largest one was (as
    // ip_do_fragment() is given IPCB(skb)->frag_max_size), and DF on it means that size itself
    // must fit.
    const limit = ctx.reassembled && ctx.reasmMaxFrag < out.mtu ? ctx.reasmMaxFrag : out.mtu;
    if ((ip.totalLen > limit || (ctx.reassembled && ip.totalLen > out.mtu)) && !ctx.gso) {
      const df = (ip.fragWord & IP_DF) !== 0;
      if (df && (!ctx.reassembled || ctx.reasmMaxFrag > out.mtu)) {
        this.icmp.error(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, out.mtu, this.icmpSource());
        return Drop.TooBig;
      }
      ctx.fragMtu = limit;
    }
    return SENT;
  }

  private checkTunnel(linkMtu: number, overhead: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip;
    ctx.fragMtu = 0;
    const mtu = linkMtu - overhead;
    if (mtu < 68) return Drop.TooBig; // the kernel drops silently below the IPv4 minimum
    if (ip.totalLen > mtu && !ctx.gso) {
      if ((ip.fragWord & IP_DF) !== 0) {
        this.icmp.error(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu, this.icmpSource());
        return Drop.TooBig;
      }
      ctx.fragMtu = linkMtu;
    }
    return SENT;
  }

  /** Plain IPv4 routing of the current frame (no connection): checks, TTL, transmit. */
  forward(dst: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip;
    const v = this.check(dst, -1);
    if (v !== SENT) return v;
    ip.decrementTtl();
    if (ctx.tracing) ctx.traceNote = forwardComment(ctx.route.nextHop, this.ports[ctx.route.link].name);
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }

  /**
   * The source of an ICMP error about the current frame, as Linux's __icmp_send() picks it: the
   * packet's own destination when that is a local address (the VIP: an RTCF_LOCAL route), else
   * our address towards the sender.
   */
  icmpSource(): number {
    const ctx = this.ctx,
      ip = ctx.v.ip;
    return this.local.isLocal(ip.dst) ? ip.dst : this.routes.sourceFor(ctx.port.index, ip.src);
  }
}
