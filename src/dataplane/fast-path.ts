/**
 * The established-flow fast path: one flat pass for the frames that make up nearly all traffic.
 * The point is speed (no view binding, no getters, one read of each field, about half the cost
 * of the general pipeline in bench/micro/fastpath.ts); the decisions are the general pipeline's
 * (classify.ts, ipvs-in.ts, ipvs-out.ts, xmit/nat.ts), which takes every frame this one declines.
 */
import type { HostRoutes } from '../host/addresses.js';
import { Route } from '../host/addresses.js';
import type { LocalAddresses } from '../host/local-addresses.js';
import { ConnFlag } from '../ipvs/conn-table.js';
import { type Dest, Fwd } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { Dir } from '../ipvs/tcp-state.js';
import { csumApplyDelta, csumDelta16, csumDelta32, partialCsumUpdate32 } from '../packet/checksum.js';
import { ETH_HLEN } from '../packet/eth.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN } from '../packet/ipv4.js';
import { TCP_SYN } from '../packet/tcp.js';
import type { DestRoutes } from './dest-routes.js';
import type { Egress } from './egress.js';
import type { FrameContext } from './frame.js';
import { HopCache } from './hop-cache.js';
import type { Port } from './port.js';
import type { ProxySeq } from './xmit/proxy-seq.js';

/** What the fast path does with a frame, by the connection's method and the frame's direction. */
const Kind = { NatIn: 0, NatOut: 1, DrIn: 2, FullNatIn: 3, FullNatOut: 4 } as const;

export class FastPath {
  /** Where established flows leave (route, next hop, ARP slot), remembered per dest and per connection. */
  readonly hops: HopCache;

  constructor(
    private readonly ctx: FrameContext,
    private readonly ports: readonly Port[],
    private readonly routes: HostRoutes,
    private readonly local: LocalAddresses,
    destRoutes: DestRoutes,
    private readonly ipvs: Ipvs,
    private readonly egress: Egress,
    /** Full NAT connections with a PROXY header move sequence numbers: the general path's. */
    private readonly proxy: ProxySeq,
  ) {
    // The route of the frame under test is the cache's own, so a declined frame leaves ctx untouched.
    this.hops = new HopCache(ports, routes, destRoutes, new Route(), ipvs.conns.capacity);
  }

