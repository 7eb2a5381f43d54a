/**
 * Two directors as one: VRRP decides which one holds the virtual addresses (the VIP outside, the
 * DIP the real servers route through), and the IPVS sync daemons copy the master's connections to
 * the backup, so an established connection finds its entry after a failover. Both are configured
 * in keepalived.conf (vrrp_instance, vrrp_sync_group, global_defs lvs_sync_daemon); the sync
 * daemons also by tapvsadm --start-daemon.
 *
 * keepalived drives the sync daemon with the instance named in lvs_sync_daemon (ipvswrapper.c,
 * ipvs_syncd_master()/ipvs_syncd_backup()): the backup daemon runs from the start; when the
 * instance becomes master its backup daemon stops and a master starts, and back again when it
 * leaves mastership. Without an instance both run for the daemon's whole life.
 *
 * Off the packet path: the dataplane queues VRRP adverts and sync messages (ControlInbox) and
 * tells us once per batch; they are read in a later event-loop turn.
 */
import type { HaMetrics, HaMetricsSource } from '../control/metrics.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Clock } from '../health/clock.js';
import { createScriptRunner } from '../health/notify-script.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { log } from '../log.js';
import { readI32 } from '../packet/bytes.js';
import { csumFinish, onesSum, pseudoHeaderSum } from '../packet/checksum.js';
import { formatIpv4, IPPROTO_UDP } from '../packet/ipv4.js';
import type { LvsSyncDaemonConfig, VrrpConfig, VrrpInstanceConfig } from '../vrrp/vrrp-config.js';
import { VrrpEngine } from '../vrrp/vrrp-engine.js';
import type { VrrpState } from '../vrrp/vrrp-host.js';
import { SyncOnDataplane } from './sync-on-dataplane.js';
import { VrrpOnDataplane } from './vrrp-on-dataplane.js';

/** VRRP's group (RFC 5798 §5.1.1.2) and IP protocol number. */
const VRRP_GROUP = 0xe0000012 | 0;
const IPPROTO_VRRP = 112;

/** One VRRP instance as `tapvsd status` shows it. */
export interface VrrpInstanceView {
  name: string;
  link: string;
  vrid: number;
  version: number;
  state: VrrpState;
  priority: number;
  masterAddress: string | null;
  [more: string]: unknown;
}

export class DirectorHa implements HaMetricsSource {
  readonly sync: SyncOnDataplane;
  private config: VrrpConfig;
  private engine: VrrpEngine | null = null;
  private readonly host: VrrpOnDataplane;
  private drainScheduled = false;
  /** Queued UDP datagrams dropped for a bad length or checksum (as a socket would never see them). */
  private badUdp = 0;
  /** VRRP subscriptions made (link indexes). */
  private vrrpLinks = new Set<number>();

  constructor(
    private readonly dp: Dataplane,
    ipvs: Ipvs,
    config: VrrpConfig,
    private readonly clock: Clock,
    /** How the control inbox is read later than the batch that filled it (tests: at once). */
    private readonly opts: { defer: (fn: () => void) => void } = { defer: setImmediate },
  ) {
    this.config = config;
    this.sync = new SyncOnDataplane(dp, ipvs, clock);
    this.host = new VrrpOnDataplane(dp, createScriptRunner(log), (inst, from, to) => this.stateChanged(inst, from, to));
    dp.onControlPackets = () => this.scheduleDrain();
  }

  /**
   * Before any rule is applied or address announced: every virtual address starts as the peer's
   * (keepalived's instances start in BACKUP or INIT, without their addresses).
   */
  prepare(): void {
    for (const inst of this.config.instances) this.host.setVirtualAddresses(inst, false);
    this.subscribeVrrp();
  }

  /** Starts the VRRP instances and the sync daemons keepalived.conf asks for. */
  start(): void {
    if (this.config.instances.length > 0) {
      this.engine = new VrrpEngine(this.config, this.host, this.clock);
      this.engine.start();
    }
    const lsd = this.config.lvsSyncDaemon;
    if (lsd !== null) {
      this.startSync(lsd, 'backup');
      if (lsd.instance === null) this.startSync(lsd, 'master');
    }
  }

  /**
   * SIGHUP with a new keepalived.conf: the engine keeps the state of unchanged instances (same
   * name, link and VRID), stops removed ones (their addresses are forgotten) and starts new ones
   * (their addresses standby until they win). lvs_sync_daemon changes wait for a restart.
   */
  reload(next: VrrpConfig): void {
    const before = this.config;
    for (const inst of next.instances)
      if (!before.instances.some((i) => i.name === inst.name)) this.host.setVirtualAddresses(inst, false);
    this.config = next;
    this.subscribeVrrp();
    if (this.engine !== null) this.engine.reload(next);
    else if (next.instances.length > 0) {
      this.engine = new VrrpEngine(next, this.host, this.clock);
      this.engine.start();
    }
    for (const inst of before.instances) if (!next.instances.some((i) => i.name === inst.name)) this.host.forget(inst);
    if (JSON.stringify(before.lvsSyncDaemon) !== JSON.stringify(next.lvsSyncDaemon))
      log('warn', 'lvs_sync_daemon changed: restart tapvsd to apply it (the sync daemons run as they are)');
  }

