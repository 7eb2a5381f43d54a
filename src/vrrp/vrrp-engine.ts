/**
 * Every VRRP instance of the director, the adverts that arrive for them, and the sync groups that
 * move instances together (keepalived vrrp_sync.c: a group becomes master only when every member
 * wants to, vrrp_sync_can_goto_master(); one member leaving mastership or failing takes the
 * others along, vrrp_sync_backup()/vrrp_sync_fault()).
 *
 * Adverts are matched to an instance by (link, VRID), as keepalived's per-interface socket does;
 * one for no instance of ours is counted and ignored. Nothing here throws on packet content.
 */
import type { Clock } from '../health/clock.js';
import { Advert, parseAdvert, peekVrid } from './advert.js';
import type { VrrpConfig, VrrpSyncGroupConfig } from './vrrp-config.js';
import type { VrrpHost, VrrpState } from './vrrp-host.js';
import { type GroupDecisions, VrrpInstance, type VrrpInstanceStatus } from './vrrp-instance.js';

export type { VrrpInstanceStatus } from './vrrp-instance.js';

export class VrrpEngine implements GroupDecisions {
  /** Adverts for a VRID no instance of ours uses on that link. */
  unknownVrid = 0;
  private instances: VrrpInstance[] = [];
  private groups: VrrpSyncGroupConfig[] = [];
  private readonly advert = new Advert();
  private readonly linksDown = new Set<string>();

  constructor(
    config: VrrpConfig,
    private readonly host: VrrpHost,
    private readonly clock: Clock,
  ) {
    this.configure(config);
  }

  start(): void {
    for (const i of this.instances) this.startInstance(i);
  }

  /** An IPv4 packet with protocol 112 received on `link` (the buffer is reused after return). */
  receive(link: string, packet: Uint8Array, off: number, len: number): void {
    const vrid = peekVrid(packet, off, len);
    const inst = this.instances.find((i) => i.cfg.link === link && i.cfg.vrid === vrid);
    if (inst === undefined) {
      this.unknownVrid++;
      return;
    }
    const drop = parseAdvert(packet, off, len, inst.spec, this.advert);
    if (drop !== null) {
      inst.countDrop(drop);
      return;
    }
    if (this.advert.src === inst.source) return; // our own advert looped back: not a peer
    inst.onAdvert(this.advert.src, this.advert.priority, this.advert.intervalMs);
  }

  /** The link went down (FAULT for its instances and their groups) or came back (BACKUP). */
  setLinkState(link: string, up: boolean): void {
    if (up) this.linksDown.delete(link);
    else this.linksDown.add(link);
    for (const i of this.instances) {
      if (i.cfg.link !== link) continue;
      if (!up) {
        for (const m of this.membersOf(i)) m.enterFault(`link ${link} down`);
      } else if (i.state === 'FAULT' && !this.groupHasFault(i)) {
        for (const m of this.membersOf(i)) if (m.state === 'FAULT') m.enterBackup(`link ${link} up`);
      }
    }
  }

  /** SIGTERM: masters resign (priority 0), addresses are released, notify_stop runs. */
  stop(): void {
    for (const i of this.instances) i.stop();
  }

  /**
   * A new configuration: an instance with the same name, link and VRID keeps its state and
   * counters (keepalived vrrp.c restore_vrrp_state()); removed instances stop as at shutdown;
   * new ones start.
   */
  reload(config: VrrpConfig): void {
    const old = this.instances;
    this.configure(config);
    for (const i of this.instances) {
      const prev = old.find((o) => o.cfg.name === i.cfg.name && o.cfg.link === i.cfg.link && o.cfg.vrid === i.cfg.vrid);
      if (prev === undefined) {
        this.startInstance(i);
        continue;
      }
      i.adopt(prev);
      const was = prev.state;
      prev.quiet();
      if (was === 'MASTER') i.resumeMaster();
      else if (was === 'FAULT') i.enterFault('fault kept across reload');
      else i.enterBackup('reloaded');
    }
    for (const o of old) if (!this.instances.some((i) => i.cfg.name === o.cfg.name)) o.stop();
  }

  status(): VrrpInstanceStatus[] {
    return this.instances.map((i) => i.status());
  }

  // ---------------------------------------------------------------- sync groups

  wantsMaster(i: VrrpInstance): void {
    const members = this.membersOf(i);
    if (members.some((m) => m.state === 'FAULT')) return;
    if (!members.every((m) => m === i || m.wantMaster || m.state === 'MASTER')) return;
    for (const m of members) m.becomeMaster(members.length > 1 ? 'master down (sync group ready)' : 'master down');
  }

  leftMaster(i: VrrpInstance, to: VrrpState, reason: string): void {
    for (const m of this.membersOf(i)) {
      if (m === i) continue;
      if (to === 'BACKUP' && m.state === 'MASTER') m.enterBackup(`sync group: ${i.cfg.name} ${reason}`);
    }
  }

  private startInstance(i: VrrpInstance): void {
    if (this.linksDown.has(i.cfg.link)) i.enterFault(`link ${i.cfg.link} down`);
    else i.start();
  }

  private configure(config: VrrpConfig): void {
    this.groups = config.syncGroups;
    this.instances = config.instances.map((c) => new VrrpInstance(c, this.host, this.clock, this));
  }

  /** The instance and the other members of its sync group. */
  private membersOf(i: VrrpInstance): VrrpInstance[] {
    const g = this.groups.find((x) => x.members.includes(i.cfg.name));
    if (g === undefined) return [i];
    return this.instances.filter((x) => g.members.includes(x.cfg.name));
  }

  private groupHasFault(i: VrrpInstance): boolean {
    return this.membersOf(i).some((m) => this.linksDown.has(m.cfg.link));
  }
}