  /**
   * One flat pass for the frames that make up nearly all traffic: an untagged IPv4 unicast frame
   * to our MAC (20-byte header, not a fragment, TTL > 1, good header checksum) carrying TCP or UDP
   * of a connection that exists, whose dest is available with a route in the dest table, whose next hop is
   * resolved, leaving zero-copy within the MTU (or as a GSO super-frame). Client -> VIP TCP
   * segments with SYN go the general way (connection reuse, scheduling).
   *
   * It reads everything before it changes anything: on any other frame it returns false with
   * the frame untouched and handleFrame() runs the general pipeline, which makes the same
   * decisions for this traffic (test/pipeline/fast-path.test.ts sends both through and compares
   * bytes and counters). The point is speed: no view binding, no getters, one read of each
   * field, which halves the per-packet cost (bench/micro/fastpath.ts).
   */
  tryNat(port: Port, off: number, end: number): boolean {
    const ctx = this.ctx,
      dv = port.rx.dv;
    const ip = off + ETH_HLEN;
    // Whole words through the DataView (big-endian loads, one bounds check each), never past
    // `end`: 20 + 8 bytes of IPv4 and L4 header are checked present before any read.
    if (end - ip < IPV4_MIN_HLEN + 8) return false;
    if (dv.getInt32(off) !== port.macHi || dv.getUint16(off + 4) !== port.macLo || dv.getUint16(off + 12) !== 0x0800)
      return false;
    const w0 = dv.getInt32(ip), // version/IHL, TOS, total length
      w1 = dv.getInt32(ip + 4), // id, flags/fragment offset
      w2 = dv.getInt32(ip + 8), // TTL, protocol, checksum
      src = dv.getInt32(ip + 12),
      dst = dv.getInt32(ip + 16);
    const total = w0 & 0xffff;
    const ipEnd = ip + total;
    // MF or an offset: a fragment (the reserved bit and DF do not matter); TTL 0 or 1 expires here.
    if (w0 >>> 24 !== 0x45 || total < IPV4_MIN_HLEN + 8 || ipEnd > end || (w1 & 0x3fff) !== 0 || w2 >>> 24 <= 1)
      return false;
    let sum =
      (w0 >>> 16) +
      (w0 & 0xffff) +
      (w1 >>> 16) +
      (w1 & 0xffff) +
      (w2 >>> 16) +
      (w2 & 0xffff) +
      (src >>> 16) +
      (src & 0xffff) +
      (dst >>> 16) +
      (dst & 0xffff);
    sum = (sum & 0xffff) + (sum >>> 16);
    if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) return false;
    if (src === 0 || src === -1 || src >>> 28 === 0xe || src >>> 24 === 127 || dst >>> 28 === 0xe || dst === -1)
      return false;
    const proto = (w2 >>> 16) & 0xff;
    const l4 = ip + IPV4_MIN_HLEN;
    let csumOff: number,
      flags = 0;
    if (proto === IPPROTO_TCP) {
      if (ipEnd - l4 < 20) return false;
      const offFlags = dv.getUint16(l4 + 12); // data offset, flags
      const doff = (offFlags >>> 12) << 2;
      if (doff < 20 || l4 + doff > ipEnd) return false;
      flags = offFlags & 0xff;
      csumOff = l4 + 16;
    } else if (proto === IPPROTO_UDP) {
      const ulen = dv.getUint16(l4 + 4);
      if (ulen < 8 || l4 + ulen > ipEnd) return false;
      csumOff = l4 + 6;
    } else {
      return false;
    }
    if (this.local.isLocal(src) || this.routes.isSubnetBroadcast(port.index, dst)) return false;
    const ports = dv.getInt32(l4);
    const sport = ports >>> 16,
      dport = ports & 0xffff;
    const ipvs = this.ipvs,
      c = ipvs.conns;
    const local = this.local.isLocal(dst);
    const hops = this.hops;
    let id = -1,
      kind: number,
      dest: Dest | null | undefined;
    // A full NAT local address: replies of real servers first (classify.ts asks ipvs-out first too).
    if (local && this.local.isLaddr(dst)) {
      id = c.lookupOut(proto, src, sport, dst, dport);
      if (
        id >= 0 &&
        (c.fwd[id] !== Fwd.FULLNAT ||
          (proto === IPPROTO_TCP && this.proxy.active(id)) ||
          !hops.toClient(id, c.caddr[id]))
      )
        return false;
    }
    if (id >= 0) {
      kind = Kind.FullNatOut;
      dest = ipvs.destsById[c.destId[id]];
    } else if (local) {
      if ((flags & TCP_SYN) !== 0) return false;
      id = c.lookupIn(proto, src, sport, dst, dport, false);
      if (id < 0 || (c.flags[id] & ConnFlag.ONE_PACKET) !== 0) return false;
      const fwd = c.fwd[id];
      kind = fwd === Fwd.MASQ ? Kind.NatIn : fwd === Fwd.ROUTE ? Kind.DrIn : fwd === Fwd.FULLNAT ? Kind.FullNatIn : -1;
      if (kind < 0 || (kind === Kind.FullNatIn && proto === IPPROTO_TCP && this.proxy.active(id))) return false; // tunnels copy, PROXY headers move bytes: the general path
      dest = ipvs.destOf(id);
      if (dest === null || !hops.toDest(dest.id)) return false;
      if (kind === Kind.DrIn && hops.nextHop !== dest.addr) return false;
    } else {
      id = c.lookupOut(proto, src, sport, dst, dport);
      if (id < 0 || c.fwd[id] !== Fwd.MASQ || !hops.toClient(id, dst)) return false;
      kind = Kind.NatOut;
      dest = ipvs.destsById[c.destId[id]];
    }
    // The hop (route, next hop, resolved ARP slot) comes from the hop cache: the lookups' answer
    // while routes and neighbours stay as they were (hop-cache.ts).
    const out = this.ports[hops.link],
      nextHop = hops.nextHop,
      arpSlot = hops.arpSlot;
    if (out.hdr !== port.hdr || (total > out.mtu && !ctx.gso)) return false;

