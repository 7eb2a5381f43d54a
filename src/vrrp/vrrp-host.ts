/**
 * What the VRRP engine needs from the director: the engine decides, the host acts. Every call is
 * synchronous and cheap (scripts are started, not awaited), so the engine's state is consistent
 * when a call returns. src/ha/vrrp-on-dataplane.ts is the real host; tests wire engines together
 * through a fake one.
 */
import type { VrrpInstanceConfig } from './vrrp-config.js';

/** RFC 5798 §6.4 states, as keepalived names them (vrrp.h VRRP_STATE_*). */
export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';

export interface VrrpHost {
  /** The link's primary IPv4 address (advert source), 0 when it has none. */
  primaryAddress(link: string): number;
  /** Sends the IPv4 packet buf[0, len) (header included, to 224.0.0.18); the host copies it. */
  sendIp(link: string, buf: Uint8Array, len: number): void;
  /** Takes (owned) or gives up the instance's virtual addresses, before returning. */
  setVirtualAddresses(instance: VrrpInstanceConfig, owned: boolean): void;
  gratuitousArp(link: string, addr: number): void;
  /** Starts a notify script; not awaited. */
  runScript(argv: readonly string[], what: string): void;
  /** Called after the addresses and the first gratuitous ARPs of a transition. */
  stateChanged(instance: VrrpInstanceConfig, from: VrrpState, to: VrrpState, reason: string): void;
}
