/**
 * The per-batch fast path: classify each received frame, let the director's host layer answer
 * what is addressed to it (ARP, ICMP echo, closed ports), run IPVS for traffic to a virtual
 * service (in: client -> VIP, DNAT to the real server; out: real server -> client, SNAT back to
 * the VIP), route, resolve the next hop and queue the frame on the egress link. One TX flush per
 * link per batch.
 *
 * Contract: `processBatch` allocates nothing and never throws on frame content; every received
 * frame ends as SENT, CONSUMED or exactly one Drop reason (counted per link). The order of the
 * IPVS steps follows reference §5.3-5.7: connection lookup first (the table is global), then
 * service lookup and scheduling for a new flow only (TCP needs SYN without RST), counters before
 * transmission, TTL and MTU checks before the rewrite so that ICMP errors quote what the client
 * sent. ICMP errors that quote a connection's packet are translated like ip_vs_in/out_icmp.
 * IPv4 fragments are reassembled before IPVS sees them (defrag.ts) and sent on in fragments
 * again (fragment.ts); oversized packets without DF are fragmented, with DF answered by ICMP
 * fragmentation needed.
 * Tracing (src/trace) sits behind one boolean read per batch: with no tracer the fast path
 * builds no string and copies nothing.
 */
import { AddrSet } from '../addr-set.js';
import { ArpCache } from '../host/arp-cache.js';
import type { LinkAddress } from '../host/addresses.js';
import { HostRoutes } from '../host/addresses.js';
import { Dir } from '../ipvs/tcp-state.js';
import { ConnFlag } from '../ipvs/conn-table.js';
import type { Dest } from '../ipvs/dest.js';
import { Ipvs, NoConn } from '../ipvs/ipvs.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../ipvs/service.js';
import type { Link } from '../link/link.js';
import { ARP_REPLY, ARP_REQUEST, ArpView, writeArp } from '../packet/arp.js';
import { checksum, csumFinish, csumUpdate16, csumUpdate32, onesSum, partialCsumUpdate32, pseudoHeaderSum } from '../packet/checksum.js';
import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthView, writeEth } from '../packet/eth.js';
import {
  ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH,
  ICMP_TIME_EXCEEDED, IcmpView,
} from '../packet/icmp.js';
import { IPV4_MIN_HLEN, IP_DF, IP_OFFMASK, Ipv4View, writeIpv4 } from '../packet/ipv4.js';
import { Parse } from '../packet/parse.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpView } from '../packet/tcp.js';
import { UdpView } from '../packet/udp.js';
import { TRACE_RX, TRACE_TX, type Tracer, destLoad, dropComment, forwardComment, natComment } from '../trace/tracer.js';
import { TCP_STATE_NAMES } from '../ipvs/tcp-state.js';
import { CONSUMED, DROP_COUNT, DROP_NAMES, Drop, SENT } from './drops.js';
import { Defrag, Reassembler } from './defrag.js';
import { FRAG_IGNORE_DF, Frag, FragmentBuffer, fragmentInto } from './fragment.js';

const IPPROTO_ICMP = 1;
const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);
/** Bytes of the offending datagram quoted in ICMP errors (RFC 1812 §4.3.2.3: up to 576 in all). */
const ICMP_QUOTE_MAX = 576 - IPV4_MIN_HLEN - 8;
const DEFAULT_TTL = 64;

export interface PortConfig {
  /** Logical name (ext, int, ...), used in status and traces. */
  name: string;
  link: Link;
  addrs: LinkAddress[];
  /** Default gateway reachable on this link, int32; 0 for none. */
  gateway: number;
}

export interface DataplaneOptions {
  /** Route packets that belong to no connection between links (a gateway's job). Default true. */
  forward: boolean;
  /** ICMP errors per second the director may send (token bucket). */
  icmpRatePerS: number;
  /** Forward frames from RX rings without copying them when the links support it. Default true. */
  zeroCopy: boolean;
  /**
   * Try the one-pass fast path (`fastNat`) before the general pipeline. Default true; tests turn
   * it off to check that both paths send the same bytes and count the same things.
   */
  fastPath: boolean;
}

/** One attached link with its views, counters and neighbour table. */
export class Port {
  readonly index: number;
  readonly name: string;
  readonly link: Link;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly hdr: number;
  /** The RX ring, or a reassembled datagram while one is being processed (see handleFragment). */
  rxU8: Uint8Array;
  readonly ringU8: Uint8Array;
  readonly ringDv: DataView;
  readonly txBuf: Buffer;
  readonly txDv: DataView;
  /** Zero-copy TX slot sources (see FrameRing.src); null when the link copies. */
  readonly txSrc: Uint8Array | null;
  readonly txSrcOff: Uint32Array | null;
  /** Word views of the rings for allocation-free copies (null when not 4-byte aligned). */
  rx32: Int32Array | null;
  readonly ring32: Int32Array | null;
  readonly tx32: Int32Array | null;
  readonly eth: EthView;
  readonly arpV: ArpView;
  readonly ip: Ipv4View;
  readonly tcp: TcpView;
  readonly udp: UdpView;
  readonly icmp: IcmpView;
  readonly arp: ArpCache;
  rxFrames = 0;
  rxBytes = 0;
  txFrames = 0;
  txBytes = 0;
  rxBatches = 0;
  /** Verdicts: frames forwarded or answered, frames taken by the host (e.g. ARP replies). */
  sentVerdicts = 0;
  consumedVerdicts = 0;
  readonly drops = new Float64Array(DROP_COUNT);

  constructor(index: number, cfg: PortConfig) {
    const link = cfg.link;
    this.index = index;
    this.name = cfg.name;
    this.link = link;
    this.mac = link.mac;
    this.mtu = link.mtu;
    this.hdr = link.vnetHdrLen;
    const rx = link.rx.buf;
    this.rxU8 = rx;
    this.ringU8 = rx;
    const rxDv = new DataView(rx.buffer, rx.byteOffset, rx.byteLength);
    this.ringDv = rxDv;
    this.txBuf = link.tx.buf;
    this.txDv = new DataView(this.txBuf.buffer, this.txBuf.byteOffset, this.txBuf.byteLength);
    this.txSrc = link.setTxSources !== undefined && link.tx.src !== undefined ? link.tx.src : null;
    this.txSrcOff = this.txSrc !== null && link.tx.srcOffsets !== undefined ? link.tx.srcOffsets : null;
    this.rx32 = wordView(rx);
    this.ring32 = this.rx32;
    this.tx32 = wordView(this.txBuf);
    this.eth = new EthView(rx, rxDv);
    this.arpV = new ArpView(rx, rxDv);
    this.ip = new Ipv4View(rx, rxDv);
    this.tcp = new TcpView(rx, rxDv);
    this.udp = new UdpView(rx, rxDv);
    this.icmp = new IcmpView(rx, rxDv);
    this.arp = new ArpCache({ frameSize: Math.max(2048, link.tx.slotSize) });
  }
}

