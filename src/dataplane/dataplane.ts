/**
 * The dataplane: the links, the stages a frame goes through, and the batch loop that drives them.
 *
 *   batch loop (here) -> fast path (fast-path.ts): established NAT flows in one pass
 *                     -> classify.ts: Ethernet/IPv4 checks, fragments (defrag.ts) ->
 *                          host/arp.ts, host/icmp.ts (the director as a host)
 *                          ipvs-in.ts  (to a VIP: lookup, scheduling, state)  -> xmit/nat.ts
 *                          ipvs-out.ts (replies: state, SNAT), icmp-related.ts -> xmit/nat.ts
 *                          router.ts   (TTL, route, MTU; plain forwarding)
 *                     -> egress.ts: next hop's MAC, TX slot (zero-copy or copy), fragments
 *
 * Contract: `processBatch` allocates nothing and never throws; every received frame ends as SENT,
 * CONSUMED or exactly one Drop reason (counted per link), and every link is flushed once per
 * batch. An exception while processing a frame is a bug: that frame ends as Drop.Exception, the
 * fault is counted and reported with the frame (frame-faults.ts), and the batch goes on. The
 * control plane pushes what the packet path looks up (local addresses, routes to real servers)
 * through `rulesChanged()`. Tracing (src/trace) costs one boolean per batch when off.
 *
 * Two directors (VRRP, connection sync): the packets of those protocols are queued in the
 * ControlInbox for the control plane, which is told once per batch (`onControlPackets`) and reads
 * them after it; it sends with `sendMulticastIp`/`sendMulticastUdp`, moves VRRP virtual addresses
 * with `setVirtualAddresses`, and installs the sync master's per-packet hook with `setSyncMaster`.
 */
import type { LinkAddress } from '../host/addresses.js';
import { HostRoutes } from '../host/addresses.js';
import { HostArp } from '../host/arp.js';
import { HostIcmp } from '../host/icmp.js';
import { LocalAddresses } from '../host/local-addresses.js';
import { LocalOutput } from '../host/local-output.js';
import { MulticastOutput } from '../host/multicast-output.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import type { Link } from '../link/link.js';
import { VNET_GSO, VNET_NEEDS_CSUM, vnetFlags, vnetGsoSize } from '../link/vnet-hdr.js';
import { dropComment, TRACE_RX, TRACE_TX, type Tracer } from '../trace/tracer.js';
import { Classifier } from './classify.js';
import { ControlInbox, type InboxReader } from './control-inbox.js';
import { Reassembler } from './defrag.js';
import { DestRoutes } from './dest-routes.js';
import { DROP_NAMES, Drop, SENT } from './drops.js';
import { Egress } from './egress.js';
import { FastPath } from './fast-path.js';
import { FrameContext, type InboundObserver } from './frame.js';
import { FrameFaults } from './frame-faults.js';
import { IcmpRelated } from './icmp-related.js';
import { IpvsIn } from './ipvs-in.js';
import { IpvsOut } from './ipvs-out.js';
import { Port } from './port.js';
import { Router } from './router.js';
import type { ServiceHealthNote } from './trace-notes.js';
import { DrXmit } from './xmit/dr.js';
import { FullNatXmit } from './xmit/fullnat.js';
import { NatXmit } from './xmit/nat.js';
import { ProxySeq } from './xmit/proxy-seq.js';
import { Transmitters } from './xmit/transmitters.js';
import { TunXmit } from './xmit/tun.js';

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
   * Try the established-flow fast path before the general pipeline. Default true; tests turn it
   * off to check that both paths send the same bytes and count the same things.
   */
  fastPath: boolean;
}

