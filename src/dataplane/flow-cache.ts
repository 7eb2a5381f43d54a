/**
 * The fast path's per-connection, per-direction flow records: what the first frame of a direction
 * found out about the connection (is it the fast path's at all, which kind, the out link, the
 * next hop's ARP slot and Ethernet header, the rewrite targets and the RFC 1624 checksum deltas),
 * so that every later frame reads one 64-byte record instead of asking the address set, the
 * routes, the ARP cache and the connection's fields again.
 *
 * Contract: a record is used only while it is what `fill` would write now. Everything it was
 * derived from either never changes while the connection is hashed (its key, method, real server,
 * local address: ConnTable's contract) or bumps `epoch`, the one word every record is checked
 * against: routes, local addresses, VIPs and dests (Dataplane.rulesChanged), and every ARP cache
 * change that could alter a slot's answer (ArpCache.onChange: a slot allocated, freed, resolved, or
 * given another MAC). A reused connection id starts with cleared records (ConnTable's create hook).
 * What may change per frame stays a per-frame check in FastPath.tryNat: the dest's availability,
 * a full NAT connection's PROXY header, SYNs to the VIP, the frame's size against the MTU.
 *
 * A record can also say "declined": the general path handles this direction of the connection
 * (a tunnel, an unrouted client, an unresolved next hop) until the epoch moves. That only ever
 * costs speed, never a decision: the general path decides for every declined frame.
 */
import type { HostRoutes } from '../host/addresses.js';
import { Route } from '../host/addresses.js';
import type { LocalAddresses } from '../host/local-addresses.js';
import { ConnFlag } from '../ipvs/conn-table.js';
import { Fwd } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { csumDelta16, csumDelta32 } from '../packet/checksum.js';
import type { DestRoutes } from './dest-routes.js';
import type { Port } from './port.js';

/** Int32 words per direction; the inbound record first, then the outbound one. */
export const FLOW_WORDS = 10;
export const FLOW_DIRS = 2;
/** Direction index: client -> VIP (found by the in-index) or reply (found by the out-index). */
export const FlowDir = { IN: 0, OUT: 1 } as const;

/**
 * Words of a record. What the out link gives at no cost (its MTU, its own MAC: Port.macTail) and
 * the next hop's address (the ARP slot's, read only for a refresh) are not kept.
 */
export const Flow = {
  /** FlowCache.epoch when filled; 0 = empty (the epoch starts at 1). */
  EPOCH: 0,
  /** in link | out link << 8 | FlowBit flags. */
  META: 1,
  /** The rewritten source, destination and ports word (sport << 16 | dport). */
  SRC: 2,
  DST: 3,
  PORTS: 4,
  /** RFC 1624 terms (csumApplyDelta) of the IPv4 header: changed addresses plus TTL - 1 (IP_TTL_DELTA). */
  IP_DELTA: 5,
  /** Terms of the TCP/UDP checksum: changed addresses and changed ports. */
  L4_DELTA: 6,
  /** The Ethernet header's first word (the next hop's MAC, bytes 0-3)... */
  ETH0: 7,
  /** ...and its second: the MAC's bytes 4-5, then the out link's MAC bytes 0-1 (Port.macTail has the rest). */
  ETH1: 8,
  /** The next hop's slot in the out link's ARP cache (for the refresh check). */
  ARP_SLOT: 9,
} as const;

/** ~m + m' of the TTL/protocol word when the TTL drops by one: 0xfeff whatever the TTL (> 1 here). */
export const IP_TTL_DELTA = 0xfeff;

/** META flag bits (above the two link bytes). */
export const FlowBit = {
  /** Client -> real server: InPkts, the INPUT state table, the sync hook; SYNs go the general way. */
  INBOUND: 1 << 16,
  /** The TCP/UDP header is rewritten (all but direct routing). */
  L4: 1 << 17,
  /** Full NAT: a TCP connection with a PROXY header goes the general way (it moves bytes). */
  FULLNAT: 1 << 18,
  /** The general path handles this direction (until the epoch moves). */
  DECLINED: 1 << 19,
} as const;

export class FlowCache {
  /** FLOW_DIRS records of FLOW_WORDS per connection entry. */
  readonly records: Int32Array;
  /** Every record filled under another value is stale. Starts at 1: a zeroed record never matches. */
  epoch = 1;
  private readonly route = new Route();

  constructor(
    private readonly ports: readonly Port[],
    private readonly routes: HostRoutes,
    private readonly local: LocalAddresses,
    private readonly destRoutes: DestRoutes,
    private readonly ipvs: Ipvs,
  ) {
    this.records = new Int32Array(ipvs.conns.capacity * FLOW_DIRS * FLOW_WORDS);
    ipvs.conns.setCreateHook((id) => this.clear(id));
    for (const p of ports) p.arp.onChange = () => this.invalidate();
  }

