/**
 * An optional Prometheus endpoint. The IPVS series use the names and labels of node_exporter's
 * ipvs collector, so dashboards built for a kernel director work unchanged:
 *   node_ipvs_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total
 *   node_ipvs_backend_{connections_active,connections_inactive,weight}
 *     {local_address,local_port,remote_address,remote_port,proto,local_mark}
 * Their values are the ones `tapvsadm --stats` shows (refreshed every 2 s, like /proc/net/ip_vs_stats).
 * The director's own series are prefixed tapvs_: drops by link and reason, frames and batches per
 * link, connection table use, ARP cache, ICMP rate limiting, and with health checks running
 * (src/health/): tapvs_backend_up and tapvs_backend_transitions_total per real server with the same
 * labels as node_ipvs_backend_*, and tapvs_check_duration_seconds per checker type.
 *
 * Listens on loopback by default; never on the data path (it reads counters when scraped).
 */
import http from 'node:http';
import type { Dataplane } from '../dataplane/dataplane.js';
import { DROP_NAMES } from '../dataplane/drops.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { log } from '../log.js';
import { processFaults } from '../process-faults.js';
import { listServices } from './listing.js';

/** What the health-check engine shows to the endpoint (src/health/health-engine.ts provides it). */
export interface HealthMetrics {
  readonly backends: ReadonlyArray<{
    readonly proto: 'tcp' | 'udp';
    readonly localAddress: string;
    readonly localPort: number;
    readonly remoteAddress: string;
    readonly remotePort: number;
    /** Its checks pass (keepalived's "alive"), whether or not it is in the table. */
    readonly up: boolean;
    readonly transitionsUp: number;
    readonly transitionsDown: number;
  }>;
  readonly checkDurations: ReadonlyArray<{
    /** Checker type, e.g. "HTTP_GET". */
    readonly type: string;
    readonly bucketsS: readonly number[];
    /** Observations <= each bound. */
    readonly cumulative: readonly number[];
    readonly sumS: number;
    readonly count: number;
  }>;
}

export interface HealthMetricsSource {
  metrics(): HealthMetrics;
}

/** What the two-director part shows (src/ha/director-ha.ts provides it). */
export interface HaMetrics {
  readonly vrrp: ReadonlyArray<{
    readonly instance: string;
    readonly link: string;
    readonly vrid: number;
    readonly state: string;
    readonly priority: number;
    readonly advertsSent: number;
    readonly advertsReceived: number;
  }>;
  readonly sync: ReadonlyArray<{
    readonly role: 'master' | 'backup';
    /** Master: messages sent, bytes, entries sent, entries dropped. Backup: messages read, bytes, installed + updated, dropped. */
    readonly messages: number;
    readonly bytes: number;
    readonly entries: number;
    readonly dropped: number;
  }>;
}

export interface HaMetricsSource {
  haMetrics(): HaMetrics;
}

const VRRP_STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT'];

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(l: Record<string, string | number>): string {
  return `{${Object.entries(l)
    .map(([k, v]) => `${k}="${esc(String(v))}"`)
    .join(',')}}`;
}

/** node_exporter's ipvs collector labels of one backend (local_mark is empty: no fwmark services). */
function backendLabels(
  proto: string,
  localAddress: string,
  localPort: number,
  remoteAddress: string,
  remotePort: number,
): Record<string, string | number> {
  return {
    local_address: localAddress,
    local_port: localPort,
    remote_address: remoteAddress,
    remote_port: remotePort,
    proto: proto.toUpperCase(),
    local_mark: '',
  };
}

