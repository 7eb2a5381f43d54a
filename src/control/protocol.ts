/**
 * The control protocol between tapvsadm (or any client) and tapvsd.
 *
 * Transport: a Unix stream socket, mode 0600 (root only), default path DEFAULT_SOCKET_PATH.
 * Framing: one JSON object per line (UTF-8, '\n' terminated), at most MAX_REQUEST_BYTES per line.
 * Each request gets exactly one response line with the same `id`, in order.
 *
 *   -> {"id":1,"op":"addService","service":{"proto":"tcp","addr":"192.168.222.131","port":80},
 *       "config":{"scheduler":"rr"}}
 *   <- {"id":1,"ok":true,"result":null}
 *   <- {"id":2,"ok":false,"error":{"code":"SERVICE_EXISTS","message":"Service already exists"}}
 *
 * A listing that can be long (`listConns`) comes in parts, each a line `{"id":N,"part":[...]}`,
 * followed by the response line; its result is the parts and the response's own (empty) list,
 * concatenated. The daemon makes each part between two turns of its event loop.
 *
 * Addresses travel as dotted strings; the daemon validates everything and answers bad input with
 * an error (code BAD_ARGUMENT / PROTOCOL), never by dropping the connection or a rule.
 */
import type { ErrorCode } from '../errors.js';
import type { StatsSnapshot } from '../ipvs/stats.js';

import type { SyncDaemonSettings, SyncRole } from './sync-daemon-control.js';

export const DEFAULT_SOCKET_PATH = '/run/tapvs/tapvsd.sock';
export const MAX_REQUEST_BYTES = 1 << 20;

// ipvsadm's limits, which tapvsadm and the daemon both enforce.
/** -s: IP_VS_SCHEDNAME_MAXLEN - 1 characters at most (ipvsadm cuts a longer name). */
export const SCHED_NAME_MAX = 15;
/** -w: 0..MAX_WEIGHT. */
export const MAX_WEIGHT = 65535;
/** -x and -y: 0..INT_MAX. */
export const MAX_THRESHOLD = 2147483647;
/** ipvsadm's MAX_TIMEOUT (31 days): the largest -p and --set value. */
export const MAX_TIMEOUT_S = 86400 * 31;

export type Proto = 'tcp' | 'udp';

/** Identifies a virtual service (-t/-u host:port). */
export interface ServiceKey {
  proto: Proto;
  addr: string;
  port: number;
}

/** Everything -A/-E set. On -E every field is replaced (ipvsadm's replace-all semantics). */
export interface ServiceConfig {
  scheduler: string;
  /** -b words, e.g. ["sh-port"]. */
  schedFlags: string[];
  /** null = not persistent; else the -p timeout in seconds. */
  persistentS: number | null;
  /** -M, dotted. */
  netmask: string;
  /** -o */
  ops: boolean;
  /**
   * --proxy-protocol (DPVS's option, full NAT services only): a PROXY protocol header with the
   * client's address in front of each TCP connection's first payload. Absent = disabled.
   */
  proxyProtocol?: ProxyProtocolVersion;
}

export type ProxyProtocolVersion = 'v1' | 'v2';

/** Forwarding methods: ipvsadm's -m, -g, -i and DPVS's full NAT (--fullnat). */
export type FwdName = 'masq' | 'route' | 'tunnel' | 'fullnat';

/** ipvsadm's --tun-type, --tun-port and --tun-nocsum/--tun-csum/--tun-remcsum (-i only). */
export interface TunnelConfig {
  type: 'ipip' | 'gue' | 'gre';
  /** GUE's UDP destination port (1..65535); 0 for ipip and gre. */
  port: number;
  /** The outer checksum: none (default), computed, or remote checksum offload (GUE only). */
  csum: 'nocsum' | 'csum' | 'remcsum';
}

/** A full NAT local address of a service (DPVS's --add-laddr -z LIP -t VIP:port [-F ifname]). */
export interface LaddrKey {
  addr: string;
  /** The director's link that owns it (a tapvsd link name); absent = the link routing to it. */
  ifname?: string;
}

export interface LaddrInfo extends LaddrKey {
  /** Connections currently using it (DPVS's CONNS column). */
  conns: number;
  /** Port allocations that found no free port (DPVS's CONFLICTS column). */
  conflicts: number;
}

