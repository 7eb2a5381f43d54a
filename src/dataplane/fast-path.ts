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
import { readI32, writeI32 } from '../packet/bytes.js';
import { csumUpdate16, csumUpdate32, partialCsumUpdate32 } from '../packet/checksum.js';
import { ETH_HLEN } from '../packet/eth.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN } from '../packet/ipv4.js';
import { TCP_SYN } from '../packet/tcp.js';
import type { DestRoutes } from './dest-routes.js';
import type { Egress } from './egress.js';
import type { FrameContext } from './frame.js';
import type { Port } from './port.js';

export class FastPath {
  /** The route of the frame under test (its own, so a declined frame leaves ctx untouched). */
  private readonly route = new Route();

  constructor(
    private readonly ctx: FrameContext,
    private readonly ports: readonly Port[],
    private readonly routes: HostRoutes,
    private readonly local: LocalAddresses,
    private readonly destRoutes: DestRoutes,
    private readonly ipvs: Ipvs,
    private readonly egress: Egress,
  ) {}

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
      u8 = port.rx.u8,
      mac = port.mac;
    const ip = off + ETH_HLEN;
    if (end - ip < IPV4_MIN_HLEN + 8 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00 || u8[ip] !== 0x45) return false;
    if (
      u8[off] !== mac[0] ||
      u8[off + 1] !== mac[1] ||
      u8[off + 2] !== mac[2] ||
      u8[off + 3] !== mac[3] ||
      u8[off + 4] !== mac[4] ||
      u8[off + 5] !== mac[5]
    )
      return false;
    const total = (u8[ip + 2] << 8) | u8[ip + 3];
    const ipEnd = ip + total;
    if (total < IPV4_MIN_HLEN + 8 || ipEnd > end || (u8[ip + 6] & 0x3f) !== 0 || u8[ip + 7] !== 0 || u8[ip + 8] <= 1)
      return false;
    let sum =
      ((u8[ip] << 8) | u8[ip + 1]) +
      total +
      ((u8[ip + 4] << 8) | u8[ip + 5]) +
      ((u8[ip + 6] << 8) | u8[ip + 7]) +
      ((u8[ip + 8] << 8) | u8[ip + 9]) +
      ((u8[ip + 10] << 8) | u8[ip + 11]) +
      ((u8[ip + 12] << 8) | u8[ip + 13]) +
      ((u8[ip + 14] << 8) | u8[ip + 15]) +
      ((u8[ip + 16] << 8) | u8[ip + 17]) +
      ((u8[ip + 18] << 8) | u8[ip + 19]);
    sum = (sum & 0xffff) + (sum >>> 16);
    if ((sum & 0xffff) + (sum >>> 16) !== 0xffff) return false;
    const src = readI32(u8, ip + 12),
      dst = readI32(u8, ip + 16);
    if (src === 0 || src === -1 || src >>> 28 === 0xe || src >>> 24 === 127 || dst >>> 28 === 0xe || dst === -1)
      return false;
    const proto = u8[ip + 9];
    const l4 = ip + IPV4_MIN_HLEN;
    let csumOff: number,
      flags = 0;
    if (proto === IPPROTO_TCP) {
      const doff = (u8[l4 + 12] >>> 4) << 2;
      if (ipEnd - l4 < 20 || doff < 20 || l4 + doff > ipEnd) return false;
      flags = u8[l4 + 13];
      csumOff = l4 + 16;
    } else if (proto === IPPROTO_UDP) {
      const ulen = (u8[l4 + 4] << 8) | u8[l4 + 5];
      if (ulen < 8 || l4 + ulen > ipEnd) return false;
      csumOff = l4 + 6;
    } else {
      return false;
    }
    if (this.local.isLocal(src) || this.routes.isSubnetBroadcast(port.index, dst)) return false;
    const sport = (u8[l4] << 8) | u8[l4 + 1],
      dport = (u8[l4 + 2] << 8) | u8[l4 + 3];
    const ipvs = this.ipvs,
      c = ipvs.conns;
    const inbound = this.local.isLocal(dst);
    let id: number, dest: Dest | null | undefined, out: Port, nextHop: number;
    if (inbound) {
      if ((flags & TCP_SYN) !== 0) return false;
      id = c.lookupIn(proto, src, sport, dst, dport, false);
      if (id < 0 || (c.flags[id] & ConnFlag.ONE_PACKET) !== 0 || c.fwd[id] !== Fwd.MASQ) return false;
      dest = ipvs.destOf(id);
      if (dest === null) return false;
      const link = this.destRoutes.linkOf(dest.id);
      if (link < 0) return false;
      out = this.ports[link];
      nextHop = this.destRoutes.nextHop[dest.id];
    } else {
      id = c.lookupOut(proto, src, sport, dst, dport);
      if (id < 0 || c.fwd[id] !== Fwd.MASQ || !this.routes.route(dst, this.route)) return false;
      dest = ipvs.destsById[c.destId[id]];
      out = this.ports[this.route.link];
      nextHop = this.route.nextHop;
    }
    if (out.hdr !== port.hdr || (total > out.mtu && !ctx.gso)) return false;
    const arpSlot = out.arp.lookup(nextHop);
    if (arpSlot < 0) return false;

    // Committed: count, run the state machine, rewrite, queue.
    const now = ctx.now;
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
    const addrOff = inbound ? ip + 16 : ip + 12,
      portOff = inbound ? l4 + 2 : l4;
    const oldAddr = inbound ? dst : src,
      oldPort = inbound ? dport : sport;
    const newAddr = inbound ? c.daddr[id] : c.vaddr[id],
      newPort = inbound ? c.dport[id] : c.vport[id];
    // IP header: address and TTL (RFC 1624 updates).
    const ttlWord = (u8[ip + 8] << 8) | u8[ip + 9];
    let ipCsum = csumUpdate32((u8[ip + 10] << 8) | u8[ip + 11], oldAddr, newAddr);
    ipCsum = csumUpdate16(ipCsum, ttlWord, ttlWord - 0x100);
    u8[ip + 8] = (ttlWord >>> 8) - 1;
    u8[ip + 10] = ipCsum >>> 8;
    u8[ip + 11] = ipCsum & 0xff;
    writeI32(u8, addrOff, newAddr);
    // L4: the pseudo-header address always; the port only when the checksum covers it (a
    // NEEDS_CSUM frame's field is the partial pseudo-header sum). UDP checksum 0 means "none".
    let l4Csum = (u8[csumOff] << 8) | u8[csumOff + 1];
    if (ctx.csumPartial) {
      l4Csum = partialCsumUpdate32(l4Csum, oldAddr, newAddr);
    } else if (proto === IPPROTO_TCP) {
      l4Csum = csumUpdate32(l4Csum, oldAddr, newAddr);
      if (oldPort !== newPort) l4Csum = csumUpdate16(l4Csum, oldPort, newPort);
    } else if (l4Csum !== 0) {
      l4Csum = csumUpdate32(l4Csum, oldAddr, newAddr) || 0xffff;
      if (oldPort !== newPort) l4Csum = csumUpdate16(l4Csum, oldPort, newPort) || 0xffff;
    }
    u8[csumOff] = l4Csum >>> 8;
    u8[csumOff + 1] = l4Csum & 0xff;
    u8[portOff] = newPort >>> 8;
    u8[portOff + 1] = newPort & 0xff;
    this.egress.queueInPlace(port, out, off, total, arpSlot, nextHop);
    return true;
  }
}
