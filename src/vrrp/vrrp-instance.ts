/**
 * One VRRP router (a vrrp_instance): the state machine of RFC 3768 §6.4 / RFC 5798 §6.4 with
 * keepalived's choices (vrrp.c vrrp_state_backup(), vrrp_state_master_rx(),
 * vrrp_state_become_master(), vrrp_state_leave_master(); vrrp_scheduler.c vrrp_init_state()).
 *
 * - Start: the address owner (priority 255, state MASTER) is master at once; everyone else starts
 *   as backup and waits Master_Down_Interval = down_timer_adverts x interval + Skew_Time.
 * - Backup, valid advert: priority 0 -> the down timer shrinks to Skew_Time; accepted (no preempt,
 *   priority >= ours, or a preempt_delay still running) -> the timer restarts and (v3) the
 *   master's interval is learned; a lower priority with preemption on is ignored, so the timer
 *   runs out and this router takes over.
 * - Master: adverts every interval; a higher priority, or an equal one from a higher address
 *   (unsigned), makes it backup; a lower one (or a priority 0) is answered by an advert at once.
 * - Becoming master: an advert first, then the addresses, gratuitous ARP (garp_master_repeat
 *   now, again after garp_master_delay, and every garp_master_refresh), notify scripts.
 * - Stop and fault: a master resigns with a priority-0 advert and releases the addresses.
 *
 * A sync group (vrrp_sync.c) decides for its members: the engine passes itself as `group`.
 */
import type { Clock, TimerHandle } from '../health/clock.js';
import { type AdvertSpec, buildAdvert } from './advert.js';
import type { VrrpInstanceConfig } from './vrrp-config.js';
import type { VrrpHost, VrrpState } from './vrrp-host.js';

/** What a sync group decides; without a group each call acts on the instance alone. */
export interface GroupDecisions {
  /** The instance's down timer ran out: it wants mastership. */
  wantsMaster(i: VrrpInstance): void;
  /** The instance left mastership for `to`: the other members follow. */
  leftMaster(i: VrrpInstance, to: VrrpState, reason: string): void;
}

export interface VrrpInstanceStatus {
  name: string;
  link: string;
  vrid: number;
  version: number;
  state: VrrpState;
  priority: number;
  configuredPriority: number;
  masterAddress: number;
  advertIntMs: number;
  advertsSent: number;
  advertsReceived: number;
  lastTransitionMs: number;
  lastReason: string;
  drops: Record<string, number>;
}

export class VrrpInstance {
  state: VrrpState = 'INIT';
  /** The down timer ran out while a sync group held it back. */
  wantMaster = false;
  /** The current master's address (ours when master), 0 when unknown. */
  masterAddress = 0;
  advertsSent = 0;
  advertsReceived = 0;
  lastTransitionMs = 0;
  lastReason = 'not started';
  readonly drops: Record<string, number> = {};
  readonly spec: AdvertSpec;
  private masterIntervalMs: number;
  private downTimer: TimerHandle | null = null;
  private advertTimer: TimerHandle | null = null;
  private garpTimers: TimerHandle[] = [];
  /** When the first lower-priority advert was accepted under preempt_delay; -1 when none. */
  private preemptDelayStart = -1;
  private ipId = 0;
  private readonly buf = new Uint8Array(20 + 8 + 4 * 255 + 8);

  constructor(
    readonly cfg: VrrpInstanceConfig,
    private readonly host: VrrpHost,
    private readonly clock: Clock,
    private readonly group: GroupDecisions,
  ) {
    this.spec = {
      version: cfg.version,
      vrid: cfg.vrid,
      intervalMs: cfg.advertIntMs,
      authPass: cfg.authPass,
      addresses: cfg.virtualAddresses.map((a) => a.addr),
      checksumAsV2: cfg.v3ChecksumAsV2,
    };
    this.masterIntervalMs = cfg.advertIntMs;
  }

  get priority(): number {
    return this.cfg.priority;
  }

  /** Our advert source: mcast_src_ip, else the link's primary address. */
  get source(): number {
    return this.cfg.mcastSrcIp !== 0 ? this.cfg.mcastSrcIp : this.host.primaryAddress(this.cfg.link);
  }

  /** Skew_Time (RFC 3768 §6.1, RFC 5798 §6.1): higher priorities wait less. */
  get skewMs(): number {
    const p = this.priority;
    return this.cfg.version === 2 ? ((256 - p) * 1000) / 256 : ((256 - p) * this.masterIntervalMs) / 256;
  }