  /** SIGTERM: masters hand over at once (priority-0 adverts), addresses are released, sync stops. */
  stop(): void {
    try {
      this.engine?.stop();
    } finally {
      this.sync.stopAll();
    }
  }

  /** A link failed: its instances go to FAULT. */
  linkFailed(link: string): void {
    this.engine?.setLinkState(link, false);
  }

  status(): { vrrp?: VrrpInstanceView[]; sync: unknown } {
    const out: { vrrp?: VrrpInstanceView[]; sync: unknown } = {
      sync: { ...this.sync.daemons.status(), badDatagrams: this.badUdp },
    };
    if (this.engine !== null) {
      out.vrrp = this.engine.status().map((s) => ({
        ...s,
        masterAddress: s.masterAddress === 0 ? null : formatIpv4(s.masterAddress),
      }));
    }
    return out;
  }

  /** The Prometheus series (src/control/metrics.ts). */
  haMetrics(): HaMetrics {
    const st = this.sync.daemons.status();
    const sync: Array<HaMetrics['sync'][0]> = [];
    if (st.master !== null)
      sync.push({
        role: 'master',
        messages: st.master.messages,
        bytes: st.master.bytes,
        entries: st.master.entries,
        dropped: st.master.dropped,
      });
    if (st.backup !== null) {
      const b = st.backup;
      const dropped = Object.values(b.dropped).reduce((x, y) => x + y, 0);
      sync.push({ role: 'backup', messages: b.messages, bytes: b.bytes, entries: b.installed + b.updated, dropped });
    }
    return {
      vrrp: (this.engine?.status() ?? []).map((v) => ({
        instance: v.name,
        link: v.link,
        vrid: v.vrid,
        state: v.state,
        priority: v.priority,
        advertsSent: v.advertsSent,
        advertsReceived: v.advertsReceived,
      })),
      sync,
    };
  }

  private stateChanged(inst: VrrpInstanceConfig, from: VrrpState, to: VrrpState): void {
    const lsd = this.config.lvsSyncDaemon;
    if (lsd === null || lsd.instance !== inst.name) return;
    try {
      if (to === 'MASTER') {
        this.stopSync('backup');
        this.startSync(lsd, 'master');
      } else if (from === 'MASTER') {
        this.stopSync('master');
        this.startSync(lsd, 'backup');
      }
    } catch (e) {
      log('error', 'sync daemon switch failed', { instance: inst.name, to, error: (e as Error).message });
    }
  }

  private startSync(lsd: LvsSyncDaemonConfig, role: 'master' | 'backup'): void {
    if (this.sync.list().some((d) => d.role === role)) return;
    this.sync.start({
      role,
      mcastInterface: lsd.link,
      syncid: lsd.syncid,
      maxlen: lsd.maxlen,
      group: lsd.group,
      port: lsd.port,
      ttl: lsd.ttl,
    });
  }

  private stopSync(role: 'master' | 'backup'): void {
    if (this.sync.list().some((d) => d.role === role)) this.sync.stop(role);
  }

  private subscribeVrrp(): void {
    const want = new Set<number>();
    for (const inst of this.config.instances) {
      const i = this.host.linkIndex(inst.link);
      if (i >= 0) want.add(i);
    }
    for (const i of this.vrrpLinks) if (!want.has(i)) this.dp.inbox.unsubscribe(i, VRRP_GROUP, IPPROTO_VRRP, 0);
    for (const i of want) this.dp.inbox.subscribe(i, VRRP_GROUP, IPPROTO_VRRP, 0);
    this.vrrpLinks = want;
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    this.opts.defer(() => {
      this.drainScheduled = false;
      try {
        this.dp.drainControl((link, buf, off, len, nowMs) => this.read(link, buf, off, len, nowMs));
      } catch (e) {
        log('error', 'control packet handling failed', { error: (e as Error).stack ?? String(e) });
      }
    });
  }

  /** One queued packet (an IPv4 datagram, header checked by the dataplane). */
  private read(link: number, buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const proto = buf[off + 9];
    if (proto === IPPROTO_VRRP) {
      this.engine?.receive(this.dp.ports[link].name, buf, off, len);
      return;
    }
    if (proto !== IPPROTO_UDP) return;
    const u = off + ((buf[off] & 0x0f) << 2);
    if (u + 8 > off + len) {
      this.badUdp++;
      return;
    }
    const udpLen = (buf[u + 4] << 8) | buf[u + 5];
    if (udpLen < 8 || u + udpLen > off + len) {
      this.badUdp++;
      return;
    }
    const src = readI32(buf, off + 12),
      dst = readI32(buf, off + 16);
    const csum = (buf[u + 6] << 8) | buf[u + 7];
    if (csum !== 0 && csumFinish(onesSum(buf, u, u + udpLen, pseudoHeaderSum(src, dst, IPPROTO_UDP, udpLen))) !== 0) {
      this.badUdp++;
      return;
    }
    const dport = (buf[u + 2] << 8) | buf[u + 3];
    this.sync.deliver(link, dst, dport, buf, u + 8, udpLen - 8, nowMs);
  }
}
