/**
 * The VRRP engine's view of the director (its VrrpHost): adverts leave through the dataplane's
 * multicast output on the instance's link, virtual addresses are held or left to the peer by
 * `Dataplane.setVirtualAddresses`, gratuitous ARP goes out at once, notify scripts run through the
 * health checks' script runner (asynchronous, with a timeout, output logged). Nothing here runs on
 * the packet path: the engine calls it from its timers and from the control inbox's drain.
 */
import type { Dataplane } from '../dataplane/dataplane.js';
import type { ScriptRunner } from '../health/notify-script.js';
import { log } from '../log.js';
import { formatIpv4 } from '../packet/ipv4.js';
import type { VrrpInstanceConfig } from '../vrrp/vrrp-config.js';
import type { VrrpHost, VrrpState } from '../vrrp/vrrp-host.js';

/** keepalived gives notify scripts no time limit for master/backup/fault; tapvs bounds them. */
const NOTIFY_TIMEOUT_MS = 10_000;

export type StateListener = (instance: VrrpInstanceConfig, from: VrrpState, to: VrrpState, reason: string) => void;

export class VrrpOnDataplane implements VrrpHost {
  constructor(
    private readonly dp: Dataplane,
    private readonly runScript_: ScriptRunner,
    private readonly onState: StateListener,
  ) {}

  /** The link's index, or -1 (config validation makes sure every instance's link exists). */
  linkIndex(link: string): number {
    return this.dp.ports.findIndex((p) => p.name === link);
  }

  primaryAddress(link: string): number {
    const i = this.linkIndex(link);
    return i < 0 ? 0 : (this.dp.baseAddressesOf(i)[0]?.addr ?? 0);
  }

  sendIp(link: string, buf: Uint8Array, len: number): void {
    const i = this.linkIndex(link);
    if (i >= 0) this.dp.sendMulticastIp(i, buf, 0, len);
  }

  setVirtualAddresses(instance: VrrpInstanceConfig, owned: boolean): void {
    for (const [link, addrs] of byLink(instance)) {
      const i = this.linkIndex(link);
      if (i >= 0) this.dp.setVirtualAddresses(keyOf(instance.name, link), i, addrs, owned);
    }
  }

  gratuitousArp(link: string, addr: number): void {
    const i = this.linkIndex(link);
    if (i >= 0) this.dp.gratuitousArp(i, addr);
  }

  runScript(argv: readonly string[], what: string): void {
    void this.runScript_(argv, what, NOTIFY_TIMEOUT_MS);
  }

  stateChanged(instance: VrrpInstanceConfig, from: VrrpState, to: VrrpState, reason: string): void {
    log(to === 'FAULT' ? 'warn' : 'info', `VRRP ${instance.name} entering ${to} state`, {
      from,
      reason,
      link: instance.link,
      vrid: instance.vrid,
      addresses: instance.virtualAddresses.map((a) => `${formatIpv4(a.addr)}/${a.prefixLen}`).join(','),
    });
    this.onState(instance, from, to, reason);
  }

  /** Forgets the virtual addresses of an instance a reload removed. */
  forget(instance: VrrpInstanceConfig): void {
    for (const link of byLink(instance).keys()) this.dp.dropVirtualAddresses(keyOf(instance.name, link));
  }
}

function keyOf(instance: string, link: string): string {
  return `${instance}@${link}`;
}

/** An instance's virtual addresses grouped by the link they go on (`dev X`, else the instance's). */
function byLink(instance: VrrpInstanceConfig): Map<string, Array<{ addr: number; prefixLen: number }>> {
  const m = new Map<string, Array<{ addr: number; prefixLen: number }>>();
  for (const a of instance.virtualAddresses) {
    const list = m.get(a.link) ?? [];
    list.push({ addr: a.addr, prefixLen: a.prefixLen });
    m.set(a.link, list);
  }
  return m;
}