export class Dataplane {
  readonly ports: Port[];
  readonly routes: HostRoutes;
  readonly ipvs: Ipvs;
  /** IPv4 reassembly, shared by all links. */
  readonly reasm: Reassembler;
  /** True when frames are forwarded in place (see Egress). */
  readonly zeroCopy: boolean;
  /** Packet tracer (tapvsadm-style trace commands set it); null when off. */
  tracer: Tracer | null = null;
  /** Multicast packets for the control plane's protocols (VRRP, connection sync). */
  readonly inbox: ControlInbox;
  /** Called at the end of a batch that queued packets in the inbox (schedule `drainControl` after it). */
  onControlPackets: (() => void) | null = null;
  /** Exceptions caught in batches; the daemon sets `faults.reporter` to log them. */
  readonly faults = new FrameFaults();
  private readonly opts: DataplaneOptions;
  private readonly ctx = new FrameContext();
  private readonly local = new LocalAddresses();
  private readonly destRoutes = new DestRoutes();
  private readonly arp: HostArp;
  private readonly icmp: HostIcmp;
  private readonly egress: Egress;
  private readonly fast: FastPath;
  private readonly classifier: Classifier;
  private readonly mcast = new MulticastOutput();
  /** Per link: the --link addresses, and the VRRP virtual addresses by instance with whether they are held now. */
  private readonly baseAddrs: LinkAddress[][];
  private readonly virtualAddrs = new Map<string, { link: number; addrs: LinkAddress[]; owned: boolean }>();

  constructor(ipvs: Ipvs, ports: PortConfig[], opts: Partial<DataplaneOptions> = {}) {
    this.ipvs = ipvs;
    this.opts = { forward: true, icmpRatePerS: 1000, zeroCopy: true, fastPath: true, ...opts };
    this.ports = ports.map((p, i) => new Port(i, p.name, p.link));
    this.routes = new HostRoutes(ports.map((p) => ({ addrs: p.addrs, gateway: p.gateway })));
    this.baseAddrs = ports.map((p) => [...p.addrs]);
    this.inbox = new ControlInbox(ports.length);
    // Zero-copy forwarding when every link can point TX slots at the other links' RX rings.
    this.zeroCopy = this.opts.zeroCopy && this.ports.every((p) => p.tx.zeroCopy);
    if (this.zeroCopy) {
      const rxBufs = this.ports.map((p) => p.link.rx.buf);
      for (const p of this.ports) p.link.setTxSources!(rxBufs);
    }
    const ctx = this.ctx,
      routes = this.routes,
      local = this.local;
    this.reasm = new Reassembler({ onTimeout: (q, len) => this.icmp.reassemblyTimeout(q, len) });
    this.arp = new HostArp(ctx, routes, local);
    this.egress = new Egress(ctx, this.ports, this.arp, this.zeroCopy);
    const localOut = new LocalOutput(routes, this.egress);
    this.icmp = new HostIcmp(ctx, localOut, this.egress, routes, local, this.opts.icmpRatePerS);
    const router = new Router(ctx, this.ports, routes, this.destRoutes, local, this.icmp, this.egress);
    const proxy = new ProxySeq(ipvs.conns.capacity);
    const xmit = new Transmitters(
      ipvs.conns,
      new NatXmit(ctx, ipvs.conns, router, this.egress),
      new DrXmit(ctx, router, this.egress),
      new TunXmit(ctx, routes, router, this.egress),
      new FullNatXmit(ctx, ipvs.conns, router, this.egress, proxy, this.ports),
    );
    const related = new IcmpRelated(ctx, ipvs, routes, this.egress, xmit, this.icmp);
    this.classifier = new Classifier(
      ctx,
      { forward: this.opts.forward },
      routes,
      local,
      this.reasm,
      this.arp,
      this.icmp,
      new IpvsIn(ctx, ipvs, this.icmp, localOut, xmit),
      new IpvsOut(ctx, ipvs, xmit, related),
      related,
      router,
      this.inbox,
    );
    this.fast = new FastPath(ctx, this.ports, routes, local, this.destRoutes, ipvs, this.egress, proxy);
    this.rulesChanged();
  }

  /** Starts every link; batches run through processBatch. A link that fails is reported to onLinkError. */
  start(onLinkError: (port: string, err: Error) => void = () => {}): void {
    for (const p of this.ports) {
      p.link.start(
        (count) => this.processBatch(p, count, Date.now()),
        (err) => onLinkError(p.name, err),
      );
    }
  }

  /**
   * The rules changed (services, dests): rebuild what the packet path looks up, the local
   * addresses (VIPs) and the routes to real servers. Called by the control plane.
   */
  rulesChanged(): void {
    const owned = this.ports.map((p) => this.routes.addressesOf(p.index));
    const standby: number[] = [];
    for (const v of this.virtualAddrs.values()) if (!v.owned) for (const a of v.addrs) standby.push(a.addr);
    this.local.update(owned, this.ipvs.vipAddresses(), standby, this.ipvs.laddrAddresses());
    this.destRoutes.rebuild(this.routes, this.ipvs.destsById);
    this.fast.flows.invalidate();
  }