export class Dataplane {
  readonly ports: Port[];
  readonly routes: HostRoutes;
  readonly ipvs: Ipvs;
  private readonly opts: DataplaneOptions;
  /** Scratch memory for locally generated packets (ICMP, RST), IP header first. */
  private readonly scratch = Buffer.alloc(2048);
  private readonly scratchDv = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
  private icmpTokens: number;
  private icmpRefillAt = 0;
  private ipId = 1;
  /** True when frames are forwarded in place (see forwardRx). */
  readonly zeroCopy: boolean;
  /** ICMP errors not sent because of the rate limit. */
  icmpRateLimited = 0;
  /** isLocal()'s set and the Ipvs.vipGeneration it was built for. */
  private local = new AddrSet();
  private localGen = -1;
  /** The batch clock, read once per batch. */
  private now = 0;
  /** IPv4 reassembly (shared by all links) and the scratch for outgoing fragments. */
  readonly reasm: Reassembler;
  private readonly fragBuf = new FragmentBuffer(65535 + 64 * 64, 64);
  /** True while a reassembled datagram runs through handleIpv4. */
  private reassembled = false;
  private reasmMaxFrag = 0;
  /** Set by checkForward: fragment the packet to this size (0 = send whole). */
  private fragMtu = 0;
  /** Fragments created for oversized packets without DF (like IPSTATS_MIB_FRAGCREATES). */
  fragsSent = 0;
  /** The current frame's virtio-net flags (offloads only): partial L4 checksum, GSO super-frame. */
  private csumPartial = false;
  private gso = false;
  /** Packet tracer (tapvsadm-style trace commands set it); null when off. */
  tracer: Tracer | null = null;
  /** tracer !== null && tracer.active, sampled once per batch. */
  private tracing = false;
  /** What the current frame's trace comment says (built only while tracing). */
  private traceNote: string | null = null;
  /** Scheduler decision of the current frame, for its trace comment. */
  private traceSched: { name: string; reason: string } | null = null;

  constructor(ipvs: Ipvs, ports: PortConfig[], opts: Partial<DataplaneOptions> = {}) {
    this.ipvs = ipvs;
    this.opts = { forward: true, icmpRatePerS: 1000, zeroCopy: true, fastPath: true, ...opts };
    this.icmpTokens = this.opts.icmpRatePerS;
    this.ports = ports.map((p, i) => new Port(i, p));
    this.reasm = new Reassembler({ onTimeout: (q, len) => this.reassemblyTimeout(q, len) });
    this.routes = new HostRoutes(ports.map((p) => ({ addrs: p.addrs, gateway: p.gateway })));
    // Zero-copy forwarding when every link can point TX slots at the other links' RX rings.
    this.zeroCopy = this.opts.zeroCopy && this.ports.every((p) => p.txSrc !== null && p.txSrcOff !== null);
    if (this.zeroCopy) {
      const rxBufs = this.ports.map((p) => p.link.rx.buf);
      for (const p of this.ports) p.link.setTxSources!(rxBufs);
    }
  }

  /** Starts every link; batches run through processBatch. A link that fails is reported to onLinkError. */
  start(onLinkError: (port: string, err: Error) => void = () => {}): void {
    for (const p of this.ports) {
      p.link.start((count) => this.processBatch(p, count, Date.now()), (err) => onLinkError(p.name, err));
    }
  }

  /** Runs one RX batch of `port` through the pipeline and flushes every link once. */
  processBatch(port: Port, count: number, nowMs: number): void {
    this.now = nowMs;
    const rx = port.link.rx;
    const offsets = rx.offsets, lengths = rx.lengths;
    port.rxBatches++;
    const tr = this.tracer;
    this.tracing = tr !== null && tr.active;
    // The fast path is for zero-copy forwarding; a trace needs the general path's decision notes.
    const fast = this.opts.fastPath && this.zeroCopy && !this.tracing;
    for (let i = 0; i < count; i++) {
      const off = offsets[i] + port.hdr;
      const len = lengths[i] - port.hdr;
      if (port.hdr > 0) {
        // virtio_net_hdr: flags (bit 0 NEEDS_CSUM), gso_type (0 = none).
        const vh = offsets[i];
        this.csumPartial = (port.rxU8[vh] & 1) !== 0;
        this.gso = port.rxU8[vh + 1] !== 0;
      }
      port.rxFrames++;
      port.rxBytes += len > 0 ? len : 0;
      if (this.tracing && tr!.matches(port.rxU8, off, len)) tr!.hold(port.index, TRACE_RX, port.rxU8, off, len, nowMs);
      const v = len <= 0 ? Drop.Truncated
        : fast && this.fastNat(port, off, off + len) ? SENT
          : this.handleFrame(port, off, off + len);
      if (v >= 0) port.drops[v]++;
      else if (v === SENT) port.sentVerdicts++;
      else port.consumedVerdicts++;
      if (this.tracing && tr!.holding) {
        tr!.release(v >= 0 ? dropComment(DROP_NAMES[v]) : this.traceNote);
        this.traceNote = null;
        this.traceSched = null;
      }
    }
    this.flushAll();
  }

  /** Expiry, ARP retries, ICMP budget: call every ~100 ms. */
  tick(nowMs: number): void {
    this.now = nowMs;
    this.ipvs.expire(nowMs);
    this.reasm.expire(nowMs);
    // Frames whose next hop never resolved are counted by each ARP cache (arpUnresolvedDrops).
    for (const p of this.ports) p.arp.tick(nowMs, (ip) => this.sendArpRequest(p, ip));
    this.flushAll();
  }

  /** Gratuitous ARP for every owned address and every VIP on a link's prefix. */
  announce(): void {
    for (const p of this.ports) {
      const own = this.routes.addressesOf(p.index);
      for (let i = 0; i < own.length; i++) this.sendGratuitous(p, own[i]);
      for (const s of this.ipvs.services) {
        if (this.routes.onLink(p.index, s.addr) && !this.routes.ownsOnLink(p.index, s.addr)) this.sendGratuitous(p, s.addr);
      }
    }
    this.flushAll();
  }

  /** True when the director answers for `a` (an owned address or a service VIP). */
  isLocal(a: number): boolean {
    if (this.localGen !== this.ipvs.vipGeneration) this.rebuildLocal();
    return this.local.get(a) >= 0;
  }

  /** Owned addresses and VIPs in one set: every packet asks about its source and destination. */
  private rebuildLocal(): void {
    const set = new AddrSet();
    for (let l = 0; l < this.ports.length; l++) {
      const own = this.routes.addressesOf(l);
      for (let i = 0; i < own.length; i++) if (own[i] !== 0) set.set(own[i], 1);
    }
    for (const v of this.ipvs.vipAddresses()) set.set(v, 1);
    this.local = set;
    this.localGen = this.ipvs.vipGeneration;
  }

  /** Per-dest route cache: real servers sit on connected prefixes that never change at run time. */
  private routeToDest(dest: Dest): boolean {
    if (dest.routeLink >= 0) {
      this.routes.outLink = dest.routeLink;
      this.routes.nextHop = dest.routeNextHop;
      return true;
    }
    if (!this.routes.route(dest.addr)) return false;
    dest.routeLink = this.routes.outLink;
    dest.routeNextHop = this.routes.nextHop;
    return true;
  }

  // ------------------------------------------------------------------ fast path

