/**
 * The backup sync daemon: the master's entries installed into this director's table as
 * ip_vs_sync.c ip_vs_proc_conn() installs them, so that after a takeover the next packet of a
 * connection finds its entry (both indexes), its real server, its state and its timeout.
 *
 * - An entry is looked up by its client -> VIP key (templates among templates). If a connection
 *   exists with another real server, a live update replaces it, and an INACTIVE one is the late
 *   expiry notice of the replaced connection and is ignored. Otherwise (and for a template whatever
 *   its real server) its state, its active/inactive accounting, its packet count and its timeout
 *   are updated.
 * - A new entry needs its service (protocol, VIP, port; then port 0) and its real server in it.
 *   The kernel then keeps an unbound entry and retries binding on later updates; tapvs skips it
 *   (counted `no_dest`): the next update after the rules match installs it.
 * - Counters as ip_vs_bind_dest(): InActConn, or ActiveConn without INACTIVE, PersistConn for
 *   templates. The inbound packet count starts at sync_threshold; the timeout is the message's
 *   (re-armed from now on every update), else the state's own.
 */
import { ConnFlag } from '../ipvs/conn-table.js';
import { type Dest, Fwd } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { type EntrySink, readMessage, SyncEntry, WireFlag } from './sync-message.js';

/** Persistence templates whose message carries no timeout (v0): the kernel's 180 s. */
const TEMPLATE_DEFAULT_TIMEOUT_MS = 180_000;
/** The longest timeout a table entry holds (ConnTable.timeoutMs is a Uint32Array): about 49.7 days. */
const MAX_TIMEOUT_MS = 0xffffffff;
const IPPROTO_TCP = 6;

export interface SyncBackupCounters {
  messages: number;
  bytes: number;
  installed: number;
  updated: number;
  /** Messages (or their rests) dropped, and entries skipped, by reason. */
  dropped: Record<string, number>;
  lastMessageMs: number;
}

export class SyncBackup implements EntrySink {
  messages = 0;
  bytes = 0;
  installed = 0;
  updated = 0;
  lastMessageMs = 0;
  readonly dropped: Record<string, number> = {};
  private readonly e = new SyncEntry();
  private now = 0;

  constructor(
    private readonly ipvs: Ipvs,
    private readonly opts: { syncid: number; threshold: number },
  ) {}

  /** One UDP payload from the master (the buffer is reused after the call). */
  receive(b: Uint8Array, off: number, len: number, nowMs: number): void {
    this.now = nowMs;
    this.messages++;
    this.bytes += len;
    this.lastMessageMs = nowMs;
    const drop = readMessage(b, off, len, this.opts.syncid, this, this.e);
    if (drop !== null) this.count(drop);
  }

  counters(): SyncBackupCounters {
    return {
      messages: this.messages,
      bytes: this.bytes,
      installed: this.installed,
      updated: this.updated,
      dropped: { ...this.dropped },
      lastMessageMs: this.lastMessageMs,
    };
  }

  skip(reason: string): void {
    this.count(reason);
  }

