/**
 * keepalived's checker process for tapvs: runs the health checks of an LVS configuration, keeps
 * keepalived's state for every checker, real server and virtual server, and keeps the IPVS table
 * the way keepalived would drive the kernel's (keepalived/check/: check_api.c, ipwrapper.c,
 * ipvswrapper.c, and the checkers' epilogs in checker-state.ts).
 *
 * - Scheduling: each checker first runs BOOTSTRAP_DELAY_MS + random(0..warmup) after start or
 *   reload, then as its epilog says (delay_loop, delay_before_retry, MISC from the last start).
 * - A real server is up while none of its checkers is down (all must pass); its transitions add
 *   or remove it (inhibit_on_failure: weight 0), run notify_up/notify_down and re-evaluate its
 *   virtual server's quorum (quorum.ts), which brings the sorry server in or out and runs
 *   quorum_up/quorum_down. At start non-alpha servers are in before any check has run.
 * - The table: after every change the engine computes the whole desired table
 *   (desired-rules.ts), diffs it against the running one (rules-diff.ts) and sends the
 *   difference as one atomic `apply` through the ControlDispatcher, so it gets tapvsadm's
 *   validation and what stays keeps its connections, counters and scheduler state.
 * - Reload: new objects take over the state of the old ones they match (reload-migration.ts);
 *   the difference is one apply; a configuration with errors, or whose apply fails, changes
 *   nothing (no rule, no state, no script).
 * - Scripts run asynchronously with a timeout (notify-script.ts), after the rules they announce
 *   are in.
 *
 * Where tapvs differs: no SMTP alerts, FIFOs or SNMP; ha_suspend is read but checks always run
 * (tapvs owns its VIPs); scripts get a timeout; a reload that the control plane refuses changes
 * nothing (keepalived applies what it can).
 */

import type { DesiredService } from '../control/desired-table.js';
import type { ControlDispatcher } from '../control/dispatch.js';
import type { HealthMetrics } from '../control/metrics.js';
import type { ListResult } from '../control/protocol.js';
import { diffRules, type PlannedCommand, refusal } from '../control/rules-diff.js';
import type { Diagnostic, LvsConfig } from '../keepalived/lvs-config.js';
import { log as defaultLog } from '../log.js';
import { CheckDurations } from './check-durations.js';
import type { CheckResult, RunCheck } from './checks/check.js';
import { type Clock, systemClock } from './clock.js';
import { configErrors } from './config-errors.js';
import { desiredRules } from './desired-rules.js';
import { type HealthStatus, healthMetrics, healthStatus } from './health-status.js';
import { createScriptRunner, type Logger, type ScriptOutcome, type ScriptRunner } from './notify-script.js';
import { quorumChange, quorumThreshold } from './quorum.js';
import { migrateCheckerState, sameChecker } from './reload-migration.js';
import { type CheckerRuntime, type RealServerRuntime, VirtualServerRuntime } from './server-runtime.js';

/** keepalived's BOOTSTRAP_DELAY: the first check runs at least this long after start. */
export const BOOTSTRAP_DELAY_MS = 1000;
/** How long a notify or quorum script may run before it is killed. */
export const SCRIPT_TIMEOUT_MS = 30_000;
/** At shutdown keepalived gives omega's scripts one second (ipwrapper.c, TIMER_HZ). */
export const SHUTDOWN_SCRIPT_TIMEOUT_MS = 1000;

export interface HealthEngineOptions {
  /** Where rule changes go (every change is one `apply`), and where the running table is read. */
  readonly dispatcher: Pick<ControlDispatcher, 'handle'>;
  /** One probe attempt (src/health/checks/). */
  readonly runCheck: RunCheck;
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Uniform in [0, 1): spreads the first checks over their warmup. */
  readonly random?: () => number;
  readonly runScript?: ScriptRunner;
  readonly scriptTimeoutMs?: number;
}

/** What start() and reload() did. */
export interface EngineOutcome {
  readonly ok: boolean;
  /** Why nothing was applied (the reader's errors, or the control plane refusing a command). */
  readonly diagnostics: readonly Diagnostic[];
  /** Control commands sent (0 when nothing had to change). */
  readonly commands: number;
}

export class HealthEngine {
  private readonly dispatcher: Pick<ControlDispatcher, 'handle'>;
  private readonly runCheck: RunCheck;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly runScript: ScriptRunner;
  private readonly scriptTimeoutMs: number;