  /**
   * One flat pass for the frames that make up nearly all traffic: an untagged IPv4 unicast frame
   * to our MAC (20-byte header, not a fragment, TTL > 1, good header checksum) carrying TCP or UDP
   * of a connection that exists, whose dest is available with a cached route, whose next hop is
   * resolved, leaving zero-copy within the MTU (or as a GSO super-frame). Client -> VIP TCP
   * segments with SYN go the general way (connection reuse, scheduling).
   *
   * It reads everything before it changes anything: on any other frame it returns false with
   * the frame untouched and handleFrame() runs the general pipeline, which makes the same
   * decisions for this traffic (test/pipeline/fast-path.test.ts sends both through and compares
   * bytes and counters). The point is speed: no view binding, no getters, one read of each
   * field, which halves the per-packet cost (bench/micro/fastpath.ts).
   */
  private fastNat(port: Port, off: number, end: number): boolean {
    const u8 = port.rxU8, mac = port.mac;
    const ip = off + ETH_HLEN;
    if (end - ip < IPV4_MIN_HLEN + 8 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00 || u8[ip] !== 0x45) return false;
    if (u8[off] !== mac[0] || u8[off + 1] !== mac[1] || u8[off + 2] !== mac[2]
      || u8[off + 3] !== mac[3] || u8[off + 4] !== mac[4] || u8[off + 5] !== mac[5]) return false;
    const total = (u8[ip + 2] << 8) | u8[ip + 3];
    const ipEnd = ip + total;
    if (total < IPV4_MIN_HLEN + 8 || ipEnd > end || (u8[ip + 6] & 0x3f) !== 0 || u8[ip + 7] !== 0 || u8[ip + 8] <= 1) return false;
    let sum = ((u8[ip] << 8) | u8[ip + 1]) + total + ((u8[ip + 4] << 8) | u8[ip + 5])
      + ((u8[ip + 6] << 8) | u8[ip + 7]) + ((u8[ip + 8] << 8) | u8[ip + 9]) + ((u8[ip + 10] << 8) | u8[ip + 11])
      + ((u8[ip + 12] << 8) | u8[ip + 13]) + ((u8[ip + 14] << 8) | u8[ip + 15])
      + ((u8[ip + 16] << 8) | u8[ip + 17]) + ((u8[ip + 18] << 8) | u8[ip + 19]);
    sum = (sum & 0xffff) + (sum >>> 16);
    if (((sum & 0xffff) + (sum >>> 16)) !== 0xffff) return false;
    const src = readI32(u8, ip + 12), dst = readI32(u8, ip + 16);
    if (src === 0 || src === -1 || (src >>> 28) === 0xe || (src >>> 24) === 127 || (dst >>> 28) === 0xe || dst === -1) return false;
    const proto = u8[ip + 9];
    const l4 = ip + IPV4_MIN_HLEN;
    let csumOff: number, flags = 0;
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
    if (this.isLocal(src) || this.routes.isSubnetBroadcast(port.index, dst)) return false;
    const sport = (u8[l4] << 8) | u8[l4 + 1], dport = (u8[l4 + 2] << 8) | u8[l4 + 3];
    const ipvs = this.ipvs, c = ipvs.conns;
    const inbound = this.isLocal(dst);
    let id: number, dest: Dest | null | undefined, out: Port, nextHop: number;
    if (inbound) {
      if ((flags & TCP_SYN) !== 0) return false;
      id = c.lookupIn(proto, src, sport, dst, dport, false);
      if (id < 0 || (c.flags[id] & ConnFlag.ONE_PACKET) !== 0) return false;
      dest = ipvs.destOf(id);
      if (dest === null || dest.routeLink < 0) return false;
      out = this.ports[dest.routeLink];
      nextHop = dest.routeNextHop;
    } else {
      id = c.lookupOut(proto, src, sport, dst, dport);
      if (id < 0 || !this.routes.route(dst)) return false;
      dest = ipvs.destsById[c.destId[id]];
      out = this.ports[this.routes.outLink];
      nextHop = this.routes.nextHop;
    }
    if (out.hdr !== port.hdr || (total > out.mtu && !this.gso)) return false;
    const arpSlot = out.arp.lookup(nextHop);
    if (arpSlot < 0) return false;

    // Committed: count, run the state machine, rewrite, queue.
    const now = this.now;
    if (inbound) {
      ipvs.countIn(dest!, total);
      c.pkts[id]++;
    } else {
      ipvs.countOut(dest, total);
    }
    const dir = inbound ? Dir.INPUT : Dir.OUTPUT;
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, dir, flags, now);
    else ipvs.udpState(id, dir, now);
    const addrOff = inbound ? ip + 16 : ip + 12, portOff = inbound ? l4 + 2 : l4;
    const oldAddr = inbound ? dst : src, oldPort = inbound ? dport : sport;
    const newAddr = inbound ? c.daddr[id] : c.vaddr[id], newPort = inbound ? c.dport[id] : c.vport[id];
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
    if (this.csumPartial) {
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
    this.queueInPlace(port, out, off, total, arpSlot, nextHop);
    return true;
  }

  /**
   * Zero-copy transmit of the frame at port's RX memory [fs, fs + ETH_HLEN + ipLen) (its
   * virtio-net header, if any, just before fs): writes the Ethernet header for the resolved next
   * hop (ARP slot `arpSlot`) in place and points out's next TX slot at it.
   */
  private queueInPlace(port: Port, out: Port, fs: number, ipLen: number, arpSlot: number, nextHop: number): void {
    const u8 = port.rxU8, hdr = port.hdr;
    writeEth(u8, fs, out.arp.mac, arpSlot * 6, out.mac, ETHERTYPE_IPV4);
    const tx = out.link.tx;
    if (tx.count === tx.slots) out.link.flush();
    const slot = tx.count;
    out.txSrc![slot] = port.index + 1;
    out.txSrcOff![slot] = fs - hdr;
    tx.lengths[slot] = hdr + ETH_HLEN + ipLen;
    tx.count = slot + 1;
    out.txFrames++;
    out.txBytes += ETH_HLEN + ipLen;
    if (this.tracing) this.traceTx(out, u8, fs, ETH_HLEN + ipLen);
    if (out.arp.wantsRefresh(arpSlot, this.now)) this.sendArpRequest(out, nextHop);
  }

  // ------------------------------------------------------------------ classification

  private handleFrame(port: Port, off: number, end: number): number {
    const eth = port.eth;
    const r = eth.bind(off, end);
    if (r !== Parse.Ok) return r === Parse.Truncated ? Drop.Truncated : Drop.BadHeader;
    const broadcast = eth.isBroadcastDst();
    if (!broadcast && !eth.dstIs(port.mac)) return Drop.NotForUs;
    const type = eth.etherType;
    if (type === ETHERTYPE_ARP) return this.handleArp(port, eth.payloadOff, end);
    if (type === ETHERTYPE_IPV4) {
      if (broadcast) return Drop.Broadcast;
      return this.handleIpv4(port, eth.payloadOff, end);
    }
    if (type === ETHERTYPE_IPV6) return Drop.Ipv6;
    return Drop.UnknownEtherType;
  }

  private handleArp(port: Port, off: number, end: number): number {
    const a = port.arpV;
    const r = a.bind(off, end);
    if (r !== Parse.Ok) return r === Parse.Truncated ? Drop.Truncated : Drop.BadHeader;
    const spa = a.spa, tpa = a.tpa, op = a.op;
    const forUs = this.answersArpFor(port.index, tpa);
    if (spa !== 0 && spa !== tpa) {
      // RFC 826: update an existing entry always; create one when the request is for us.
      const s = port.arp.learn(spa, port.rxU8, a.shaOff, this.now, forUs);
      if (s >= 0) this.flushPending(port, spa, s);
    } else if (spa !== 0) {
      port.arp.learn(spa, port.rxU8, a.shaOff, this.now, false); // gratuitous: update only
    }
    if (op === ARP_REQUEST && forUs && spa !== tpa) {
      this.sendArpReply(port, a.shaOff, spa, tpa);
      return SENT;
    }
    return op === ARP_REPLY || op === ARP_REQUEST ? CONSUMED : Drop.ArpIgnored;
  }

  private answersArpFor(link: number, a: number): boolean {
    if (this.routes.ownsOnLink(link, a)) return true;
    return this.ipvs.isVip(a) && this.routes.onLink(link, a);
  }

