/**
 * GET /api/status: the JSON the status page (status-page.ts) fetches every second. Services with
 * their scheduler and counters, real servers with weight, health state and active/inactive
 * connections, the conn table's use, each link's frame counters, and the per-second rates of the
 * StatusSampler over a window of up to its capacity (default 300 s of the 600 kept).
 *
 * Contract: reads counters and gauges only. It never walks the connection table (that is
 * `tapvsadm -L -c`): its cost grows with services + real servers + window, not with traffic, and
 * it never changes the model. Counters are the ones `tapvsadm -L --stats` shows (refreshed every
 * 2 s, minus the -Z zero point); rates come from the 1 s sampler (live counters, -Z ignored).
 * Field list: docs/status-page.md.
 */

import type { DataplaneStatus } from '../dataplane/dataplane.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import type { StatsSnapshot } from '../ipvs/stats.js';
import { listServices } from './listing.js';
import type { HealthMetricsSource } from './metrics.js';
import { Rate, type RateRing } from './rate-ring.js';
import type { StatusSampler } from './status-sampler.js';

export const DEFAULT_WINDOW_S = 300;
/** Services' own series are short: a sparkline each, so the JSON stays small with many services. */
export const SERVICE_WINDOW_S = 60;

export interface RateNow {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

/** Parallel arrays, oldest first; `t` is seconds relative to the snapshot's `nowMs` (<= 0). */
export interface RateSeries {
  t: number[];
  cps: number[];
  inpps: number[];
  outpps: number[];
  inbps: number[];
  outbps: number[];
}

export interface StatusDest {
  addr: string;
  port: number;
  fwd: string;
  /** null for a real server the health checks know that is not in the table (taken out). */
  weight: number | null;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** Connections made to it (tapvsadm --stats). */
  conns: number;
  /** From the health checks (--keepalived); null without a check for this real server. */
  health: 'up' | 'down' | null;
  inTable: boolean;
}

export interface StatusService {
  proto: 'tcp' | 'udp';
  addr: string;
  port: number;
  scheduler: string;
  persistentS: number | null;
  stats: StatsSnapshot;
  rate: RateNow;
  /** Empty beyond the sampler's MAX_SERVICE_RINGS services. */
  series: RateSeries;
  dests: StatusDest[];
}

export interface StatusLink {
  name: string;
  device: string;
  rxFrames: number;
  txFrames: number;
  rxBytes: number;
  txBytes: number;
  drops: number;
}

export interface StatusSnapshot {
  version: string;
  nowMs: number;
  uptimeS: number;
  sampleIntervalMs: number;
  windowS: number;
  /** Whether health checks run (--keepalived with checkers). */
  health: boolean;
  connEntries: number;
  connCapacity: number;
  total: { stats: StatsSnapshot; rate: RateNow };
  series: RateSeries;
  services: StatusService[];
  links: StatusLink[];
}

/** What the snapshot reads besides the model: narrow, so tests pass fakes. */
export interface StatusSources {
  readonly ipvs: Ipvs;
  readonly dataplane: { status(): Pick<DataplaneStatus, 'ports'> } | null;
  readonly health: HealthMetricsSource | null;
  readonly sampler: StatusSampler;
  readonly version: string;
  readonly startedMs: number;
}

/** `?window=N` (seconds), clamped to [10, sampler capacity]; absent or not a number: the default. */
export function windowOf(query: string | null, capacity: number): number {
  const m = query === null ? null : /(?:^|&)window=(\d{1,6})(?:&|$)/.exec(query);
  const n = m === null ? DEFAULT_WINDOW_S : Number(m[1]);
  return Math.max(10, Math.min(capacity, n));
}

export function statusSnapshot(src: StatusSources, nowMs: number, windowS: number): StatusSnapshot {
  const { ipvs, sampler } = src;
  const list = listServices(ipvs, ipvs.services);
  const healthBackends = src.health?.metrics().backends ?? [];
  const health = new Map<string, 'up' | 'down'>();
  for (const b of healthBackends)
    health.set(backendKey(b.proto, b.localAddress, b.localPort, b.remoteAddress, b.remotePort), b.up ? 'up' : 'down');

  const services: StatusService[] = list.services.map((s, i) => {
    const { proto, addr, port } = s.service;
    const dests: StatusDest[] = s.dests.map((d) => ({
      addr: d.addr,
      port: d.port,
      fwd: d.fwd,
      weight: d.weight,
      activeConns: d.activeConns,
      inactConns: d.inactConns,
      persistConns: d.persistConns,
      conns: d.stats.conns,
      health: health.get(backendKey(proto, addr, port, d.addr, d.port)) ?? null,
      inTable: true,
    }));
    // keepalived takes a failed real server out of the table: show it anyway, as down.
    for (const b of healthBackends) {
      if (b.proto !== proto || b.localAddress !== addr || b.localPort !== port) continue;
      if (s.dests.some((d) => d.addr === b.remoteAddress && d.port === b.remotePort)) continue;
      dests.push({
        addr: b.remoteAddress,
        port: b.remotePort,
        fwd: '',
        weight: null,
        activeConns: 0,
        inactConns: 0,
        persistConns: 0,
        conns: 0,
        health: b.up ? 'up' : 'down',
        inTable: false,
      });
    }
    const ring = sampler.ringOf(ipvs.services[i]);
    return {
      proto,
      addr,
      port,
      scheduler: s.config.scheduler,
      persistentS: s.config.persistentS,
      stats: s.stats,
      rate: ring === null ? ZERO_RATE : rateNow(ring),
      series: ring === null ? emptySeries() : series(ring, Math.min(windowS, SERVICE_WINDOW_S), nowMs),
      dests,
    };
  });

  const links: StatusLink[] =
    src.dataplane === null
      ? []
      : src.dataplane.status().ports.map((p) => ({
          name: p.name,
          device: p.device,
          rxFrames: p.rxFrames,
          txFrames: p.txFrames,
          rxBytes: p.rxBytes,
          txBytes: p.txBytes,
          drops: p.drops.reduce((a, b) => a + b, 0),
        }));

  return {
    version: src.version,
    nowMs,
    uptimeS: Math.max(0, Math.round((nowMs - src.startedMs) / 1000)),
    sampleIntervalMs: 1000,
    windowS,
    health: healthBackends.length > 0,
    connEntries: ipvs.conns.count,
    connCapacity: ipvs.conns.capacity,
    total: { stats: list.total, rate: rateNow(sampler.total) },
    series: series(sampler.total, windowS, nowMs),
    services,
    links,
  };
}

const ZERO_RATE: Readonly<RateNow> = Object.freeze({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });

function backendKey(proto: string, vaddr: string, vport: number, raddr: string, rport: number): string {
  return `${proto} ${vaddr}:${vport} ${raddr}:${rport}`;
}

/** One decimal: rates are averages over ~1 s, more digits would only grow the JSON. */
function r1(x: number): number {
  return Math.round(x * 10) / 10;
}

function rateNow(ring: RateRing): RateNow {
  return {
    cps: r1(ring.latest(Rate.Conns)),
    inpps: r1(ring.latest(Rate.InPkts)),
    outpps: r1(ring.latest(Rate.OutPkts)),
    inbps: r1(ring.latest(Rate.InBytes)),
    outbps: r1(ring.latest(Rate.OutBytes)),
  };
}

function emptySeries(): RateSeries {
  return { t: [], cps: [], inpps: [], outpps: [], inbps: [], outbps: [] };
}

/** The samples of the last `windowS` seconds (by time, not by count: a stalled timer leaves a gap). */
function series(ring: RateRing, windowS: number, nowMs: number): RateSeries {
  const times = ring.times(windowS);
  let first = 0;
  while (first < times.length && times[first] < nowMs - windowS * 1000) first++;
  const n = times.length - first;
  const pick = (ch: Rate): number[] => ring.series(ch, n).map(r1);
  return {
    t: times.slice(first).map((ms) => r1((ms - nowMs) / 1000)),
    cps: pick(Rate.Conns),
    inpps: pick(Rate.InPkts),
    outpps: pick(Rate.OutPkts),
    inbps: pick(Rate.InBytes),
    outbps: pick(Rate.OutBytes),
  };
}
