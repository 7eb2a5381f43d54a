/**
 * The engine's live objects, one per configured virtual server, real server and checker, with
 * keepalived's state for each (ipwrapper.c and check_api.c):
 * - checker: its CheckerState plus what the engine needs to run it (timer, in-flight attempt)
 *   and to show it (last reason, last change, attempts run);
 * - real server: `alive` (counts for the pool and quorum) and the number of its checkers that
 *   are down: it is up only when none is (set_checker_state(), update_svr_checker_state());
 * - virtual server: whether quorum is up and whether the sorry server is in.
 *
 * A reload builds new objects and carries state over (reload-migration.ts), so an object belongs
 * to one configuration generation; `retired` marks checkers whose generation is gone.
 */

import { canonicalAddr } from '../control/desired-table.js';
import type { CheckerSpec, RealServerConfig, VirtualServerConfig } from '../keepalived/lvs-config.js';
import { CheckerState, NONE } from './checker-state.js';
import type { TimerHandle } from './clock.js';
import type { RealServerView, VirtualServerView } from './desired-rules.js';

export class CheckerRuntime {
  readonly state: CheckerState;
  timer: TimerHandle | null = null;
  /** The attempt in flight, or null; a result arriving for another controller is discarded. */
  inFlight: AbortController | null = null;
  startedAtMs = 0;
  /** The url index of the last attempt (HTTP). */
  lastUrl = 0;
  lastReason: string | null = null;
  lastChangeMs: number | null = null;
  checksRun = 0;
  retired = false;

  constructor(
    readonly spec: CheckerSpec,
    readonly server: RealServerRuntime,
  ) {
    this.state = new CheckerState(spec);
  }

  /** "HTTP_GET /health", "TCP_CHECK", "MISC_CHECK /usr/local/bin/check": for logs and status. */
  get label(): string {
    const s = this.spec;
    if (s.type === 'HTTP_GET' || s.type === 'SSL_GET') return `${s.type} ${s.urls[this.lastUrl]?.path ?? ''}`.trim();
    if (s.type === 'MISC_CHECK') return `${s.type} ${s.argv[0] ?? ''}`.trim();
    return s.type;
  }
}

export class RealServerRuntime implements RealServerView {
  readonly checkers: CheckerRuntime[];
  alive = false;
  /** Checkers of this server that are down (keepalived's num_failed_checkers). */
  failedCheckers = 0;
  /** The weight last reported by update_svr_wgt(), to log changes once. */
  reportedWeight: number;
  lastChangeMs: number | null = null;
  transitionsUp = 0;
  transitionsDown = 0;

  constructor(
    readonly cfg: RealServerConfig,
    readonly vs: VirtualServerRuntime,
  ) {
    this.checkers = cfg.checkers.map((spec) => new CheckerRuntime(spec, this));
    this.reportedWeight = cfg.weight;
  }

  /** "192.168.2.129:80" */
  get key(): string {
    return `${canonicalAddr(this.cfg.addr)}:${this.cfg.port}`;
  }

  /** "real server 192.168.2.129:80 of tcp 192.168.222.131:80" */
  get name(): string {
    return `real server ${this.key} of ${this.vs.cfg.key}`;
  }

  /**
   * The effective weight: configured, plus for each misc_dynamic checker the difference between
   * what its script asked for and the configured weight (with one such checker: its weight).
   */
  get weight(): number {
    let w = this.cfg.weight;
    for (const c of this.checkers) if (c.state.dynamicWeight !== NONE) w += c.state.dynamicWeight - this.cfg.weight;
    return w;
  }

  /** keepalived's set_checker_state(): the checker's verdict and this server's failure count. */
  setCheckerUp(c: CheckerRuntime, up: boolean): void {
    if (c.state.isUp === up) return;
    c.state.isUp = up;
    if (!up) this.failedCheckers++;
    else if (this.failedCheckers > 0) this.failedCheckers--;
  }

  /** Every checker as at keepalived's first start; alive when none starts down (not alpha). */
  startFresh(): void {
    for (const c of this.checkers) {
      c.state.startFresh();
      if (!c.state.isUp) this.failedCheckers++;
    }
    this.alive = this.failedCheckers === 0;
  }
}

export class VirtualServerRuntime implements VirtualServerView {
  readonly realServers: RealServerRuntime[];
  quorumUp = false;
  sorryActive = false;

  constructor(readonly cfg: VirtualServerConfig) {
    this.realServers = cfg.realServers.map((rs) => new RealServerRuntime(rs, this));
  }

  /** Σ effective weight of the alive real servers (ipwrapper.c, weigh_live_realservers()). */
  get aliveWeight(): number {
    let w = 0;
    for (const rs of this.realServers) if (rs.alive) w += Math.max(0, rs.weight);
    return w;
  }

  get checkers(): CheckerRuntime[] {
    return this.realServers.flatMap((rs) => rs.checkers);
  }

  /** "192.168.2.200:80", or null. */
  get sorryKey(): string | null {
    const s = this.cfg.sorryServer;
    return s === null ? null : `${canonicalAddr(s.addr)}:${s.port}`;
  }
}
