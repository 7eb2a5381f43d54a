/**
 * One VRRP instance's state machine, as keepalived runs it (vrrp.c vrrp_state_backup(),
 * vrrp_state_master_rx(), vrrp_state_master_tx(), vrrp_state_become_master(),
 * vrrp_state_leave_master(); vrrp_scheduler.c vrrp_init_state()) after RFC 3768 §6.4 and
 * RFC 5798 §6.4. Driven by the clock and by adverts the engine has already matched to it; its
 * sync group is the engine's business (vrrp-engine.ts): the instance asks before it becomes
 * MASTER and reports every transition.
 *
 * Timers (RFC 5798 §6.1, keepalived vrrp.h): Skew_Time is (256 − P)/256 s in v2 and
 * (256 − P) × Master_Adver_Interval / 256 in v3; Master_Down_Interval is down_timer_adverts ×
 * the interval (v2: our own; v3: the one learned from the master) + Skew_Time. P is the
 * priority (tapvs has no trackers, so the effective priority is the configured one).
 */
import type { Clock, TimerHandle } from '../health/clock.js';
import { formatIpv4 } from '../packet/ipv4.js';
import type { VrrpInstanceConfig } from './vrrp-config.js';
import type { VrrpHost, VrrpState } from './vrrp-host.js';
import {
  type AdvertFields,
  type AdvertSpec,
  advertAddressesMatch,
  authBytes,
  checkAdvert,
  vrrpLength,
  writeAdvert,
} from './vrrp-packet.js';

/** What the engine hears from an instance. */
export interface InstanceEvents {
  /** The down timer ran out: may this instance become MASTER now (its sync group agreeing)? */
  wantsMaster(inst: VrrpInstance): void;
  /** A transition happened (after addresses, GARP, stateChanged and notifies). */
  changed(inst: VrrpInstance, from: VrrpState): void;
}

export class VrrpInstance {
  state: VrrpState = 'INIT';
  /** The down timer ran out but the sync group held this instance in BACKUP. */
  wantMaster = false;
  /** The instance's link is up (down: FAULT). */
  linkUp = true;
  masterAddress = 0;
  /** v3: the interval learned from the master (RFC 5798 §6.4.2); v2: always our own. */
  masterAdverIntMs: number;
  advertsSent = 0;
  advertsReceived = 0;
  lastTransitionMs = 0;
  lastReason = '';
  readonly drops: Record<string, number> = {};
  private spec: AdvertSpec;
  private auth: Uint8Array;
  private buf: Uint8Array;
  private timer: TimerHandle | null = null;
  private garpTimers: TimerHandle[] = [];
  /** When a running preempt_delay ends (0: none running). */
  private preemptUntilMs = 0;
  private ipId = 0;

  constructor(
    public cfg: VrrpInstanceConfig,
    private readonly host: VrrpHost,
    private readonly clock: Clock,
    private readonly events: InstanceEvents,
  ) {
    this.masterAdverIntMs = cfg.advertIntMs;
    this.spec = specOf(cfg);
    this.auth = authBytes(cfg.authPass);
    this.buf = new Uint8Array(20 + vrrpLength(cfg.version, cfg.virtualAddresses.length));
  }

  /** A reload kept this instance (same name, link and vrid): new settings, same state. */
  reconfigure(cfg: VrrpInstanceConfig): void {
    this.cfg = cfg;
    this.spec = specOf(cfg);
    this.auth = authBytes(cfg.authPass);
    this.buf = new Uint8Array(20 + vrrpLength(cfg.version, cfg.virtualAddresses.length));
    if (cfg.version === 2) this.masterAdverIntMs = cfg.advertIntMs;
    if (this.state === 'MASTER') this.host.setVirtualAddresses(cfg, true);
  }

  get priority(): number {
    return this.cfg.priority;
  }

  /** Skew_Time in ms (RFC 3768 §6.1, RFC 5798 §6.1; keepalived vrrp.h). */
  skewMs(): number {
    const p = this.cfg.priority;
    return this.cfg.version === 2 ? ((256 - p) * 1000) / 256 : ((256 - p) * this.masterAdverIntMs) / 256;
  }

  masterDownMs(): number {
    const interval = this.cfg.version === 2 ? this.cfg.advertIntMs : this.masterAdverIntMs;
    return this.cfg.downTimerAdverts * interval + this.skewMs();
  }

  /** keepalived vrrp_init_state(): BACKUP with a full down timer (or `firstDownMs`), or FAULT. */
  startBackup(reason: string, firstDownMs = this.masterDownMs()): void {
    if (!this.linkUp) {
      this.enterFault(reason);
      return;
    }
    this.toBackup(reason, firstDownMs);
  }

