/**
 * A rules table as wanted (by a keepalived.conf under the health checks, or by a rules file on
 * reload): services with their settings and dests, in the order they are added. rules-diff.ts
 * turns it into the fewest commands against the running table.
 */
import type { SourceRef } from '../keepalived/lvs-config.js';
import { formatIpv4, parseIpv4 } from '../packet/ipv4.js';
import type { DestConfig, DestKey, LaddrKey, ServiceConfig, ServiceKey } from './protocol.js';

export interface DesiredDest {
  readonly dest: DestKey;
  readonly config: DestConfig;
  /** The real_server block it comes from, when it has one (for error messages). */
  readonly at?: SourceRef;
}

export interface DesiredService {
  readonly service: ServiceKey;
  readonly config: ServiceConfig;
  /** In configuration order (the order keepalived adds them). */
  readonly dests: readonly DesiredDest[];
  /** Full NAT local addresses (a rules file's -P lines); absent = none wanted. */
  readonly laddrs?: readonly LaddrKey[];
  /** The virtual_server block it comes from (for error messages). */
  readonly at: SourceRef;
}

/** "tcp 192.168.222.131:80": how services are named in maps and messages. */
export function serviceId(s: ServiceKey): string {
  return `${s.proto} ${s.addr}:${s.port}`;
}

/** "192.168.2.129:80" */
export function destId(d: DestKey): string {
  return `${d.addr}:${d.port}`;
}

/** A dotted quad as listings write it (the control plane rejects what does not parse). */
export function canonicalAddr(addr: string): string {
  const a = parseIpv4(addr);
  return a === null ? addr : formatIpv4(a);
}