  private vss: VirtualServerRuntime[] = [];
  /** The table last applied: what the engine manages. */
  private applied: DesiredService[] = [];
  private running = false;
  /** Log lines and scripts of the change in progress: they run once its rules are in. */
  private effects: Array<() => void> = [];
  /** State changed in a way the table may show. */
  private dirty = false;
  private readonly scripts = new Set<Promise<ScriptOutcome>>();
  private readonly durations = new CheckDurations();

  constructor(opts: HealthEngineOptions) {
    this.dispatcher = opts.dispatcher;
    this.runCheck = opts.runCheck;
    this.log = opts.log ?? defaultLog;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.runScript = opts.runScript ?? createScriptRunner(this.log);
    this.scriptTimeoutMs = opts.scriptTimeoutMs ?? SCRIPT_TIMEOUT_MS;
  }

  /** Applies `config` as at keepalived's first start and starts its checks (a reload if running). */
  start(config: LvsConfig): EngineOutcome {
    if (this.running) return this.reload(config);
    const errors = configErrors(config);
    if (errors.length > 0) return this.refuse(errors);
    const vss = config.virtualServers.map((cfg) => new VirtualServerRuntime(cfg));
    for (const vs of vss) {
      for (const rs of vs.realServers) rs.startFresh();
      const alive = vs.realServers.filter((rs) => rs.alive).length;
      this.say('info', `virtual server ${vs.cfg.key}: ${alive} of ${vs.realServers.length} real servers up at start`);
      this.evaluateQuorum(vs, true);
    }
    const out = this.commit(vss, true);
    if (out.ok) {
      this.running = true;
      for (const c of vss.flatMap((vs) => vs.checkers)) this.scheduleFirst(c);
    }
    return out;
  }

  /**
   * Applies a new configuration: kept virtual and real servers keep their state, new ones start
   * as at start-up, removed ones leave; every checker restarts after the bootstrap delay.
   */
  reload(config: LvsConfig): EngineOutcome {
    if (!this.running) return this.start(config);
    const errors = configErrors(config);
    if (errors.length > 0) return this.refuse(errors);
    const previous = new Map(this.vss.map((vs) => [vs.cfg.key, vs]));
    const vss = config.virtualServers.map((cfg) => new VirtualServerRuntime(cfg));
    for (const vs of vss) {
      const from = previous.get(vs.cfg.key);
      previous.delete(vs.cfg.key);
      if (from !== undefined) {
        this.carryOver(from, vs);
        continue;
      }
      for (const rs of vs.realServers) rs.startFresh();
      this.say('info', `virtual server ${vs.cfg.key} added`);
    }
    for (const gone of previous.values()) this.leave(gone);
    for (const vs of vss) this.evaluateQuorum(vs, true);
    const old = this.vss;
    const out = this.commit(vss, true);
    if (out.ok) {
      for (const c of old.flatMap((vs) => vs.checkers)) this.retire(c);
      for (const c of vss.flatMap((vs) => vs.checkers)) this.scheduleFirst(c);
    }
    return out;
  }

