/**
 * The VRRP instances of a keepalived.conf, run in user space: adverts in (already matched to
 * protocol 112 by the caller) are demultiplexed by link and VRID to their instance
 * (vrrp-instance.ts); sync groups move their members together (keepalived vrrp_sync.c): a group
 * becomes MASTER only when every member wants to (vrrp_sync_can_goto_master()), one member
 * leaving MASTER pulls the others to BACKUP, one member in FAULT puts them all in FAULT. Group
 * notifies run when the whole group has reached a state.
 *
 * Pure: time comes from the Clock and everything the director does goes through the VrrpHost,
 * so unit tests run two engines against each other in virtual time.
 */
import type { Clock } from '../health/clock.js';
import type { VrrpConfig, VrrpInstanceConfig, VrrpSyncGroupConfig } from './vrrp-config.js';
import type { VrrpHost, VrrpState } from './vrrp-host.js';
import { runNotifies, VrrpInstance } from './vrrp-instance.js';
import { type AdvertFields, advertVrid } from './vrrp-packet.js';

export interface VrrpInstanceStatus {
  name: string;
  link: string;
  vrid: number;
  version: number;
  state: VrrpState;
  /** Effective priority (tapvs has no trackers: the configured one). */
  priority: number;
  configuredPriority: number;
  /** The current master's address (int32), 0 when unknown. */
  masterAddress: number;
  advertIntMs: number;
  advertsSent: number;
  advertsReceived: number;
  lastTransitionMs: number;
  lastReason: string;
  /** Adverts dropped, by reason; 'address-mismatch (accepted)' counts adverts acted on anyway. */
  drops: Record<string, number>;
}

interface SyncGroup {
  cfg: VrrpSyncGroupConfig;
  members: VrrpInstance[];
  /** The state the group's notifies last ran for. */
  notified: VrrpState | null;
}

export class VrrpEngine {
  private instances: VrrpInstance[] = [];
  /** link → vrid → instance. */
  private byLink = new Map<string, Map<number, VrrpInstance>>();
  private groups: SyncGroup[] = [];
  private groupOf = new Map<VrrpInstance, SyncGroup>();
  private readonly downLinks = new Set<string>();
  private readonly fields: AdvertFields = { src: 0, vrid: 0, priority: 0, advertIntMs: 0, count: 0, addrOff: 0 };
  private started = false;
  private readonly events = {
    wantsMaster: (inst: VrrpInstance) => this.wantsMaster(inst),
    changed: (inst: VrrpInstance, from: VrrpState) => this.changed(inst, from),
  };

