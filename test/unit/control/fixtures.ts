/** Shared builders for the control tests: protocol values and a fixed name database. */

import { nameDbFromText } from '../../../src/control/names.js';
import type { DestInfo, ListResult, ServiceConfig, ServiceInfo, ServiceKey } from '../../../src/control/protocol.js';
import type { StatsSnapshot } from '../../../src/ipvs/stats.js';

export const NAMES = nameDbFromText(
  [
    '127.0.0.1 localhost',
    '192.168.222.131 lvs1 lvs1.example',
    '10.0.0.2 rs1',
    '10.0.0.99 a-very-long-real-server-host-name.example.org',
    '# a comment line',
    '::1 ip6-localhost',
  ].join('\n'),
  [
    'http 80/tcp www # WorldWideWeb',
    'http 80/udp',
    'domain 53/tcp',
    'domain 53/udp',
    'https 443/tcp',
    'http-alt 8080/tcp webcache',
  ].join('\n'),
);

export function stats(p: Partial<StatsSnapshot> = {}): StatsSnapshot {
  return {
    conns: 0,
    inPkts: 0,
    outPkts: 0,
    inBytes: 0,
    outBytes: 0,
    cps: 0,
    inpps: 0,
    outpps: 0,
    inbps: 0,
    outbps: 0,
    ...p,
  };
}

export function dest(addr: string, port: number, p: Partial<DestInfo> = {}): DestInfo {
  return {
    addr,
    port,
    fwd: 'masq',
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    activeConns: 0,
    inactConns: 0,
    persistConns: 0,
    stats: stats(),
    ...p,
  };
}

export function svc(
  proto: 'tcp' | 'udp',
  addr: string,
  port: number,
  config: Partial<ServiceConfig> = {},
  dests: DestInfo[] = [],
  st: StatsSnapshot = stats(),
): ServiceInfo {
  const service: ServiceKey = { proto, addr, port };
  return {
    service,
    config: { scheduler: 'wlc', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false, ...config },
    stats: st,
    dests,
    laddrs: [],
  };
}

export function list(services: ServiceInfo[], connTableSize = 4096): ListResult {
  return { connTableSize, conns: 0, services, total: stats() };
}
