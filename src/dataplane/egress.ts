/**
 * Putting IP packets on a link: the next hop's MAC from the ARP cache (or the packet parked until
 * ARP resolves it), then a TX slot. Packets received on a link leave zero-copy when the links
 * allow it (the Ethernet header rewritten in place in the RX ring, the TX slot pointing there);
 * packets the director builds, reassembled datagrams and frames between links that differ in
 * virtio-net headers are copied; datagrams over the MTU without DF leave in fragments.
 */

import type { Route } from '../host/addresses.js';
import type { HostArp } from '../host/arp.js';
import { moveVnetHdr } from '../link/vnet-hdr.js';
import { copyBytes } from '../packet/bytes.js';
import { ETH_HLEN, ETHERTYPE_IPV4, writeEth } from '../packet/eth.js';
import { completePartialChecksum } from '../packet/ipv4.js';
import { Drop, SENT } from './drops.js';
import { Flow } from './flow-cache.js';
import { FRAG_IGNORE_DF, Frag, FragmentBuffer, fragmentInto } from './fragment.js';
import type { FrameContext } from './frame.js';
import type { Port } from './port.js';

const ZERO_MAC = new Uint8Array(6);

export class Egress {
  /** Fragments created for oversized packets without DF (like IPSTATS_MIB_FRAGCREATES). */
  fragmentsSent = 0;
  private readonly fragBuf = new FragmentBuffer(65535 + 64 * 64, 64);

  constructor(
    private readonly ctx: FrameContext,
    private readonly ports: readonly Port[],
    private readonly arp: HostArp,
    /** Frames are forwarded in place (every link can point TX slots into the others' RX rings). */
    readonly zeroCopy: boolean,
  ) {}

  /**
   * Sends the current frame's IP packet at [ipOff, ipOff + len) along ctx.route: in fragments
   * when the router asked for them, else zero-copy when possible, else copied.
   */
  forwardRx(ipOff: number, len: number): number {
    const ctx = this.ctx,
      port = ctx.port,
      v = ctx.v;
    if (ctx.fragMtu > 0) return this.sendFragments(ipOff, len);
    if (ctx.reassembled) return this.transmit(v.u8, null, ipOff, len, ctx.route);
    const out = this.ports[ctx.route.link];
    if (!this.zeroCopy || out.hdr !== port.hdr) {
      // The copy leaves without the virtio-net header: a partial checksum must be completed here.
      if (ctx.csumPartial && !ctx.gso) completePartialChecksum(v.u8, ipOff, len);
      return this.transmit(v.u8, v.u32, ipOff, len, ctx.route);
    }
    const nextHop = ctx.route.nextHop;
    const u8 = v.u8;
    const fs = ipOff - ETH_HLEN;
    // After a VLAN tag is removed the frame starts later; its virtio-net header moves with it.
    if (out.hdr > 0) moveVnetHdr(u8, v.eth.offset, fs, out.hdr);
    const s = out.arp.lookup(nextHop);
    if (s >= 0) {
      this.queueInPlace(port, out, fs, len, s, nextHop);
      return SENT;
    }
    writeEth(u8, fs, ZERO_MAC, 0, out.mac, ETHERTYPE_IPV4);
    // A parked frame loses its virtio-net header: complete a partial checksum now (a GSO
    // super-frame is too big to park and is dropped by enqueue).
    if (ctx.csumPartial && !ctx.gso) completePartialChecksum(u8, ipOff, len);
    return this.park(out, nextHop, u8, fs, ETH_HLEN + len);
  }

  /**
   * Zero-copy transmit of the frame at port's RX memory [fs, fs + ETH_HLEN + ipLen) (its
   * virtio-net header, if any, just before fs): the Ethernet header for the resolved next hop
   * (ARP cache slot `arpSlot`) is written in place and out's next TX slot points at it.
   */
  queueInPlace(port: Port, out: Port, fs: number, ipLen: number, arpSlot: number, nextHop: number): void {
    const dv = port.rx.dv,
      arp = out.arp;
    // writeEth() in four word stores instead of fourteen byte stores.
    dv.setInt32(fs, arp.macHi[arpSlot]);
    dv.setInt32(fs + 4, (arp.macLo[arpSlot] << 16) | (out.macHi >>> 16));
    dv.setInt32(fs + 8, (out.macHi << 16) | out.macLo);
    dv.setUint16(fs + 12, ETHERTYPE_IPV4);
    out.tx.forward(port.index, port.rx.u8, fs, ETH_HLEN + ipLen);
    if (out.arp.wantsRefresh(arpSlot, this.ctx.now)) this.arp.request(out, nextHop);
  }

