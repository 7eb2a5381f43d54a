/**
 * The connection sync daemons (src/sync) attached to the dataplane: a master sends its messages as
 * UDP from its link's primary address (an ephemeral source port, as the kernel's send socket binds
 * port 0: ip_vs_sync.c, make_send_sock()), a backup's link joins the group for the port (the
 * kernel's make_receive_sock()), and the running master's per-packet hook is installed in the
 * dataplane. tapvsadm's --start-daemon/--stop-daemon and keepalived's lvs_sync_daemon both come
 * through here.
 */
import type {
  SyncDaemonControl,
  SyncDaemonInfo,
  SyncDaemonSettings,
  SyncRole,
} from '../control/sync-daemon-control.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Clock } from '../health/clock.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { log } from '../log.js';
import { formatIpv4, IPPROTO_UDP } from '../packet/ipv4.js';
import { SyncDaemons } from '../sync/sync-daemons.js';

export class SyncOnDataplane implements SyncDaemonControl {
  readonly daemons: SyncDaemons;
  private readonly linkNames: string[];

  constructor(
    private readonly dp: Dataplane,
    ipvs: Ipvs,
    clock: Clock,
  ) {
    this.linkNames = dp.ports.map((p) => p.name);
    this.daemons = new SyncDaemons(
      ipvs,
      dp.ports.map((p) => ({ name: p.name, mtu: p.mtu })),
      (link, group, port, ttl) => this.transport(link, group, port, ttl),
      clock,
    );
  }

  start(s: SyncDaemonSettings): void {
    this.daemons.start(s);
    const info = this.daemons.list().find((d) => d.role === s.role);
    if (s.role === 'master') this.dp.setSyncMaster(this.daemons.master);
    else if (info !== undefined)
      this.dp.inbox.subscribe(this.linkIndex(info.mcastInterface), info.group, IPPROTO_UDP, info.port);
    if (info !== undefined) log('info', `${s.role} sync daemon started`, describe(info));
  }

  stop(role: SyncRole): void {
    const info = this.daemons.list().find((d) => d.role === role);
    this.daemons.stop(role);
    if (role === 'master') this.dp.setSyncMaster(null);
    else if (info !== undefined)
      this.dp.inbox.unsubscribe(this.linkIndex(info.mcastInterface), info.group, IPPROTO_UDP, info.port);
    if (info !== undefined) log('info', `${role} sync daemon stopped`, describe(info));
  }

  list(): SyncDaemonInfo[] {
    return this.daemons.list();
  }

  /** Both roles stop (shutdown). */
  stopAll(): void {
    for (const d of this.daemons.list()) this.stop(d.role);
  }

  /** A UDP datagram to one of our groups: the backup decides whether it is for it. */
  deliver(link: number, dst: number, dport: number, buf: Uint8Array, off: number, len: number, nowMs: number): void {
    this.daemons.deliver(this.linkNames[link], dst, dport, buf, off, len, nowMs);
  }

  private linkIndex(name: string): number {
    return this.linkNames.indexOf(name);
  }

  private transport(
    link: string,
    group: number,
    port: number,
    ttl: number,
  ): { send(payload: Uint8Array, len: number): void } {
    const i = this.linkIndex(link);
    const srcPort = 32768 + Math.floor(Math.random() * 28232);
    return {
      send: (payload, len) => {
        const src = this.dp.baseAddressesOf(i)[0]?.addr ?? 0;
        this.dp.sendMulticastUdp(i, src, srcPort, group, port, ttl, payload, len);
      },
    };
  }
}

function describe(d: SyncDaemonInfo): Record<string, string | number> {
  return {
    mcast: d.mcastInterface,
    syncid: d.syncid,
    maxlen: d.maxlen,
    group: formatIpv4(d.group),
    port: d.port,
    ttl: d.ttl,
  };
}