  /** RFC 5798 §6.4.1/§6.4.2 → MASTER; keepalived vrrp_state_become_master(). */
  becomeMaster(reason: string): void {
    const from = this.state;
    this.clearTimers();
    this.state = 'MASTER';
    this.wantMaster = false;
    this.preemptUntilMs = 0;
    this.sendAdvert(this.cfg.priority);
    this.host.setVirtualAddresses(this.cfg, true);
    this.masterAddress = this.source();
    this.garpBurst(this.cfg.garpMasterRepeat);
    if (this.cfg.garpMasterDelayMs > 0) {
      this.garpTimers.push(
        this.clock.setTimer(() => this.garpBurst(this.cfg.garpMasterRepeat), this.cfg.garpMasterDelayMs),
      );
    }
    if (this.cfg.garpMasterRefreshMs > 0) this.scheduleGarpRefresh();
    this.scheduleAdvert();
    this.transitioned(from, reason);
  }

  /** Leaves MASTER (or INIT/FAULT) for BACKUP; keepalived vrrp_state_leave_master(). */
  toBackup(reason: string, downMs = this.masterDownMs()): void {
    const from = this.state;
    this.clearTimers();
    this.state = 'BACKUP';
    this.wantMaster = false;
    if (from === 'MASTER' || from === 'INIT') this.host.setVirtualAddresses(this.cfg, false);
    if (from === 'MASTER') this.masterAddress = 0;
    this.armDownTimer(downMs);
    this.transitioned(from, reason);
  }

  /** Link down or the sync group: a master resigns with a priority-0 advert first. */
  enterFault(reason: string): void {
    const from = this.state;
    if (from === 'FAULT') return;
    this.clearTimers();
    if (from === 'MASTER') this.sendAdvert(0);
    this.state = 'FAULT';
    this.wantMaster = false;
    this.masterAddress = 0;
    this.host.setVirtualAddresses(this.cfg, false);
    this.transitioned(from, reason);
  }

  /** SIGTERM or removal by a reload: priority 0 from a master, addresses released, STOP notifies. */
  stop(): void {
    this.clearTimers();
    if (this.state === 'MASTER') this.sendAdvert(0);
    if (this.state !== 'INIT') this.host.setVirtualAddresses(this.cfg, false);
    this.state = 'INIT';
    this.wantMaster = false;
    this.masterAddress = 0;
    this.lastTransitionMs = this.clock.now();
    this.lastReason = 'stopped';
    runNotifies(this.host, this.cfg.notifyStop, this.cfg.notify, 'INSTANCE', this.cfg.name, 'STOP', this.cfg.priority);
  }

  /** An IPv4 packet the engine matched to this instance's link and VRID. */
  receive(p: Uint8Array, off: number, len: number, fields: AdvertFields): void {
    const drop = checkAdvert(p, off, len, this.spec, this.auth, fields);
    if (drop !== null) {
      this.drops[drop] = (this.drops[drop] ?? 0) + 1;
      return;
    }
    this.advertsReceived++;
    // keepalived logs a differing address list and still acts on the advert.
    if (!advertAddressesMatch(p, fields, this.spec.addresses)) {
      this.drops['address-mismatch (accepted)'] = (this.drops['address-mismatch (accepted)'] ?? 0) + 1;
    }
    if (this.state === 'BACKUP') this.backupReceive(fields);
    else if (this.state === 'MASTER') this.masterReceive(fields);
  }

  /** keepalived vrrp_state_backup(); RFC 5798 §6.4.2. */
  private backupReceive(a: AdvertFields): void {
    if (a.priority === 0) {
      // The master resigns: take over after Skew_Time only.
      this.armDownTimer(this.skewMs());
      return;
    }
    const ours = this.cfg.priority;
    if (!this.cfg.preempt || a.priority >= ours || this.preemptDelayRunning(a.priority, ours)) {
      if (a.priority > ours) this.preemptUntilMs = 0;
      if (this.cfg.version === 3) this.masterAdverIntMs = a.advertIntMs;
      this.masterAddress = a.src;
      this.wantMaster = false;
      this.armDownTimer(this.masterDownMs());
    }
    // A lower priority master while preemption is allowed: the timer is not reset, so it
    // expires and this instance takes over (not at once: keepalived waits for the timer).
  }

