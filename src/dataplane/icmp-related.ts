/**
 * ICMP errors (destination unreachable, source quench, time exceeded) that quote a packet of a
 * connection, translated as ip_vs_in_icmp() / ip_vs_out_icmp() (ip_vs_core.c) do:
 * - inbound (to a director address, e.g. the client's host unreachable about our reply): the
 *   quote is VIP:vport -> client; outer dst := RIP, quoted src := RIP, quoted sport := rport.
 * - outbound (passing through, from a real server about the client's packet): the quote is
 *   client -> RIP:rport; outer src := VIP, quoted dst := VIP, quoted dport := vport.
 * The quoted IP header checksum is updated and the whole ICMP checksum recomputed; the quoted L4
 * checksum is left alone, as IPVS leaves it. Counted as In/Out packets of the connection's dest.
 */
import type { HostRoutes } from '../host/addresses.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { readI32 } from '../packet/bytes.js';
import { ICMP_HLEN, rewriteQuotedEndpoint } from '../packet/icmp.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN } from '../packet/ipv4.js';
import { Drop } from './drops.js';
import type { Egress } from './egress.js';
import type { FrameContext } from './frame.js';

export class IcmpRelated {
  constructor(
    private readonly ctx: FrameContext,
    private readonly ipvs: Ipvs,
    private readonly routes: HostRoutes,
    private readonly egress: Egress,
  ) {}

  /**
   * The error bound in the ICMP view at [l4, l4End). Returns the verdict, or IcmpIgnored when it
   * quotes no connection (the caller decides what else to do with it).
   */
  translate(l4: number, l4End: number, inbound: boolean): number {
    const ctx = this.ctx,
      v = ctx.v,
      ic = v.icmp,
      ip = v.ip,
      u8 = v.u8;
    if (!ic.checksumOk()) return Drop.BadChecksum;
    const q = l4 + ICMP_HLEN; // quoted IP header
    if (l4End - q < IPV4_MIN_HLEN) return Drop.IcmpIgnored;
    const qhl = (u8[q] & 0x0f) << 2;
    if (u8[q] >>> 4 !== 4 || qhl < IPV4_MIN_HLEN || l4End - q < qhl + 8) return Drop.IcmpIgnored;
    const qproto = u8[q + 9];
    if (qproto !== IPPROTO_TCP && qproto !== IPPROTO_UDP) return Drop.IcmpIgnored;
    const qsrc = readI32(u8, q + 12),
      qdst = readI32(u8, q + 16);
    const ql4 = q + qhl;
    const qsport = (u8[ql4] << 8) | u8[ql4 + 1],
      qdport = (u8[ql4 + 2] << 8) | u8[ql4 + 3];
    const ipvs = this.ipvs,
      c = ipvs.conns;
    const id = inbound
      ? c.lookupIn(qproto, qdst, qdport, qsrc, qsport, false)
      : c.lookupOut(qproto, qdst, qdport, qsrc, qsport);
    if (id < 0) return Drop.IcmpIgnored;
    const len = ip.totalLen;
    const dest = ipvs.destsById[c.destId[id]];
    if (inbound) {
      if (dest === null || dest === undefined || !dest.available) return Drop.DestUnavailable;
      ipvs.countIn(dest, len);
    } else {
      ipvs.countOut(dest, len);
    }
    const target = inbound ? c.daddr[id] : ip.dst;
    // Relayed ICMP errors skip the DF check (IPVS may fragment them); our quote fits any MTU >= 576.
    if (ip.ttl <= 1) return Drop.TtlExceeded;
    if (!this.routes.route(target, ctx.route)) return Drop.NoRoute;
    if (inbound) {
      ip.setDst(c.daddr[id]);
      rewriteQuotedEndpoint(u8, q, ql4, true, c.daddr[id], c.dport[id]);
    } else {
      ip.setSrc(c.vaddr[id]);
      rewriteQuotedEndpoint(u8, q, ql4, false, c.vaddr[id], c.vport[id]);
    }
    ic.fixChecksum();
    ip.decrementTtl();
    return this.egress.forwardRx(ip.offset, len);
  }
}