  /** Master_Down_Interval; v2 uses our own interval, v3 the master's. */
  get masterDownMs(): number {
    const interval = this.cfg.version === 2 ? this.cfg.advertIntMs : this.masterIntervalMs;
    return this.cfg.downTimerAdverts * interval + this.skewMs;
  }

  start(): void {
    if (this.cfg.initialState === 'MASTER' && this.priority === 255) {
      this.becomeMaster('address owner (priority 255)');
      return;
    }
    this.enterBackup('started');
  }

  /** A valid advert for this instance (parsed into the fields given). */
  onAdvert(src: number, priority: number, intervalMs: number): void {
    this.advertsReceived++;
    if (this.state === 'BACKUP') this.backupRx(src, priority, intervalMs);
    else if (this.state === 'MASTER') this.masterRx(src, priority);
  }

  countDrop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  /** Mastership granted (alone, or by the sync group when every member wants it). */
  becomeMaster(reason: string): void {
    if (this.state === 'MASTER') return;
    this.clearTimers();
    const from = this.state;
    this.state = 'MASTER';
    this.wantMaster = false;
    this.preemptDelayStart = -1;
    this.masterAddress = this.source;
    this.sendAdvert(this.priority);
    this.host.setVirtualAddresses(this.cfg, true);
    this.announce(this.cfg.garpMasterRepeat);
    if (this.cfg.garpMasterDelayMs > 0)
      this.garpTimers.push(this.clock.setTimer(() => this.announce(this.cfg.garpMasterRepeat), this.cfg.garpMasterDelayMs));
    if (this.cfg.garpMasterRefreshMs > 0) this.scheduleRefresh();
    this.scheduleAdvert();
    this.transition(from, 'MASTER', reason);
  }

  /** Backup (again): addresses released if we held them, down timer restarted. */
  enterBackup(reason: string): void {
    const from = this.state;
    this.clearTimers();
    this.state = 'BACKUP';
    this.wantMaster = false;
    if (from === 'MASTER') this.host.setVirtualAddresses(this.cfg, false);
    this.armDown(this.masterDownMs);
    if (from !== 'BACKUP') this.transition(from, 'BACKUP', reason);
  }

  /** Fault (link down): a master resigns first. */
  enterFault(reason: string): void {
    if (this.state === 'FAULT') return;
    const from = this.state;
    if (from === 'MASTER') {
      this.sendAdvert(0);
      this.host.setVirtualAddresses(this.cfg, false);
    }
    this.clearTimers();
    this.state = 'FAULT';
    this.wantMaster = false;
    this.transition(from, 'FAULT', reason);
  }

  /** Shutdown: a master resigns with a priority-0 advert (the backup takes over after Skew_Time). */
  stop(): void {
    if (this.state === 'MASTER') {
      this.sendAdvert(0);
      this.host.setVirtualAddresses(this.cfg, false);
    }
    this.clearTimers();
    this.state = 'INIT';
    this.lastReason = 'stopped';
    if (this.cfg.notifyStop !== null) this.host.runScript(this.cfg.notifyStop, `notify_stop of ${this.cfg.name}`);
  }

  status(): VrrpInstanceStatus {
    return {
      name: this.cfg.name,
      link: this.cfg.link,
      vrid: this.cfg.vrid,
      version: this.cfg.version,
      state: this.state,
      priority: this.priority,
      configuredPriority: this.cfg.priority,
      masterAddress: this.masterAddress,
      advertIntMs: this.cfg.version === 3 ? this.masterIntervalMs : this.cfg.advertIntMs,
      advertsSent: this.advertsSent,
      advertsReceived: this.advertsReceived,
      lastTransitionMs: this.lastTransitionMs,
      lastReason: this.lastReason,
      drops: { ...this.drops },
    };
  }

  /** Takes over the runtime state of the instance this one replaces (reload, same router). */
  adopt(old: VrrpInstance): void {
    this.masterAddress = old.masterAddress;
    this.advertsSent = old.advertsSent;
    this.advertsReceived = old.advertsReceived;
    this.lastTransitionMs = old.lastTransitionMs;
    this.lastReason = old.lastReason;
    Object.assign(this.drops, old.drops);
  }

  /** Drops its timers without any side effect (its replacement takes over after a reload). */
  quiet(): void {
    this.clearTimers();
  }

