/**
 * The general pipeline's entry: which stage gets a frame. Ethernet (our MAC or broadcast) -> ARP
 * to the host, IPv4 after the checks of ip_rcv() (header, checksum, martian sources, broadcast
 * and multicast destinations); fragments wait for reassembly (IPVS sees whole datagrams:
 * ip_vs_gather_frags() / the kernel's defrag hook run first); then a packet to one of our
 * addresses goes to IPVS's input (TCP, UDP) or the host (ICMP), a packet passing through to
 * IPVS's output (replies of real servers) and else to the router.
 */

import type { HostRoutes } from '../host/addresses.js';
import type { HostArp } from '../host/arp.js';
import type { HostIcmp } from '../host/icmp.js';
import type { LocalAddresses } from '../host/local-addresses.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../packet/eth.js';
import { ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST } from '../packet/icmp.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import { Parse } from '../packet/parse.js';
import { PacketViews } from '../packet/views.js';
import type { ControlInbox } from './control-inbox.js';
import { Defrag, type Reassembler } from './defrag.js';
import { CONSUMED, Drop, PASS } from './drops.js';
import type { FrameContext } from './frame.js';
import type { IcmpRelated } from './icmp-related.js';
import type { IpvsIn } from './ipvs-in.js';
import type { IpvsOut } from './ipvs-out.js';
import type { Port } from './port.js';
import type { Router } from './router.js';

/** ICMP destination unreachable code 2 (RFC 792). */
const ICMP_PROT_UNREACH = 2;

export interface ClassifyOptions {
  /** Route packets that belong to no connection between links (a gateway's job). */
  forward: boolean;
}

export class Classifier {
  /** Views over the reassembly buffer, for a datagram completed from fragments. */
  private readonly reasmViews: PacketViews;

  constructor(
    private readonly ctx: FrameContext,
    private readonly opts: ClassifyOptions,
    private readonly routes: HostRoutes,
    private readonly local: LocalAddresses,
    private readonly reasm: Reassembler,
    private readonly arp: HostArp,
    private readonly icmp: HostIcmp,
    private readonly ipvsIn: IpvsIn,
    private readonly ipvsOut: IpvsOut,
    private readonly related: IcmpRelated,
    private readonly router: Router,
    private readonly inbox: ControlInbox,
  ) {
    this.reasmViews = new PacketViews(reasm.out, reasm.outDv, false);
  }

  /** The frame at [off, end) of ctx.port's RX ring. Returns its verdict. */
  frame(off: number, end: number): number {
    const port = this.ctx.port,
      eth = port.rx.eth;
    const r = eth.bind(off, end);
    if (r !== Parse.Ok) return r === Parse.Truncated ? Drop.Truncated : Drop.BadHeader;
    const broadcast = eth.isBroadcastDst();
    if (!broadcast && !eth.dstIs(port.mac) && !(eth.isMulticastDst() && this.inbox.listensOn(port.index)))
      return Drop.NotForUs;
    const type = eth.etherType;
    if (type === ETHERTYPE_ARP) return this.arp.receive(port, eth.payloadOff, end);
    if (type === ETHERTYPE_IPV4) {
      if (broadcast) return Drop.Broadcast;
      return this.ipv4(port, eth.payloadOff, end);
    }
    if (type === ETHERTYPE_IPV6) return Drop.Ipv6;
    return Drop.UnknownEtherType;
  }

