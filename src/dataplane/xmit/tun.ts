/**
 * Transmit by tunnelling (LVS-TUN, ipvsadm -i), as ip_vs_tunnel_xmit() in ip_vs_xmit.c: the
 * client's packet, TTL - 1 and otherwise unchanged, inside an outer IPv4 packet from the
 * director's address towards the real server to the real server (IP-in-IP, or GUE / GRE with
 * --tun-type), routed like any packet of the director, so the real server may sit behind
 * gateways. It decapsulates, finds the VIP on a device of its own and answers the client directly.
 *
 * MTU (ensure_mtu_is_adequate()): a packet with DF that would not fit once encapsulated gets
 * "fragmentation needed" with the link MTU less the overhead; one without DF is tunnelled whole
 * and the outer packet fragmented. The packet is copied (the outer headers need room in front);
 * a GSO super-frame is cut into segments first, since no virtio-net GSO type describes a tunnel.
 * Inner checksums left to offload are completed before they travel.
 */
import type { HostRoutes } from '../../host/addresses.js';
import type { Dest } from '../../ipvs/dest.js';
import { copyBytes } from '../../packet/bytes.js';
import { encapOverhead, writeEncap } from '../../packet/encap.js';
import { completePartialChecksum } from '../../packet/ipv4.js';
import { segmentTcp } from '../../packet/tcp-segment.js';
import { Drop, SENT } from '../drops.js';
import type { Egress } from '../egress.js';
import { FragmentBuffer } from '../fragment.js';
import type { FrameContext } from '../frame.js';
import type { Router } from '../router.js';

/** The largest outer packet: a whole inner datagram plus the largest encapsulation. */
const MAX_OUTER = 65535 + 64;

export class TunXmit {
  /** Outer packets are built here, then sent by copy (or in fragments). */
  private readonly buf = new Uint8Array(MAX_OUTER);
  /** Segments of a GSO super-frame, each with room for its outer headers. */
  private readonly segs = new FragmentBuffer(65535 + 64 * 128, 128);
  /** IP ID of outer packets without DF (the kernel's per-destination generator, as one counter). */
  private ipId = 1;

  constructor(
    private readonly ctx: FrameContext,
    private readonly routes: HostRoutes,
    private readonly router: Router,
    private readonly egress: Egress,
  ) {}

  /** Client -> real server `d`: the current IP packet, tunnelled. */
  toDest(d: Dest): number {
    const ctx = this.ctx,
      ip = ctx.v.ip,
      u8 = ctx.v.u8;
    const overhead = encapOverhead(d.tunType, d.tunFlags);
    const v = this.router.check(d.addr, d.id, overhead);
    if (v !== SENT) return v;
    ip.decrementTtl();
    const route = ctx.route;
    const src = this.routes.sourceFor(route.link, route.nextHop);
    const ipOff = ip.offset,
      len = ip.totalLen;
    if (ctx.gso) {
      const segs = this.segs;
      segs.reset();
      const n = segmentTcp(u8, ipOff, len, ctx.gsoSize, segs, overhead);
      if (n < 0) return Drop.TooBig;
      let verdict: number = SENT;
      for (let i = 0; i < segs.count; i++) {
        const o = segs.offsets[i];
        const total = writeEncap(
          segs.buf,
          o,
          segs.lengths[i] - overhead,
          d.tunType,
          d.tunFlags,
          d.tunPort,
          src,
          d.addr,
          this.nextId(),
        );
        const r = this.egress.transmit(segs.buf, null, o, total, route);
        if (r !== SENT) verdict = r;
      }
      return verdict;
    }
    if (ctx.csumPartial) completePartialChecksum(u8, ipOff, len);
    const b = this.buf;
    copyBytes(u8, null, ipOff, b, null, overhead, len);
    const total = writeEncap(b, 0, len, d.tunType, d.tunFlags, d.tunPort, src, d.addr, this.nextId());
    const fragMtu = ctx.fragMtu;
    ctx.fragMtu = 0;
    return this.egress.sendBuilt(b, 0, total, route, fragMtu);
  }

  private nextId(): number {
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff || 1;
    return id;
  }
}