  /** Bytes per connection entry (two records). */
  static bytesPerEntry(): number {
    return FLOW_DIRS * FLOW_WORDS * 4;
  }

  /** Something a record depends on changed: every record is stale. */
  invalidate(): void {
    this.epoch++;
  }

  /** A new connection got entry `id`: its predecessor's records must not match. */
  clear(id: number): void {
    const b = id * FLOW_DIRS * FLOW_WORDS;
    this.records[b + Flow.EPOCH] = 0;
    this.records[b + FLOW_WORDS + Flow.EPOCH] = 0;
  }

  /**
   * Fills record `r` for frames of connection `id` in direction `dir` from `src`:`sport` to
   * `dst`:`dport` arriving on `inPort`: the decisions FastPath.tryNat made per frame before
   * (classify.ts's address checks, ipvs-in.ts / ipvs-out.ts's choice, the route and next hop),
   * or DECLINED. The key of the connection is exactly these addresses and ports (the lookup
   * matched them), so what is found holds for every frame the lookup maps to this record.
   */
  fill(r: number, id: number, dir: number, inPort: Port, src: number, sport: number, dst: number, dport: number): void {
    const t = this.records,
      c = this.ipvs.conns,
      local = this.local;
    t[r + Flow.EPOCH] = this.epoch;
    t[r + Flow.META] = inPort.index | FlowBit.DECLINED;
    // Martians, our own source, a directed broadcast: classify.ts's business.
    if (src === 0 || src === -1 || src >>> 28 === 0xe || src >>> 24 === 127 || dst >>> 28 === 0xe || dst === -1) return;
    if (local.isLocal(src) || this.routes.isSubnetBroadcast(inPort.index, dst)) return;
    const fwd = c.fwd[id];
    let bits = FlowBit.L4,
      link: number,
      nextHop: number,
      nsrc = src,
      nsport = sport,
      ndst = dst,
      ndport = dport;
    if (dir === FlowDir.OUT) {
      // A reply. To a full NAT local address, ipvs-out is asked first (classify.ts); to another
      // local address, ipvs-in would be asked instead: the general path's.
      if (local.isLocal(dst)) {
        if (!local.isLaddr(dst) || fwd !== Fwd.FULLNAT) return;
        bits |= FlowBit.FULLNAT;
        ndst = c.caddr[id];
        ndport = c.cport[id];
      } else if (fwd !== Fwd.MASQ) return;
      nsrc = c.vaddr[id];
      nsport = c.vport[id];
      const route = this.route;
      if (!this.routes.route(c.caddr[id], route)) return;
      link = route.link;
      nextHop = route.nextHop;
    } else {
      // Client -> VIP. A full NAT local address as destination: ipvs-out is asked first there.
      if (!local.isLocal(dst) || local.isLaddr(dst) || (c.flags[id] & ConnFlag.ONE_PACKET) !== 0) return;
      const dest = this.ipvs.destOf(id);
      if (dest === null) return;
      link = this.destRoutes.linkOf(dest.id);
      if (link < 0) return;
      nextHop = this.destRoutes.nextHop[dest.id];
      bits |= FlowBit.INBOUND;
      if (fwd === Fwd.MASQ) {
        ndst = c.daddr[id];
        ndport = c.dport[id];
      } else if (fwd === Fwd.FULLNAT) {
        bits |= FlowBit.FULLNAT;
        nsrc = c.laddr[id];
        nsport = c.lport[id];
        ndst = c.daddr[id];
        ndport = c.dport[id];
      } else if (fwd === Fwd.ROUTE) {
        if (nextHop !== dest.addr) return;
        bits &= ~FlowBit.L4;
      } else return; // tunnels build a new header: the general path's
    }
    const out = this.ports[link];
    if (out.hdr !== inPort.hdr) return;
    const arpSlot = out.arp.lookup(nextHop);
    if (arpSlot < 0) return;
    let addrDelta = 0;
    if (nsrc !== src) addrDelta += csumDelta32(src, nsrc);
    if (ndst !== dst) addrDelta += csumDelta32(dst, ndst);
    let l4Delta = addrDelta;
    if (nsport !== sport) l4Delta += csumDelta16(sport, nsport);
    if (ndport !== dport) l4Delta += csumDelta16(dport, ndport);
    t[r + Flow.SRC] = nsrc;
    t[r + Flow.DST] = ndst;
    t[r + Flow.PORTS] = (nsport << 16) | ndport;
    t[r + Flow.IP_DELTA] = addrDelta + IP_TTL_DELTA;
    t[r + Flow.L4_DELTA] = l4Delta;
    t[r + Flow.ETH0] = out.arp.macHi[arpSlot];
    t[r + Flow.ETH1] = (out.arp.macLo[arpSlot] << 16) | (out.macHi >>> 16);
    t[r + Flow.ARP_SLOT] = arpSlot;
    t[r + Flow.META] = inPort.index | (link << 8) | bits;
  }
}
