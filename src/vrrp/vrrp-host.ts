/**
 * What the VRRP engine needs from the director around it, and nothing more: send a packet, hold
 * or release the virtual addresses, announce them, run notify scripts, hear of transitions. The
 * daemon implements it on the dataplane (src/ha/vrrp-on-dataplane.ts); tests with fakes.
 */
import type { VrrpInstanceConfig } from './vrrp-config.js';

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';

export interface VrrpHost {
  /** The link's primary IPv4 address (the adverts' source), 0 when it has none. */
  primaryAddress(link: string): number;
  /** Sends the IPv4 packet buf[0, len) (header included, to 224.0.0.18) on `link`; copied before returning. */
  sendIp(link: string, buf: Uint8Array, len: number): void;
  /** The instance's virtual addresses become owned (master) or are left to the peer. Synchronous. */
  setVirtualAddresses(instance: VrrpInstanceConfig, owned: boolean): void;
  /** One gratuitous ARP for `addr` on `link`. */
  gratuitousArp(link: string, addr: number): void;
  /** Runs a notify script, not awaited (the host bounds its time and logs its output). */
  runScript(argv: readonly string[], what: string): void;
  /** Every transition of an instance, after its addresses and announcements. */
  stateChanged(instance: VrrpInstanceConfig, from: VrrpState, to: VrrpState, reason: string): void;
}
