/**
 * From a virtual server draft to the VirtualServerConfig tapvs acts on: keepalived's defaults,
 * inheritance and fix-ups (check_data.c alloc_vs(), alloc_rs() and validate_check_config()).
 *
 * Defaults: delay_loop 60 s, connect_timeout 5 s, weight 1, quorum 1, hysteresis 0, no
 * persistence, granularity 255.255.255.255. A real server takes weight, inhibit_on_failure,
 * alpha, retry, delay_before_retry, warmup, connect_timeout and delay_loop from its virtual
 * server unless it sets them; checkers take them from the real server (checkers.ts).
 *
 * keepalived's fix-ups, applied here and reported as warnings, as keepalived reports them and
 * runs on: no lb_algo gives wlc; no lb_kind gives NAT; `ops` without UDP is turned off; port 0
 * (or a group entry without port) on a service that is not persistent makes it persistent for
 * 360 s; a real server repeated on the same address and port is dropped; a quorum above the
 * total weight of the real servers is lowered to it; a hysteresis not below the quorum is set
 * to quorum - 1; a sorry server that is also a real server takes the real server's
 * inhibit_on_failure. A real server without port gets the service's port (0 for a group whose
 * addresses have different ports: IPVS then keeps each packet's destination port).
 *
 * Not fixed up but refused: a virtual server without `protocol`. keepalived would use UDP
 * (the kernel's default when the protocol is 0), which is almost never what a configuration
 * without a protocol line meant. A virtual server without real servers is dropped with a
 * warning, as keepalived drops it.
 */
import type { CheckerInheritance } from './checker-kind.js';
import { resolveChecker } from './checkers.js';
import type { DiagnosticSink } from './diagnostics.js';
import type { CheckerSpec, LvsMethod, RealServerConfig, ServiceAddress, VirtualServerConfig } from './lvs-config.js';
import { isDynamicMisc } from './misc-check.js';
import { msFromUs } from './values.js';
import { DEFAULT_PERSISTENCE_S, type RealServerDraft, type VirtualServerDraft } from './virtual-server.js';
import type { VsGroup } from './vs-group.js';

/** keepalived's default forwarding method. */
const NAT: LvsMethod = { fwd: 'masq' };

/** check_data.c alloc_vs(): KEEPALIVED_DEFAULT_DELAY (60 s) and a 5 s connect timeout. */
const DEFAULT_DELAY_LOOP_US = 60e6;
const DEFAULT_CONNECT_TIMEOUT_US = 5e6;

export interface ResolveContext {
  readonly groups: ReadonlyMap<string, VsGroup>;
  /** How many virtual servers have used each group so far (for the group key's ordinal). */
  readonly groupUses: Map<string, number>;
  /** global_defs checker_log_all_failures: the default of log_all_failures. */
  readonly logAllFailures: boolean;
}

export function resolveVirtualServer(
  d: VirtualServerDraft,
  ctx: ResolveContext,
  diags: DiagnosticSink,
): VirtualServerConfig | null {
  const name = describe(d);
  const addresses = serviceAddresses(d, ctx, diags);
  if (addresses === null) return null;
  if (d.realServers.length === 0) {
    diags.warning(d.at, `${name} has no real servers: ignored (as keepalived ignores it)`);
    return null;
  }
  if (d.protocol === null) {
    if (!d.written.has('protocol')) {
      diags.error(d.at, `${name} has no protocol (keepalived would make it UDP): add 'protocol TCP' or 'protocol UDP'`);
    }
    return null;
  }
  const protocol = d.protocol;
  let ops = d.ops;
  if (ops && protocol !== 'udp') {
    diags.warning(d.opsAt ?? d.at, 'ops needs protocol UDP: turned off (as keepalived does)');
    ops = false;
  }
  let persistenceTimeoutS = d.persistenceTimeoutS ?? (d.granularity !== null ? DEFAULT_PERSISTENCE_S : null);
  if (persistenceTimeoutS === null && addresses.some((a) => a.port === 0)) {
    diags.warning(
      d.at,
      `${name}: port 0 is only valid for a persistent service: persistence_timeout ${DEFAULT_PERSISTENCE_S} set (as keepalived does)`,
    );
    persistenceTimeoutS = DEFAULT_PERSISTENCE_S;
  }
  const written = (...keywords: string[]) => keywords.some((k) => d.written.has(k));
  if (!written('lb_algo', 'lvs_sched')) diags.warning(d.at, `${name} has no lb_algo: wlc used (as keepalived does)`);
  if (!written('lb_kind', 'lvs_method')) diags.warning(d.at, `${name} has no lb_kind: NAT used (as keepalived does)`);

  const servicePort = commonPort(addresses);
  let sorryInhibit = d.sorryInhibit;
  const realServers: RealServerConfig[] = [];
  let weightSum = 0;
  for (const rs of d.realServers) {
    const port = rs.portAsWritten !== 0 ? rs.portAsWritten : servicePort;
    if (realServers.some((r) => r.addr === rs.addr && r.port === port)) {
      diags.warning(rs.at, `real server ${rs.addr}:${port} is given twice: this one is dropped (as keepalived does)`);
      continue;
    }
    const resolved = resolveRealServer(rs, port, d, ctx, diags);
    weightSum += resolved.weight;
    if (d.sorry !== null && d.sorry.addr === rs.addr && (d.sorry.port || servicePort) === port) {
      if (sorryInhibit !== resolved.inhibitOnFailure) {
        diags.warning(
          d.sorry.at,
          `the sorry server is also real server ${rs.addr}:${port}: it takes that server's inhibit_on_failure (as keepalived does)`,
        );
        sorryInhibit = resolved.inhibitOnFailure;
      }
    }
    realServers.push(resolved);
  }

  let quorum = d.quorum;
  if (quorum > weightSum) {
    diags.warning(
      d.at,
      `${name}: quorum ${quorum} exceeds the total weight ${weightSum} of its real servers: lowered to ${weightSum} (as keepalived does)`,
    );
    quorum = weightSum;
  }
  let hysteresis = d.hysteresis;
  if (hysteresis >= quorum && hysteresis > 0) {
    // keepalived computes quorum - 1 in unsigned arithmetic: with quorum 0 it would wrap around.
    const lowered = Math.max(quorum - 1, 0);
    diags.warning(
      d.at,
      `${name}: hysteresis ${hysteresis} >= quorum ${quorum}: set to ${lowered} (as keepalived does)`,
    );
    hysteresis = lowered;
  }

  return {
    at: d.at,
    key: keyOf(d, protocol, ctx),
    addresses,
    protocol,
    scheduler: d.scheduler ?? 'wlc',
    schedFlags: d.schedFlags,
    ops,
    method: d.method ?? NAT,
    persistenceTimeoutS,
    persistenceGranularity: d.granularity ?? '255.255.255.255',
    delayLoopMs: msFromUs(d.timing.delayLoopUs ?? DEFAULT_DELAY_LOOP_US),
    alpha: d.alpha,
    omega: d.omega,
    quorum,
    hysteresis,
    quorumUp: d.quorumUp,
    quorumDown: d.quorumDown,
    sorryServer: d.sorry === null ? null : { addr: d.sorry.addr, port: d.sorry.port || servicePort },
    sorryServerMethod: d.sorryMethod ?? d.method ?? NAT,
    sorryServerInhibit: sorryInhibit,
    haSuspend: d.haSuspend,
    realServers,
  };
}