    // Committed: count, run the state machine, rewrite, queue.
    const now = ctx.now;
    const inbound = kind !== Kind.NatOut && kind !== Kind.FullNatOut;
    if (inbound) {
      ipvs.countIn(dest!, total);
      c.pkts[id]++;
    } else {
      ipvs.countOut(dest, total);
    }
    const dir = inbound ? Dir.INPUT : Dir.OUTPUT;
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, dir, flags, now);
    else ipvs.udpState(id, dir, now);
    if (inbound && ctx.syncMaster !== null) ctx.syncMaster.afterInbound(id, now);
    let nsrc = src,
      nsport = sport,
      ndst = dst,
      ndport = dport;
    if (kind === Kind.NatIn) {
      ndst = c.daddr[id];
      ndport = c.dport[id];
    } else if (kind === Kind.NatOut) {
      nsrc = c.vaddr[id];
      nsport = c.vport[id];
    } else if (kind === Kind.FullNatIn) {
      nsrc = c.laddr[id];
      nsport = c.lport[id];
      ndst = c.daddr[id];
      ndport = c.dport[id];
    } else if (kind === Kind.FullNatOut) {
      nsrc = c.vaddr[id];
      nsport = c.vport[id];
      ndst = c.caddr[id];
      ndport = c.cport[id];
    }
    // IP header: addresses and TTL (RFC 1624 updates), the changes summed once per checksum
    // (csumApplyDelta: the bytes the general path's update-after-update gives).
    const ttlWord = w2 >>> 16;
    let addrDelta = 0;
    if (nsrc !== src) addrDelta += csumDelta32(src, nsrc);
    if (ndst !== dst) addrDelta += csumDelta32(dst, ndst);
    // TTL - 1: ~m + m' of the TTL/protocol word is 0xfeff whatever the TTL (> 1 here).
    const ipCsum = csumApplyDelta(w2 & 0xffff, addrDelta + csumDelta16(ttlWord, ttlWord - 0x100));
    dv.setInt32(ip + 8, ((ttlWord - 0x100) << 16) | ipCsum); // TTL - 1 (> 0 here), protocol, checksum
    if (kind !== Kind.DrIn) {
      if (nsrc !== src) dv.setInt32(ip + 12, nsrc);
      if (ndst !== dst) dv.setInt32(ip + 16, ndst);
      // L4: the pseudo-header addresses always; ports only when the checksum covers them (a
      // NEEDS_CSUM frame's field is the partial pseudo-header sum). UDP checksum 0 means "none".
      let l4Csum = dv.getUint16(csumOff);
      if (ctx.csumPartial) {
        if (nsrc !== src) l4Csum = partialCsumUpdate32(l4Csum, src, nsrc);
        if (ndst !== dst) l4Csum = partialCsumUpdate32(l4Csum, dst, ndst);
      } else if (proto === IPPROTO_TCP || l4Csum !== 0) {
        let l4Delta = addrDelta;
        if (nsport !== sport) l4Delta += csumDelta16(sport, nsport);
        if (ndport !== dport) l4Delta += csumDelta16(dport, ndport);
        l4Csum = csumApplyDelta(l4Csum, l4Delta);
        // UDP: a computed 0 is sent as 0xffff (as the UDP view does after every step; the same
        // bytes, since a 0 in between adds as the 0xffff it becomes).
        if (proto !== IPPROTO_TCP && l4Csum === 0) l4Csum = 0xffff;
      }
      dv.setUint16(csumOff, l4Csum);
      dv.setInt32(l4, (nsport << 16) | ndport);
    }
    this.egress.queueInPlace(port, out, off, total, arpSlot, nextHop);
    return true;
  }
}