  constructor(
    private config: VrrpConfig,
    private readonly host: VrrpHost,
    private readonly clock: Clock,
  ) {
    this.index(config.instances.map((c) => new VrrpInstance(c, host, clock, this.events)));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const inst of this.instances) this.startInstance(inst);
  }

  receive(link: string, packet: Uint8Array, off: number, len: number): void {
    if (!this.started) return;
    const vrid = advertVrid(packet, off, len);
    if (vrid < 0) return;
    this.byLink.get(link)?.get(vrid)?.receive(packet, off, len, this.fields);
  }

  setLinkState(link: string, up: boolean): void {
    if (up) this.downLinks.delete(link);
    else this.downLinks.add(link);
    for (const inst of this.instances) {
      if (inst.cfg.link !== link) continue;
      inst.linkUp = up;
      if (!this.started) continue;
      if (!up) this.fault(inst, `link ${link} down`);
      else this.recover(inst, `link ${link} up`);
    }
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    for (const inst of this.instances) inst.stop();
    for (const g of this.groups) {
      runNotifies(this.host, g.cfg.notifyStop, g.cfg.notify, 'GROUP', g.cfg.name, 'STOP', 0);
      g.notified = null;
    }
  }

  /**
   * keepalived vrrp.c restore_vrrp_state(): an instance with the same name, link and VRID keeps
   * its state and takes the new settings; removed instances stop; new ones start.
   */
  reload(config: VrrpConfig): void {
    const old = new Map(this.instances.map((i) => [identity(i.cfg), i]));
    const next: VrrpInstance[] = [];
    for (const cfg of config.instances) {
      const kept = old.get(identity(cfg));
      if (kept !== undefined) {
        old.delete(identity(cfg));
        kept.reconfigure(cfg);
        next.push(kept);
      } else next.push(new VrrpInstance(cfg, this.host, this.clock, this.events));
    }
    const fresh = next.filter((i) => i.state === 'INIT');
    for (const gone of old.values()) gone.stop();
    const notified = new Map(this.groups.map((g) => [g.cfg.name, g.notified]));
    this.config = config;
    this.index(next);
    for (const g of this.groups) g.notified = notified.get(g.cfg.name) ?? null;
    if (this.started) for (const inst of fresh) this.startInstance(inst);
  }

  status(): VrrpInstanceStatus[] {
    return this.instances.map((i) => ({
      name: i.cfg.name,
      link: i.cfg.link,
      vrid: i.cfg.vrid,
      version: i.cfg.version,
      state: i.state,
      priority: i.priority,
      configuredPriority: i.cfg.priority,
      masterAddress: i.masterAddress,
      advertIntMs: i.cfg.version === 3 && i.state === 'BACKUP' ? i.masterAdverIntMs : i.cfg.advertIntMs,
      advertsSent: i.advertsSent,
      advertsReceived: i.advertsReceived,
      lastTransitionMs: i.lastTransitionMs,
      lastReason: i.lastReason,
      drops: { ...i.drops },
    }));
  }

  private index(instances: VrrpInstance[]): void {
    this.instances = instances;
    this.byLink = new Map();
    for (const inst of instances) {
      inst.linkUp = !this.downLinks.has(inst.cfg.link);
      const m = this.byLink.get(inst.cfg.link) ?? new Map<number, VrrpInstance>();
      m.set(inst.cfg.vrid, inst);
      this.byLink.set(inst.cfg.link, m);
    }
    const byName = new Map(instances.map((i) => [i.cfg.name, i]));
    this.groupOf = new Map();
    this.groups = this.config.syncGroups.map((cfg) => {
      const members = cfg.members.map((n) => byName.get(n)).filter((i): i is VrrpInstance => i !== undefined);
      const g: SyncGroup = { cfg, members, notified: null };
      for (const m of members) this.groupOf.set(m, g);
      return g;
    });
  }

  /** keepalived vrrp_scheduler.c vrrp_init_state(). */
  private startInstance(inst: VrrpInstance): void {
    const g = this.groupOf.get(inst);
    if (g?.members.some((m) => !m.linkUp)) {
      inst.enterFault(`sync group ${g.cfg.name}: a member's link is down`);
      return;
    }
    const c = inst.cfg;
    if (c.initialState === 'MASTER' && c.priority === 255 && inst.linkUp && g === undefined) {
      inst.becomeMaster('initial state MASTER with priority 255');
    } else if (c.initialState === 'MASTER' && g !== undefined) {
      // In a sync group a would-be master waits one interval and the smallest skew only.
      inst.startBackup('startup', c.advertIntMs + 1000 / 256);
    } else {
      inst.startBackup('startup');
    }
  }

  private wantsMaster(inst: VrrpInstance): void {
    if (inst.state !== 'BACKUP') return;
    const g = this.groupOf.get(inst);
    if (g === undefined) {
      inst.becomeMaster('no advert within the master down interval');
      return;
    }
    if (!g.members.every((m) => m.state === 'MASTER' || (m.state === 'BACKUP' && m.wantMaster))) return;
    for (const m of g.members) {
      if (m.state !== 'MASTER') m.becomeMaster(`sync group ${g.cfg.name}: every member wants MASTER`);
    }
  }

  private changed(inst: VrrpInstance, from: VrrpState): void {
    const g = this.groupOf.get(inst);
    if (g === undefined) return;
    if (inst.state === 'BACKUP' && from === 'MASTER') {
      for (const m of g.members) {
        if (m !== inst && m.state === 'MASTER') m.toBackup(`sync group ${g.cfg.name}: ${inst.cfg.name} left MASTER`);
      }
    }
    this.groupNotify(g);
  }

  private fault(inst: VrrpInstance, reason: string): void {
    const g = this.groupOf.get(inst);
    inst.enterFault(reason);
    if (g === undefined) return;
    for (const m of g.members) if (m !== inst) m.enterFault(`sync group ${g.cfg.name}: ${inst.cfg.name} in FAULT`);
  }

  /** All faults cleared: back to BACKUP with a fresh down timer (the whole group at once). */
  private recover(inst: VrrpInstance, reason: string): void {
    const g = this.groupOf.get(inst);
    const members = g === undefined ? [inst] : g.members;
    if (members.some((m) => !m.linkUp)) return;
    for (const m of members) if (m.state === 'FAULT') m.startBackup(reason);
  }

  /** Group notifies once the whole group is in one state (keepalived vrrp_sync.c). */
  private groupNotify(g: SyncGroup): void {
    const s = g.members[0]?.state;
    if (s === undefined || s === 'INIT' || !g.members.every((m) => m.state === s) || g.notified === s) return;
    g.notified = s;
    const c = g.cfg;
    const specific = s === 'MASTER' ? c.notifyMaster : s === 'BACKUP' ? c.notifyBackup : c.notifyFault;
    runNotifies(this.host, specific, c.notify, 'GROUP', c.name, s, 0);
  }
}

function identity(c: VrrpInstanceConfig): string {
  return `${c.name}\0${c.link}\0${c.vrid}`;
}