  /**
   * VRRP: the virtual addresses `key` (an instance) puts on `link` are held (`owned`, master) or
   * left to the other director (backup: neither answered for nor forwarded to). A newly held
   * address is announced by the caller (gratuitous ARP), as keepalived does on becoming master.
   */
  setVirtualAddresses(key: string, link: number, addrs: readonly LinkAddress[], owned: boolean): void {
    this.virtualAddrs.set(key, { link, addrs: [...addrs], owned });
    this.applyVirtualAddresses();
  }

  /** The link's --link addresses (the first is its primary: the source of VRRP adverts and sync messages). */
  baseAddressesOf(link: number): readonly LinkAddress[] {
    return this.baseAddrs[link];
  }

  /** Forgets an instance's virtual addresses (its instance was removed by a reload). */
  dropVirtualAddresses(key: string): void {
    if (this.virtualAddrs.delete(key)) this.applyVirtualAddresses();
  }

  /** Each link's addresses: its --link ones plus the held virtual ones; then what the packet path looks up. */
  private applyVirtualAddresses(): void {
    for (const p of this.ports) {
      const list = [...this.baseAddrs[p.index]];
      for (const v of this.virtualAddrs.values()) {
        if (v.link !== p.index || !v.owned) continue;
        for (const a of v.addrs) if (!list.some((x) => x.addr === a.addr)) list.push(a);
      }
      this.routes.setLinkAddresses(p.index, list);
    }
    this.rulesChanged();
  }

  /** One gratuitous ARP for `addr` on link `link`, sent now. */
  gratuitousArp(link: number, addr: number): void {
    const p = this.ports[link];
    this.arp.gratuitous(p, addr);
    p.tx.flush();
  }

  /** Sends the IPv4 packet buf[off, off + len) (multicast destination, header built) on `link` now. */
  sendMulticastIp(link: number, buf: Uint8Array, off: number, len: number): boolean {
    return this.mcast.sendIp(this.ports[link], buf, off, len);
  }

  /** Sends a UDP datagram to a multicast group on `link` now, from the link's address `src`. */
  sendMulticastUdp(
    link: number,
    src: number,
    srcPort: number,
    group: number,
    port: number,
    ttl: number,
    payload: Uint8Array,
    len: number,
  ): boolean {
    return this.mcast.sendUdp(this.ports[link], src, srcPort, group, port, ttl, payload, len);
  }

  /** Hands the inbox's queued packets to `read` (the control plane, after a batch). */
  drainControl(read: InboxReader): void {
    this.inbox.drain(read);
  }

  /** Installs (or removes, with null) the connection sync master's per-packet hook. */
  setSyncMaster(master: InboundObserver | null): void {
    this.ctx.syncMaster = master;
  }

  /** Runs one RX batch of `port` through the stages and flushes every link once. Never throws. */
  processBatch(port: Port, count: number, nowMs: number): void {
    this.ctx.now = nowMs;
    port.rxBatches++;
    this.setTracing(this.tracer?.active === true);
    // The try is around the loop, not in it: the per-frame code is the same as without it. A
    // frame that throws ends its run of the loop; the batch resumes with the next frame.
    const first = port.rxFrames;
    let next = 0;
    while (next < count) {
      const from = next;
      try {
        next = this.runFrames(port, from, count, nowMs);
      } catch (e) {
        // runFrames counts a frame in rxFrames before anything else: the last one counted threw.
        next = Math.max(port.rxFrames - first, from + 1);
        this.frameFailed(port, next - 1, e, nowMs);
      }
    }
    try {
      this.flushAll();
      if (this.inbox.pending > 0) this.onControlPackets?.();
    } catch (e) {
      this.faults.batch(port.name, e, nowMs);
    }
  }