  private handleIpv4(port: Port, off: number, end: number): number {
    const ip = port.ip;
    const r = ip.bind(off, end);
    if (r !== Parse.Ok) return r === Parse.Truncated ? Drop.Truncated : r === Parse.BadHeader ? Drop.BadHeader : Drop.BadLength;
    if (!ip.checksumOk()) return Drop.BadChecksum;
    const src = ip.src, dst = ip.dst;
    if (src === 0 || src === -1 || (src >>> 28) === 0xe || (src >>> 24) === 127 || this.isLocal(src)) return Drop.Martian;
    if ((dst >>> 28) === 0xe || dst === -1 || this.routes.isSubnetBroadcast(port.index, dst)) return Drop.Broadcast;
    if (ip.isFragment && !this.reassembled) return this.handleFragment(port, ip.offset, ip.totalLen);
    const proto = ip.protocol;
    const l4 = ip.payloadOff, l4End = ip.payloadEnd;
    if (this.isLocal(dst)) {
      if (proto === IPPROTO_TCP) return this.localTcp(port, l4, l4End);
      if (proto === IPPROTO_UDP) return this.localUdp(port, l4, l4End);
      if (proto === IPPROTO_ICMP) return this.localIcmp(port, l4, l4End);
      this.sendIcmpError(port, ICMP_DEST_UNREACH, 2 /* protocol unreachable */, 0, dst);
      return Drop.UnknownProtocol;
    }
    // Forward path: a reply of a real server (SNAT), else plain routing.
    if (proto === IPPROTO_TCP) {
      const t = port.tcp;
      const tr = t.bind(l4, l4End);
      if (tr !== Parse.Ok) return tr === Parse.Truncated ? Drop.Truncated : Drop.BadHeader;
      const id = this.ipvs.conns.lookupOut(IPPROTO_TCP, src, t.srcPort, dst, t.dstPort);
      if (id >= 0) return this.natOut(port, id, IPPROTO_TCP, t.flags);
    } else if (proto === IPPROTO_UDP) {
      const u = port.udp;
      const ur = u.bind(l4, l4End);
      if (ur !== Parse.Ok) return ur === Parse.Truncated ? Drop.Truncated : Drop.BadLength;
      const id = this.ipvs.conns.lookupOut(IPPROTO_UDP, src, u.srcPort, dst, u.dstPort);
      if (id >= 0) return this.natOut(port, id, IPPROTO_UDP, 0);
    } else if (proto === IPPROTO_ICMP) {
      const ic = port.icmp;
      if (ic.bind(l4, l4End) === Parse.Ok && ic.isRelatedError()) {
        const v = this.icmpRelated(port, l4, l4End, false);
        if (v !== Drop.IcmpIgnored) return v;
      }
    }
    if (!this.opts.forward) return Drop.NoRoute;
    return this.forward(port, ip.offset, ip.totalLen, dst);
  }

  /**
   * A fragment (reference §5.10: IPVS sees whole datagrams; the kernel reassembles first, for
   * local and forwarded traffic alike). Fragments wait in the Reassembler; the completing one
   * runs the whole datagram through the IPv4 path, with the port's views pointed at the
   * reassembled copy. Such a datagram is sent by copying, fragmented again to the size its
   * largest fragment had (as the kernel does).
   */
  private handleFragment(port: Port, ipOff: number, ipLen: number): number {
    const r = this.reasm.add(port.rxU8, ipOff, ipLen, this.now);
    if (r === Defrag.Pending) return CONSUMED;
    if (r !== Defrag.Complete) return Drop.Fragment;
    const out = this.reasm.out, dv = this.reasm.outDv;
    port.rxU8 = out;
    port.rx32 = null;
    port.ip.attach(out, dv);
    port.tcp.attach(out, dv);
    port.udp.attach(out, dv);
    port.icmp.attach(out, dv);
    this.reassembled = true;
    this.reasmMaxFrag = this.reasm.outMaxFragSize;
    try {
      return this.handleIpv4(port, 0, this.reasm.outLen);
    } finally {
      this.reassembled = false;
      port.rxU8 = port.ringU8;
      port.rx32 = port.ring32;
      port.ip.attach(port.ringU8, port.ringDv);
      port.tcp.attach(port.ringU8, port.ringDv);
      port.udp.attach(port.ringU8, port.ringDv);
      port.icmp.attach(port.ringU8, port.ringDv);
    }
  }

  // ------------------------------------------------------------------ IPVS

  private localTcp(port: Port, l4: number, l4End: number): number {
    const ip = port.ip, t = port.tcp;
    const tr = t.bind(l4, l4End);
    if (tr !== Parse.Ok) return tr === Parse.Truncated ? Drop.Truncated : tr === Parse.BadHeader ? Drop.BadHeader : Drop.BadLength;
    const src = ip.src, dst = ip.dst, sport = t.srcPort, dport = t.dstPort, flags = t.flags;
    const ipvs = this.ipvs;
    let id = ipvs.conns.lookupIn(IPPROTO_TCP, src, sport, dst, dport, false);
    // conn_reuse_mode 1: a SYN for a TIME_WAIT/CLOSE entry starts a fresh connection.
    if (id >= 0 && (flags & TCP_SYN) !== 0 && ipvs.reusable(id)) {
      ipvs.expireNow(id);
      id = -1;
    }
    if (id >= 0 && ipvs.expireNodestConn && ipvs.destOf(id) === null) {
      ipvs.expireNow(id);
      id = -1;
    }
    if (id < 0) {
      const svc = ipvs.findService(IPPROTO_TCP, dst, dport);
      // Only a SYN without RST is scheduled (tcp_conn_schedule, sloppy_tcp off); anything else
      // goes to the director's own stack, which has no listener: RST, as a kernel would answer.
      if (svc === null || (flags & (TCP_SYN | TCP_RST)) !== TCP_SYN) {
        if ((flags & TCP_RST) === 0) this.sendTcpReset(port);
        return Drop.LocalUnreachable;
      }
      id = ipvs.newConnection(svc, IPPROTO_TCP, src, sport, dst, dport, this.now);
      if (id < 0) return this.noConnection(port, id);
      if (this.tracing) this.noteSchedule(id, svc.scheduler.name);
    }
    return this.natIn(port, id, IPPROTO_TCP, flags);
  }

  private localUdp(port: Port, l4: number, l4End: number): number {
    const ip = port.ip, u = port.udp;
    const ur = u.bind(l4, l4End);
    if (ur !== Parse.Ok) return ur === Parse.Truncated ? Drop.Truncated : Drop.BadLength;
    const src = ip.src, dst = ip.dst, sport = u.srcPort, dport = u.dstPort;
    const ipvs = this.ipvs;
    let id = ipvs.conns.lookupIn(IPPROTO_UDP, src, sport, dst, dport, false);
    if (id >= 0 && ipvs.expireNodestConn && ipvs.destOf(id) === null) {
      ipvs.expireNow(id);
      id = -1;
    }
    if (id < 0) {
      const svc = ipvs.findService(IPPROTO_UDP, dst, dport);
      if (svc === null) {
        this.sendIcmpError(port, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, dst);
        return Drop.LocalUnreachable;
      }
      id = ipvs.newConnection(svc, IPPROTO_UDP, src, sport, dst, dport, this.now);
      if (id < 0) return this.noConnection(port, id);
      if (this.tracing) this.noteSchedule(id, svc.scheduler.name);
    }
    return this.natIn(port, id, IPPROTO_UDP, 0);
  }