  private preemptDelayRunning(theirs: number, ours: number): boolean {
    if (this.cfg.preemptDelayMs === 0 || theirs >= ours) return false;
    const now = this.clock.now();
    if (this.preemptUntilMs === 0) this.preemptUntilMs = now + this.cfg.preemptDelayMs;
    return now < this.preemptUntilMs;
  }

  /** keepalived vrrp_state_master_rx(); RFC 5798 §6.4.3. */
  private masterReceive(a: AdvertFields): void {
    if (a.priority === 0) {
      this.sendAdvert(this.cfg.priority);
      this.scheduleAdvert();
      return;
    }
    const own = this.source();
    if (a.src === own) return;
    const ours = this.cfg.priority;
    // Equal priority: the numerically higher primary address wins (unsigned compare).
    const higher = a.priority > ours || (a.priority === ours && a.src >>> 0 > own >>> 0);
    if (!higher) {
      if (!this.cfg.lowerPrioNoAdvert) {
        this.sendAdvert(ours);
        this.scheduleAdvert();
      }
      return;
    }
    if (this.cfg.higherPrioSendAdvert) this.sendAdvert(ours);
    if (this.cfg.version === 3) this.masterAdverIntMs = a.advertIntMs;
    const reason = `advert from ${formatIpv4(a.src)} with priority ${a.priority}`;
    this.toBackup(reason);
    this.masterAddress = a.src;
  }

  private armDownTimer(ms: number): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.wantMaster = true;
      this.events.wantsMaster(this);
      // Held back by the sync group: stay BACKUP and look again after another interval.
      if (this.state === 'BACKUP' && this.timer === null) this.armDownTimer(this.masterDownMs());
    }, ms);
  }

  private scheduleAdvert(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.sendAdvert(this.cfg.priority);
      this.scheduleAdvert();
    }, this.cfg.advertIntMs);
  }

  private scheduleGarpRefresh(): void {
    this.garpTimers.push(
      this.clock.setTimer(() => {
        this.garpBurst(this.cfg.garpMasterRefreshRepeat);
        this.scheduleGarpRefresh();
      }, this.cfg.garpMasterRefreshMs),
    );
  }

  private garpBurst(rounds: number): void {
    for (let r = 0; r < rounds; r++) {
      for (const a of this.cfg.virtualAddresses) this.host.gratuitousArp(a.link, a.addr);
    }
  }

  private clearTimers(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    for (const t of this.garpTimers) this.clock.clearTimer(t);
    this.garpTimers.length = 0;
  }

  private source(): number {
    return this.cfg.mcastSrcIp !== 0 ? this.cfg.mcastSrcIp : this.host.primaryAddress(this.cfg.link);
  }

  private sendAdvert(priority: number): void {
    this.ipId = (this.ipId + 1) & 0xffff;
    const len = writeAdvert(this.buf, this.spec, priority, this.source(), this.ipId);
    this.host.sendIp(this.cfg.link, this.buf, len);
    this.advertsSent++;
  }

  private transitioned(from: VrrpState, reason: string): void {
    this.lastTransitionMs = this.clock.now();
    this.lastReason = reason;
    this.host.stateChanged(this.cfg, from, this.state, reason);
    const c = this.cfg;
    const specific =
      this.state === 'MASTER' ? c.notifyMaster : this.state === 'BACKUP' ? c.notifyBackup : c.notifyFault;
    runNotifies(this.host, specific, c.notify, 'INSTANCE', c.name, this.state, c.priority);
    this.events.changed(this, from);
  }
}

function specOf(cfg: VrrpInstanceConfig): AdvertSpec {
  return {
    version: cfg.version,
    vrid: cfg.vrid,
    advertIntMs: cfg.advertIntMs,
    authPass: cfg.version === 2 ? cfg.authPass : null,
    v3ChecksumAsV2: cfg.v3ChecksumAsV2,
    addresses: cfg.virtualAddresses.map((a) => a.addr),
  };
}

/**
 * keepalived vrrp_notify.c: the specific script first, then the generic `notify` with
 * `INSTANCE|GROUP NAME STATE PRIORITY` appended (groups report priority 0).
 */
export function runNotifies(
  host: VrrpHost,
  specific: readonly string[] | null,
  generic: readonly string[] | null,
  kind: 'INSTANCE' | 'GROUP',
  name: string,
  state: string,
  priority: number,
): void {
  const what = `${kind === 'INSTANCE' ? 'vrrp_instance' : 'vrrp_sync_group'} ${name} ${state}`;
  if (specific !== null) host.runScript(specific, `notify_${state.toLowerCase()} ${what}`);
  if (generic !== null) host.runScript([...generic, kind, name, state, String(priority)], `notify ${what}`);
}