  /** Frames [from, count) of the batch: each ends in exactly one verdict. Returns count. */
  private runFrames(port: Port, from: number, count: number, nowMs: number): number {
    const ctx = this.ctx;
    const rx = port.link.rx;
    const offsets = rx.offsets,
      lengths = rx.lengths,
      u8 = port.rx.u8,
      hdr = port.hdr;
    const tr = this.tracer;
    const tracing = ctx.tracing;
    // The fast path is for zero-copy forwarding; a trace needs the general path's decision notes.
    const fast = this.opts.fastPath && this.zeroCopy && !tracing;
    for (let i = from; i < count; i++) {
      port.rxFrames++; // first: processBatch's catch finds the frame that threw by it
      const off = offsets[i] + hdr;
      const len = lengths[i] - hdr;
      const vnet = hdr > 0 ? vnetFlags(u8, offsets[i]) : 0;
      const gso = (vnet & VNET_GSO) !== 0;
      ctx.begin(port, (vnet & VNET_NEEDS_CSUM) !== 0, gso, gso ? vnetGsoSize(u8, offsets[i]) : 0);
      port.rxBytes += Math.max(len, 0);
      if (tracing && tr!.matches(u8, off, len)) tr!.hold(port.index, TRACE_RX, u8, off, len, nowMs);
      const v =
        len <= 0
          ? Drop.Truncated
          : fast && this.fast.tryNat(port, off, off + len)
            ? SENT
            : this.classifier.frame(off, off + len);
      if (tracing && tr!.holding) {
        tr!.release(v >= 0 ? dropComment(DROP_NAMES[v]) : ctx.traceNote);
        ctx.traceNote = null;
        ctx.traceSched = null;
      }
      // Last: a frame is counted once, with its verdict or (having thrown before here) as Exception.
      if (v >= 0) port.drops[v]++;
      else if (v === SENT) port.sentVerdicts++;
      else port.consumedVerdicts++;
    }
    return count;
  }

  /** Frame `i` of `port`'s batch threw `e`: dropped, counted, reported (rate-limited). */
  private frameFailed(port: Port, i: number, e: unknown, nowMs: number): void {
    port.drops[Drop.Exception]++;
    const ctx = this.ctx;
    const tr = this.tracer;
    try {
      if (ctx.tracing && tr?.holding) tr.release(dropComment(DROP_NAMES[Drop.Exception]));
    } catch {
      // the fault is reported below; a tracer that fails too is stopped by its own checks
    }
    ctx.traceNote = null;
    ctx.traceSched = null;
    const rx = port.link.rx;
    const off = rx.offsets[i] + port.hdr;
    this.faults.frame(port.name, e, port.rx.u8, off, rx.lengths[i] - port.hdr, nowMs);
  }

  /**
   * Tests only: frames for which `when` is true make the general path throw, as a bug would. Not
   * reachable from the wire or the control socket; it wraps the classifier of this instance, so
   * the batch loop's code is untouched.
   */
  injectFaultForTests(when: (u8: Uint8Array, off: number, end: number) => boolean): void {
    const c = this.classifier;
    const real = c.frame.bind(c);
    const ctx = this.ctx;
    c.frame = (off: number, end: number): number => {
      if (when(ctx.port.rx.u8, off, end)) throw new Error('injected fault (test)');
      return real(off, end);
    };
  }

  /** Expiry, ARP retries, ICMP budget: call every ~100 ms. */
  tick(nowMs: number): void {
    this.ctx.now = nowMs;
    this.ipvs.expire(nowMs);
    this.reasm.expire(nowMs);
    // Frames whose next hop never resolved are counted by each ARP cache (arpUnresolvedDrops).
    for (const p of this.ports) p.arp.tick(nowMs, (ip) => this.arp.request(p, ip));
    this.flushAll();
  }

  /** Gratuitous ARP for every owned address and every VIP on a link's prefix. */
  announce(): void {
    for (const p of this.ports) {
      const own = this.routes.addressesOf(p.index);
      for (let i = 0; i < own.length; i++) this.arp.gratuitous(p, own[i]);
      for (const s of this.ipvs.services) {
        if (this.local.isVip(s.addr) && this.routes.onLink(p.index, s.addr) && !this.routes.ownsOnLink(p.index, s.addr))
          this.arp.gratuitous(p, s.addr);
        // Full NAT local addresses, so the real servers learn where their replies go.
        for (const l of s.laddrs.addrs)
          if (this.local.isLaddr(l) && this.routes.onLink(p.index, l) && !this.routes.ownsOnLink(p.index, l))
            this.arp.gratuitous(p, l);
      }
    }
    this.flushAll();
  }