  /** Trace only: why the scheduler's pick was made (the dest's load after binding). */
  private noteSchedule(id: number, sched: string): void {
    const d = this.ipvs.destOf(id);
    this.traceSched = d === null ? null : { name: sched, reason: destLoad(d.weight, d.activeConns, d.inactConns) };
  }

  /** Trace only: the NAT comment of connection id after its rewrite. */
  private noteNat(dir: 'in' | 'out', id: number, proto: number): void {
    const c = this.ipvs.conns;
    const state = proto === IPPROTO_TCP ? TCP_STATE_NAMES[c.state[id]] : 'UDP';
    this.traceNote = this.traceSched !== null
      ? natComment(dir, proto, c.caddr[id], c.cport[id], c.vaddr[id], c.vport[id], c.daddr[id], c.dport[id], state, this.traceSched)
      : natComment(dir, proto, c.caddr[id], c.cport[id], c.vaddr[id], c.vport[id], c.daddr[id], c.dport[id], state);
  }

  /** ip_vs_leave: no destination -> ICMP port unreachable from the VIP (reference §5.4). */
  private noConnection(port: Port, reason: number): number {
    if (reason === -NoConn.TableFull) return Drop.TableFull;
    this.sendIcmpError(port, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, port.ip.dst);
    return Drop.NoDestination;
  }