  /**
   * queueInPlace for the fast path: the Ethernet header's first eight bytes come ready from the
   * flow record at `records[r]` (dataplane/flow-cache.ts: Flow.ETH0, ETH1, ARP_SLOT). The
   * EtherType stays: FastPath.tryNat takes only frames that carry IPv4 already.
   */
  queueFlow(port: Port, out: Port, fs: number, ipLen: number, records: Int32Array, r: number): void {
    const dv = port.rx.dv,
      arp = out.arp;
    dv.setInt32(fs, records[r + Flow.ETH0]);
    dv.setInt32(fs + 4, records[r + Flow.ETH1]);
    dv.setInt32(fs + 8, out.macTail);
    out.tx.forward(port.index, port.rx.u8, fs, ETH_HLEN + ipLen);
    const slot = records[r + Flow.ARP_SLOT];
    if (arp.wantsRefresh(slot, this.ctx.now)) this.arp.request(out, arp.ip[slot]);
  }

  /**
   * Copies the IP packet at src[ipOff, ipOff + len) into a TX slot of route.link with the next
   * hop's MAC, or parks it until ARP resolves the next hop.
   */
  transmit(src: Uint8Array, src32: Int32Array | null, ipOff: number, len: number, route: Route): number {
    const out = this.ports[route.link];
    const nextHop = route.nextHop;
    const tx = out.tx,
      buf = tx.buf;
    const ethOff = tx.reserve();
    if (ETH_HLEN + len > tx.maxFrame) return Drop.TooBig;
    copyBytes(src, src32, ipOff, buf, tx.buf32, ethOff + ETH_HLEN, len);
    const s = out.arp.lookup(nextHop);
    if (s >= 0) {
      writeEth(buf, ethOff, out.arp.mac, s * 6, out.mac, ETHERTYPE_IPV4);
      tx.commit(ETH_HLEN + len);
      if (out.arp.wantsRefresh(s, this.ctx.now)) this.arp.request(out, nextHop);
      return SENT;
    }
    // Unresolved: park the frame (its Ethernet destination is filled in on resolution).
    writeEth(buf, ethOff, ZERO_MAC, 0, out.mac, ETHERTYPE_IPV4);
    return this.park(out, nextHop, buf, ethOff, ETH_HLEN + len);
  }

  /**
   * Sends a datagram the director built at buf[off, off + len) along `route`: whole, or in
   * fragments of `fragMtu` bytes (> 0) when it is too big for the link and may be fragmented.
   */
  sendBuilt(buf: Uint8Array, off: number, len: number, route: Route, fragMtu: number): number {
    if (fragMtu <= 0 || len <= fragMtu) return this.transmit(buf, null, off, len, route);
    const fb = this.fragBuf;
    fb.reset();
    const n = fragmentInto(buf, off, len, fragMtu, fb, 0);
    if (n < 0) return n === Frag.DontFragment ? Drop.TooBig : Drop.BadHeader;
    let verdict: number = SENT;
    for (let i = 0; i < fb.count; i++) {
      const r = this.transmit(fb.buf, null, fb.offsets[i], fb.lengths[i], route);
      if (r !== SENT) verdict = r;
    }
    this.fragmentsSent += fb.count;
    return verdict;
  }

  /** Parks a frame for an unresolved next hop and asks for it (once per resolution attempt). */
  private park(out: Port, nextHop: number, buf: Uint8Array, frameOff: number, frameLen: number): number {
    if (!out.arp.enqueue(nextHop, buf, frameOff, frameLen)) return Drop.ArpQueueFull;
    if (out.arp.startResolve(nextHop, this.ctx.now)) this.arp.request(out, nextHop);
    return SENT;
  }

  /**
   * Fragments the (already rewritten) datagram to ctx.fragMtu (RFC 791) and sends each piece.
   * A partial checksum (offloads) is completed first: fragments carry no virtio-net header.
   */
  private sendFragments(ipOff: number, len: number): number {
    const ctx = this.ctx,
      u8 = ctx.v.u8;
    if (ctx.csumPartial) completePartialChecksum(u8, ipOff, len);
    const fb = this.fragBuf;
    fb.reset();
    const n = fragmentInto(u8, ipOff, len, ctx.fragMtu, fb, ctx.reassembled ? FRAG_IGNORE_DF : 0);
    ctx.fragMtu = 0;
    if (n < 0) return n === Frag.DontFragment ? Drop.TooBig : Drop.BadHeader;
    let verdict: number = SENT;
    for (let i = 0; i < fb.count; i++) {
      const r = this.transmit(fb.buf, null, fb.offsets[i], fb.lengths[i], ctx.route);
      if (r !== SENT) verdict = r;
    }
    this.fragmentsSent += fb.count;
    return verdict;
  }
}