  /** ip_vs_proc_conn(). */
  entry(e: SyncEntry): void {
    const ipvs = this.ipvs,
      c = ipvs.conns;
    const template = (e.flags & WireFlag.TEMPLATE) !== 0;
    const inactive = (e.flags & WireFlag.INACTIVE) !== 0;
    let id = c.lookupIn(e.protocol, e.caddr, e.cport, e.vaddr, e.vport, template);
    // Only connections are checked for another real server; a template is updated where it is.
    if (id >= 0 && !template && (c.daddr[id] !== e.daddr || c.dport[id] !== e.dport)) {
      if (inactive) {
        this.count('late_expiry_notice');
        return;
      }
      ipvs.expireNow(id);
      id = -1;
    }
    if (id >= 0) {
      this.update(id, e, template, inactive);
      return;
    }
    const dest = this.findDest(e);
    if (dest === null) {
      this.count('no_dest');
      return;
    }
    // A full NAT dest needs a local address and port the wire does not carry: nothing to install.
    if (dest.fwd === Fwd.FULLNAT && !template) {
      this.count('fullnat_dest');
      return;
    }
    const flags = (template ? ConnFlag.TEMPLATE : 0) | ConnFlag.SYNCED;
    id = c.create(
      e.protocol,
      e.caddr,
      e.cport,
      e.vaddr,
      e.vport,
      e.daddr,
      e.dport,
      dest.id,
      flags,
      this.timeoutMs(e, template),
      this.now,
    );
    if (id < 0) {
      ipvs.tableFull++;
      this.count('table_full');
      return;
    }
    // A synced connection takes its dest's method, not the wire's (ip_vs_bind_dest()).
    c.fwd[id] = dest.fwd;
    if (!template && dest.fwd !== Fwd.MASQ && dest.fwd !== Fwd.FULLNAT) c.flags[id] |= ConnFlag.NOOUTPUT;
    c.hash(id);
    dest.bind(template);
    if (template) {
      if (e.state === 1) c.flags[id] |= ConnFlag.ASSURED;
    } else {
      c.state[id] = e.state;
      if (!inactive) {
        dest.moveActive(true);
        c.flags[id] |= ConnFlag.ACTIVE;
      }
    }
    c.syncedState[id] = template ? 0 : e.state;
    c.pkts[id] = this.opts.threshold;
    this.installed++;
  }

  private update(id: number, e: SyncEntry, template: boolean, inactive: boolean): void {
    const ipvs = this.ipvs,
      c = ipvs.conns;
    const dest = ipvs.destsById[c.destId[id]];
    if (template) {
      if (e.state === 1) c.flags[id] |= ConnFlag.ASSURED;
      else c.flags[id] &= ~ConnFlag.ASSURED;
    } else {
      const active = (c.flags[id] & ConnFlag.ACTIVE) !== 0;
      if (active === inactive && dest !== null && dest !== undefined) {
        dest.moveActive(!inactive);
        if (inactive) c.flags[id] &= ~ConnFlag.ACTIVE;
        else c.flags[id] |= ConnFlag.ACTIVE;
      }
      c.state[id] = e.state;
      c.syncedState[id] = e.state;
    }
    c.flags[id] |= ConnFlag.SYNCED;
    c.pkts[id] = this.opts.threshold;
    c.timeoutMs[id] = this.timeoutMs(e, template);
    c.touch(id, this.now);
    this.updated++;
  }

  /**
   * ip_vs_find_dest(): the service by (protocol, VIP, port), the real server in it by its address
   * and the message's port, else port 0 (a port-0 service's real servers).
   */
  private findDest(e: SyncEntry): Dest | null {
    const svc = this.ipvs.findService(e.protocol, e.vaddr, e.vport);
    if (svc === null) return null;
    let anyPort: Dest | null = null;
    for (const d of svc.dests) {
      if (d.addr !== e.daddr) continue;
      if (d.port === e.dport) return d;
      if (d.port === 0) anyPort = d;
    }
    return anyPort;
  }

  private timeoutMs(e: SyncEntry, template: boolean): number {
    // The wire's u32 seconds can exceed what the table's u32 milliseconds hold: clamp, or the
    // stored timeout wraps while the expiry does not. (ip_vs_proc_conn() clamps at
    // MAX_SCHEDULE_TIMEOUT / HZ, which a 64-bit kernel never reaches.)
    if (e.timeoutS > 0) return Math.min(e.timeoutS * 1000, MAX_TIMEOUT_MS);
    if (template) return TEMPLATE_DEFAULT_TIMEOUT_MS;
    const t = this.ipvs.timeouts;
    return e.protocol === IPPROTO_TCP ? t.tcpMs[e.state] : t.udpMs;
  }

  private count(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }
}
