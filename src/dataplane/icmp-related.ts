/**
 * ICMP errors (destination unreachable, source quench, time exceeded) that quote a packet of a
 * connection, translated as ip_vs_in_icmp() / ip_vs_out_icmp() (ip_vs_core.c) do:
 * - inbound (to a director address, e.g. the client's host unreachable about our reply): the
 *   quote is VIP:vport -> client; outer dst := RIP, quoted src := RIP, quoted sport := rport.
 * - outbound (passing through, from a real server about the client's packet): the quote is
 *   client -> RIP:rport; outer src := VIP, quoted dst := VIP, quoted dport := vport.
 * The quoted IP header checksum is updated and the whole ICMP checksum recomputed; the quoted L4
 * checksum is left alone, as IPVS leaves it. Counted as In/Out packets of the connection's dest.
 *
 * Other methods: an error about a DR or TUN reply goes unchanged, with the connection's own
 * transmitter, to the real server that sent the reply (ip_vs_in_icmp() -> ip_vs_icmp_xmit()
 * without NAT). Full NAT translates both ends: an error about a reply is turned towards the real
 * server (to RIP from LIP, quoting LIP:lport -> RIP:rport... as it sent it), and an error from
 * the real server's side, which comes to the local address, is turned towards the client.
 */
import type { HostRoutes } from '../host/addresses.js';
import type { HostIcmp } from '../host/icmp.js';
import { Fwd } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { readI32 } from '../packet/bytes.js';
import { IPPROTO_GRE, IPPROTO_IPIP } from '../packet/encap.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_HLEN, rewriteQuotedEndpoint } from '../packet/icmp.js';
import { IP_DF, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN } from '../packet/ipv4.js';
import { CONSUMED, Drop } from './drops.js';
import type { Egress } from './egress.js';
import type { FrameContext } from './frame.js';
import type { Transmitters } from './xmit/transmitters.js';