  /** The link whose prefix holds `addr` (a neighbour there), or null: for the rules' checks. */
  linkOnPrefix(addr: number): string | null {
    for (const p of this.ports) if (this.routes.onLink(p.index, addr)) return p.name;
    return null;
  }

  /** What trace comments say about servers the health checks took out (the daemon sets it). */
  setHealthNote(note: ServiceHealthNote | null): void {
    this.ctx.healthNote = note;
  }

  /** Starts tracing (replacing a running trace); the caller built the Tracer from the request. */
  setTracer(t: Tracer | null): void {
    if (this.tracer !== null && this.tracer !== t) this.tracer.stop();
    this.tracer = t;
    // Frames sent from timers (ARP retries, announcements) are traced too.
    this.setTracing(t?.active === true);
  }

  status(): DataplaneStatus {
    return {
      ports: this.ports.map((p) => ({
        name: p.name,
        device: p.link.name,
        kind: p.link.kind ?? 'other',
        ...(p.link.io !== undefined ? { io: p.link.io } : {}),
        rxFrames: p.rxFrames,
        rxBytes: p.rxBytes,
        rxBatches: p.rxBatches,
        txFrames: p.tx.frames,
        txBytes: p.tx.bytes,
        txDropped: p.link.txDropped,
        arpEntries: p.arp.size,
        arpPending: p.arp.pendingCount,
        arpUnresolvedDrops: p.arp.unresolvedDrops,
        sentVerdicts: p.sentVerdicts,
        consumedVerdicts: p.consumedVerdicts,
        drops: Array.from(p.drops),
      })),
      conns: this.ipvs.conns.count,
      connCapacity: this.ipvs.conns.capacity,
      tableFull: this.ipvs.tableFull,
      icmpRateLimited: this.icmp.rateLimited,
      reassembly: { ...this.reasm.counters, inProgress: this.reasm.inProgress, bytesInUse: this.reasm.bytesInUse },
      fragmentsSent: this.egress.fragmentsSent,
      controlQueueOverflows: this.inbox.overflows,
      multicastSent: this.mcast.sent,
      multicastFailed: this.mcast.failed,
      exceptions: this.faults.exceptions,
    };
  }

  /** Frames queued on a link are traced while a trace runs: the TX queues' observers follow ctx.tracing. */
  private setTracing(on: boolean): void {
    if (this.ctx.tracing === on) return;
    this.ctx.tracing = on;
    for (const p of this.ports) p.tx.observer = on ? (buf, off, len) => this.traceTx(p, buf, off, len) : null;
  }

  /** Records a frame leaving on `port` if it belongs to the traced frame or matches the filter. */
  private traceTx(port: Port, buf: Uint8Array, off: number, len: number): void {
    const tr = this.tracer;
    if (tr === null) return;
    if (tr.holding || tr.matches(buf, off, len)) tr.record(port.index, TRACE_TX, buf, off, len, null, this.ctx.now);
  }

  private flushAll(): void {
    const ports = this.ports;
    for (let i = 0; i < ports.length; i++) ports[i].tx.flush();
  }
}

export interface DataplaneStatus {
  ports: Array<{
    name: string;
    device: string;
    /** The link's attachment: tap, packet, pcap (Link.kind). */
    kind: string;
    /** How frames move, where the link has a choice (Link.io). */
    io?: string;
    rxFrames: number;
    rxBytes: number;
    rxBatches: number;
    txFrames: number;
    txBytes: number;
    txDropped: number;
    arpEntries: number;
    arpPending: number;
    arpUnresolvedDrops: number;
    /** Frames forwarded or answered, and frames the host took (ARP replies learned, VRRP...). */
    sentVerdicts: number;
    consumedVerdicts: number;
    /** By Drop reason. rxFrames = sentVerdicts + consumedVerdicts + the sum of drops, always. */
    drops: number[];
  }>;
  conns: number;
  connCapacity: number;
  tableFull: number;
  icmpRateLimited: number;
  reassembly: Record<string, number>;
  fragmentsSent: number;
  controlQueueOverflows: number;
  multicastSent: number;
  multicastFailed: number;
  /** Exceptions caught in batches (bugs): frames dropped as `exception`, and faults after the frames. */
  exceptions: number;
}