  /** A master kept across a reload: its (possibly changed) addresses held, adverts going on. */
  resumeMaster(): void {
    this.state = 'MASTER';
    this.masterAddress = this.source;
    this.host.setVirtualAddresses(this.cfg, true);
    this.scheduleAdvert();
  }

  private backupRx(src: number, priority: number, intervalMs: number): void {
    if (priority === 0) {
      this.armDown(this.skewMs);
      return;
    }
    let accept = !this.cfg.preempt || priority >= this.priority;
    if (!accept && this.cfg.preemptDelayMs > 0) {
      const now = this.clock.now();
      if (this.preemptDelayStart < 0) this.preemptDelayStart = now;
      accept = now - this.preemptDelayStart < this.cfg.preemptDelayMs;
    }
    if (!accept) return;
    if (priority >= this.priority) this.preemptDelayStart = -1;
    if (this.cfg.version === 3) this.masterIntervalMs = intervalMs;
    this.masterAddress = src;
    this.wantMaster = false;
    this.armDown(this.masterDownMs);
  }

  private masterRx(src: number, priority: number): void {
    if (priority === 0) {
      this.sendAdvert(this.priority);
      return;
    }
    const ours = this.source;
    const theyWin = priority > this.priority || (priority === this.priority && src >>> 0 > ours >>> 0);
    if (!theyWin) {
      // "forcing a new election": the lower-priority master hears us at once.
      if (!this.cfg.lowerPrioNoAdvert) this.sendAdvert(this.priority);
      return;
    }
    if (this.cfg.higherPrioSendAdvert) this.sendAdvert(this.priority);
    this.masterAddress = src;
    const reason = `higher priority ${priority} advert from ${src >>> 24}.${(src >>> 16) & 255}.${(src >>> 8) & 255}.${src & 255}`;
    this.enterBackup(reason);
    this.group.leftMaster(this, 'BACKUP', reason);
  }

  private armDown(ms: number): void {
    if (this.downTimer !== null) this.clock.clearTimer(this.downTimer);
    this.downTimer = this.clock.setTimer(() => {
      this.downTimer = null;
      if (this.state !== 'BACKUP') return;
      this.wantMaster = true;
      this.group.wantsMaster(this);
    }, ms);
  }

  private scheduleAdvert(): void {
    this.advertTimer = this.clock.setTimer(() => {
      this.advertTimer = null;
      if (this.state !== 'MASTER') return;
      this.sendAdvert(this.priority);
      this.scheduleAdvert();
    }, this.cfg.advertIntMs);
  }

  private scheduleRefresh(): void {
    this.garpTimers.push(
      this.clock.setTimer(() => {
        if (this.state !== 'MASTER') return;
        this.announce(this.cfg.garpMasterRefreshRepeat);
        this.scheduleRefresh();
      }, this.cfg.garpMasterRefreshMs),
    );
  }

  private announce(repeat: number): void {
    for (let r = 0; r < repeat; r++)
      for (const a of this.cfg.virtualAddresses) this.host.gratuitousArp(a.link, a.addr);
  }

  private sendAdvert(priority: number): void {
    this.ipId = (this.ipId + 1) & 0xffff;
    const len = buildAdvert(this.buf, this.spec, this.source, priority, this.ipId);
    this.host.sendIp(this.cfg.link, this.buf, len);
    this.advertsSent++;
  }

  private clearTimers(): void {
    if (this.downTimer !== null) this.clock.clearTimer(this.downTimer);
    if (this.advertTimer !== null) this.clock.clearTimer(this.advertTimer);
    for (const t of this.garpTimers) this.clock.clearTimer(t);
    this.downTimer = null;
    this.advertTimer = null;
    this.garpTimers = [];
  }

  private transition(from: VrrpState, to: VrrpState, reason: string): void {
    this.lastTransitionMs = this.clock.now();
    this.lastReason = reason;
    const c = this.cfg;
    const specific = to === 'MASTER' ? c.notifyMaster : to === 'BACKUP' ? c.notifyBackup : c.notifyFault;
    if (specific !== null) this.host.runScript(specific, `notify_${to.toLowerCase()} of ${c.name}`);
    if (c.notify !== null) this.host.runScript([...c.notify, 'INSTANCE', c.name, to, String(this.priority)], `notify of ${c.name}`);
    this.host.stateChanged(c, from, to, reason);
  }
}
