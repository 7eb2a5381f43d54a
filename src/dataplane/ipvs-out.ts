/**
 * Packets passing through the director that may be replies of a real server, as ip_vs_out_hook()
 * (ip_vs_core.c) handles them: a connection's reply is counted, runs the state machine and
 * leaves masqueraded (handle_response()); an ICMP error about a connection's packet is
 * translated (ip_vs_out_icmp()). Anything else is not IPVS's: PASS, and the router decides.
 *
 * Per method: a NAT reply passes through (to the client); a full NAT reply comes to a local
 * address (classify.ts sends it here first). A DR or TUN reply bypasses the director; one sent
 * through it anyway has the VIP, a local address, as its source and is dropped by classify.ts as
 * a martian, as Linux drops it (accept_local off), so DR and TUN connections stay on the
 * INPUT_ONLY state table.
 */
import { Fwd } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { Dir } from '../ipvs/tcp-state.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import { Parse } from '../packet/parse.js';
import { Drop, PASS } from './drops.js';
import type { FrameContext } from './frame.js';
import type { IcmpRelated } from './icmp-related.js';
import { noteNat } from './trace-notes.js';
import type { Transmitters } from './xmit/transmitters.js';

export class IpvsOut {
  constructor(
    private readonly ctx: FrameContext,
    private readonly ipvs: Ipvs,
    private readonly xmit: Transmitters,
    private readonly related: IcmpRelated,
  ) {}

  /** The current frame's L4 at [l4, l4End), protocol `proto`. Returns a verdict or PASS. */
  out(proto: number, l4: number, l4End: number): number {
    const v = this.ctx.v,
      ip = v.ip;
    if (proto === IPPROTO_TCP) {
      const t = v.tcp;
      const tr = t.bind(l4, l4End);
      if (tr !== Parse.Ok) return tr === Parse.Truncated ? Drop.Truncated : Drop.BadHeader;
      const id = this.ipvs.conns.lookupOut(IPPROTO_TCP, ip.src, t.srcPort, ip.dst, t.dstPort);
      if (id >= 0) return this.reply(id, IPPROTO_TCP, t.flags);
    } else if (proto === IPPROTO_UDP) {
      const u = v.udp;
      const ur = u.bind(l4, l4End);
      if (ur !== Parse.Ok) return ur === Parse.Truncated ? Drop.Truncated : Drop.BadLength;
      const id = this.ipvs.conns.lookupOut(IPPROTO_UDP, ip.src, u.srcPort, ip.dst, u.dstPort);
      if (id >= 0) return this.reply(id, IPPROTO_UDP, 0);
    } else if (proto === IPPROTO_ICMP) {
      const ic = v.icmp;
      if (ic.bind(l4, l4End) === Parse.Ok && ic.isRelatedError()) {
        const verdict = this.related.translate(l4, l4End, false);
        if (verdict !== Drop.IcmpIgnored) return verdict;
      }
    }
    return PASS;
  }

  /** Real server -> client: count, state, SNAT back to the VIP, transmit. */
  private reply(id: number, proto: number, tcpFlags: number): number {
    const ctx = this.ctx,
      ipvs = this.ipvs,
      c = ipvs.conns;
    ipvs.countOut(ipvs.destsById[c.destId[id]], ctx.v.ip.totalLen);
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, Dir.OUTPUT, tcpFlags, ctx.now);
    else ipvs.udpState(id, Dir.OUTPUT, ctx.now);
    if (ctx.tracing) noteNat(ctx, c, 'out', id, proto);
    return c.fwd[id] === Fwd.FULLNAT ? this.xmit.fullnat.toClient(id, proto) : this.xmit.nat.toClient(id, proto);
  }
}
