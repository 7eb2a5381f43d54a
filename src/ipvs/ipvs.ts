/**
 * The IPVS model of one director: virtual services, destinations, the connection table,
 * persistence templates, timeouts and statistics — what ip_vs_ctl.c, ip_vs_conn.c and the
 * scheduling half of ip_vs_core.c keep, with no knowledge of frames.
 *
 * Two faces, both on numbers only:
 * - per-packet operations (findService, newConnection, tcpState, ...) never throw and never
 *   allocate;
 * - mutators (addService, editDest, ...) take services, dests, int32 addresses and settings that
 *   control/ has already parsed, validated and looked up, as ip_vs_ctl.c does before it touches the
 *   tables. A mutator called against that contract (a duplicate key, a dest of another service) is
 *   a bug and fails an assertion.
 *
 * Not here: request strings, error codes and listings (control/rule-editor.ts, control/listing.ts).
 */
import assert from 'node:assert/strict';
import { IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import { ConnFlag, ConnTable } from './conn-table.js';
import { Dest, Fwd, type FwdMethod } from './dest.js';
import type { Scheduler } from './sched/scheduler.js';
import { FlowKey, Service } from './service.js';
import { Stats } from './stats.js';
import { Dir, TCP_STATE_ACTIVE, TcpState, tcpNextStateByFlags } from './tcp-state.js';
import { NEW_CONN_TIMEOUT_MS, TEMPLATE_REARM_MS, Timeouts } from './timeouts.js';

/**
 * Why a new flow got no connection. NoDestination and PortZeroNotPersistent are the kernel's
 * "ignored = 0" (ip_vs_leave(): ICMP, or the local stack for an FTP service's other ports);
 * NotScheduled is "ignored = 1" (the packet goes on to the director's own stack).
 */
export const NoConn = {
  NoDestination: 1,
  TableFull: 2,
  PortZeroNotPersistent: 3,
  NoLocalAddress: 4,
  NotScheduled: 5,
} as const;

/** FTP control and active-data ports (ip_vs.h FTPPORT, FTPDATA): IPVS special-cases both. */
export const FTP_PORT = 21;
export const FTP_DATA_PORT = 20;
/** ip_vs_ctl.c, ip_vs_service_find(): an FTP service also takes TCP ports 20 and >= PROT_SOCK. */
const PROT_SOCK = 1024;

export interface IpvsOptions {
  /** Maximum concurrent entries (connections + templates). */
  maxConns: number;
}

/** What -A/-E set on a service, already validated. */
export interface ServiceSettings {
  /**
   * The scheduler to bind: a new instance, or the service's own to keep its state (rr position,
   * lblc tables). ip_vs_edit_service() likewise rebinds only when the scheduler differs.
   */
  scheduler: Scheduler;
  /** IP_VS_SVC_F_SCHED* bits; the scheduler was made with the same ones. */
  schedFlags: number;
  persistent: boolean;
  /** Persistence timeout in seconds (meaningful when persistent). */
  timeoutS: number;
  /** Persistence netmask, int32 host order. */
  netmask: number;
  /** One-packet scheduling (UDP). */
  ops: boolean;
  /** Full NAT: PROXY protocol version put in front of each TCP connection's data (0, absent = none). */
  proxyProtocol?: number;
}

/** What -a/-e set on a dest, already validated (lThreshold <= uThreshold; 0 = no threshold). */
export interface DestSettings {
  weight: number;
  uThreshold: number;
  lThreshold: number;
  /** Forwarding method (dest.ts Fwd; absent = MASQ) and, for tunnels, TunType, port and TunFlag bits. */
  fwd?: FwdMethod;
  tunType?: number;
  tunPort?: number;
  tunFlags?: number;
}

export class Ipvs {
  readonly conns: ConnTable;
  readonly timeouts = new Timeouts();
  readonly total = new Stats();
  /** Registration order; listings sort on their own. */
  readonly services: Service[] = [];
  /** Dest registry: connection entries refer to dests by index. Freed slots are null. */
  readonly destsById: Array<Dest | null> = [];
  private readonly freeDestIds: number[] = [];
  /**
   * Deleted dests (IPVS's dest_trash): each with the service it left (a re-add to another service
   * with the same key zeroes its stats) and when it was first seen unreferenced (-1: not yet).
   */
  private readonly trash: TrashEntry[] = [];
  /** When the trash timer next runs (-1: not armed); ip_vs_dest_trash_expire() every 60 s. */
  private trashTimerAtMs = -1;
  /** VIP -> services on it, for the hot path (int32 keys stay small integers in a Map). */
  private readonly byVip = new Map<number, Service[]>();
  private readonly svcById: Array<Service | null> = [];
  /** New flows refused because the table was full. */
  tableFull = 0;
  /**
   * IPVS sysctls (ip_vs_ctl.c), defaults as in the kernel. expire_nodest_conn: drop the entries
   * of a deleted dest at once (and re-schedule their next SYN/packet) instead of dropping their
   * packets until they time out. expire_quiescent_template: a persistence template pointing at a
   * weight-0 dest is no longer honoured.
   */
  expireNodestConn = false;
  expireQuiescentTemplate = false;
  /** Scratch flow handed to schedulers. */
  readonly flow = new FlowKey();

  constructor(opts: IpvsOptions) {
    this.conns = new ConnTable(opts.maxConns);
    this.conns.setExpireHook((id, nowMs) => this.onExpire(id, nowMs));
  }

  // ---------------------------------------------------------------- hot path

  /**
   * ip_vs_ctl.c, ip_vs_service_find() without fwmark: exact <proto, VIP, port>; then, for TCP to
   * port 20 or an unprivileged port, the VIP's FTP service <TCP, VIP, 21> (its data connections);
   * then the port-0 service <proto, VIP, 0>.
   */
  findService(proto: number, vaddr: number, vport: number): Service | null {
    const list = this.byVip.get(vaddr);
    if (list === undefined) return null;
    let zero: Service | null = null;
    let ftp: Service | null = null;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (s.proto !== proto) continue;
      if (s.port === vport) return s;
      if (s.port === 0) zero = s;
      else if (s.port === FTP_PORT) ftp = s;
    }
    if (ftp !== null && proto === IPPROTO_TCP && (vport === FTP_DATA_PORT || vport >= PROT_SOCK)) return ftp;
    return zero;
  }

  /** Every VIP, once (the dataplane's local-address set is rebuilt from it when rules change). */
  vipAddresses(): number[] {
    return [...this.byVip.keys()];
  }

  /**
   * Schedules a new flow (ip_vs_schedule / ip_vs_sched_persist) and creates its connection.
   * Returns the connection id, or a negative NoConn reason. Counts Conns.
   */
  newConnection(
    svc: Service,
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    nowMs: number,
  ): number {
    // ip_vs_core.c, ip_vs_schedule(): active FTP data from a client's port 20 is never scheduled.
    if (cport === FTP_DATA_PORT) return -NoConn.NotScheduled;
    let dest: Dest | null;
    let tmpl = -1;
    if (svc.persistent) {
      const snet = caddr & svc.netmask;
      // Template key (ip_vs_core.c, ip_vs_sched_persist()): the service port when the packet's port
      // is it, else 0 (port-0 services, and an FTP service's data ports); an FTP service keys its
      // control connections with 0 as well, so its data connections find the same template.
      const tport = vport === svc.port && svc.port !== FTP_PORT ? vport : 0;
      tmpl = this.conns.lookupIn(proto, snet, 0, vaddr, tport, true);
      dest = null;
      if (tmpl >= 0) {
        const d = this.destsById[this.conns.destId[tmpl]];
        if (d?.available && !(this.expireQuiescentTemplate && d.weight === 0)) {
          dest = d;
        } else {
          // ip_vs_conn.c, ip_vs_check_template(): the invalid template gets dead ports and can no
          // longer match, keeps its dest and its timer (not restarted), and -c still lists it.
          this.conns.invalidateTemplate(tmpl);
          tmpl = -1;
        }
      }
      if (tmpl < 0) {
        dest = this.pick(svc, proto, caddr, cport, vaddr, vport, nowMs);
        if (dest === null) return -NoConn.NoDestination;
        const tdport = vport === svc.port && svc.port !== FTP_PORT ? dest.port : 0;
        tmpl = this.conns.create(
          proto,
          snet,
          0,
          vaddr,
          tport,
          dest.addr,
          tdport,
          dest.id,
          ConnFlag.TEMPLATE,
          svc.timeoutS * 1000,
          nowMs,
        );
        if (tmpl < 0) {
          this.tableFull++;
          return -NoConn.TableFull;
        }
        this.conns.hash(tmpl);
        dest.bind(true);
      } else {
        this.conns.touch(tmpl, nowMs);
      }
    } else {
      if (vport !== svc.port) return -NoConn.PortZeroNotPersistent;
      dest = this.pick(svc, proto, caddr, cport, vaddr, vport, nowMs);
      if (dest === null) return -NoConn.NoDestination;
    }
    if (dest === null) return -NoConn.NoDestination;
    // ip_vs_sched_persist() / ip_vs_schedule(): the dest's port only for the service's own port;
    // a port-0 (or FTP data) connection keeps the packet's port whatever port the dest has.
    const dport = vport === svc.port && dest.port !== 0 ? dest.port : vport;
    const flags = svc.ops && proto === IPPROTO_UDP ? ConnFlag.ONE_PACKET : 0;
    const id = this.conns.create(
      proto,
      caddr,
      cport,
      vaddr,
      vport,
      dest.addr,
      dport,
      dest.id,
      flags,
      NEW_CONN_TIMEOUT_MS,
      nowMs,
    );
    if (id < 0) {
      this.tableFull++;
      return -NoConn.TableFull;
    }
    // The method is the dest's at creation (ip_vs_bind_dest()): DR and TUN replies bypass us.
    const c = this.conns;
    c.fwd[id] = dest.fwd;
    if (dest.fwd !== Fwd.MASQ && dest.fwd !== Fwd.FULLNAT) c.flags[id] |= ConnFlag.NOOUTPUT;
    if (dest.fwd === Fwd.FULLNAT && !svc.laddrs.allocate(c, id, proto, dest.addr, dport)) {
      c.remove(id); // (a template made for this flow stays, and times out as any other)
      return -NoConn.NoLocalAddress;
    }
    if (flags === 0) c.hash(id);
    dest.bind(false);
    if (tmpl >= 0) {
      this.conns.control[id] = tmpl;
      this.conns.nControlled[tmpl]++;
    }
    dest.stats.conns++;
    svc.stats.conns++;
    this.total.conns++;
    return id;
  }

  private pick(
    svc: Service,
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    nowMs: number,
  ): Dest | null {
    const f = this.flow;
    f.proto = proto;
    f.caddr = caddr;
    f.cport = cport;
    f.vaddr = vaddr;
    f.vport = vport;
    return svc.scheduler.schedule(svc, f, nowMs);
  }

  /** InPkts/InBytes of a client -> real server packet: dest, its service and the total move together. */
  countIn(d: Dest, len: number): void {
    d.stats.countIn(len);
    this.svcOfDest(d)?.stats.countIn(len);
    this.total.countIn(len);
  }

  /**
   * OutPkts/OutBytes of a reply: dest, service and total together, and nothing at all once the
   * dest is no longer available (deleted, in the trash), as ip_vs_core.c, ip_vs_out_stats() counts
   * only under IP_VS_DEST_F_AVAILABLE. The reply itself is still forwarded.
   */
  countOut(d: Dest | null | undefined, len: number): void {
    if (d === null || d === undefined || !d.available) return;
    d.stats.countOut(len);
    this.svcOfDest(d)?.stats.countOut(len);
    this.total.countOut(len);
  }

  /** The destination of a connection if it is still AVAILABLE, else null (packets are dropped). */
  destOf(id: number): Dest | null {
    const d = this.destsById[this.conns.destId[id]];
    return d?.available ? d : null;
  }

  /** The service a dest belongs to, or null once it was deleted (it sits in the trash). */
  svcOfDest(d: Dest): Service | null {
    return d.svcId >= 0 ? (this.svcById[d.svcId] ?? null) : null;
  }

  /**
   * Runs the TCP state machine for one segment (set_tcp_state) and re-arms the timer with the
   * new state's timeout. Moves the conn between the dest's active/inactive gauges on change.
   */
  tcpState(id: number, dir: Dir, tcpFlags: number, nowMs: number): void {
    const c = this.conns;
    if ((c.flags[id] & ConnFlag.NOOUTPUT) !== 0) {
      // DR/TUN: client packets use the INPUT_ONLY rows until a reply is seen (set_tcp_state()).
      if (dir === Dir.OUTPUT) c.flags[id] &= ~ConnFlag.NOOUTPUT;
      else dir = Dir.INPUT_ONLY;
    }
    const old = c.state[id];
    const next = tcpNextStateByFlags(dir, old, tcpFlags);
    if (next !== old) {
      const active = (c.flags[id] & ConnFlag.ACTIVE) !== 0;
      const nowActive = TCP_STATE_ACTIVE[next];
      if (active !== nowActive) {
        const d = this.destsById[c.destId[id]];
        if (d !== null && d !== undefined) d.moveActive(nowActive);
        if (nowActive) c.flags[id] |= ConnFlag.ACTIVE;
        else c.flags[id] &= ~ConnFlag.ACTIVE;
      }
      c.state[id] = next;
      if (next === TcpState.ESTABLISHED) {
        const t = c.control[id];
        if (t >= 0) c.flags[t] |= ConnFlag.ASSURED;
      }
    }
    // Whole milliseconds below 2^32 (RuleEditor.setTimeouts checks the seconds), so the value
    // stored is the value added.
    const timeoutMs = this.timeouts.tcpMs[next];
    c.timeoutMs[id] = timeoutMs;
    c.expiresAt[id] = nowMs + timeoutMs;
  }

  /** UDP has one state; every packet re-arms it. An answer assures the template. */
  udpState(id: number, dir: Dir, nowMs: number): void {
    const c = this.conns;
    c.timeoutMs[id] = this.timeouts.udpMs;
    c.expiresAt[id] = nowMs + this.timeouts.udpMs;
    if (dir === Dir.OUTPUT) {
      const t = c.control[id];
      if (t >= 0) c.flags[t] |= ConnFlag.ASSURED;
    }
  }

  /**
   * Whether a SYN that matched connection `id` expires it and is scheduled afresh, as ip_vs_core.c,
   * ip_vs_in_hook() decides for a new-connection packet (is_new_conn()): never for a connection a
   * template controls (persistence keeps the client); with expire_nodest_conn, whenever the dest
   * has weight 0, whatever the state and whatever conn_reuse_mode says; else, with conn_reuse_mode
   * 1 (tapvs's fixed mode), when the connection is in TIME_WAIT or CLOSE (is_new_conn_expected()).
   * Linux >= 5.16 order ("Fix reuse connection if RS weight is 0"). The kernel expires the old
   * entry only when it controls nothing; a tapvs connection never controls one (no FTP helper).
   */
  synReschedules(id: number): boolean {
    const c = this.conns;
    if (c.control[id] >= 0) return false;
    const d = this.destsById[c.destId[id]];
    if (this.expireNodestConn && d !== null && d !== undefined && d.weight === 0) return true;
    if (c.proto[id] !== IPPROTO_TCP) return false;
    const s = c.state[id];
    return s === TcpState.TIME_WAIT || s === TcpState.CLOSE;
  }

  /** Expires a connection now (conn reuse, one-packet entries). Never call for templates. */
  expireNow(id: number): void {
    this.release(id);
    this.conns.remove(id);
  }

  /** Advances expiry, the trash timer and the schedulers' timers (lblc/lblcr garbage collection). Call every ~100 ms. */
  expire(nowMs: number): void {
    this.conns.expire(nowMs);
    if (this.trash.length > 0) {
      // The kernel arms the timer when the first dest enters an empty trash; mutators have no
      // clock, so the first tick after that arms it (<= 100 ms later).
      if (this.trashTimerAtMs < 0) this.trashTimerAtMs = nowMs + TRASH_TIMER_MS;
      else if (nowMs >= this.trashTimerAtMs) this.expireTrash(nowMs);
    }
    const svcs = this.services;
    for (let i = 0; i < svcs.length; i++) svcs[i].scheduler.tick?.(svcs[i], nowMs);
  }

  private onExpire(id: number, nowMs: number): boolean {
    const c = this.conns;
    if (c.nControlled[id] > 0) {
      // ip_vs_conn_expire: an entry that still controls others lives on for 60 s more.
      c.timeoutMs[id] = TEMPLATE_REARM_MS;
      c.expiresAt[id] = nowMs + TEMPLATE_REARM_MS;
      return false;
    }
    this.release(id);
    return true;
  }

  /** Unbinds an entry from its dest and its controlling template. */
  private release(id: number): void {
    const c = this.conns;
    const d = this.destsById[c.destId[id]];
    if (d !== null && d !== undefined) {
      if (c.fwd[id] === Fwd.FULLNAT && (c.flags[id] & ConnFlag.TEMPLATE) === 0)
        this.svcOfDest(d)?.laddrs.release(c.laddr[id]);
      // A deleted dest left without entries stays in the trash; its timer frees it once idle.
      d.unbind((c.flags[id] & ConnFlag.TEMPLATE) !== 0, (c.flags[id] & ConnFlag.ACTIVE) !== 0);
    }
    const t = c.control[id];
    if (t >= 0) {
      c.nControlled[t]--;
      c.control[id] = -1;
    }
  }

  // ---------------------------------------------------------------- mutators

  /** The service with exactly this key (no port-0 fallback, unlike findService), or null. */
  exactService(proto: number, addr: number, port: number): Service | null {
    for (const s of this.services) if (s.proto === proto && s.addr === addr && s.port === port) return s;
    return null;
  }

  /** ip_vs_ctl.c, ip_vs_add_service(): a new service; none with this key may exist. */
  addService(proto: number, addr: number, port: number, settings: ServiceSettings): Service {
    assert.equal(this.exactService(proto, addr, port), null, 'addService: the service exists');
    const svc = new Service(proto, addr, port, settings.scheduler);
    applyServiceSettings(svc, settings);
    let id = this.svcById.indexOf(null);
    if (id < 0) {
      id = this.svcById.length;
      this.svcById.push(svc);
    } else this.svcById[id] = svc;
    svc.id = id;
    this.services.push(svc);
    const list = this.byVip.get(svc.addr);
    if (list === undefined) this.byVip.set(svc.addr, [svc]);
    else list.push(svc);
    svc.scheduler.destsChanged(svc);
    svc.scheduler.tick?.(svc, Date.now()); // timers start when the scheduler is bound, as in IPVS
    return svc;
  }

  /**
   * ip_vs_ctl.c, ip_vs_edit_service(): every setting is replaced; only a different scheduler is
   * unbound and the new one bound afresh. The same scheduler keeps its state (wrr's position and
   * current weight, rr's cursor), as the kernel touches it only when `sched != old_sched`.
   */
  editService(svc: Service, settings: ServiceSettings): void {
    this.assertLinked(svc);
    const old = svc.scheduler;
    const rebind = settings.scheduler !== old;
    if (rebind) old.done?.(svc);
    svc.scheduler = settings.scheduler;
    applyServiceSettings(svc, settings);
    if (!rebind) return;
    svc.scheduler.destsChanged(svc);
    svc.scheduler.tick?.(svc, Date.now());
  }

  /**
   * ip_vs_ctl.c, ip_vs_del_service(): the service and its dests go; connections stay until they
   * time out, unless expire_nodest_conn flushes them (__ip_vs_del_dest() queues the flush).
   */
  deleteService(svc: Service): void {
    this.assertLinked(svc);
    this.unlinkService(svc);
    if (this.expireNodestConn) this.flushNodest();
  }

  /** ip_vs_ctl.c, ip_vs_flush() (-C): every service goes; connections as for deleteService. */
  clear(): void {
    while (this.services.length > 0) this.unlinkService(this.services[this.services.length - 1]);
    if (this.expireNodestConn) this.flushNodest();
  }

  /**
   * ip_vs_ctl.c, ip_vs_add_dest(): a dest at the head of the service's list, as IPVS inserts. A
   * deleted dest of a service with the same key <proto, VIP, port> and the same address and port
   * that still sits in the trash is revived (ip_vs_trash_get_dest()): its connections, gauges and
   * statistics come back; the statistics are zeroed when the service is another object than the
   * one it left (a service deleted and added again), as __ip_vs_update_dest() does. The service
   * may not have the dest yet.
   */
  addDest(svc: Service, addr: number, port: number, settings: DestSettings): Dest {
    this.assertLinked(svc);
    assert.equal(svc.findDest(addr, port), undefined, 'addDest: the dest exists');
    let d: Dest | undefined;
    for (let i = 0; i < this.trash.length; i++) {
      const t = this.trash[i];
      if (
        t.dest.addr === (addr | 0) &&
        t.dest.port === port &&
        t.svc.proto === svc.proto &&
        t.svc.addr === svc.addr &&
        t.svc.port === svc.port
      ) {
        d = t.dest;
        if (t.svc !== svc) d.stats.zero();
        this.trash.splice(i, 1);
        break;
      }
    }
    if (d !== undefined) {
      // __ip_vs_update_dest(): a revived dest's overload is lifted like an edit's.
      if (settings.uThreshold === 0 || settings.uThreshold > d.uThreshold) d.overloaded = false;
    } else {
      d = new Dest(addr, port);
      let id = this.freeDestIds.pop();
      if (id === undefined) {
        id = this.destsById.length;
        this.destsById.push(d);
      } else this.destsById[id] = d;
      d.id = id;
    }
    d.available = true;
    d.svcId = svc.id;
    applyDestSettings(d, settings);
    svc.dests.unshift(d);
    svc.scheduler.destsChanged(svc);
    return d;
  }

  /** ip_vs_ctl.c, ip_vs_edit_dest(): new weight and thresholds; a raised upper threshold lifts the overload. */
  editDest(svc: Service, d: Dest, settings: DestSettings): void {
    this.assertDestOf(svc, d);
    const oldU = d.uThreshold;
    applyDestSettings(d, settings);
    if (d.uThreshold === 0 || d.uThreshold > oldU) d.overloaded = false;
    svc.scheduler.destsChanged(svc);
  }

  /**
   * ip_vs_ctl.c, ip_vs_del_dest(): the dest leaves the service; while connections still use it, it
   * waits in the trash (their packets are dropped), unless expire_nodest_conn removes them now.
   */
  deleteDest(svc: Service, d: Dest): void {
    this.assertDestOf(svc, d);
    svc.dests.splice(svc.dests.indexOf(d), 1);
    this.unlinkDest(d, svc);
    svc.scheduler.destsChanged(svc);
    if (this.expireNodestConn) this.flushNodest();
  }

  /** ip_vs_ctl.c, ip_vs_zero_service(): the counters of a service and its dests. */
  zeroService(svc: Service): void {
    svc.stats.zero();
    for (const d of svc.dests) d.stats.zero();
  }

  /** ip_vs_ctl.c, ip_vs_zero_all(): every service's counters and the total. */
  zeroAll(): void {
    for (const s of this.services) this.zeroService(s);
    this.total.zero();
  }

  /** DPVS's --add-laddr: a full NAT local address for `svc` (not yet in its list). */
  addLaddr(svc: Service, addr: number, link: string): void {
    this.assertLinked(svc);
    assert.equal(svc.laddrs.indexOf(addr), -1, 'addLaddr: the address exists');
    svc.laddrs.add(addr, link);
  }

  /** DPVS's --del-laddr: new connections no longer use it; existing ones keep it until they end. */
  deleteLaddr(svc: Service, addr: number): void {
    this.assertLinked(svc);
    const i = svc.laddrs.indexOf(addr);
    assert.notEqual(i, -1, 'deleteLaddr: no such address');
    svc.laddrs.remove(i);
  }

  /** Every service's local addresses (the director answers for them). */
  laddrAddresses(): number[] {
    const out: number[] = [];
    for (const s of this.services) out.push(...s.laddrs.addrs);
    return out;
  }

  /** Runs the 2-second estimator on every stats object. */
  estimate(): void {
    this.total.estimate();
    for (const s of this.services) {
      s.stats.estimate();
      for (const d of s.dests) d.stats.estimate();
    }
  }

  // ---------------------------------------------------------------- helpers

  /**
   * ip_vs_conn.c, ip_vs_expire_nodest_conn_flush(), run after a dest is deleted with
   * expire_nodest_conn on: every entry whose dest is no longer available and that controls
   * nothing goes, templates included, and so does its controlling template once that controls
   * nothing more. (The kernel runs it as delayed work, a jiffy later; tapvs at once.)
   */
  private flushNodest(): void {
    const c = this.conns;
    const victims: number[] = [];
    c.forEach((id) => {
      const d = this.destsById[c.destId[id]];
      if (d !== null && d !== undefined && !d.available) victims.push(id);
    });
    const gone = new Set<number>();
    for (const id of victims) {
      if (gone.has(id) || c.nControlled[id] !== 0) continue;
      const t = c.control[id];
      this.removeEntry(id);
      gone.add(id);
      if (t >= 0 && !gone.has(t) && c.nControlled[t] === 0) {
        this.removeEntry(t);
        gone.add(t);
      }
    }
  }

  /** Removes a connection or template now: unbinds it from its dest and template, frees it. */
  private removeEntry(id: number): void {
    this.release(id);
    this.conns.remove(id);
  }

  private unlinkService(svc: Service): void {
    for (const d of svc.dests) this.unlinkDest(d, svc);
    svc.dests = [];
    svc.scheduler.done?.(svc);
    this.services.splice(this.services.indexOf(svc), 1);
    const list = this.byVip.get(svc.addr);
    if (list !== undefined) {
      list.splice(list.indexOf(svc), 1);
      if (list.length === 0) this.byVip.delete(svc.addr);
    }
    this.svcById[svc.id] = null;
  }

  /**
   * ip_vs_ctl.c, __ip_vs_unlink_dest() + __ip_vs_del_dest(): the dest loses AVAILABLE and goes to
   * the trash whether or not entries still use it (ip_vs_trash_put_dest(): "dest lives in trash
   * with reference"). The kernel's trash has no size limit; tapvs keeps at most TRASH_IDLE_MAX
   * unreferenced dests there and frees the oldest beyond that, so churn cannot grow memory
   * (referenced ones are bounded by the connection table).
   */
  private unlinkDest(d: Dest, svc: Service): void {
    d.available = false;
    d.svcId = -1;
    this.trash.push({ dest: d, svc, idleSinceMs: -1 });
    let idle = 0;
    for (let i = 0; i < this.trash.length; i++) if (this.trash[i].dest.refs === 0) idle++;
    for (let i = 0; idle > TRASH_IDLE_MAX && i < this.trash.length; ) {
      if (this.trash[i].dest.refs === 0) {
        this.freeDest(this.trash[i].dest);
        idle--;
      } else i++;
    }
  }

  /**
   * ip_vs_ctl.c, ip_vs_dest_trash_expire(), every 60 s while the trash is not empty: a dest still
   * referenced is skipped; an unreferenced one is stamped idle at the first run that sees it so,
   * and freed at the first run at least 120 s (IP_VS_DEST_TRASH_PERIOD) after that.
   */
  private expireTrash(nowMs: number): void {
    for (let i = 0; i < this.trash.length; ) {
      const t = this.trash[i];
      if (t.dest.refs > 0) {
        i++;
        continue;
      }
      if (t.idleSinceMs < 0) {
        t.idleSinceMs = nowMs;
        i++;
        continue;
      }
      if (nowMs < t.idleSinceMs + TRASH_PERIOD_MS) {
        i++;
        continue;
      }
      this.freeDest(t.dest); // splices entry i out
    }
    this.trashTimerAtMs = this.trash.length > 0 ? nowMs + TRASH_TIMER_MS : -1;
  }

  /** Deleted dests waiting in the trash (listings never show them; tests and metrics may). */
  get trashSize(): number {
    return this.trash.length;
  }

  private freeDest(d: Dest): void {
    for (let i = 0; i < this.trash.length; i++) {
      if (this.trash[i].dest === d) {
        this.trash.splice(i, 1);
        break;
      }
    }
    if (d.id >= 0 && this.destsById[d.id] === d) {
      this.destsById[d.id] = null;
      this.freeDestIds.push(d.id);
    }
    d.id = -1;
  }

  private assertLinked(svc: Service): void {
    assert.ok(svc.id >= 0 && this.svcById[svc.id] === svc, 'not a service of this director');
  }

  private assertDestOf(svc: Service, d: Dest): void {
    this.assertLinked(svc);
    assert.ok(d.svcId === svc.id && svc.dests.includes(d), 'not a dest of this service');
  }
}