/** The exposition text (Prometheus text format 0.0.4). */
export function renderMetrics(
  ipvs: Ipvs,
  dp: Dataplane | null,
  health: HealthMetricsSource | null = null,
  ha: HaMetricsSource | null = null,
): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const list = listServices(ipvs, ipvs.services);
  const t = list.total;
  const totals: Array<[string, number, string]> = [
    ['connections_total', t.conns, 'The total number of connections made.'],
    ['incoming_packets_total', t.inPkts, 'The total number of incoming packets.'],
    ['outgoing_packets_total', t.outPkts, 'The total number of outgoing packets.'],
    ['incoming_bytes_total', t.inBytes, 'The total amount of incoming data.'],
    ['outgoing_bytes_total', t.outBytes, 'The total amount of outgoing data.'],
  ];
  for (const [n, v, h] of totals) {
    family(`node_ipvs_${n}`, 'counter', h);
    out.push(`node_ipvs_${n} ${v}`);
  }
  const backends: Array<[string, string, (d: (typeof list.services)[0]['dests'][0]) => number]> = [
    ['backend_connections_active', 'The current active connections by local and remote address.', (d) => d.activeConns],
    [
      'backend_connections_inactive',
      'The current inactive connections by local and remote address.',
      (d) => d.inactConns,
    ],
    ['backend_weight', 'The current backend weight by local and remote address.', (d) => d.weight],
  ];
  for (const [n, h, f] of backends) {
    family(`node_ipvs_${n}`, 'gauge', h);
    for (const s of list.services) {
      for (const d of s.dests) {
        const l = backendLabels(s.service.proto, s.service.addr, s.service.port, d.addr, d.port);
        out.push(`node_ipvs_${n}${labels(l)} ${f(d)}`);
      }
    }
  }
  family(
    'tapvs_connection_entries',
    'gauge',
    'Entries in the connection table (connections and persistence templates).',
  );
  out.push(`tapvs_connection_entries ${ipvs.conns.count}`);
  family('tapvs_connection_capacity', 'gauge', 'Size of the connection table (--max-conns).');
  out.push(`tapvs_connection_capacity ${ipvs.conns.capacity}`);
  family('tapvs_connection_table_full_total', 'counter', 'New flows refused because the connection table was full.');
  out.push(`tapvs_connection_table_full_total ${ipvs.tableFull}`);
  if (dp !== null) {
    const st = dp.status();
    const perLink: Array<[string, 'counter' | 'gauge', string, (p: (typeof st.ports)[0]) => number]> = [
      ['tapvs_rx_frames_total', 'counter', 'Frames received per link.', (p) => p.rxFrames],
      ['tapvs_rx_bytes_total', 'counter', 'Bytes received per link.', (p) => p.rxBytes],
      [
        'tapvs_rx_batches_total',
        'counter',
        'Receive batches per link (frames/batches = mean batch size).',
        (p) => p.rxBatches,
      ],
      ['tapvs_tx_frames_total', 'counter', 'Frames queued for transmission per link.', (p) => p.txFrames],
      ['tapvs_tx_bytes_total', 'counter', 'Bytes queued for transmission per link.', (p) => p.txBytes],
      ['tapvs_tx_refused_total', 'counter', 'Frames the device refused to take.', (p) => p.txDropped],
      ['tapvs_arp_entries', 'gauge', 'Neighbour cache entries per link.', (p) => p.arpEntries],
      ['tapvs_arp_pending_frames', 'gauge', 'Frames waiting for ARP resolution per link.', (p) => p.arpPending],
      [
        'tapvs_arp_unresolved_drops_total',
        'counter',
        'Frames dropped because their next hop never resolved.',
        (p) => p.arpUnresolvedDrops,
      ],
    ];
    for (const [n, type, h, f] of perLink) {
      family(n, type, h);
      for (const p of st.ports) out.push(`${n}${labels({ link: p.name, device: p.device })} ${f(p)}`);
    }
    family('tapvs_drops_total', 'counter', 'Frames dropped, by link and reason.');
    for (const p of st.ports) {
      for (let i = 0; i < p.drops.length; i++)
        out.push(`tapvs_drops_total${labels({ link: p.name, reason: DROP_NAMES[i] })} ${p.drops[i]}`);
    }
    family('tapvs_icmp_rate_limited_total', 'counter', 'ICMP errors not sent because of the rate limit.');
    out.push(`tapvs_icmp_rate_limited_total ${st.icmpRateLimited}`);
    family(
      'tapvs_dataplane_exceptions_total',
      'counter',
      'Exceptions caught in the packet path (bugs); each dropped its frame (tapvs_drops_total reason="exception").',
    );
    out.push(`tapvs_dataplane_exceptions_total ${st.exceptions}`);
  }
  family(
    'tapvs_uncaught_exceptions_total',
    'counter',
    'Exceptions and rejections nothing caught; tapvsd kept running.',
  );
  out.push(`tapvs_uncaught_exceptions_total ${processFaults.uncaughtExceptions + processFaults.unhandledRejections}`);
  if (health !== null) renderHealth(health.metrics(), out, family);
  if (ha !== null) renderHa(ha.haMetrics(), out, family);
  const mem = process.memoryUsage();
  family('tapvs_process_resident_memory_bytes', 'gauge', 'Resident memory of tapvsd.');
  out.push(`tapvs_process_resident_memory_bytes ${mem.rss}`);
  return `${out.join('\n')}\n`;
}