export interface DestKey {
  addr: string;
  port: number;
}

/** Everything -a/-e set. */
export interface DestConfig {
  fwd: FwdName;
  /** -i only; absent means --tun-type ipip. */
  tunnel?: TunnelConfig;
  weight: number;
  uThreshold: number;
  lThreshold: number;
}

export interface Timeouts {
  tcpS: number;
  tcpFinS: number;
  udpS: number;
}

export type Request =
  | { id: number; op: 'addService'; service: ServiceKey; config: ServiceConfig }
  | { id: number; op: 'editService'; service: ServiceKey; config: ServiceConfig }
  | { id: number; op: 'deleteService'; service: ServiceKey }
  | { id: number; op: 'clear' }
  | { id: number; op: 'addDest'; service: ServiceKey; dest: DestKey; config: DestConfig }
  | { id: number; op: 'editDest'; service: ServiceKey; dest: DestKey; config: DestConfig }
  | { id: number; op: 'deleteDest'; service: ServiceKey; dest: DestKey }
  | { id: number; op: 'zero'; service: ServiceKey | null }
  /** Full NAT local addresses (DPVS's --add-laddr / --del-laddr / --get-laddr). */
  | { id: number; op: 'addLaddr'; service: ServiceKey; laddr: LaddrKey }
  | { id: number; op: 'deleteLaddr'; service: ServiceKey; laddr: LaddrKey }
  | { id: number; op: 'listLaddrs'; service: ServiceKey | null }
  | { id: number; op: 'setTimeouts'; timeouts: Timeouts }
  | { id: number; op: 'getTimeouts' }
  | { id: number; op: 'list'; service: ServiceKey | null }
  | { id: number; op: 'listConns' }
  /** Atomic: all commands apply or none does (the rules file / -R path). */
  | { id: number; op: 'apply'; commands: Command[] }
  | { id: number; op: 'status' }
  /**
   * Packet tracing: to a pcapng `file` (one interface per link and direction, a comment per
   * packet) and/or `live`: then this connection receives `{"event":"trace","line":...}` lines
   * until it closes or a limit is hit (a final `{"event":"end",...}`).
   */
  | { id: number; op: 'traceStart'; trace: TraceRequest }
  | { id: number; op: 'traceStop' }
  | { id: number; op: 'traceStatus' }
  /** Connection sync daemons (ipvsadm --start-daemon, --stop-daemon, -L --daemon). */
  | { id: number; op: 'startDaemon'; daemon: SyncDaemonSettings }
  | { id: number; op: 'stopDaemon'; role: SyncRole }
  | { id: number; op: 'listDaemon' };

export interface TraceRequest {
  /** Absolute path (the CLI resolves -w against its own working directory). */
  file?: string;
  live?: boolean;
  /** A tcpdump expression, compiled by the daemon (libpcap); errors come back as libpcap's message. */
  filter?: string;
  /** Only this link (its --link name), as tcpdump's -i. */
  link?: string;
  maxBytes?: number;
  maxPackets?: number;
  snaplen?: number;
}

export type Op = Request['op'];

export interface DestInfo extends DestKey, DestConfig {
  activeConns: number;
  inactConns: number;
  persistConns: number;
  stats: StatsSnapshot;
}

export interface ServiceInfo {
  service: ServiceKey;
  config: ServiceConfig;
  stats: StatsSnapshot;
  dests: DestInfo[];
  /** Full NAT local addresses, in the order they were added. */
  laddrs: LaddrInfo[];
}

export interface ListResult {
  /** Connection hash table size shown in the -L header. */
  connTableSize: number;
  /** Entries in the connection table (connections and templates), read with the listing. */
  conns: number;
  services: ServiceInfo[];
  total: StatsSnapshot;
}

export interface ConnInfo {
  proto: Proto | 'IP';
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  state: string;
  expireS: number;
  template: boolean;
  /** Full NAT: the local address and port the real server sees. */
  laddr?: string;
  lport?: number;
}

export type Response =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: ErrorCode; message: string } };

/** A request without its id (what a rules file line or a tapvsadm invocation produces). */
export type Command = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** The result of listLaddrs: every full NAT service (or the one asked for) with its local addresses. */
export interface LaddrListResult {
  services: Array<{ service: ServiceKey; laddrs: LaddrInfo[] }>;
}