export class IcmpRelated {
  constructor(
    private readonly ctx: FrameContext,
    private readonly ipvs: Ipvs,
    private readonly routes: HostRoutes,
    private readonly egress: Egress,
    private readonly xmit: Transmitters,
    private readonly icmp: HostIcmp,
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
    let id = inbound
      ? c.lookupIn(qproto, qdst, qdport, qsrc, qsport, false)
      : c.lookupOut(qproto, qdst, qdport, qsrc, qsport);
    // To a full NAT local address: the real server's error about what we sent it, LIP -> RIP.
    let fromDest = !inbound;
    if (id < 0 && inbound) {
      id = c.lookupOut(qproto, qdst, qdport, qsrc, qsport);
      if (id < 0 || c.fwd[id] !== Fwd.FULLNAT) return Drop.IcmpIgnored;
      fromDest = true;
    }
    if (id < 0) return Drop.IcmpIgnored;
    const len = ip.totalLen;
    const dest = ipvs.destsById[c.destId[id]];
    const fwd = c.fwd[id];
    if (!fromDest) {
      if (dest === null || dest === undefined || !dest.available) return Drop.DestUnavailable;
      ipvs.countIn(dest, len);
      if (fwd === Fwd.ROUTE || fwd === Fwd.TUNNEL) return this.xmit.relayToDest(id, dest);
    } else {
      ipvs.countOut(dest, len);
    }
    if (fwd === Fwd.FULLNAT) return this.fullNat(id, fromDest, q, ql4, len);
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

  /**
   * An error about one of the director's own tunnel packets (a router on the way to a real server
   * quoting the outer IPIP, GUE or GRE packet, e.g. fragmentation needed), as ip_vs_in_icmp()
   * handles it: the client's packet inside the quote is found, and the client gets the same error
   * about it, from the VIP. Fragmentation needed is relayed only for a packet with DF, with the
   * reported MTU less the 20 bytes of the outer header (the kernel subtracts only those, so GUE
   * and GRE may need one more round, answered by the director's own MTU check). Returns
   * IcmpIgnored when the quote is not such a packet.
   */
  tunnelError(l4: number, l4End: number): number {
    const ctx = this.ctx,
      v = ctx.v,
      u8 = v.u8,
      ic = v.icmp;
    const q = l4 + ICMP_HLEN;
    if (l4End - q < IPV4_MIN_HLEN) return Drop.IcmpIgnored;
    const qhl = (u8[q] & 0x0f) << 2;
    if (u8[q] >>> 4 !== 4 || qhl < IPV4_MIN_HLEN || (((u8[q + 6] << 8) | u8[q + 7]) & 0x1fff) !== 0)
      return Drop.IcmpIgnored;
    const qproto = u8[q + 9];
    let inner = q + qhl;
    if (qproto === IPPROTO_UDP) {
      // GUE: version 0, not a control message, carrying IPv4 (ipvs_gue_encap()'s layout).
      if (l4End - inner < 12 || u8[inner + 8] >>> 6 !== 0 || (u8[inner + 8] & 0x20) !== 0 || u8[inner + 9] !== 4)
        return Drop.IcmpIgnored;
      inner += 12 + ((u8[inner + 8] & 0x1f) << 2);
    } else if (qproto === IPPROTO_GRE) {
      const flags = (u8[inner] << 8) | u8[inner + 1];
      if (l4End - inner < 4 || (flags & ~0x8000) !== 0 || ((u8[inner + 2] << 8) | u8[inner + 3]) !== 0x0800)
        return Drop.IcmpIgnored;
      inner += (flags & 0x8000) !== 0 ? 8 : 4;
    } else if (qproto !== IPPROTO_IPIP) return Drop.IcmpIgnored;
    if (l4End - inner < IPV4_MIN_HLEN) return Drop.IcmpIgnored;
    const ihl = (u8[inner] & 0x0f) << 2;
    if (u8[inner] >>> 4 !== 4 || ihl < IPV4_MIN_HLEN || l4End - inner < ihl + 8) return Drop.IcmpIgnored;
    const iproto = u8[inner + 9];
    if (iproto !== IPPROTO_TCP && iproto !== IPPROTO_UDP) return Drop.IcmpIgnored;
    const c = this.ipvs.conns;
    const il4 = inner + ihl;
    const id = c.lookupIn(
      iproto,
      readI32(u8, inner + 12),
      (u8[il4] << 8) | u8[il4 + 1],
      readI32(u8, inner + 16),
      (u8[il4 + 2] << 8) | u8[il4 + 3],
      false,
    );
    if (id < 0 || c.fwd[id] !== Fwd.TUNNEL || c.daddr[id] !== readI32(u8, q + 16)) return Drop.IcmpIgnored;
    let mtu = 0;
    if (ic.type === ICMP_DEST_UNREACH && ic.code === ICMP_FRAG_NEEDED) {
      if ((((u8[inner + 6] << 8) | u8[inner + 7]) & IP_DF) === 0) return Drop.IcmpIgnored;
      mtu = u8[l4 + 6] === 0 && u8[l4 + 7] === 0 ? 0 : (u8[l4 + 6] << 8) | u8[l4 + 7];
      if (mtu > 88) mtu -= IPV4_MIN_HLEN;
    }
    this.icmp.errorAbout(ic.type, ic.code, mtu, c.vaddr[id], u8, inner, l4End - inner);
    return CONSUMED;
  }

  /**
   * Full NAT: both ends of the outer packet and of the quote. Towards the real server (an error
   * about a reply, quoting VIP:vport -> CIP:cport) it becomes LIP -> RIP quoting RIP:rport ->
   * LIP:lport; towards the client (the real server's error, quoting LIP:lport -> RIP:rport) it
   * becomes VIP -> CIP quoting CIP:cport -> VIP:vport.
   */
  private fullNat(id: number, toClient: boolean, q: number, ql4: number, len: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip,
      u8 = ctx.v.u8,
      c = this.ipvs.conns;
    if (ip.ttl <= 1) return Drop.TtlExceeded;
    const target = toClient ? c.caddr[id] : c.daddr[id];
    if (!this.routes.route(target, ctx.route)) return Drop.NoRoute;
    if (toClient) {
      ip.setSrc(c.vaddr[id]);
      ip.setDst(c.caddr[id]);
      rewriteQuotedEndpoint(u8, q, ql4, true, c.caddr[id], c.cport[id]);
      rewriteQuotedEndpoint(u8, q, ql4, false, c.vaddr[id], c.vport[id]);
    } else {
      ip.setSrc(c.laddr[id]);
      ip.setDst(c.daddr[id]);
      rewriteQuotedEndpoint(u8, q, ql4, true, c.daddr[id], c.dport[id]);
      rewriteQuotedEndpoint(u8, q, ql4, false, c.laddr[id], c.lport[id]);
    }
    ctx.v.icmp.fixChecksum();
    ip.decrementTtl();
    return this.egress.forwardRx(ip.offset, len);
  }
}
