/**
 * The director's ARP (RFC 826): answers requests for its own addresses and for service VIPs on a
 * link's prefix, learns neighbours, asks for next hops, announces addresses (gratuitous ARP), and
 * sends the frames that waited for a next hop once its reply arrives.
 */

import { CONSUMED, Drop, SENT } from '../dataplane/drops.js';
import type { FrameContext } from '../dataplane/frame.js';
import type { Port } from '../dataplane/port.js';
import { ARP_REPLY, ARP_REQUEST, writeArp } from '../packet/arp.js';
import { ETHERTYPE_ARP, writeEth } from '../packet/eth.js';
import { Parse } from '../packet/parse.js';
import type { HostRoutes } from './addresses.js';
import type { LocalAddresses } from './local-addresses.js';

const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);
/** Ethernet minimum frame without FCS. */
const ETH_MIN_FRAME = 60;

export class HostArp {
  constructor(
    private readonly ctx: FrameContext,
    private readonly routes: HostRoutes,
    private readonly local: LocalAddresses,
  ) {}

  /** An ARP packet at [off, end) of the current frame: learn, answer, or ignore. Returns the verdict. */
  receive(port: Port, off: number, end: number): number {
    const a = port.rx.arp;
    const r = a.bind(off, end);
    if (r !== Parse.Ok) return r === Parse.Truncated ? Drop.Truncated : Drop.BadHeader;
    const spa = a.spa,
      tpa = a.tpa,
      op = a.op;
    const forUs = this.answersFor(port.index, tpa);
    if (spa !== 0 && spa !== tpa) {
      // Update an existing entry always; create one when the request is for us (RFC 826).
      const s = port.arp.learn(spa, port.rx.u8, a.shaOff, this.ctx.now, forUs);
      if (s >= 0) this.flushPending(port, spa, s);
    } else if (spa !== 0) {
      port.arp.learn(spa, port.rx.u8, a.shaOff, this.ctx.now, false); // gratuitous: update only
    }
    if (op === ARP_REQUEST && forUs && spa !== tpa) {
      this.send(port, ARP_REPLY, port.rx.u8, a.shaOff, tpa, spa);
      return SENT;
    }
    return op === ARP_REPLY || op === ARP_REQUEST ? CONSUMED : Drop.ArpIgnored;
  }

  /** Asks for `target`'s MAC on `port` from the link's address on the same prefix. */
  request(port: Port, target: number): void {
    this.send(port, ARP_REQUEST, BROADCAST_MAC, 0, this.routes.sourceFor(port.index, target), target);
  }

  /** Announces `addr` on `port` (a request for itself). */
  gratuitous(port: Port, addr: number): void {
    this.send(port, ARP_REQUEST, BROADCAST_MAC, 0, addr, addr);
  }

  /** True when the director answers ARP for `a` on link `link`. */
  private answersFor(link: number, a: number): boolean {
    if (this.routes.ownsOnLink(link, a)) return true;
    return (this.local.isVip(a) || this.local.isLaddr(a)) && this.routes.onLink(link, a);
  }

  /**
   * One ARP frame: a request (to `peer` = broadcast, target hardware address zero) or a reply
   * (to the asker's MAC at peer[peerOff], which is also the target hardware address).
   */
  private send(port: Port, op: number, peer: Uint8Array, peerOff: number, spa: number, tpa: number): void {
    const tx = port.tx,
      b = tx.buf;
    const e = tx.reserve();
    const p = writeEth(b, e, peer, peerOff, port.mac, ETHERTYPE_ARP);
    const tha = op === ARP_REPLY ? peer : ZERO_MAC;
    const end = writeArp(tx.dv, b, p, op, port.mac, spa, tha, op === ARP_REPLY ? peerOff : 0, tpa);
    if (end - e < ETH_MIN_FRAME) b.fill(0, end, e + ETH_MIN_FRAME);
    tx.commit(Math.max(end - e, ETH_MIN_FRAME));
  }

  /** Sends the frames that waited for `ip`, now that its MAC is at cache slot `s`. */
  private flushPending(port: Port, ip: number, s: number): void {
    const arp = port.arp;
    if (arp.pendingCount === 0) return;
    const q = arp.opts.maxPending,
      fs = arp.opts.frameSize,
      pb = arp.pendingBuf;
    const tx = port.tx,
      b = tx.buf;
    for (let i = 0; i < q; i++) {
      const len = arp.pendingLen[i];
      if (len === 0 || arp.pendingIp[i] !== ip) continue;
      const e = tx.reserve();
      for (let k = 0; k < len; k++) b[e + k] = pb[i * fs + k];
      for (let k = 0; k < 6; k++) b[e + k] = arp.mac[s * 6 + k];
      tx.commit(len);
      arp.release(i);
    }
  }
}