  /**
   * Stops every check and, unless `keepRules`, deletes the services the engine made (keepalived's
   * clear_services()). With omega, notify_down of the alive servers and quorum_down run first;
   * resolves when they have ended (each has SHUTDOWN_SCRIPT_TIMEOUT_MS).
   */
  async stop(opts: { keepRules?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const shutdownScripts: Array<Promise<ScriptOutcome>> = [];
    for (const vs of this.vss) {
      for (const c of vs.checkers) this.retire(c);
      if (!vs.cfg.omega) continue;
      for (const rs of vs.realServers) {
        if (rs.alive && rs.cfg.notifyDown !== null)
          shutdownScripts.push(this.track(rs.cfg.notifyDown, `notify_down of ${rs.name}`, SHUTDOWN_SCRIPT_TIMEOUT_MS));
      }
      if (vs.cfg.quorumDown !== null)
        shutdownScripts.push(
          this.track(vs.cfg.quorumDown, `quorum_down of virtual server ${vs.cfg.key}`, SHUTDOWN_SCRIPT_TIMEOUT_MS),
        );
    }
    if (opts.keepRules !== true) this.commit([], false);
    this.vss = [];
    this.applied = [];
    await Promise.all(shutdownScripts);
  }

  /** Resolves when every script started so far has ended (tests, shutdown). */
  async scriptsSettled(): Promise<void> {
    while (this.scripts.size > 0) await Promise.all([...this.scripts]);
  }

  /** Per virtual server, real server and checker: what keepalived's state says now. */
  status(): HealthStatus {
    return healthStatus(this.vss, this.running);
  }

  /** For the metrics endpoint (control/metrics.ts). */
  metrics(): HealthMetrics {
    return healthMetrics(this.vss, this.durations.snapshot());
  }

  // ------------------------------------------------------------------ checks

  private scheduleFirst(c: CheckerRuntime): void {
    this.schedule(c, BOOTSTRAP_DELAY_MS + this.random() * c.spec.warmupMs);
  }

  private schedule(c: CheckerRuntime, delayMs: number): void {
    c.timer = this.clock.setTimer(() => this.attempt(c), delayMs);
  }

  private retire(c: CheckerRuntime): void {
    c.retired = true;
    if (c.timer !== null) this.clock.clearTimer(c.timer);
    c.timer = null;
    c.inFlight?.abort();
    c.inFlight = null;
  }

  private attempt(c: CheckerRuntime): void {
    c.timer = null;
    if (c.retired) return;
    const controller = new AbortController();
    c.inFlight = controller;
    c.startedAtMs = this.clock.now();
    c.lastUrl = c.state.urlIndex;
    let pending: Promise<CheckResult>;
    try {
      pending = this.runCheck(c.spec, c.lastUrl, controller.signal);
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (r) => this.completed(c, controller, r),
      (e: unknown) => this.completed(c, controller, { ok: false, reason: `${c.spec.type}: ${String(e)}` }),
    );
  }

  private completed(c: CheckerRuntime, controller: AbortController, result: CheckResult): void {
    if (c.inFlight !== controller || c.retired) return;
    c.inFlight = null;
    try {
      const elapsed = this.clock.now() - c.startedAtMs;
      this.durations.observe(c.spec.type, elapsed);
      c.checksRun++;
      c.lastReason = result.reason;
      if (!result.ok && c.spec.logAllFailures && c.state.isUp)
        this.say('info', `${c.server.name}: ${c.label} failed: ${result.reason}`);
      const delay = c.state.afterAttempt(result, elapsed, {
        report: (alive) => this.checkerVerdict(c, alive, result.reason),
        reweigh: () => this.reweigh(c.server),
      });
      this.schedule(c, delay);
      if (this.dirty) this.commit(this.vss, false);
      else this.flushEffects();
    } catch (e) {
      this.log('error', 'health check: handling a result failed', { error: (e as Error).stack ?? String(e) });
    }
  }

  // ------------------------------------------------------------------ keepalived's state changes

  /** ipwrapper.c, update_svr_checker_state(): a checker's verdict and what it does to its server. */
  private checkerVerdict(c: CheckerRuntime, alive: boolean, reason: string): void {
    const st = c.state;
    const rs = c.server;
    if (st.isUp === alive) {
      // The first verdict confirms the initial state: only an alpha checker or a failure notifies.
      if (!st.hasRun) {
        if (c.spec.alpha || !alive) this.notifyServer(rs);
        st.hasRun = true;
      }
      return;
    }
    st.hasRun = true;
    c.lastChangeMs = this.clock.now();
    // keepalived acts on the server when this is its last failed checker (up) or its first (down).
    const others = alive ? rs.failedCheckers - 1 : rs.failedCheckers;
    const serverChanged = others <= 0 && this.serverState(rs, alive, reason);
    if (!serverChanged) {
      const why = alive ? `still down: ${others} other checker(s) down` : 'server already down';
      this.say('info', `${rs.name}: ${c.label} ${alive ? 'up' : 'down'}: ${reason} (${why})`);
    }
    rs.setCheckerUp(c, alive);
  }

  /** ipwrapper.c, perform_svr_state(): the server goes up or down. */
  private serverState(rs: RealServerRuntime, alive: boolean, reason: string): boolean {
    if (rs.alive === alive) return false;
    rs.alive = alive;
    rs.lastChangeMs = this.clock.now();
    if (alive) rs.transitionsUp++;
    else rs.transitionsDown++;
    this.dirty = true;
    const inhibited = !alive && rs.cfg.inhibitOnFailure ? ' (inhibit_on_failure: stays at weight 0)' : '';
    this.say(alive ? 'info' : 'warn', `${rs.name} ${alive ? 'up' : 'down'}: ${reason}${inhibited}`);
    this.notifyServer(rs);
    this.evaluateQuorum(rs.vs, false);
    return true;
  }

  /** ipwrapper.c, update_svr_wgt(): misc_dynamic changed the server's weight. */
  private reweigh(rs: RealServerRuntime): void {
    const w = rs.weight;
    if (w === rs.reportedWeight) return;
    this.say('info', `${rs.name}: weight ${rs.reportedWeight} -> ${w} (misc_dynamic)`);
    rs.reportedWeight = w;
    this.dirty = true;
    this.evaluateQuorum(rs.vs, false);
  }

  /** ipwrapper.c, update_quorum_state(). */
  private evaluateQuorum(vs: VirtualServerRuntime, init: boolean): void {
    const { key, quorum, hysteresis, sorryServer } = vs.cfg;
    const weight = vs.aliveWeight;
    const change = quorumChange({
      up: vs.quorumUp,
      weight,
      quorum,
      hysteresis,
      init,
      sorryWaiting: sorryServer !== null && !vs.sorryActive,
    });
    if (change === null) return;
    this.dirty = true;
    const threshold = quorumThreshold(vs.quorumUp, quorum, hysteresis);
    const numbers = `alive weight ${weight}, threshold ${threshold} (quorum ${quorum}, hysteresis ${hysteresis})`;
    if (change === 'gained') {
      vs.quorumUp = true;
      this.say('info', `virtual server ${key}: quorum gained: ${numbers}`);
      if (vs.sorryActive) {
        vs.sorryActive = false;
        this.say('info', `virtual server ${key}: sorry server ${vs.sorryKey} out, alive real servers back in`);
      }
      if (vs.cfg.quorumUp !== null) this.script(vs.cfg.quorumUp, `quorum_up of virtual server ${key}`);
      return;
    }
    vs.quorumUp = false;
    this.say(
      'warn',
      `virtual server ${key}: ${change === 'lost' ? 'quorum lost' : 'starting with quorum down'}: ${numbers}`,
    );
    if (sorryServer !== null && !vs.sorryActive) {
      vs.sorryActive = true;
      this.say('warn', `virtual server ${key}: sorry server ${vs.sorryKey} in, real servers out`);
    }
    if (vs.cfg.quorumDown !== null) this.script(vs.cfg.quorumDown, `quorum_down of virtual server ${key}`);
  }

  /** ipwrapper.c, do_rs_notifies(): the script for the server's current state. */
  private notifyServer(rs: RealServerRuntime): void {
    const argv = rs.alive ? rs.cfg.notifyUp : rs.cfg.notifyDown;
    if (argv !== null) this.script(argv, `${rs.alive ? 'notify_up' : 'notify_down'} of ${rs.name}`);
  }

  // ------------------------------------------------------------------ reload

  /**
   * A virtual server kept across a reload (ipwrapper.c, clear_diff_services(), clear_diff_rs(),
   * migrate_checkers()): quorum and sorry-server state stay (the sorry server only if it is the
   * same), real servers matched by address and port keep their state, new ones start fresh,
   * removed alive ones get notify_down.
   */
  private carryOver(from: VirtualServerRuntime, to: VirtualServerRuntime): void {
    to.quorumUp = from.quorumUp;
    to.sorryActive = from.sorryActive && from.sorryKey === to.sorryKey;
    const before = new Map(from.realServers.map((rs) => [rs.key, rs]));
    const kept: Array<[RealServerRuntime, RealServerRuntime]> = [];
    for (const rs of to.realServers) {
      const old = before.get(rs.key);
      before.delete(rs.key);
      if (old === undefined) {
        rs.startFresh();
        this.say('info', `${rs.name} added`);
        continue;
      }
      // Every kept server's state first, so quorum sees them all when one changes below.
      rs.alive = old.alive;
      rs.lastChangeMs = old.lastChangeMs;
      rs.transitionsUp = old.transitionsUp;
      rs.transitionsDown = old.transitionsDown;
      kept.push([old, rs]);
    }
    for (const gone of before.values()) {
      this.say('info', `${gone.name} removed`);
      if (gone.alive && gone.cfg.notifyDown !== null) this.script(gone.cfg.notifyDown, `notify_down of ${gone.name}`);
    }
    for (const [old, rs] of kept) this.migrateServer(old, rs);
  }

  /** ipwrapper.c, migrate_checkers(). */
  private migrateServer(from: RealServerRuntime, to: RealServerRuntime): void {
    for (const c of to.checkers) {
      const old = from.checkers.find((o) => sameChecker(o.spec, c.spec));
      if (old === undefined) continue;
      migrateCheckerState(old.state, c.state, (up) => to.setCheckerUp(c, up));
      c.lastReason = old.lastReason;
      c.lastChangeMs = old.lastChangeMs;
      c.checksRun = old.checksRun;
      c.lastUrl = old.lastUrl;
    }
    to.failedCheckers = to.checkers.filter((c) => c.state.hasRun && !c.state.isUp).length;
    const anyRun = to.checkers.some((c) => c.state.hasRun);
    // A server with a failure, or down with nothing run yet: new checkers must prove themselves.
    if (to.failedCheckers > 0 || (!to.alive && !anyRun)) {
      for (const c of to.checkers) {
        if (c.state.hasRun) continue;
        if (c.spec.alpha) to.setCheckerUp(c, false);
        c.state.retryIt = c.spec.retry;
      }
    }
    to.reportedWeight = to.weight;
    if (to.failedCheckers === 0 && !to.alive) this.serverState(to, true, 'no checker down after reload');
  }

  /** A virtual server gone from the configuration (ipwrapper.c, clear_service_vs()). */
  private leave(vs: VirtualServerRuntime): void {
    this.say('info', `virtual server ${vs.cfg.key} removed`);
    for (const rs of vs.realServers) {
      if (rs.alive && rs.cfg.notifyDown !== null) this.script(rs.cfg.notifyDown, `notify_down of ${rs.name}`);
    }
    if (vs.quorumUp && vs.cfg.quorumDown !== null)
      this.script(vs.cfg.quorumDown, `quorum_down of virtual server ${vs.cfg.key}`);
  }

  // ------------------------------------------------------------------ rules, effects

  /**
   * Brings the table in line with `vss` in one apply, then runs the pending effects. `atomic`
   * (start, reload): if the apply fails nothing changes and the pending effects are dropped.
   * Otherwise (a check result) the state stands, the failure is logged, and the next change
   * starts again from the running table.
   */
  private commit(vss: VirtualServerRuntime[], atomic: boolean): EngineOutcome {
    this.dirty = false;
    const desired = desiredRules(vss);
    let planned: PlannedCommand[] = [];
    try {
      const running = this.dispatcher.handle({ id: 0, op: 'list', service: null }) as ListResult;
      planned = diffRules(desired, this.applied, running);
      if (planned.length > 0) this.dispatcher.handle({ id: 0, op: 'apply', commands: planned.map((p) => p.command) });
    } catch (e) {
      const diagnostic = refusal(e, planned);
      this.log(
        'error',
        `health checks: rules not changed: ${diagnostic.file}:${diagnostic.line}: ${diagnostic.message}`,
      );
      if (atomic) {
        this.effects = [];
        return { ok: false, diagnostics: [diagnostic], commands: 0 };
      }
      this.vss = vss;
      this.flushEffects();
      return { ok: false, diagnostics: [diagnostic], commands: 0 };
    }
    this.vss = vss;
    this.applied = desired;
    this.flushEffects();
    return { ok: true, diagnostics: [], commands: planned.length };
  }

  private refuse(errors: Diagnostic[]): EngineOutcome {
    for (const d of errors) this.log('error', `configuration not applied: ${d.file}:${d.line}: ${d.message}`);
    return { ok: false, diagnostics: errors, commands: 0 };
  }

  private say(level: 'info' | 'warn', msg: string): void {
    this.effects.push(() => this.log(level, msg));
  }

  private script(argv: readonly string[], what: string): void {
    this.effects.push(() => {
      void this.track(argv, what, this.scriptTimeoutMs);
    });
  }

  private track(argv: readonly string[], what: string, timeoutMs: number): Promise<ScriptOutcome> {
    const p = this.runScript(argv, what, timeoutMs);
    this.scripts.add(p);
    void p.finally(() => this.scripts.delete(p));
    return p;
  }

  private flushEffects(): void {
    const effects = this.effects;
    this.effects = [];
    for (const fx of effects) fx();
  }
}
