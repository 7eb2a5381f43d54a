/**
 * What the health-check engine shows: per virtual server its quorum and sorry server, per real
 * server whether it is up, per checker its state, last result and counts (tapvsd status), and
 * the series of the metrics endpoint (control/metrics.ts). Built from the engine's live objects
 * on request, never on the packet path.
 */

import { canonicalAddr, serviceId } from '../control/desired-table.js';
import type { HealthMetrics } from '../control/metrics.js';
import { NONE } from './checker-state.js';
import type { CheckerRuntime, VirtualServerRuntime } from './server-runtime.js';

export interface CheckerStatus {
  readonly virtualServer: string;
  /** "192.168.2.129:80" */
  readonly realServer: string;
  readonly type: string;
  /** HTTP_GET/SSL_GET: the url that failed, else the one checked last. */
  readonly url: string | null;
  readonly state: 'up' | 'down';
  /** What the last attempt saw ("HTTP_GET: status 503"), null before the first. */
  readonly lastReason: string | null;
  /** When the state last changed (ms since the epoch), null if never. */
  readonly lastChangeMs: number | null;
  readonly checksRun: number;
}

export interface VirtualServerStatus {
  readonly key: string;
  readonly services: readonly string[];
  readonly quorum: {
    readonly up: boolean;
    readonly aliveWeight: number;
    readonly quorum: number;
    readonly hysteresis: number;
  };
  readonly sorryServer: string | null;
  readonly sorryServerIn: boolean;
  readonly realServers: ReadonlyArray<{
    readonly server: string;
    readonly up: boolean;
    readonly weight: number;
    readonly failedCheckers: number;
    readonly lastChangeMs: number | null;
  }>;
}

export interface HealthStatus {
  readonly running: boolean;
  readonly virtualServers: readonly VirtualServerStatus[];
  readonly checkers: readonly CheckerStatus[];
}

/** The status tapvsd shows, in configuration order. */
export function healthStatus(vss: readonly VirtualServerRuntime[], running: boolean): HealthStatus {
  const checkers: CheckerStatus[] = [];
  for (const vs of vss) {
    for (const c of vs.checkers) {
      const s = c.spec;
      const url = s.type === 'HTTP_GET' || s.type === 'SSL_GET' ? (s.urls[currentUrl(c)]?.path ?? null) : null;
      checkers.push({
        virtualServer: vs.cfg.key,
        realServer: c.server.key,
        type: s.type,
        url,
        state: c.state.isUp ? 'up' : 'down',
        lastReason: c.lastReason,
        lastChangeMs: c.lastChangeMs,
        checksRun: c.checksRun,
      });
    }
  }
  const virtualServers = vss.map((vs) => ({
    key: vs.cfg.key,
    services: vs.cfg.addresses.map((a) =>
      serviceId({ proto: vs.cfg.protocol, addr: canonicalAddr(a.addr), port: a.port }),
    ),
    quorum: {
      up: vs.quorumUp,
      aliveWeight: vs.aliveWeight,
      quorum: vs.cfg.quorum,
      hysteresis: vs.cfg.hysteresis,
    },
    sorryServer: vs.sorryKey,
    sorryServerIn: vs.sorryActive,
    realServers: vs.realServers.map((rs) => ({
      server: rs.key,
      up: rs.alive,
      weight: rs.weight,
      failedCheckers: rs.failedCheckers,
      lastChangeMs: rs.lastChangeMs,
    })),
  }));
  return { running, virtualServers, checkers };
}

/** Every real server of every service, and the check durations. */
export function healthMetrics(
  vss: readonly VirtualServerRuntime[],
  checkDurations: HealthMetrics['checkDurations'],
): HealthMetrics {
  const backends: Array<HealthMetrics['backends'][0]> = [];
  for (const vs of vss) {
    for (const a of vs.cfg.addresses) {
      for (const rs of vs.realServers) {
        backends.push({
          proto: vs.cfg.protocol,
          localAddress: canonicalAddr(a.addr),
          localPort: a.port,
          remoteAddress: canonicalAddr(rs.cfg.addr),
          remotePort: rs.cfg.port === 0 ? a.port : rs.cfg.port,
          up: rs.alive,
          transitionsUp: rs.transitionsUp,
          transitionsDown: rs.transitionsDown,
        });
      }
    }
  }
  return { backends, checkDurations };
}

/** The HTTP url a status line names: the failed one while down, else the last one checked. */
function currentUrl(c: CheckerRuntime): number {
  return c.state.failedUrl !== NONE ? c.state.failedUrl : c.lastUrl;
}
