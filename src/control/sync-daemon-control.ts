/**
 * The sync daemons as the control plane sees them (ipvsadm --start-daemon, --stop-daemon,
 * -L --daemon; keepalived's lvs_sync_daemon). The daemon side is src/sync/sync-daemons.ts; errors
 * are TapvsErrors whose codes tapvsadm maps to ipvsadm's words (EEXIST "Daemon has already run",
 * ESRCH "No daemon is running", ENODEV "No such device").
 */
export type SyncRole = 'master' | 'backup';

export interface SyncDaemonSettings {
  role: SyncRole;
  /** ipvsadm's --mcast-interface: a tapvsd link name. */
  mcastInterface: string;
  /** 0..255. */
  syncid: number;
  /** 0: the kernel's default for the role. */
  maxlen: number;
  /** int32 IPv4 multicast group; 0: 224.0.0.81. */
  group: number;
  /** 0: 8848. */
  port: number;
  /** 0: 1. */
  ttl: number;
}

/** A running daemon with its effective settings (defaults filled in, as the kernel reports them). */
export type SyncDaemonInfo = SyncDaemonSettings;

export interface SyncDaemonControl {
  start(s: SyncDaemonSettings): void;
  stop(role: SyncRole): void;
  /** Master first, then backup. */
  list(): SyncDaemonInfo[];
}
