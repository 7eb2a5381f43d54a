/**
 * The established-flow fast path: one flat pass for the frames that make up nearly all traffic.
 * The point is speed (no view binding, no getters, one read of each field, about half the cost
 * of the general pipeline in bench/micro/fastpath.ts); the decisions are the general pipeline's
 * (classify.ts, ipvs-in.ts, ipvs-out.ts, xmit/nat.ts), which takes every frame this one declines.
 * What is constant per connection and direction (the kind, the hop, the rewrite and its checksum
 * deltas) is worked out by the first frame and kept in a flow record (flow-cache.ts).
 */
import type { HostRoutes } from '../host/addresses.js';
import type { LocalAddresses } from '../host/local-addresses.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { Dir } from '../ipvs/tcp-state.js';
import { csumApplyDelta, csumFold } from '../packet/checksum.js';
import { ETH_HLEN } from '../packet/eth.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HLEN } from '../packet/ipv4.js';
import { TCP_SYN } from '../packet/tcp.js';
import type { DestRoutes } from './dest-routes.js';
import type { Egress } from './egress.js';
import { FLOW_DIRS, FLOW_WORDS, Flow, FlowBit, FlowCache, IP_TTL_DELTA } from './flow-cache.js';
import type { FrameContext } from './frame.js';
import type { Port } from './port.js';
import type { ProxySeq } from './xmit/proxy-seq.js';

export class FastPath {
  /** The per-connection, per-direction records of what the first frame found out. */
  readonly flows: FlowCache;
  /** Per link: 1 when its last fast frame was a reply (found in the out-index), else 0. */
  private readonly replyLink: Uint8Array;

  constructor(
    private readonly ctx: FrameContext,
    private readonly ports: readonly Port[],
    routes: HostRoutes,
    local: LocalAddresses,
    destRoutes: DestRoutes,
    private readonly ipvs: Ipvs,
    private readonly egress: Egress,
    /** Full NAT connections with a PROXY header move sequence numbers: the general path's. */
    private readonly proxy: ProxySeq,
  ) {
    this.flows = new FlowCache(ports, routes, local, destRoutes, ipvs);
    this.replyLink = new Uint8Array(ports.length);
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
   * bytes and counters). Per frame it checks the frame itself, finds the connection and reads
   * its flow record; the record's first fill (flow-cache.ts) makes the per-connection checks.
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
    const ports = dv.getInt32(l4);
    const sport = ports >>> 16,
      dport = ports & 0xffff;
    const ipvs = this.ipvs,
      c = ipvs.conns;
    // A link's frames mostly go one way (clients' on one, real servers' on another): the index
    // that answered its last frame is asked first. Either order finds what is there.
    const replyLink = this.replyLink;
    const hit = c.lookupFlow(proto, src, sport, dst, dport, replyLink[port.index] === 1);
    if (hit < 0) return false;
    const id = hit >> 1,
      dir = hit & 1;
    replyLink[port.index] = dir;
    // The record of this connection and direction: martians, "is it ours", the kind, the hop,
    // the rewrite, as the first frame found them while nothing they depend on changed.
    const flows = this.flows,
      t = flows.records,
      r = (id * FLOW_DIRS + dir) * FLOW_WORDS;
    if (t[r + Flow.EPOCH] !== flows.epoch || (t[r + Flow.META] & 0xff) !== port.index)
      flows.fill(r, id, dir, port, src, sport, dst, dport);
    const meta = t[r + Flow.META];
    if ((meta & FlowBit.DECLINED) !== 0) return false;
    const inbound = (meta & FlowBit.INBOUND) !== 0;
    // Per frame: a SYN to the VIP may reuse or reschedule; a PROXY header moves bytes.
    if (inbound && (flags & TCP_SYN) !== 0) return false;
    if ((meta & FlowBit.FULLNAT) !== 0 && proto === IPPROTO_TCP && this.proxy.active(id)) return false;
    const out = this.ports[(meta >> 8) & 0xff];
    if (total > out.mtu && !ctx.gso) return false;
    const dest = ipvs.destsById[c.destId[id]];
    if (inbound && (dest === null || dest === undefined || !dest.available)) return false;

    // Committed: count, run the state machine, rewrite, queue.
    const now = ctx.now;
    if (inbound) {
      ipvs.countIn(dest!, total);
      c.pkts[id]++;
    } else {
      ipvs.countOut(dest, total);
    }
    const sdir = inbound ? Dir.INPUT : Dir.OUTPUT;
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, sdir, flags, now);
    else ipvs.udpState(id, sdir, now);
    if (inbound && ctx.syncMaster !== null) ctx.syncMaster.afterInbound(id, now);
    // IP header: TTL - 1 and the addresses, the checksum by the record's deltas (the bytes the
    // general path's update-after-update gives; checksum.ts, csumApplyDelta).
    dv.setInt32(ip + 8, (((w2 >>> 16) - 0x100) << 16) | csumApplyDelta(w2 & 0xffff, t[r + Flow.IP_DELTA]));
    dv.setInt32(ip + 12, t[r + Flow.SRC]);
    dv.setInt32(ip + 16, t[r + Flow.DST]);
    if ((meta & FlowBit.L4) !== 0) {
      // L4: the pseudo-header addresses always; ports only when the checksum covers them (a
      // NEEDS_CSUM frame's field is the partial pseudo-header sum). UDP checksum 0 means "none".
      let l4Csum = dv.getUint16(csumOff);
      if (ctx.csumPartial) {
        l4Csum = csumFold(l4Csum + t[r + Flow.IP_DELTA] - IP_TTL_DELTA);
      } else if (proto === IPPROTO_TCP || l4Csum !== 0) {
        l4Csum = csumApplyDelta(l4Csum, t[r + Flow.L4_DELTA]);
        // UDP: a computed 0 is sent as 0xffff (as the UDP view does after every step; the same
        // bytes, since a 0 in between adds as the 0xffff it becomes).
        if (proto !== IPPROTO_TCP && l4Csum === 0) l4Csum = 0xffff;
      }
      dv.setUint16(csumOff, l4Csum);
      dv.setInt32(l4, t[r + Flow.PORTS]);
    }
    this.egress.queueFlow(port, out, off, total, t, r);
    return true;
  }
}
