/**
 * The LVS part of a keepalived.conf, as tapvs acts on it: what the reader (keepalived/reader.ts)
 * produces after syntax, defaults and inheritance, and what the health-check engine
 * (src/health/) and the rule builder consume. Times are milliseconds, addresses dotted-quad
 * strings (the control plane validates them), every item carries the file and line it came from.
 *
 * Defaults and inheritance follow keepalived (check_data.c alloc_vs()/alloc_rs() and
 * validate_check_config(); check_api.c queue_checker() and the per-type handlers): VS value ->
 * RS value -> checker value, for retry, delay_before_retry, warmup, connect_timeout, delay_loop,
 * alpha and inhibit_on_failure. The reader resolves all of it: consumers never re-apply defaults.
 */

import type { TunnelConfig } from '../control/protocol.js';
import type { VrrpConfig } from '../vrrp/vrrp-config.js';

/** Where a configuration item was written. */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
}

/** A problem found in a configuration: errors stop it from loading, warnings do not. */
export interface Diagnostic extends SourceRef {
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** Settings every checker has (check_api.c, install_checker_common_keywords()). */
export interface CheckerCommon {
  readonly at: SourceRef;
  /** Destination of the probe: connect_ip, else the real server's address. */
  readonly connectIp: string;
  /** connect_port, else the real server's port as written on its line (0 when none). */
  readonly connectPort: number;
  /** bindto: source address of the probe; null lets the kernel choose. */
  readonly bindTo: string | null;
  /** bind_port: source port; 0 = ephemeral. */
  readonly bindPort: number;
  /** connect_timeout: connect and per-read timeout. */
  readonly connectTimeoutMs: number;
  /** retry (nb_get_retry): the checker goes down after retry + 1 consecutive failures. */
  readonly retry: number;
  readonly delayBeforeRetryMs: number;
  readonly delayLoopMs: number;
  /** warmup: the first check runs 1 s + random(0..warmup) after start. */
  readonly warmupMs: number;
  /** alpha: the checker starts down (its server is not in the table until it passes once). */
  readonly alpha: boolean;
  readonly logAllFailures: boolean;
}

export interface TcpCheck extends CheckerCommon {
  readonly type: 'TCP_CHECK';
}

/** One url block of HTTP_GET / SSL_GET. */
export interface HttpUrl {
  readonly at: SourceRef;
  readonly path: string;
  /** Accepted status codes as inclusive ranges; default [[200, 299]]. */
  readonly statusCodes: ReadonlyArray<readonly [number, number]>;
  /** MD5 of the body in lowercase hex (keepalived's genhash), or null. */
  readonly digest: string | null;
  /** Host header for this url, already resolved (url > checker > RS > VS); null: "ip:port". */
  readonly virtualhost: string | null;
  /**
   * SSL_GET: the SNI name for this url (sni_name > url vhost > checker vhost > VS vhost), null
   * for none (SNI is off unless enable_sni or sni_name is given). Optional for readers of older
   * drafts of this file; the reader always sets it.
   */
  readonly sniName?: string | null;
}

export interface HttpCheck extends CheckerCommon {
  readonly type: 'HTTP_GET' | 'SSL_GET';
  readonly urls: readonly HttpUrl[];
  /** http_protocol: '1.0' (default), '1.1' or '1.0C' (1.0 with Connection: close). */
  readonly httpProtocol: '1.0' | '1.1' | '1.0C';
  readonly fastRecovery: boolean;
  /**
   * SSL_GET: the SNI name (sni_name > url vhost > checker vhost > VS vhost), null for none. The
   * url vhost is the first url's; `HttpUrl.sniName` has each url's own.
   */
  readonly sniName: string | null;
}

export interface MiscCheck extends CheckerCommon {
  readonly type: 'MISC_CHECK';
  /** misc_path split into argv as keepalived splits it (quotes honoured). */
  readonly argv: readonly string[];
  /** misc_timeout, else the virtual server's delay_loop. */
  readonly timeoutMs: number;
  readonly dynamic: boolean;
}

export interface PingCheck extends CheckerCommon {
  readonly type: 'PING_CHECK';
}

export interface UdpCheck extends CheckerCommon {
  readonly type: 'UDP_CHECK';
  /** payload HEX, else null (the default 32-byte text). */
  readonly payload: Uint8Array | null;
  /**
   * require_reply [HEX]: null when no reply is required; the pattern ('' = any) otherwise,
   * normalized to two characters per byte: lowercase hex digits, `x` for a wildcard nibble.
   */
  readonly requireReply: string | null;
  readonly minReplyLength: number;
  readonly maxReplyLength: number;
}

export interface DnsCheck extends CheckerCommon {
  readonly type: 'DNS_CHECK';
  /** Query type, uppercase: A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY (default SOA). */
  readonly queryType: string;
  /** Query name (default '.'). */
  readonly name: string;
}

export type CheckerSpec = TcpCheck | HttpCheck | MiscCheck | PingCheck | UdpCheck | DnsCheck;

export interface RealServerConfig {
  readonly at: SourceRef;
  readonly addr: string;
  /**
   * The port the server listens on (the VS port when the line has none). 0 when the service has
   * no single port (a port-less persistent service, or a group whose addresses have different
   * ports): IPVS then keeps each packet's destination port.
   */
  readonly port: number;
  readonly weight: number;
  readonly uthreshold: number;
  readonly lthreshold: number;
  readonly inhibitOnFailure: boolean;
  /** The real server's own lvs_method, else its virtual server's. */
  readonly method: LvsMethod;
  /** notify_up / notify_down: argv, run without extra arguments; null when not set. */
  readonly notifyUp: readonly string[] | null;
  readonly notifyDown: readonly string[] | null;
  /** No checker: the server is always up. Several: all must pass. */
  readonly checkers: readonly CheckerSpec[];
}

/**
 * keepalived's forwarding methods: NAT, DR and TUN (with its tunnel type, GUE port and checksum
 * words); keepalived has no full NAT.
 */
export interface LvsMethod {
  readonly fwd: 'masq' | 'route' | 'tunnel';
  /** TUN only. */
  readonly tunnel?: TunnelConfig;
}

/** One IPVS service a virtual_server block (or one member of its group) stands for. */
export interface ServiceAddress {
  readonly addr: string;
  /** 0: no port (a persistent service for every port). */
  readonly port: number;
}

export interface VirtualServerConfig {
  readonly at: SourceRef;
  /**
   * Identity across reloads (ipwrapper.c vs_iseq()): "tcp 192.168.222.131:80", or
   * "group NAME #n" for the n-th virtual_server using group NAME.
   */
  readonly key: string;
  /** One for `virtual_server IP PORT`, every member address for `virtual_server group NAME`. */
  readonly addresses: readonly ServiceAddress[];
  readonly protocol: 'tcp' | 'udp';
  readonly scheduler: string;
  /** ipvsadm -b words implied by flag-1/2/3, sh-port, sh-fallback, mh-port, mh-fallback. */
  readonly schedFlags: readonly string[];
  readonly ops: boolean;
  /** lb_kind / lvs_method (NAT when not written, as keepalived); real servers may override it. */
  readonly method: LvsMethod;
  /** persistence_timeout in seconds; null when not persistent. */
  readonly persistenceTimeoutS: number | null;
  /** persistence_granularity as a dotted netmask (default 255.255.255.255). */
  readonly persistenceGranularity: string;
  readonly delayLoopMs: number;
  readonly alpha: boolean;
  readonly omega: boolean;
  readonly quorum: number;
  readonly hysteresis: number;
  readonly quorumUp: readonly string[] | null;
  readonly quorumDown: readonly string[] | null;
  readonly sorryServer: ServiceAddress | null;
  /** sorry_server_lvs_method, else the virtual server's method. */
  readonly sorryServerMethod: LvsMethod;
  readonly sorryServerInhibit: boolean;
  /** ha_suspend: read and reported (tapvs owns its VIPs, so they are always present). */
  readonly haSuspend: boolean;
  readonly realServers: readonly RealServerConfig[];
}

export interface LvsConfig {
  /** Every file read, the main one first (include targets after it). */
  readonly files: readonly string[];
  readonly virtualServers: readonly VirtualServerConfig[];
  /** The VRRP part: vrrp_instance, vrrp_sync_group, global_defs lvs_sync_daemon (keepalived/vrrp.ts). */
  readonly vrrp: VrrpConfig;
  /** Errors (nothing may be applied) and warnings (things tapvs reads but does not act on). */
  readonly diagnostics: readonly Diagnostic[];
}