  private ipv4(port: Port, off: number, end: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip;
    const r = ip.bind(off, end);
    if (r !== Parse.Ok)
      return r === Parse.Truncated ? Drop.Truncated : r === Parse.BadHeader ? Drop.BadHeader : Drop.BadLength;
    if (!ip.checksumOk()) return Drop.BadChecksum;
    const src = ip.src,
      dst = ip.dst;
    if (src === 0 || src === -1 || src >>> 28 === 0xe || src >>> 24 === 127 || this.local.isLocal(src))
      return Drop.Martian;
    const multicast = dst >>> 28 === 0xe;
    if (multicast && !this.inbox.listensOn(port.index)) return Drop.Broadcast;
    if (dst === -1 || this.routes.isSubnetBroadcast(port.index, dst)) return Drop.Broadcast;
    if (ip.isFragment && !ctx.reassembled) return this.fragment(port, ip.offset, ip.totalLen);
    const proto = ip.protocol;
    const l4 = ip.payloadOff,
      l4End = ip.payloadEnd;
    if (multicast) return this.multicast(port, proto, l4, l4End);
    if (this.local.isStandby(dst)) return Drop.VrrpBackup;
    if (this.local.isLocal(dst)) {
      // A full NAT local address: replies of real servers come here (ICMP errors included).
      if (this.local.isLaddr(dst) && proto !== IPPROTO_ICMP) {
        const verdict = this.ipvsOut.out(proto, l4, l4End);
        if (verdict !== PASS) return verdict;
      }
      if (proto === IPPROTO_TCP) return this.ipvsIn.tcp(l4, l4End);
      if (proto === IPPROTO_UDP) return this.ipvsIn.udp(l4, l4End);
      if (proto === IPPROTO_ICMP) return this.localIcmp(l4, l4End);
      this.icmp.error(ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0, dst);
      return Drop.UnknownProtocol;
    }
    const verdict = this.ipvsOut.out(proto, l4, l4End);
    if (verdict !== PASS) return verdict;
    if (!this.opts.forward) return Drop.NoRoute;
    return this.router.forward(dst);
  }

  /**
   * A multicast packet on a link where the director listens: the control plane's copy if it
   * subscribed to the group, protocol and port (VRRP, connection sync), else dropped as any
   * multicast the director does not route.
   */
  private multicast(port: Port, proto: number, l4: number, l4End: number): number {
    const ip = this.ctx.v.ip,
      u8 = this.ctx.v.u8;
    const udpPort = proto === IPPROTO_UDP && l4End - l4 >= 8 ? (u8[l4 + 2] << 8) | u8[l4 + 3] : 0;
    if (!this.inbox.wants(port.index, ip.dst, proto, udpPort)) return Drop.Broadcast;
    return this.inbox.take(port.index, u8, ip.offset, ip.totalLen, this.ctx.now) ? CONSUMED : Drop.ControlQueueFull;
  }

  /** ICMP to one of our addresses: an error about a connection (ip_vs_in_icmp()) or an echo request. */
  private localIcmp(l4: number, l4End: number): number {
    const ic = this.ctx.v.icmp;
    if (ic.bind(l4, l4End) !== Parse.Ok) return Drop.Truncated;
    if (!ic.checksumOk()) return Drop.BadChecksum;
    if (ic.isRelatedError()) {
      const verdict = this.related.translate(l4, l4End, true);
      return verdict === Drop.IcmpIgnored ? this.related.tunnelError(l4, l4End) : verdict;
    }
    if (ic.type !== ICMP_ECHO_REQUEST || ic.code !== 0) return Drop.IcmpIgnored;
    return this.icmp.echo();
  }

  /**
   * A fragment waits in the Reassembler; the one that completes a datagram runs it through the
   * IPv4 path with the reassembly buffer's views. Such a datagram is sent by copying, fragmented
   * again to the size its largest fragment had (as the kernel does).
   */
  private fragment(port: Port, ipOff: number, ipLen: number): number {
    const ctx = this.ctx;
    const r = this.reasm.add(port.rx.u8, ipOff, ipLen, ctx.now);
    if (r === Defrag.Pending) return CONSUMED;
    if (r !== Defrag.Complete) return Drop.Fragment;
    ctx.v = this.reasmViews;
    ctx.reassembled = true;
    ctx.reasmMaxFrag = this.reasm.outMaxFragSize;
    try {
      return this.ipv4(port, 0, this.reasm.outLen);
    } finally {
      ctx.reassembled = false;
      ctx.v = port.rx;
    }
  }
}