  /** Client -> real server: count, state, checks, DNAT, transmit. */
  private natIn(port: Port, id: number, proto: number, tcpFlags: number): number {
    const ipvs = this.ipvs, c = ipvs.conns, ip = port.ip;
    const dest = ipvs.destOf(id);
    if (dest === null) return Drop.DestUnavailable; // deleted dest: silently dropped (expire_nodest_conn 0)
    const len = ip.totalLen;
    ipvs.countIn(dest, len);
    c.pkts[id]++;
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, Dir.INPUT, tcpFlags, this.now);
    else ipvs.udpState(id, Dir.INPUT, this.now);
    const daddr = c.daddr[id], dport = c.dport[id];
    const v = this.checkForward(port, daddr, dest);
    if (v !== SENT) { this.releaseOnePacket(id); return v; }
    const old = ip.dst;
    ip.setDst(daddr);
    this.rewriteL4(port, proto, old, daddr, dport, true);
    ip.decrementTtl();
    if (this.tracing) this.noteNat('in', id, proto);
    const out = this.forwardRx(port, ip.offset, len);
    this.releaseOnePacket(id);
    return out;
  }

  /**
   * The L4 half of a NAT rewrite: the pseudo-header address changed from `oldAddr` to `newAddr`,
   * and the destination (DNAT) or source (SNAT) port becomes `newPort`. A NEEDS_CSUM frame
   * (offloads) holds only the pseudo-header sum: the address is folded in, ports are not.
   */
  private rewriteL4(port: Port, proto: number, oldAddr: number, newAddr: number, newPort: number, dst: boolean): void {
    const l4 = proto === IPPROTO_TCP ? port.tcp : port.udp;
    if (this.csumPartial) {
      l4.addrChangedPartial(oldAddr, newAddr);
      if (dst) l4.setDstPortRaw(newPort);
      else l4.setSrcPortRaw(newPort);
      return;
    }
    l4.addrChanged(oldAddr, newAddr);
    if (dst) { if (l4.dstPort !== newPort) l4.setDstPort(newPort); }
    else if (l4.srcPort !== newPort) l4.setSrcPort(newPort);
  }

  private releaseOnePacket(id: number): void {
    if ((this.ipvs.conns.flags[id] & ConnFlag.ONE_PACKET) !== 0) this.ipvs.expireNow(id);
  }

  /** Real server -> client: count, state, SNAT to VIP:vport, transmit. */
  private natOut(port: Port, id: number, proto: number, tcpFlags: number): number {
    const ipvs = this.ipvs, c = ipvs.conns, ip = port.ip;
    const len = ip.totalLen;
    ipvs.countOut(ipvs.destsById[c.destId[id]], len);
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, Dir.OUTPUT, tcpFlags, this.now);
    else ipvs.udpState(id, Dir.OUTPUT, this.now);
    const v = this.checkForward(port, ip.dst);
    if (v !== SENT) return v;
    const vaddr = c.vaddr[id], vport = c.vport[id];
    const old = ip.src;
    ip.setSrc(vaddr);
    this.rewriteL4(port, proto, old, vaddr, vport, false);
    ip.decrementTtl();
    if (this.tracing) this.noteNat('out', id, proto);
    return this.forwardRx(port, ip.offset, len);
  }

  /**
   * An ICMP error (destination unreachable, source quench, time exceeded) that quotes a packet of
   * a connection, translated like ip_vs_in_icmp / ip_vs_out_icmp (reference §5.9):
   * - `inbound` (to a director address, e.g. the client's host unreachable about our reply): the
   *   quote is VIP:vport -> client; outer dst := RIP, quoted src := RIP, quoted sport := rport.
   * - outbound (forward path, from a real server about the client's packet): the quote is
   *   client -> RIP:rport; outer src := VIP, quoted dst := VIP, quoted dport := vport.
   * The quoted IP header checksum is updated and the whole ICMP checksum recomputed; the quoted
   * L4 checksum is left alone, as IPVS does. Counted as In/Out packets of the connection's dest.
   * Returns IcmpIgnored when no connection matches (the caller decides what else to do).
   */
  private icmpRelated(port: Port, l4: number, l4End: number, inbound: boolean): number {
    const ic = port.icmp, ip = port.ip, u8 = port.rxU8;
    if (!ic.checksumOk()) return Drop.BadChecksum;
    const q = l4 + 8; // quoted IP header
    if (l4End - q < IPV4_MIN_HLEN) return Drop.IcmpIgnored;
    const qhl = (u8[q] & 0x0f) << 2;
    if (u8[q] >>> 4 !== 4 || qhl < IPV4_MIN_HLEN || l4End - q < qhl + 8) return Drop.IcmpIgnored;
    const qproto = u8[q + 9];
    if (qproto !== IPPROTO_TCP && qproto !== IPPROTO_UDP) return Drop.IcmpIgnored;
    const qsrc = readI32(u8, q + 12), qdst = readI32(u8, q + 16);
    const ql4 = q + qhl;
    const qsport = (u8[ql4] << 8) | u8[ql4 + 1], qdport = (u8[ql4 + 2] << 8) | u8[ql4 + 3];
    const ipvs = this.ipvs, c = ipvs.conns;
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
    if (!this.routes.route(target)) return Drop.NoRoute;
    if (inbound) {
      ip.setDst(c.daddr[id]);
      rewriteQuoted(u8, q, ql4, true, c.daddr[id], c.dport[id]);
    } else {
      ip.setSrc(c.vaddr[id]);
      rewriteQuoted(u8, q, ql4, false, c.vaddr[id], c.vport[id]);
    }
    ic.fixChecksum();
    ip.decrementTtl();
    return this.forwardRx(port, ip.offset, len);
  }

  // ------------------------------------------------------------------ forwarding

  /** Plain IPv4 routing between links (no connection): TTL, MTU, transmit. */
  private forward(port: Port, ipOff: number, len: number, dst: number): number {
    const v = this.checkForward(port, dst);
    if (v !== SENT) return v;
    port.ip.decrementTtl();
    if (this.tracing) this.traceNote = forwardComment(this.routes.nextHop, this.ports[this.routes.outLink].name);
    return this.forwardRx(port, ipOff, len);
  }

  /**
   * The checks a router makes before rewriting (so ICMP errors quote the original): TTL, route,
   * MTU with DF. Leaves the route in this.routes.outLink/nextHop. Returns SENT when the packet may go.
   */
  private checkForward(port: Port, dst: number, dest: Dest | null = null): number {
    const ip = port.ip;
    if (ip.ttl <= 1) {
      this.sendIcmpError(port, ICMP_TIME_EXCEEDED, 0, 0, this.icmpSource(port));
      return Drop.TtlExceeded;
    }
    if (dest !== null ? !this.routeToDest(dest) : !this.routes.route(dst)) return Drop.NoRoute;
    const out = this.ports[this.routes.outLink];
    // A GSO super-frame is cut to gso_size segments by the receiving side: only plain frames
    // are held to the MTU.
    this.fragMtu = 0;
    // A reassembled datagram leaves in fragments no larger than its largest one was (kernel
    // behaviour), and DF on it means that size itself must fit.
    const limit = this.reassembled && this.reasmMaxFrag < out.mtu ? this.reasmMaxFrag : out.mtu;
    if ((ip.totalLen > limit || (this.reassembled && ip.totalLen > out.mtu)) && !this.gso) {
      const df = (ip.fragWord & IP_DF) !== 0;
      if (df && (!this.reassembled || this.reasmMaxFrag > out.mtu)) {
        const nh = this.routes.nextHop, ol = this.routes.outLink;
        this.sendIcmpError(port, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, out.mtu, this.icmpSource(port));
        this.routes.outLink = ol;
        this.routes.nextHop = nh;
        return Drop.TooBig;
      }
      this.fragMtu = limit;
    }
    return SENT;
  }

  /**
   * The source of an ICMP error about the packet in port.ip, as Linux's __icmp_send picks it: the
   * packet's own destination when that is a local address (the VIP: RTCF_LOCAL), else an address
   * of ours towards the sender.
   */
  private icmpSource(port: Port): number {
    const ip = port.ip;
    return this.isLocal(ip.dst) ? ip.dst : this.routes.sourceFor(port.index, ip.src);
  }

  /**
   * Puts the IP packet at src[ipOff, ipOff+len) on the link chosen by the last route(), with the
   * next hop's MAC, or parks it until ARP resolves the next hop.
   */
  private transmit(src: Uint8Array, src32: Int32Array | null, ipOff: number, len: number): number {
    const out = this.ports[this.routes.outLink];
    const nextHop = this.routes.nextHop;
    const tx = out.link.tx;
    if (tx.count === tx.slots) out.link.flush();
    const slot = tx.count;
    const base = tx.offsets[slot];
    const buf = out.txBuf;
    if (out.hdr > 0) buf.fill(0, base, base + out.hdr);
    const ethOff = base + out.hdr;
    if (ETH_HLEN + len > tx.slotSize - out.hdr) return Drop.TooBig;
    copyBytes(src, src32, ipOff, buf, out.tx32, ethOff + ETH_HLEN, len);
    const s = out.arp.lookup(nextHop);
    if (s >= 0) {
      writeEth(buf, ethOff, out.arp.mac, s * 6, out.mac, ETHERTYPE_IPV4);
      if (out.txSrc !== null) out.txSrc[slot] = 0;
      tx.lengths[slot] = out.hdr + ETH_HLEN + len;
      tx.count = slot + 1;
      out.txFrames++;
      out.txBytes += ETH_HLEN + len;
      if (this.tracing) this.traceTx(out, buf, ethOff, ETH_HLEN + len);
      if (out.arp.wantsRefresh(s, this.now)) this.sendArpRequest(out, nextHop);
      return SENT;
    }
    // Unresolved: park the frame (Ethernet header filled in on resolution).
    writeEth(buf, ethOff, ZERO_MAC, 0, out.mac, ETHERTYPE_IPV4);
    if (!out.arp.enqueue(nextHop, buf, ethOff, ETH_HLEN + len)) return Drop.ArpQueueFull;
    if (out.arp.startResolve(nextHop, this.now)) this.sendArpRequest(out, nextHop);
    return SENT;
  }

  /**
   * Sends the IP packet at port's RX memory [ipOff, ipOff+len) on the link chosen by the last
   * route(). Zero-copy when the links allow it: the Ethernet header is rewritten in place in the
   * RX ring and the TX slot points there (the frame stays valid until the batch's flush, which
   * happens before the handler returns). Otherwise the packet is copied into a TX slot.
   */
  private forwardRx(port: Port, ipOff: number, len: number): number {
    if (this.fragMtu > 0) return this.sendFragments(port, ipOff, len);
    if (this.reassembled) return this.transmit(port.rxU8, null, ipOff, len);
    const out = this.ports[this.routes.outLink];
    if (!this.zeroCopy || out.hdr !== port.hdr) {
      // The copy leaves without the virtio-net header: a partial checksum must be completed here.
      if (this.csumPartial && !this.gso) finishL4Checksum(port.rxU8, ipOff, len);
      return this.transmit(port.rxU8, port.rx32, ipOff, len);
    }
    const nextHop = this.routes.nextHop;
    const u8 = port.rxU8;
    const fs = ipOff - ETH_HLEN;
    const hdr = out.hdr;
    if (hdr > 0) {
      // The virtio-net header sits at the slot's start; after dropping a VLAN tag the frame
      // starts 4 bytes later, so the header moves with it (csum_start counts from the frame).
      const orig = port.eth.offset;
      if (fs !== orig) {
        for (let i = hdr - 1; i >= 0; i--) u8[fs - hdr + i] = u8[orig - hdr + i];
        const cs = (u8[fs - hdr + 6] | (u8[fs - hdr + 7] << 8)) - (fs - orig);
        u8[fs - hdr + 6] = cs & 0xff;
        u8[fs - hdr + 7] = (cs >>> 8) & 0xff;
      }
    }
    const s = out.arp.lookup(nextHop);
    if (s >= 0) {
      this.queueInPlace(port, out, fs, len, s, nextHop);
      return SENT;
    }
    writeEth(u8, fs, ZERO_MAC, 0, out.mac, ETHERTYPE_IPV4);
    // A parked frame loses its virtio-net header: complete a partial checksum now (a GSO
    // super-frame is too big to park and is dropped by enqueue).
    if (this.csumPartial && !this.gso) finishL4Checksum(u8, ipOff, len);
    if (!out.arp.enqueue(nextHop, u8, fs, ETH_HLEN + len)) return Drop.ArpQueueFull;
    if (out.arp.startResolve(nextHop, this.now)) this.sendArpRequest(out, nextHop);
    return SENT;
  }

  /**
   * Fragments the (already rewritten) datagram to this.fragMtu (RFC 791) and sends each piece.
   * A partial checksum (offloads) is completed first: fragments carry no virtio-net header.
   */
  private sendFragments(port: Port, ipOff: number, len: number): number {
    const u8 = port.rxU8;
    if (this.csumPartial) finishL4Checksum(u8, ipOff, len);
    const fb = this.fragBuf;
    fb.reset();
    const n = fragmentInto(u8, ipOff, len, this.fragMtu, fb, this.reassembled ? FRAG_IGNORE_DF : 0);
    this.fragMtu = 0;
    if (n < 0) return n === Frag.DontFragment ? Drop.TooBig : Drop.BadHeader;
    const outLink = this.routes.outLink, nextHop = this.routes.nextHop;
    let v: number = SENT;
    for (let i = 0; i < fb.count; i++) {
      this.routes.outLink = outLink;
      this.routes.nextHop = nextHop;
      const r = this.transmit(fb.buf, null, fb.offsets[i], fb.lengths[i]);
      if (r !== SENT) v = r;
    }
    this.fragsSent += fb.count;
    return v;
  }

  /** ICMP time exceeded (fragment reassembly, code 1) to a sender whose datagram never completed. */
  private reassemblyTimeout(quote: Uint8Array, len: number): void {
    if (len < IPV4_MIN_HLEN + 8 || quote[9] === IPPROTO_ICMP) return;
    const src = readI32(quote, 16), dst = readI32(quote, 12); // our reply goes back to the quoted source
    if (!this.isLocal(src) || !this.takeIcmpToken()) return;
    const b = this.scratch, dv = this.scratchDv;
    const total = IPV4_MIN_HLEN + 8 + len;
    const l4 = writeIpv4(dv, b, 0, total, this.nextIpId(), 0, DEFAULT_TTL, IPPROTO_ICMP, src, dst);
    b[l4] = ICMP_TIME_EXCEEDED;
    b[l4 + 1] = 1;
    dv.setUint32(l4 + 4, 0);
    dv.setUint16(l4 + 2, 0);
    for (let i = 0; i < len; i++) b[l4 + 8 + i] = quote[i];
    dv.setUint16(l4 + 2, checksum(b, l4, l4 + 8 + len));
    if (this.routes.route(dst)) this.transmit(b, null, 0, total);
  }

  /** Sends the frames that waited for `ip` now that its MAC is at cache slot s. */
  private flushPending(port: Port, ip: number, s: number): void {
    const arp = port.arp;
    if (arp.pendingCount === 0) return;
    const q = arp.opts.maxPending, fs = arp.opts.frameSize;
    for (let i = 0; i < q; i++) {
      const len = arp.pendingLen[i];
      if (len === 0 || arp.pendingIp[i] !== ip) continue;
      const tx = port.link.tx;
      if (tx.count === tx.slots) port.link.flush();
      const slot = tx.count;
      const base = tx.offsets[slot];
      if (port.hdr > 0) port.txBuf.fill(0, base, base + port.hdr);
      const ethOff = base + port.hdr;
      const pb = arp.pendingBuf;
      for (let k = 0; k < len; k++) port.txBuf[ethOff + k] = pb[i * fs + k];
      for (let k = 0; k < 6; k++) port.txBuf[ethOff + k] = arp.mac[s * 6 + k];
      if (port.txSrc !== null) port.txSrc[slot] = 0;
      tx.lengths[slot] = port.hdr + len;
      tx.count = slot + 1;
      port.txFrames++;
      port.txBytes += len;
      if (this.tracing) this.traceTx(port, port.txBuf, ethOff, len);
      arp.release(i);
    }
  }

  /** Records a frame leaving on `port` if it belongs to the traced frame or matches the filter. */
  private traceTx(port: Port, buf: Uint8Array, off: number, len: number): void {
    const tr = this.tracer;
    if (tr === null) return;
    if (tr.holding || tr.matches(buf, off, len)) tr.record(port.index, TRACE_TX, buf, off, len, null, this.now);
  }

  /** Starts tracing (replacing a running trace); the caller built the Tracer from the request. */
  setTracer(t: Tracer | null): void {
    if (this.tracer !== null && this.tracer !== t) this.tracer.stop();
    this.tracer = t;
    // Frames sent from timers (ARP retries, announcements) are traced too.
    this.tracing = t !== null && t.active;
  }

  private flushAll(): void {
    const ports = this.ports;
    for (let i = 0; i < ports.length; i++) {
      if (ports[i].link.tx.count > 0) ports[i].link.flush();
    }
  }

  // ------------------------------------------------------------------ the director as a host

  private localIcmp(port: Port, l4: number, l4End: number): number {
    const ic = port.icmp, ip = port.ip;
    if (ic.bind(l4, l4End) !== Parse.Ok) return Drop.Truncated;
    if (!ic.checksumOk()) return Drop.BadChecksum;
    if (ic.isRelatedError()) return this.icmpRelated(port, l4, l4End, true);
    if (ic.type !== ICMP_ECHO_REQUEST || ic.code !== 0) return Drop.IcmpIgnored;
    // Echo reply in place: swap addresses, type 8 -> 0, fresh TTL, checksums.
    const u8 = port.rxU8;
    const src = ip.src, dst = ip.dst, o = ip.offset;
    writeI32(u8, o + 12, dst);
    writeI32(u8, o + 16, src);
    u8[o + 8] = DEFAULT_TTL;
    u8[o + 10] = 0;
    u8[o + 11] = 0;
    const hc = checksum(u8, o, o + ip.headerLen);
    u8[o + 10] = hc >>> 8;
    u8[o + 11] = hc & 0xff;
    const oldWord = (ICMP_ECHO_REQUEST << 8) | ic.code;
    u8[l4] = ICMP_ECHO_REPLY;
    ic.csum = csumUpdate16(ic.csum, oldWord, ICMP_ECHO_REPLY << 8);
    if (!this.routes.route(src)) return Drop.NoRoute;
    return this.forwardRx(port, o, ip.totalLen);
  }

  /**
   * RST for a segment that reached the director's own stack with no listener (RFC 9293 §3.10.7.1):
   * ACK set -> <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
   */
  private sendTcpReset(port: Port): void {
    const ip = port.ip, t = port.tcp;
    const b = this.scratch, dv = this.scratchDv;
    const flags = t.flags;
    let segLen = ip.payloadEnd - t.offset - t.headerLen;
    if ((flags & TCP_SYN) !== 0) segLen++;
    if ((flags & TCP_FIN) !== 0) segLen++;
    const src = ip.dst, dst = ip.src;
    const l4 = writeIpv4(dv, b, 0, IPV4_MIN_HLEN + 20, this.nextIpId(), IP_DF, DEFAULT_TTL, IPPROTO_TCP, src, dst);
    dv.setUint16(l4, t.dstPort);
    dv.setUint16(l4 + 2, t.srcPort);
    if ((flags & TCP_ACK) !== 0) {
      dv.setUint32(l4 + 4, t.ack);
      dv.setUint32(l4 + 8, 0);
      b[l4 + 13] = TCP_RST;
    } else {
      dv.setUint32(l4 + 4, 0);
      dv.setUint32(l4 + 8, (t.seq + segLen) >>> 0);
      b[l4 + 13] = TCP_RST | TCP_ACK;
    }
    b[l4 + 12] = 5 << 4;
    dv.setUint16(l4 + 14, 0);
    dv.setUint16(l4 + 16, 0);
    dv.setUint16(l4 + 18, 0);
    const sum = onesSum(b, l4, l4 + 20, pseudoHeaderSum(src, dst, IPPROTO_TCP, 20));
    dv.setUint16(l4 + 16, csumFinish(sum));
    if (this.routes.route(dst)) this.transmit(b, null, 0, IPV4_MIN_HLEN + 20);
  }

  /**
   * An ICMP error about the packet bound in port.ip, from `src`, rate-limited. Never about an
   * ICMP error, a non-first fragment or a broadcast (RFC 1122 §3.2.2).
   */
  private sendIcmpError(port: Port, type: number, code: number, mtu: number, src: number): void {
    const ip = port.ip;
    if ((ip.fragWord & IP_OFFMASK) !== 0) return;
    if (ip.protocol === IPPROTO_ICMP) {
      const t = port.rxU8[ip.payloadOff];
      if (t !== ICMP_ECHO_REQUEST && t !== ICMP_ECHO_REPLY) return;
    }
    if (!this.takeIcmpToken()) return;
    const b = this.scratch, dv = this.scratchDv;
    const quote = Math.min(ip.totalLen, ICMP_QUOTE_MAX);
    const total = IPV4_MIN_HLEN + 8 + quote;
    const dst = ip.src;
    const l4 = writeIpv4(dv, b, 0, total, this.nextIpId(), 0, DEFAULT_TTL, IPPROTO_ICMP, src, dst);
    b[l4] = type;
    b[l4 + 1] = code;
    dv.setUint16(l4 + 2, 0);
    dv.setUint16(l4 + 4, 0);
    dv.setUint16(l4 + 6, type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED ? mtu : 0);
    copyBytes(port.rxU8, null, ip.offset, b, null, l4 + 8, quote);
    dv.setUint16(l4 + 2, checksum(b, l4, l4 + 8 + quote));
    if (this.routes.route(dst)) this.transmit(b, null, 0, total);
  }

  private takeIcmpToken(): boolean {
    const now = this.now;
    if (now - this.icmpRefillAt >= 1000) {
      this.icmpTokens = this.opts.icmpRatePerS;
      this.icmpRefillAt = now;
    }
    if (this.icmpTokens <= 0) { this.icmpRateLimited++; return false; }
    this.icmpTokens--;
    return true;
  }

  private nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  private sendArpReply(port: Port, shaOff: number, spa: number, tpa: number): void {
    const tx = port.link.tx;
    if (tx.count === tx.slots) port.link.flush();
    const slot = tx.count;
    const base = tx.offsets[slot];
    const b = port.txBuf;
    if (port.hdr > 0) b.fill(0, base, base + port.hdr);
    const e = base + port.hdr;
    const p = writeEth(b, e, port.rxU8, shaOff, port.mac, ETHERTYPE_ARP);
    const end = writeArp(port.txDv, b, p, ARP_REPLY, port.mac, tpa, port.rxU8, shaOff, spa);
    const len = padFrame(b, e, end);
    if (port.txSrc !== null) port.txSrc[slot] = 0;
    tx.lengths[slot] = port.hdr + len;
    tx.count = slot + 1;
    port.txFrames++;
    port.txBytes += len;
    if (this.tracing) this.traceTx(port, b, e, len);
  }

  private sendArpRequest(port: Port, target: number): void {
    this.sendArp(port, this.routes.sourceFor(port.index, target), target);
  }

  private sendGratuitous(port: Port, addr: number): void {
    this.sendArp(port, addr, addr);
  }

  private sendArp(port: Port, spa: number, tpa: number): void {
    const tx = port.link.tx;
    if (tx.count === tx.slots) port.link.flush();
    const slot = tx.count;
    const base = tx.offsets[slot];
    const b = port.txBuf;
    if (port.hdr > 0) b.fill(0, base, base + port.hdr);
    const e = base + port.hdr;
    const p = writeEth(b, e, BROADCAST_MAC, 0, port.mac, ETHERTYPE_ARP);
    const end = writeArp(port.txDv, b, p, ARP_REQUEST, port.mac, spa, ZERO_MAC, 0, tpa);
    const len = padFrame(b, e, end);
    if (port.txSrc !== null) port.txSrc[slot] = 0;
    tx.lengths[slot] = port.hdr + len;
    tx.count = slot + 1;
    port.txFrames++;
    port.txBytes += len;
    if (this.tracing) this.traceTx(port, b, e, len);
  }

  // ------------------------------------------------------------------ status

  status(): DataplaneStatus {
    return {
      ports: this.ports.map((p) => ({
        name: p.name, device: p.link.name, rxFrames: p.rxFrames, rxBytes: p.rxBytes, rxBatches: p.rxBatches,
        txFrames: p.txFrames, txBytes: p.txBytes, txDropped: p.link.txDropped,
        arpEntries: p.arp.size, arpPending: p.arp.pendingCount, arpUnresolvedDrops: p.arp.unresolvedDrops,
        drops: Array.from(p.drops),
      })),
      conns: this.ipvs.conns.count,
      connCapacity: this.ipvs.conns.capacity,
      tableFull: this.ipvs.tableFull,
      icmpRateLimited: this.icmpRateLimited,
      reassembly: { ...this.reasm.counters, inProgress: this.reasm.inProgress, bytesInUse: this.reasm.bytesInUse },
      fragmentsSent: this.fragsSent,
    };
  }
}