/** A deleted dest in the trash: the service it left, and since when nothing references it. */
interface TrashEntry {
  readonly dest: Dest;
  readonly svc: Service;
  idleSinceMs: number;
}

/** ip_vs_ctl.c: IP_VS_DEST_TRASH_PERIOD (120 s) of idleness frees a dest; the timer runs every half of it. */
const TRASH_PERIOD_MS = 120_000;
const TRASH_TIMER_MS = TRASH_PERIOD_MS / 2;
/** tapvs's bound on unreferenced dests kept for revival (the kernel has none). */
export const TRASH_IDLE_MAX = 1024;

function applyServiceSettings(svc: Service, s: ServiceSettings): void {
  svc.schedFlags = s.schedFlags;
  svc.persistent = s.persistent;
  svc.timeoutS = s.timeoutS;
  svc.netmask = s.netmask | 0;
  svc.ops = s.ops;
  svc.proxyProtocol = s.proxyProtocol ?? 0;
}

function applyDestSettings(d: Dest, s: DestSettings): void {
  d.weight = s.weight;
  if (s.weight !== 0) d.lastWeight = s.weight;
  d.uThreshold = s.uThreshold;
  d.lThreshold = s.lThreshold;
  d.fwd = s.fwd ?? Fwd.MASQ;
  d.tunType = s.tunType ?? 0;
  d.tunPort = s.tunPort ?? 0;
  d.tunFlags = s.tunFlags ?? 0;
}