/** The health-check series: backend state and transitions, check durations by type. */
function renderHealth(
  h: HealthMetrics,
  out: string[],
  family: (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => void,
): void {
  const of = (b: HealthMetrics['backends'][0]) =>
    backendLabels(b.proto, b.localAddress, b.localPort, b.remoteAddress, b.remotePort);
  family('tapvs_backend_up', 'gauge', 'Whether the health checks of the real server pass (1) or not (0).');
  for (const b of h.backends) out.push(`tapvs_backend_up${labels(of(b))} ${b.up ? 1 : 0}`);
  family('tapvs_backend_transitions_total', 'counter', 'Real server state changes decided by the health checks.');
  for (const b of h.backends) {
    out.push(`tapvs_backend_transitions_total${labels({ ...of(b), to: 'up' })} ${b.transitionsUp}`);
    out.push(`tapvs_backend_transitions_total${labels({ ...of(b), to: 'down' })} ${b.transitionsDown}`);
  }
  family('tapvs_check_duration_seconds', 'histogram', 'Duration of health check attempts, by checker type.');
  for (const d of h.checkDurations) {
    for (let i = 0; i < d.bucketsS.length; i++)
      out.push(`tapvs_check_duration_seconds_bucket${labels({ type: d.type, le: d.bucketsS[i] })} ${d.cumulative[i]}`);
    out.push(`tapvs_check_duration_seconds_bucket${labels({ type: d.type, le: '+Inf' })} ${d.count}`);
    out.push(`tapvs_check_duration_seconds_sum${labels({ type: d.type })} ${d.sumS}`);
    out.push(`tapvs_check_duration_seconds_count${labels({ type: d.type })} ${d.count}`);
  }
}

/** VRRP states (one series per state, 1 for the current one, as node_exporter's enum gauges) and sync counters. */
function renderHa(
  h: HaMetrics,
  out: string[],
  family: (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => void,
): void {
  if (h.vrrp.length > 0) {
    family('tapvs_vrrp_state', 'gauge', 'VRRP instance state (1 for the current state).');
    for (const v of h.vrrp)
      for (const st of VRRP_STATES)
        out.push(
          `tapvs_vrrp_state${labels({ instance: v.instance, link: v.link, vrid: v.vrid, state: st })} ${v.state === st ? 1 : 0}`,
        );
    family('tapvs_vrrp_priority', 'gauge', 'VRRP effective priority.');
    for (const v of h.vrrp) out.push(`tapvs_vrrp_priority${labels({ instance: v.instance })} ${v.priority}`);
    family('tapvs_vrrp_adverts_total', 'counter', 'VRRP adverts sent and received, by instance.');
    for (const v of h.vrrp) {
      out.push(`tapvs_vrrp_adverts_total${labels({ instance: v.instance, direction: 'sent' })} ${v.advertsSent}`);
      out.push(
        `tapvs_vrrp_adverts_total${labels({ instance: v.instance, direction: 'received' })} ${v.advertsReceived}`,
      );
    }
  }
  const series: Array<[string, string, (s: HaMetrics['sync'][0]) => number]> = [
    ['tapvs_sync_messages_total', 'Connection sync messages sent (master) or read (backup).', (s) => s.messages],
    ['tapvs_sync_bytes_total', 'Connection sync message bytes sent or read.', (s) => s.bytes],
    [
      'tapvs_sync_entries_total',
      'Connection entries sent (master) or installed and updated (backup).',
      (s) => s.entries,
    ],
    ['tapvs_sync_dropped_total', 'Entries the master dropped (pool full) or the backup skipped.', (s) => s.dropped],
  ];
  for (const [n, help, f] of series) {
    family(n, 'counter', help);
    for (const s of h.sync) out.push(`${n}${labels({ role: s.role })} ${f(s)}`);
  }
}

/** Starts the endpoint on host:port (GET /metrics); `health` adds the health-check series. */
export function startMetricsServer(
  host: string,
  port: number,
  ipvs: Ipvs,
  dp: Dataplane | null,
  health: HealthMetricsSource | null = null,
  ha: HaMetricsSource | null = null,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics\n');
      return;
    }
    try {
      const body = renderMetrics(ipvs, dp, health, ha);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(body);
    } catch (e) {
      log('error', 'metrics failed', { error: String(e) });
      res.writeHead(500);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
