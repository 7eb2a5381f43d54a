/**
 * The master and backup sync daemons of one director, started and stopped as ipvsadm and
 * keepalived do with the kernel's (ip_vs_sync.c start_sync_thread(), stop_sync_thread()): each
 * role at most once, with its own interface, syncid, maxlen, group, port and TTL, defaults as
 * the kernel fills them in (group 224.0.0.81, port 8848, TTL 1; maxlen 1500 - 28 for a master,
 * the link's MTU - 28 (at least 1500 - 28) for a backup).
 *
 * The master's flush runs on a 20 ms timer only while a master runs; the backup is fed by the
 * daemon with the UDP payloads the dataplane queued for its group and port.
 */
import type {
  SyncDaemonControl,
  SyncDaemonInfo,
  SyncDaemonSettings,
  SyncRole,
} from '../control/sync-daemon-control.js';
import { TapvsError } from '../errors.js';
import type { Clock, TimerHandle } from '../health/clock.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { SyncBackup, type SyncBackupCounters } from './sync-backup.js';
import { SyncMaster, type SyncMasterCounters, type SyncTransport } from './sync-master.js';

export const SYNC_DEFAULT_GROUP = 0xe0000051 | 0;
export const SYNC_DEFAULT_PORT = 8848;
const IPV4_UDP_HEADERS = 28;
const SEND_DELAY_MS = 20;
/** sync_threshold, sync_period defaults (net.ipv4.vs.sync_threshold = "3 50"). */
export const SYNC_THRESHOLD = 3;
export const SYNC_PERIOD = 50;

export type TransportFactory = (link: string, group: number, port: number, ttl: number) => SyncTransport;

export interface SyncStatus {
  master: (SyncDaemonInfo & SyncMasterCounters) | null;
  backup: (SyncDaemonInfo & SyncBackupCounters) | null;
}

export class SyncDaemons implements SyncDaemonControl {
  master: SyncMaster | null = null;
  private backup: SyncBackup | null = null;
  private masterInfo: SyncDaemonInfo | null = null;
  private backupInfo: SyncDaemonInfo | null = null;
  private timer: TimerHandle | null = null;

  constructor(
    private readonly ipvs: Ipvs,
    /** Link names with their MTU (a backup's default maxlen follows it). */
    private readonly links: ReadonlyArray<{ name: string; mtu: number }>,
    private readonly transport: TransportFactory,
    private readonly clock: Clock,
    private readonly tuning: { threshold: number; period: number } = { threshold: SYNC_THRESHOLD, period: SYNC_PERIOD },
  ) {}

  start(s: SyncDaemonSettings): void {
    if ((s.role === 'master' ? this.master : this.backup) !== null)
      throw new TapvsError('DAEMON_EXISTS', 'Daemon has already run');
    const link = this.links.find((l) => l.name === s.mcastInterface);
    if (link === undefined) throw new TapvsError('NO_DEVICE', 'No such device');
    const info = this.effective(s, link.mtu);
    if (s.role === 'master') {
      this.master = new SyncMaster(
        this.ipvs,
        { syncid: info.syncid, maxlen: info.maxlen, threshold: this.tuning.threshold, period: this.tuning.period },
        this.transport(info.mcastInterface, info.group, info.port, info.ttl),
      );
      this.masterInfo = info;
      this.schedule();
    } else {
      this.backup = new SyncBackup(this.ipvs, { syncid: info.syncid, threshold: this.tuning.threshold });
      this.backupInfo = info;
    }
  }

  stop(role: SyncRole): void {
    if (role === 'master') {
      if (this.master === null) throw new TapvsError('DAEMON_NOT_RUNNING', 'No daemon is running');
      this.master.stop();
      this.master = null;
      this.masterInfo = null;
      if (this.timer !== null) this.clock.clearTimer(this.timer);
      this.timer = null;
    } else {
      if (this.backup === null) throw new TapvsError('DAEMON_NOT_RUNNING', 'No daemon is running');
      this.backup = null;
      this.backupInfo = null;
    }
  }

  list(): SyncDaemonInfo[] {
    const out: SyncDaemonInfo[] = [];
    if (this.masterInfo !== null) out.push({ ...this.masterInfo });
    if (this.backupInfo !== null) out.push({ ...this.backupInfo });
    return out;
  }

  /** A UDP payload to `dstAddr:dstPort` received on `link`: the backup's if it listens there. */
  deliver(
    link: string,
    dstAddr: number,
    dstPort: number,
    b: Uint8Array,
    off: number,
    len: number,
    nowMs: number,
  ): void {
    const i = this.backupInfo;
    if (this.backup === null || i === null) return;
    if (i.mcastInterface !== link || i.group !== dstAddr || i.port !== dstPort) return;
    // The kernel reads into a buffer of the backup's maxlen: a longer message is cut and dropped.
    if (len > i.maxlen) {
      this.backup.skip('longer_than_maxlen');
      return;
    }
    this.backup.receive(b, off, len, nowMs);
  }

  status(): SyncStatus {
    return {
      master:
        this.master !== null && this.masterInfo !== null ? { ...this.masterInfo, ...this.master.counters() } : null,
      backup:
        this.backup !== null && this.backupInfo !== null ? { ...this.backupInfo, ...this.backup.counters() } : null,
    };
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      if (this.master === null) return;
      this.master.flush(this.clock.now());
      this.schedule();
    }, SEND_DELAY_MS);
  }

  /** The settings with the kernel's defaults, and its range checks (start_sync_thread()). */
  private effective(s: SyncDaemonSettings, mtu: number): SyncDaemonInfo {
    const check = (ok: boolean, what: string): void => {
      if (!ok) throw new TapvsError('BAD_ARGUMENT', what);
    };
    check(Number.isInteger(s.syncid) && s.syncid >= 0 && s.syncid <= 255, 'syncid must be 0..255');
    check(
      Number.isInteger(s.maxlen) && s.maxlen >= 0 && s.maxlen <= 65535 - IPV4_UDP_HEADERS,
      'sync-maxlen out of range',
    );
    check(Number.isInteger(s.port) && s.port >= 0 && s.port <= 65535, 'mcast-port out of range');
    check(Number.isInteger(s.ttl) && s.ttl >= 0 && s.ttl <= 255, 'mcast-ttl out of range');
    const group = s.group === 0 ? SYNC_DEFAULT_GROUP : s.group | 0;
    check(group >>> 28 === 0xe, 'mcast-group must be an IPv4 multicast address');
    let maxlen: number;
    if (s.maxlen === 0) maxlen = s.role === 'master' ? 1500 - IPV4_UDP_HEADERS : Math.max(mtu, 1500) - IPV4_UDP_HEADERS;
    else maxlen = Math.max(s.maxlen, s.role === 'master' ? 1 : 1024);
    // One entry must always fit.
    maxlen = Math.max(maxlen, 8 + 36);
    return {
      role: s.role,
      mcastInterface: s.mcastInterface,
      syncid: s.syncid,
      maxlen,
      group,
      port: s.port === 0 ? SYNC_DEFAULT_PORT : s.port,
      ttl: s.ttl === 0 ? 1 : s.ttl,
    };
  }
}