function describe(d: VirtualServerDraft): string {
  return d.target.kind === 'group'
    ? `virtual_server group ${d.target.name}`
    : `virtual_server ${d.target.addr} ${d.target.port}`;
}

function serviceAddresses(d: VirtualServerDraft, ctx: ResolveContext, diags: DiagnosticSink): ServiceAddress[] | null {
  if (d.target.kind === 'address') return [{ addr: d.target.addr, port: d.target.port }];
  const group = ctx.groups.get(d.target.name);
  if (group === undefined) {
    diags.error(d.at, `no virtual_server_group ${d.target.name} (keepalived ignores this virtual server)`);
    return null;
  }
  if (group.members.length === 0) {
    diags.error(
      d.at,
      `virtual_server_group ${d.target.name} has no usable entries (keepalived ignores this virtual server)`,
    );
    return null;
  }
  return [...group.members];
}

/** The port every address shares, else 0. */
function commonPort(addresses: readonly ServiceAddress[]): number {
  const p = addresses[0].port;
  return addresses.every((a) => a.port === p) ? p : 0;
}

function keyOf(d: VirtualServerDraft, protocol: string, ctx: ResolveContext): string {
  if (d.target.kind === 'address') return `${protocol} ${d.target.addr}:${d.target.port}`;
  const n = (ctx.groupUses.get(d.target.name) ?? 0) + 1;
  ctx.groupUses.set(d.target.name, n);
  return `group ${d.target.name} #${n}`;
}

function resolveRealServer(
  rs: RealServerDraft,
  port: number,
  vs: VirtualServerDraft,
  ctx: ResolveContext,
  diags: DiagnosticSink,
): RealServerConfig {
  const vsDelayLoopUs = vs.timing.delayLoopUs ?? DEFAULT_DELAY_LOOP_US;
  const inherit: CheckerInheritance = {
    rsAddr: rs.addr,
    rsPortAsWritten: rs.portAsWritten,
    connectTimeoutUs: rs.timing.connectTimeoutUs ?? vs.timing.connectTimeoutUs ?? DEFAULT_CONNECT_TIMEOUT_US,
    delayLoopUs: rs.timing.delayLoopUs ?? vsDelayLoopUs,
    retry: rs.timing.retry ?? vs.timing.retry,
    delayBeforeRetryUs: rs.timing.delayBeforeRetryUs ?? vs.timing.delayBeforeRetryUs,
    warmupUs: rs.timing.warmupUs ?? vs.timing.warmupUs,
    alpha: rs.alpha ?? vs.alpha,
    logAllFailures: ctx.logAllFailures,
    vsDelayLoopUs,
    rsVirtualhost: rs.virtualhost,
    vsVirtualhost: vs.virtualhost,
  };
  const checkers: CheckerSpec[] = [];
  for (const c of rs.checkers) {
    const spec = resolveChecker(c, inherit, diags);
    if (spec !== null) checkers.push(spec);
  }
  const dynamic = checkers.filter(isDynamicMisc);
  if (dynamic.length > 1) {
    diags.warning(dynamic[1].at, 'a second misc_dynamic MISC_CHECK on this real server: both set its weight');
  }
  return {
    at: rs.at,
    addr: rs.addr,
    port,
    weight: rs.weight ?? vs.weight,
    uthreshold: rs.uthreshold,
    lthreshold: rs.lthreshold,
    inhibitOnFailure: rs.inhibit ?? vs.inhibit,
    method: rs.method ?? vs.method ?? NAT,
    notifyUp: rs.notifyUp,
    notifyDown: rs.notifyDown,
    checkers,
  };
}