export interface DataplaneStatus {
  ports: Array<{
    name: string; device: string; rxFrames: number; rxBytes: number; rxBatches: number; txFrames: number;
    txBytes: number; txDropped: number; arpEntries: number; arpPending: number; arpUnresolvedDrops: number;
    drops: number[];
  }>;
  conns: number;
  connCapacity: number;
  tableFull: number;
  icmpRateLimited: number;
  reassembly: Record<string, number>;
  fragmentsSent: number;
}

function wordView(b: Uint8Array): Int32Array | null {
  if ((b.byteOffset & 3) !== 0 || (b.byteLength & 3) !== 0) return null;
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
}

/**
 * Copies len bytes without allocating (Buffer#copy creates a view per call). When both sides
 * have word views and the same alignment, whole 32-bit words are moved, starting at the word that
 * holds `srcOff`: the few bytes before `dstOff` that this overwrites are the Ethernet header,
 * which the caller writes afterwards; words past the end stay inside the slot.
 */
function copyBytes(src: Uint8Array, src32: Int32Array | null, srcOff: number, dst: Uint8Array, dst32: Int32Array | null,
  dstOff: number, len: number): void {
  if (src32 !== null && dst32 !== null && ((srcOff - dstOff) & 3) === 0) {
    const lead = srcOff & 3;
    let s = srcOff >> 2, d = (dstOff - lead) >> 2;
    const end = (srcOff + len + 3) >> 2;
    const limit = Math.min(end, src32.length);
    for (; s < limit; s++, d++) dst32[d] = src32[s];
    return;
  }
  for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
}

