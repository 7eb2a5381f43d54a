/** A VrrpInstanceConfig with keepalived's defaults (vrrp_data.c alloc_vrrp()), for tests. */
import type { VrrpInstanceConfig } from '../../src/vrrp/vrrp-config.js';

export function instanceConfig(over: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig {
  return {
    name: 'VI_1',
    file: 'keepalived.conf',
    line: 1,
    version: 2,
    initialState: 'BACKUP',
    link: 'ext',
    vrid: 51,
    priority: 100,
    advertIntMs: 1000,
    authPass: null,
    preempt: true,
    preemptDelayMs: 0,
    virtualAddresses: [],
    garpMasterDelayMs: 5000,
    garpMasterRepeat: 5,
    garpMasterRefreshMs: 0,
    garpMasterRefreshRepeat: 1,
    notifyMaster: null,
    notifyBackup: null,
    notifyFault: null,
    notifyStop: null,
    notify: null,
    v3ChecksumAsV2: false,
    downTimerAdverts: 3,
    lowerPrioNoAdvert: false,
    higherPrioSendAdvert: false,
    mcastSrcIp: 0,
    ...over,
  };
}
