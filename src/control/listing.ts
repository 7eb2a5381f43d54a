/**
 * The control protocol's listings, built from the model's public state: what `-L`, `-S`, `-L -c`
 * and the metrics endpoint show. int32 addresses become dotted quads, protocol numbers names and
 * scheduler flag bits ipvsadm's `-b` words.
 *
 * Contract: reads the model, never changes it. Order is the model's: services in registration
 * order, dests newest first, connections in entry-index order; format.ts sorts as ipvsadm does.
 */

import { ConnFlag, type ConnTable } from '../ipvs/conn-table.js';
import { type Dest, Fwd, TunFlag, TunType } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import type { Service } from '../ipvs/service.js';
import { TCP_STATE_NAMES } from '../ipvs/tcp-state.js';
import { formatIpv4, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import type {
  ConnInfo,
  FwdName,
  LaddrInfo,
  LaddrListResult,
  ListResult,
  ProxyProtocolVersion,
  ServiceInfo,
  TunnelConfig,
} from './protocol.js';
import { schedFlagWords } from './sched-flags.js';
import { collect, type StreamedResult } from './streamed.js';

/** `-L`: the given services (every one, or the one a request named) and the totals. */
export function listServices(ipvs: Ipvs, services: readonly Service[]): ListResult {
  return {
    connTableSize: ipvs.conns.indexSize,
    conns: ipvs.conns.count,
    services: services.map(serviceInfo),
    total: ipvs.total.snapshot(),
  };
}

/**
 * `-L -c`, all at once (tests, small tables): what the kernel's connection table holds
 * (ip_vs_conn.c, ip_vs_conn_seq_show()): every hashed entry, connections and persistence
 * templates, and the templates ip_vs_check_template() invalidated (ports 65535) until they
 * expire; with seconds left at `nowMs`. One-packet entries are never hashed and never listed.
 */
export function listConns(ipvs: Ipvs, nowMs: number): ConnInfo[] {
  return collect(new ConnListing(ipvs, () => nowMs));
}

/** Entries per slice: a median 0.6 ms hold of the event loop, with its JSON (bench/micro/control-listing.ts). */
export const CONN_SLICE_ENTRIES = 1000;
/** Table slots looked at per slice, so a sparse table of millions of slots is sliced too. */
export const CONN_SLICE_SCAN = 1 << 16;

/**
 * `-L -c` in slices, walking the table by entry index. Like the kernel's /proc/net/ip_vs_conn
 * (ip_vs_conn_seq_next(), one hash bucket at a time under its lock), the listing is not one
 * instant: an entry created behind the cursor is not shown, one freed ahead of it is not either,
 * and every entry present from start to end is shown exactly once (entries never move).
 */
export class ConnListing implements StreamedResult<ConnInfo> {
  readonly streamed = true;
  private cursor = 0;

  constructor(
    private readonly ipvs: Ipvs,
    private readonly clock: () => number = Date.now,
  ) {}

  next(): ConnInfo[] | null {
    const c = this.ipvs.conns;
    if (this.cursor >= c.capacity) return null;
    const nowMs = this.clock();
    const out: ConnInfo[] = [];
    const end = Math.min(c.capacity, this.cursor + CONN_SLICE_SCAN);
    let id = this.cursor;
    for (; id < end && out.length < CONN_SLICE_ENTRIES; id++) {
      if ((c.flags[id] & (ConnFlag.HASHED | ConnFlag.INVALID)) !== 0) out.push(connInfo(c, id, nowMs));
    }
    this.cursor = id;
    return out;
  }

  toJSON(): ConnInfo[] {
    return collect(this);
  }
}

function connInfo(c: ConnTable, id: number, nowMs: number): ConnInfo {
  const template = (c.flags[id] & ConnFlag.TEMPLATE) !== 0;
  const proto = c.proto[id] === IPPROTO_TCP ? 'tcp' : c.proto[id] === IPPROTO_UDP ? 'udp' : 'IP';
  let state: string;
  if (template) state = (c.flags[id] & ConnFlag.ASSURED) !== 0 ? 'ASSURED' : 'NONE';
  else if (c.proto[id] === IPPROTO_UDP) state = 'UDP';
  else state = TCP_STATE_NAMES[c.state[id]];
  return {
    proto,
    caddr: formatIpv4(c.caddr[id]),
    cport: c.cport[id],
    vaddr: formatIpv4(c.vaddr[id]),
    vport: c.vport[id],
    daddr: formatIpv4(c.daddr[id]),
    dport: c.dport[id],
    state,
    expireS: Math.max(0, Math.floor((c.expiresAt[id] - nowMs) / 1000)),
    template,
    ...(c.laddr[id] !== c.caddr[id] || c.lport[id] !== c.cport[id]
      ? { laddr: formatIpv4(c.laddr[id]), lport: c.lport[id] }
      : {}),
  };
}

function serviceInfo(s: Service): ServiceInfo {
  return {
    service: { proto: s.proto === IPPROTO_TCP ? 'tcp' : 'udp', addr: formatIpv4(s.addr), port: s.port },
    config: {
      scheduler: s.scheduler.name,
      schedFlags: schedFlagWords(s.scheduler.name, s.schedFlags),
      persistentS: s.persistent ? s.timeoutS : null,
      netmask: formatIpv4(s.netmask),
      ops: s.ops,
      ...(s.proxyProtocol !== 0 ? { proxyProtocol: `v${s.proxyProtocol}` as ProxyProtocolVersion } : {}),
    },
    stats: s.stats.snapshot(),
    laddrs: laddrInfos(s),
    dests: s.dests.map((d) => ({
      addr: formatIpv4(d.addr),
      port: d.port,
      fwd: fwdName(d),
      ...(d.fwd === Fwd.TUNNEL ? { tunnel: tunnelConfig(d) } : {}),
      weight: d.weight,
      uThreshold: d.uThreshold,
      lThreshold: d.lThreshold,
      activeConns: d.activeConns,
      inactConns: d.inactConns,
      persistConns: d.persistConns,
      stats: d.stats.snapshot(),
    })),
  };
}

/** `-G`: the local addresses of each full NAT service (those with any, or the one asked for). */
export function listLaddrs(services: readonly Service[]): LaddrListResult {
  return {
    services: services
      .filter((s) => s.laddrs.addrs.length > 0 || services.length === 1)
      .map((s) => ({
        service: { proto: s.proto === IPPROTO_TCP ? 'tcp' : 'udp', addr: formatIpv4(s.addr), port: s.port },
        laddrs: laddrInfos(s),
      })),
  };
}

function laddrInfos(s: Service): LaddrInfo[] {
  const p = s.laddrs;
  return p.addrs.map((a, i) => ({
    addr: formatIpv4(a),
    ...(p.links[i] !== '' ? { ifname: p.links[i] } : {}),
    conns: p.conns[i],
    conflicts: p.conflicts[i],
  }));
}

function fwdName(d: Dest): FwdName {
  switch (d.fwd) {
    case Fwd.ROUTE:
      return 'route';
    case Fwd.TUNNEL:
      return 'tunnel';
    case Fwd.FULLNAT:
      return 'fullnat';
    default:
      return 'masq';
  }
}

function tunnelConfig(d: Dest): TunnelConfig {
  const type = d.tunType === TunType.GUE ? 'gue' : d.tunType === TunType.GRE ? 'gre' : 'ipip';
  const csum = (d.tunFlags & TunFlag.REMCSUM) !== 0 ? 'remcsum' : (d.tunFlags & TunFlag.CSUM) !== 0 ? 'csum' : 'nocsum';
  return { type, port: d.tunPort, csum };
}