/** Completes a NEEDS_CSUM TCP/UDP checksum (the field holds the pseudo-header sum) in software. */
function finishL4Checksum(b: Uint8Array, ipOff: number, len: number): void {
  const l4 = ipOff + ((b[ipOff] & 0x0f) << 2);
  const proto = b[ipOff + 9];
  const field = proto === IPPROTO_TCP ? l4 + 16 : proto === IPPROTO_UDP ? l4 + 6 : -1;
  if (field < 0) return;
  let c = csumFinish(onesSum(b, l4, ipOff + len, 0));
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
  b[field] = c >>> 8;
  b[field + 1] = c & 0xff;
}

function readI32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/**
 * Rewrites the quoted packet inside an ICMP error: its source (or destination) address and port,
 * with an RFC 1624 update of the quoted IP header checksum.
 */
function rewriteQuoted(u8: Uint8Array, q: number, ql4: number, source: boolean, addr: number, port: number): void {
  const aOff = q + (source ? 12 : 16);
  const old = readI32(u8, aOff);
  const sum = csumUpdate32((u8[q + 10] << 8) | u8[q + 11], old, addr);
  u8[q + 10] = sum >>> 8;
  u8[q + 11] = sum & 0xff;
  writeI32(u8, aOff, addr);
  const pOff = ql4 + (source ? 0 : 2);
  u8[pOff] = port >>> 8;
  u8[pOff + 1] = port & 0xff;
}

function writeI32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** Ethernet minimum frame (60 bytes without FCS): pad with zeros. Returns the frame length. */
function padFrame(b: Uint8Array, start: number, end: number): number {
  const min = start + 60;
  if (end < min) { b.fill(0, end, min); return 60; }
  return end - start;
}

