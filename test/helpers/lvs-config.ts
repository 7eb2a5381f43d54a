/**
 * Hand-built LVS configurations for tests of the health-check engine, with keepalived's defaults
 * already resolved as the reader resolves them (check_data.c alloc_vs()/alloc_rs(), check_api.c
 * queue_checker() and the per-type handlers): delay_loop 60 s, connect_timeout 5 s, warmup =
 * delay_loop; retry 1 and delay_before_retry 1 s, except HTTP (3 s), MISC (retry 0) and DNS
 * (retry 3, delay_before_retry = delay_loop).
 *
 *   lvsConfig([
 *     virtualServer('192.168.222.131', 80, { scheduler: 'wlc' }, [
 *       realServer('192.168.2.129', 80, { weight: 2 }, [tcpCheck({ delayLoopMs: 6000 })]),
 *     ]),
 *   ])
 */
import type {
  CheckerCommon,
  CheckerSpec,
  Diagnostic,
  DnsCheck,
  HttpCheck,
  HttpUrl,
  LvsConfig,
  MiscCheck,
  PingCheck,
  RealServerConfig,
  SourceRef,
  TcpCheck,
  UdpCheck,
  VirtualServerConfig,
} from '../../src/keepalived/lvs-config.js';

/** A checker waiting for its real server's address (connect_ip / connect_port default to it). */
export type CheckerDraft = (rsAddr: string, rsPort: number) => CheckerSpec;

let line = 0;
function at(): SourceRef {
  return { file: 'keepalived.conf', line: ++line };
}

const DELAY_LOOP_MS = 60_000;

function common(
  rsAddr: string,
  rsPort: number,
  over: Partial<CheckerCommon>,
  retry: number,
  dbrMs: number | null,
): CheckerCommon {
  const delayLoopMs = over.delayLoopMs ?? DELAY_LOOP_MS;
  return {
    at: at(),
    connectIp: rsAddr,
    connectPort: rsPort,
    bindTo: null,
    bindPort: 0,
    connectTimeoutMs: 5000,
    retry,
    delayBeforeRetryMs: dbrMs ?? delayLoopMs,
    delayLoopMs,
    warmupMs: over.warmupMs ?? delayLoopMs,
    alpha: false,
    logAllFailures: false,
    ...over,
  };
}

export function tcpCheck(over: Partial<TcpCheck> = {}): CheckerDraft {
  return (a, p) => ({ ...common(a, p, over, 1, 1000), type: 'TCP_CHECK' });
}

export function pingCheck(over: Partial<PingCheck> = {}): CheckerDraft {
  return (a, p) => ({ ...common(a, p, over, 1, 1000), type: 'PING_CHECK' });
}

export function udpCheck(over: Partial<UdpCheck> = {}): CheckerDraft {
  return (a, p) => ({
    payload: null,
    requireReply: null,
    minReplyLength: 0,
    maxReplyLength: 255,
    ...common(a, p, over, 1, 1000),
    type: 'UDP_CHECK',
  });
}

export function dnsCheck(over: Partial<DnsCheck> = {}): CheckerDraft {
  return (a, p) => ({ queryType: 'SOA', name: '.', ...common(a, p, over, 3, null), type: 'DNS_CHECK' });
}

export function miscCheck(argv: readonly string[], over: Partial<MiscCheck> = {}): CheckerDraft {
  return (a, p) => {
    const c = common(a, p, over, 0, 1000);
    return { argv, timeoutMs: c.delayLoopMs, dynamic: false, ...c, type: 'MISC_CHECK' };
  };
}

export function url(path: string, over: Partial<HttpUrl> = {}): HttpUrl {
  return { at: at(), path, statusCodes: [[200, 299]], digest: null, virtualhost: null, ...over };
}

export function httpCheck(urls: readonly HttpUrl[], over: Partial<HttpCheck> = {}): CheckerDraft {
  return (a, p) => ({
    urls,
    httpProtocol: '1.0',
    fastRecovery: false,
    sniName: null,
    ...common(a, p, over, 1, 3000),
    type: over.type ?? 'HTTP_GET',
  });
}

export function realServer(
  addr: string,
  port: number,
  over: Partial<RealServerConfig> = {},
  checkers: readonly CheckerDraft[] = [],
): RealServerConfig {
  return {
    at: at(),
    addr,
    port,
    weight: 1,
    uthreshold: 0,
    lthreshold: 0,
    inhibitOnFailure: false,
    method: { fwd: 'masq' },
    notifyUp: null,
    notifyDown: null,
    checkers: checkers.map((c) => c(addr, port)),
    ...over,
  };
}

export function virtualServer(
  addr: string,
  port: number,
  over: Partial<VirtualServerConfig> = {},
  realServers: readonly RealServerConfig[] = [],
): VirtualServerConfig {
  const protocol = over.protocol ?? 'tcp';
  return {
    at: at(),
    key: `${protocol} ${addr}:${port}`,
    addresses: [{ addr, port }],
    protocol,
    scheduler: 'rr',
    schedFlags: [],
    ops: false,
    method: { fwd: 'masq' },
    persistenceTimeoutS: null,
    persistenceGranularity: '255.255.255.255',
    delayLoopMs: DELAY_LOOP_MS,
    alpha: false,
    omega: false,
    quorum: 1,
    hysteresis: 0,
    quorumUp: null,
    quorumDown: null,
    sorryServer: null,
    sorryServerMethod: { fwd: 'masq' },
    sorryServerInhibit: false,
    haSuspend: false,
    realServers,
    ...over,
  };
}

export function lvsConfig(
  virtualServers: readonly VirtualServerConfig[],
  diagnostics: readonly Diagnostic[] = [],
): LvsConfig {
  return {
    files: ['keepalived.conf'],
    virtualServers,
    vrrp: { instances: [], syncGroups: [], lvsSyncDaemon: null },
    diagnostics,
  };
}
