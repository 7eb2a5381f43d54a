/**
 * A VRRP configuration as tapvsd runs it, read from keepalived.conf's vrrp_instance,
 * vrrp_sync_group and global_defs blocks (src/keepalived/vrrp.ts) with keepalived's defaults
 * filled in: numbers only, addresses as int32, times in milliseconds, links by tapvsd's
 * `--link name=` (keepalived's `interface`).
 */

export interface VrrpAddress {
  /** int32, host order. */
  addr: number;
  /** 32 when the line gives no prefix (keepalived adds a host address). */
  prefixLen: number;
  /** `dev X`, else the instance's interface. */
  link: string;
}

export interface VrrpInstanceConfig {
  name: string;
  file: string;
  line: number;
  version: 2 | 3;
  initialState: 'MASTER' | 'BACKUP';
  /** keepalived's `interface`: a tapvsd link name. */
  link: string;
  vrid: number;
  /** 1..255; 255 is the address owner. */
  priority: number;
  /** v2: whole seconds; v3: centiseconds (RFC 5798 §5.2.7). */
  advertIntMs: number;
  /** v2 `auth_type PASS`: the first 8 bytes of auth_pass; null without authentication. */
  authPass: string | null;
  preempt: boolean;
  preemptDelayMs: number;
  virtualAddresses: VrrpAddress[];
  garpMasterDelayMs: number;
  garpMasterRepeat: number;
  garpMasterRefreshMs: number;
  garpMasterRefreshRepeat: number;
  notifyMaster: string[] | null;
  notifyBackup: string[] | null;
  notifyFault: string[] | null;
  notifyStop: string[] | null;
  notify: string[] | null;
  /** v3 over IPv4: checksum without the pseudo-header (keepalived's v3_checksum_as_v2). */
  v3ChecksumAsV2: boolean;
  /** Adverts missed before the master is declared down (keepalived's down_timer_adverts, default 3). */
  downTimerAdverts: number;
  lowerPrioNoAdvert: boolean;
  higherPrioSendAdvert: boolean;
  /** mcast_src_ip; 0 = the link's primary address. */
  mcastSrcIp: number;
}

export interface VrrpSyncGroupConfig {
  name: string;
  file: string;
  line: number;
  members: string[];
  notifyMaster: string[] | null;
  notifyBackup: string[] | null;
  notifyFault: string[] | null;
  notifyStop: string[] | null;
  notify: string[] | null;
}

/** global_defs lvs_sync_daemon: which link carries connection sync, driven by which instance. */
export interface LvsSyncDaemonConfig {
  link: string;
  /** The instance whose mastership makes this director the sync master; null: both roles always. */
  instance: string | null;
  /** Default: the instance's vrid, or 0 without an instance. */
  syncid: number;
  /** 0: the kernel's defaults (maxlen from the MTU, port 8848, ttl 1, group 224.0.0.81). */
  maxlen: number;
  port: number;
  ttl: number;
  group: number;
  file: string;
  line: number;
}

export interface VrrpConfig {
  instances: VrrpInstanceConfig[];
  syncGroups: VrrpSyncGroupConfig[];
  lvsSyncDaemon: LvsSyncDaemonConfig | null;
}
