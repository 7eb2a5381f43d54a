/**
 * The VRRP part of a keepalived.conf as tapvs acts on it (vrrp_instance, vrrp_sync_group,
 * global_defs lvs_sync_daemon), with keepalived's defaults already applied by the reader
 * (src/keepalived/vrrp-instance.ts): the engine (vrrp-engine.ts) never re-applies defaults.
 * Addresses are int32 in host order, times milliseconds, script commands argv arrays.
 */

/** One `virtual_ipaddress` line. */
export interface VrrpAddress {
  addr: number;
  /** 32 when not given. */
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
  /** `interface`: a tapvsd --link NAME. */
  link: string;
  vrid: number;
  priority: number;
  advertIntMs: number;
  /** v2 `auth_type PASS` password, else null. */
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
  v3ChecksumAsV2: boolean;
  downTimerAdverts: number;
  lowerPrioNoAdvert: boolean;
  higherPrioSendAdvert: boolean;
  /** Advert source; 0 = the link's primary address. */
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

/** global_defs `lvs_sync_daemon IF [INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group A]`. */
export interface LvsSyncDaemonConfig {
  link: string;
  instance: string | null;
  /** Default: the instance's vrid, or 0 without an instance. */
  syncid: number;
  /** 0: the sync daemon's default (the same for port, ttl and group). */
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
