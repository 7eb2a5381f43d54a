/**
 * The IPVS model of one director: virtual services, destinations, the connection table,
 * persistence templates, timeouts and statistics — everything that ip_vs_ctl.c, ip_vs_conn.c
 * and the scheduling half of ip_vs_core.c keep, with no knowledge of frames.
 *
 * Two faces:
 * - control operations (addService, editDest, ...) validate their input and throw TapvsError
 *   with a stable code; a failed operation changes nothing;
 * - per-packet operations (findService, newConnection, tcpState, ...) take numbers only,
 *   never throw and never allocate.
 *
 * Behaviour follows reference/ipvs-semantics.md: §3 (states and gauges), §4.0 (dest order),
 * §5.3-5.8 (lookup, scheduling, persistence, removal), §7 (counters).
 */
import { TapvsError } from '../errors.js';
import { parseAddress } from '../addr.js';
import { formatIpv4 } from '../packet/ipv4.js';
import type {
  ConnInfo, DestConfig, DestKey, ListResult, ServiceConfig, ServiceInfo, ServiceKey, Timeouts as TimeoutsMsg,
} from '../control/protocol.js';
import { ConnFlag, ConnTable } from './conn-table.js';
import { Dest } from './dest.js';
import { createScheduler, schedFlagsFromWords, schedFlagWords } from './sched/registry.js';
import { FlowKey, IPPROTO_TCP, IPPROTO_UDP, Service } from './service.js';
import { Stats } from './stats.js';
import { Dir, FlagClass, TCP_STATE_ACTIVE, TCP_STATE_NAMES, TcpState, flagClass, tcpNextState } from './tcp-state.js';
import { MAX_TIMEOUT_S, NEW_CONN_TIMEOUT_MS, TEMPLATE_REARM_MS, Timeouts } from './timeouts.js';

export const MAX_WEIGHT = 65535;
export const MAX_THRESHOLD = 2147483647;

/** Why a new flow got no connection (index into the director's counters). */
export const NoConn = { NoDestination: 1, TableFull: 2, PortZeroNotPersistent: 3 } as const;

export interface IpvsOptions {
  /** Maximum concurrent entries (connections + templates). */
  maxConns: number;
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
  /** Deleted dests that connections still reference (IPVS's trash). */
  private readonly trash: Dest[] = [];
  /** VIP -> services on it, for the hot path (int32 keys stay small integers in a Map). */
  private readonly byVip = new Map<number, Service[]>();
  /** Changes whenever the set of VIPs does (the dataplane caches its "local address" set). */
  vipGeneration = 0;
  private readonly svcById: Array<Service | null> = [];
  /** New flows refused because the table was full. */
  tableFull = 0;
  /**
   * IPVS sysctl equivalents (reference §10), defaults as in the kernel. expire_nodest_conn: drop
   * the entries of a deleted dest at once (and re-schedule their next SYN/packet) instead of
   * dropping their packets until they time out. expire_quiescent_template: a persistence
   * template pointing at a weight-0 dest is no longer honoured.
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

  /** ip_vs_service_find without fwmark: exact <proto, VIP, port>, then <proto, VIP, 0>. */
  findService(proto: number, vaddr: number, vport: number): Service | null {
    const list = this.byVip.get(vaddr);
    if (list === undefined) return null;
    let zero: Service | null = null;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (s.proto !== proto) continue;
      if (s.port === vport) return s;
      if (s.port === 0) zero = s;
    }
    return zero;
  }

  /** True when some service uses this address as its VIP. */
  isVip(addr: number): boolean { return this.byVip.has(addr); }
  /** Every VIP, once (the dataplane rebuilds its local-address set from it on a new vipGeneration). */
  vipAddresses(): number[] { return [...this.byVip.keys()]; }

  /**
   * Schedules a new flow (ip_vs_schedule / ip_vs_sched_persist) and creates its connection.
   * Returns the connection id, or a negative NoConn reason. Counts Conns.
   */
  newConnection(svc: Service, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    nowMs: number): number {
    let dest: Dest | null;
    let tmpl = -1;
    if (svc.persistent) {
      const snet = caddr & svc.netmask;
      // Template key (reference §5.6): port-0 services use vport 0, others the service port.
      const tport = vport === svc.port ? vport : 0;
      tmpl = this.conns.lookupIn(proto, snet, 0, vaddr, tport, true);
      dest = null;
      if (tmpl >= 0) {
        const d = this.destsById[this.conns.destId[tmpl]];
        if (d !== null && d !== undefined && d.available && !(this.expireQuiescentTemplate && d.weight === 0)) {
          dest = d;
        } else {
          // Invalid template: unhash it so it no longer matches; it dies on its timer.
          this.conns.unhash(tmpl);
          tmpl = -1;
        }
      }
      if (tmpl < 0) {
        dest = this.pick(svc, proto, caddr, cport, vaddr, vport, nowMs);
        if (dest === null) return -NoConn.NoDestination;
        const tdport = vport === svc.port ? dest.port : 0;
        tmpl = this.conns.create(proto, snet, 0, vaddr, tport, dest.addr, tdport, dest.id,
          ConnFlag.TEMPLATE, svc.timeoutS * 1000, nowMs);
        if (tmpl < 0) { this.tableFull++; return -NoConn.TableFull; }
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
    const dport = dest.port !== 0 ? dest.port : vport;
    const flags = svc.ops && proto === IPPROTO_UDP ? ConnFlag.ONE_PACKET : 0;
    const id = this.conns.create(proto, caddr, cport, vaddr, vport, dest.addr, dport, dest.id, flags,
      NEW_CONN_TIMEOUT_MS, nowMs);
    if (id < 0) { this.tableFull++; return -NoConn.TableFull; }
    if (flags === 0) this.conns.hash(id);
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

  private pick(svc: Service, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    nowMs: number): Dest | null {
    const f = this.flow;
    f.proto = proto;
    f.caddr = caddr;
    f.cport = cport;
    f.vaddr = vaddr;
    f.vport = vport;
    return svc.scheduler.schedule(svc, f, nowMs);
  }

  /** InPkts/InBytes of a client -> real server packet: dest, its service and the total move together (§7). */
  countIn(d: Dest, len: number): void {
    d.stats.inPkts++;
    d.stats.inBytes += len;
    const svc = this.svcOfDest(d);
    if (svc !== null) { svc.stats.inPkts++; svc.stats.inBytes += len; }
    this.total.inPkts++;
    this.total.inBytes += len;
  }

  /** OutPkts/OutBytes of a reply; a deleted dest's share goes to the total only. */
  countOut(d: Dest | null | undefined, len: number): void {
    if (d !== null && d !== undefined) {
      d.stats.outPkts++;
      d.stats.outBytes += len;
      const svc = this.svcOfDest(d);
      if (svc !== null) { svc.stats.outPkts++; svc.stats.outBytes += len; }
    }
    this.total.outPkts++;
    this.total.outBytes += len;
  }

  /** The destination of a connection if it is still AVAILABLE, else null (packets are dropped). */
  destOf(id: number): Dest | null {
    const d = this.destsById[this.conns.destId[id]];
    return d !== null && d !== undefined && d.available ? d : null;
  }

  /** The service a dest belongs to, or null once it was deleted (it sits in the trash). */
  svcOfDest(d: Dest): Service | null {
    return d.svcId >= 0 ? this.svcById[d.svcId] ?? null : null;
  }

  /**
   * Runs the TCP state machine for one segment (set_tcp_state) and re-arms the timer with the
   * new state's timeout. Moves the conn between the dest's active/inactive gauges on change.
   */
  tcpState(id: number, dir: Dir, tcpFlags: number, nowMs: number): void {
    const c = this.conns;
    const cls = flagClass(tcpFlags);
    const old = c.state[id];
    const next = tcpNextState(dir, old, cls);
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
    c.timeoutMs[id] = this.timeouts.tcpMs[next];
    c.expiresAt[id] = nowMs + c.timeoutMs[id];
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

  /** True if a SYN for this entry should replace it (conn_reuse_mode 1, reference §5.3). */
  reusable(id: number): boolean {
    const c = this.conns;
    if (c.proto[id] !== IPPROTO_TCP || c.control[id] >= 0) return false;
    const s = c.state[id];
    return s === TcpState.TIME_WAIT || s === TcpState.CLOSE;
  }

  /** Expires a connection now (conn reuse, one-packet entries). Never call for templates. */
  expireNow(id: number): void {
    this.release(id);
    this.conns.remove(id);
  }

  /** Advances expiry and the schedulers' timers (lblc/lblcr garbage collection). Call every ~100 ms. */
  expire(nowMs: number): void {
    this.conns.expire(nowMs);
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
      d.unbind((c.flags[id] & ConnFlag.TEMPLATE) !== 0, (c.flags[id] & ConnFlag.ACTIVE) !== 0);
      if (!d.available && d.refs === 0) this.freeDest(d);
    }
    const t = c.control[id];
    if (t >= 0) {
      c.nControlled[t]--;
      c.control[id] = -1;
    }
  }

  // ---------------------------------------------------------------- control plane

  addService(key: ServiceKey, cfg: ServiceConfig): void {
    const { proto, addr, port } = this.parseServiceKey(key);
    if (this.exactService(proto, addr, port) !== null) {
      throw new TapvsError('SERVICE_EXISTS', 'Service already exists');
    }
    const v = this.validateServiceConfig(cfg);
    const svc = new Service(proto, addr, port, createScheduler(cfg.scheduler, { flags: v.schedFlags }));
    this.applyServiceConfig(svc, v);
    let id = this.svcById.indexOf(null);
    if (id < 0) { id = this.svcById.length; this.svcById.push(svc); } else this.svcById[id] = svc;
    svc.id = id;
    this.services.push(svc);
    const list = this.byVip.get(addr);
    if (list === undefined) { this.byVip.set(addr, [svc]); this.vipGeneration++; }
    else list.push(svc);
    svc.scheduler.destsChanged(svc);
    svc.scheduler.tick?.(svc, Date.now()); // timers start when the scheduler is bound, as in IPVS
  }

  editService(key: ServiceKey, cfg: ServiceConfig): void {
    const svc = this.requireService(key, 'No such service');
    const v = this.validateServiceConfig(cfg);
    // Same scheduler: keep its state (rr position, lblc tables); else a fresh one (§1.10).
    if (svc.scheduler.name !== cfg.scheduler || svc.schedFlags !== v.schedFlags) {
      const sched = createScheduler(cfg.scheduler, { flags: v.schedFlags });
      svc.scheduler.done?.(svc);
      svc.scheduler = sched;
      this.applyServiceConfig(svc, v);
      sched.destsChanged(svc);
      sched.tick?.(svc, Date.now());
      return;
    }
    this.applyServiceConfig(svc, v);
    svc.scheduler.destsChanged(svc);
  }

  deleteService(key: ServiceKey): void {
    const svc = this.requireService(key, 'No such service');
    this.unlinkService(svc);
  }

  /** -C: services go; connections stay until they time out (reference §5.13). */
  clear(): void {
    while (this.services.length > 0) this.unlinkService(this.services[this.services.length - 1]);
  }

  addDest(key: ServiceKey, dk: DestKey, cfg: DestConfig): void {
    const svc = this.requireService(key, 'Service not defined');
    const { addr, port } = this.parseDestKey(dk, svc);
    this.validateDestConfig(cfg);
    if (svc.findDest(addr, port) !== undefined) throw new TapvsError('DEST_EXISTS', 'Destination already exists');
    // Re-adding a dest that is still in the trash revives it with its connections (§5.8).
    let d: Dest | undefined;
    for (let i = 0; i < this.trash.length; i++) {
      const t = this.trash[i];
      if (t.addr === addr && t.port === port && t.svcId === -1 && t.lastSvcId === svc.id) {
        d = t;
        this.trash.splice(i, 1);
        break;
      }
    }
    if (d === undefined) {
      d = new Dest(addr, port);
      let id = this.freeDestIds.pop();
      if (id === undefined) { id = this.destsById.length; this.destsById.push(d); } else this.destsById[id] = d;
      d.id = id;
    }
    d.available = true;
    d.svcId = svc.id;
    d.lastSvcId = svc.id;
    this.applyDestConfig(d, cfg);
    svc.dests.unshift(d); // IPVS inserts at the head
    svc.scheduler.destsChanged(svc);
  }

  editDest(key: ServiceKey, dk: DestKey, cfg: DestConfig): void {
    const svc = this.requireService(key, 'Service not defined');
    const { addr, port } = this.parseDestKey(dk, svc);
    this.validateDestConfig(cfg);
    const d = svc.findDest(addr, port);
    if (d === undefined) throw new TapvsError('DEST_NOT_FOUND', 'No such destination');
    const oldU = d.uThreshold;
    this.applyDestConfig(d, cfg);
    if (d.uThreshold === 0 || d.uThreshold > oldU) d.overloaded = false;
    svc.scheduler.destsChanged(svc);
  }

  deleteDest(key: ServiceKey, dk: DestKey): void {
    const svc = this.requireService(key, 'Service not defined');
    const { addr, port } = this.parseDestKey(dk, svc);
    const d = svc.findDest(addr, port);
    if (d === undefined) throw new TapvsError('DEST_NOT_FOUND', 'No such destination');
    svc.dests.splice(svc.dests.indexOf(d), 1);
    this.unlinkDest(d);
    svc.scheduler.destsChanged(svc);
    if (this.expireNodestConn) this.flushDest(d);
  }

  /** expire_nodest_conn: removes every connection bound to a deleted dest (ip_vs_expire_nodest_conn_flush). */
  private flushDest(d: Dest): void {
    if (d.refs === 0) return;
    const c = this.conns;
    const victims: number[] = [];
    c.forEach((id) => {
      if (this.destsById[c.destId[id]] === d && (c.flags[id] & ConnFlag.TEMPLATE) === 0 && c.nControlled[id] === 0) victims.push(id);
    });
    for (const id of victims) this.expireNow(id);
  }

  zero(key: ServiceKey | null): void {
    if (key === null) {
      for (const s of this.services) zeroService(s);
      this.total.zero();
      return;
    }
    zeroService(this.requireService(key, 'No such service'));
  }

  setTimeouts(t: TimeoutsMsg): void {
    for (const [name, v] of [['tcp', t.tcpS], ['tcpfin', t.tcpFinS], ['udp', t.udpS]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_TIMEOUT_S) {
        throw new TapvsError('BAD_ARGUMENT', `invalid ${name} timeout value \`${v}' specified`);
      }
    }
    this.timeouts.set(t.tcpS, t.tcpFinS, t.udpS);
  }

  getTimeouts(): TimeoutsMsg { return this.timeouts.get(); }

  /** Runs the 2-second estimator on every stats object. */
  estimate(): void {
    this.total.estimate();
    for (const s of this.services) {
      s.stats.estimate();
      for (const d of s.dests) d.stats.estimate();
    }
  }

  list(key: ServiceKey | null): ListResult {
    const svcs = key === null ? this.services : [this.requireService(key, 'No such service')];
    return {
      connTableSize: this.conns.indexSize,
      services: svcs.map((s) => this.serviceInfo(s)),
      total: this.total.snapshot(),
    };
  }

  listConns(nowMs: number): ConnInfo[] {
    const c = this.conns;
    const out: ConnInfo[] = [];
    c.forEach((id) => {
      if ((c.flags[id] & ConnFlag.HASHED) === 0) return;
      const template = (c.flags[id] & ConnFlag.TEMPLATE) !== 0;
      const proto = c.proto[id] === IPPROTO_TCP ? 'tcp' : c.proto[id] === IPPROTO_UDP ? 'udp' : 'IP';
      let state: string;
      if (template) state = (c.flags[id] & ConnFlag.ASSURED) !== 0 ? 'ASSURED' : 'NONE';
      else if (c.proto[id] === IPPROTO_UDP) state = 'UDP';
      else state = TCP_STATE_NAMES[c.state[id]];
      out.push({
        proto, caddr: formatIpv4(c.caddr[id]), cport: c.cport[id], vaddr: formatIpv4(c.vaddr[id]),
        vport: c.vport[id], daddr: formatIpv4(c.daddr[id]), dport: c.dport[id], state,
        expireS: Math.max(0, Math.floor((c.expiresAt[id] - nowMs) / 1000)), template,
      });
    });
    return out;
  }

  // ---------------------------------------------------------------- helpers

  private serviceInfo(s: Service): ServiceInfo {
    return {
      service: { proto: s.proto === IPPROTO_TCP ? 'tcp' : 'udp', addr: formatIpv4(s.addr), port: s.port },
      config: {
        scheduler: s.scheduler.name,
        schedFlags: schedFlagWords(s.scheduler.name, s.schedFlags),
        persistentS: s.persistent ? s.timeoutS : null,
        netmask: formatIpv4(s.netmask),
        ops: s.ops,
      },
      stats: s.stats.snapshot(),
      dests: s.dests.map((d) => ({
        addr: formatIpv4(d.addr), port: d.port, fwd: 'masq' as const, weight: d.weight,
        uThreshold: d.uThreshold, lThreshold: d.lThreshold, activeConns: d.activeConns,
        inactConns: d.inactConns, persistConns: d.persistConns, stats: d.stats.snapshot(),
      })),
    };
  }

  private unlinkService(svc: Service): void {
    for (const d of svc.dests) this.unlinkDest(d);
    svc.dests = [];
    svc.scheduler.done?.(svc);
    this.services.splice(this.services.indexOf(svc), 1);
    const list = this.byVip.get(svc.addr);
    if (list !== undefined) {
      list.splice(list.indexOf(svc), 1);
      if (list.length === 0) { this.byVip.delete(svc.addr); this.vipGeneration++; }
    }
    this.svcById[svc.id] = null;
  }

  private unlinkDest(d: Dest): void {
    d.available = false;
    d.svcId = -1;
    if (d.refs === 0) this.freeDest(d);
    else this.trash.push(d);
  }

  private freeDest(d: Dest): void {
    const i = this.trash.indexOf(d);
    if (i >= 0) this.trash.splice(i, 1);
    if (d.id >= 0 && this.destsById[d.id] === d) {
      this.destsById[d.id] = null;
      this.freeDestIds.push(d.id);
    }
    d.id = -1;
  }

  private exactService(proto: number, addr: number, port: number): Service | null {
    for (const s of this.services) if (s.proto === proto && s.addr === addr && s.port === port) return s;
    return null;
  }

  private requireService(key: ServiceKey, missing: string): Service {
    const { proto, addr, port } = this.parseServiceKey(key);
    const s = this.exactService(proto, addr, port);
    if (s === null) throw new TapvsError('SERVICE_NOT_FOUND', missing);
    return s;
  }

  private parseServiceKey(key: ServiceKey): { proto: number; addr: number; port: number } {
    if (key === null || typeof key !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing service');
    const proto = key.proto === 'tcp' ? IPPROTO_TCP : key.proto === 'udp' ? IPPROTO_UDP : -1;
    if (proto < 0) throw new TapvsError('BAD_ARGUMENT', `unsupported protocol ${String(key.proto)}`);
    const addr = validAddress(key.addr);
    if (addr === null || addr === 0 || isMulticastOrBroadcast(addr)) {
      throw new TapvsError('BAD_ARGUMENT', 'illegal virtual server address[:port] specified');
    }
    if (!isPort(key.port)) throw new TapvsError('BAD_ARGUMENT', 'illegal virtual server address[:port] specified');
    return { proto, addr, port: key.port };
  }

  private parseDestKey(dk: DestKey, svc: Service): { addr: number; port: number } {
    if (dk === null || typeof dk !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing real server');
    const addr = validAddress(dk.addr);
    if (addr === null || !isPort(dk.port)) {
      throw new TapvsError('BAD_ARGUMENT', 'illegal real server address[:port] specified');
    }
    // Kernel: a real server must be a unicast address (EINVAL otherwise, reference §1.8).
    if (addr === 0 || isMulticastOrBroadcast(addr) || (addr >>> 24) === 127) {
      throw new TapvsError('BAD_ARGUMENT',
        'Invalid operation.  Possibly wrong module version, address not unicast, ...');
    }
    // A NAT dest of a port-0 service keeps port 0 ("the packet's port"); others default to the service port.
    return { addr, port: dk.port === 0 && svc.port !== 0 ? svc.port : dk.port };
  }

  private validateServiceConfig(cfg: ServiceConfig): ValidServiceConfig {
    if (cfg === null || typeof cfg !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing service configuration');
    if (typeof cfg.scheduler !== 'string' || cfg.scheduler.length === 0 || cfg.scheduler.length > 15) {
      throw new TapvsError('SCHED_NOT_FOUND', 'Scheduler or persistence engine not found');
    }
    const words = Array.isArray(cfg.schedFlags) ? cfg.schedFlags.map(String) : [];
    const schedFlags = schedFlagsFromWords(cfg.scheduler, words);
    let persistentS: number | null = null;
    if (cfg.persistentS !== null && cfg.persistentS !== undefined) {
      if (!Number.isInteger(cfg.persistentS) || cfg.persistentS < 1 || cfg.persistentS > MAX_TIMEOUT_S) {
        throw new TapvsError('BAD_ARGUMENT', `illegal timeout for persistent service specified`);
      }
      persistentS = cfg.persistentS;
    }
    const mask = validAddress(typeof cfg.netmask === 'string' ? cfg.netmask : '255.255.255.255');
    // Like the kernel, any mask is taken (ipvsadm parses it with inet_aton); it is ANDed with the client.
    if (mask === null) throw new TapvsError('BAD_ARGUMENT', 'illegal virtual server netmask specified');
    // Validate the scheduler name now so a failed -A changes nothing.
    createScheduler(cfg.scheduler, { flags: schedFlags });
    return { scheduler: cfg.scheduler, schedFlags, persistentS, netmask: mask, ops: cfg.ops === true };
  }

  private applyServiceConfig(svc: Service, v: ValidServiceConfig): void {
    svc.schedFlags = v.schedFlags;
    svc.persistent = v.persistentS !== null;
    svc.timeoutS = v.persistentS ?? 0;
    svc.netmask = v.netmask;
    svc.ops = v.ops;
  }

  private validateDestConfig(cfg: DestConfig): void {
    if (cfg === null || typeof cfg !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing real server configuration');
    if (cfg.fwd !== 'masq') {
      throw new TapvsError('NOT_SUPPORTED', 'tapvs forwards by masquerading (NAT) only: use -m');
    }
    if (!Number.isInteger(cfg.weight) || cfg.weight < 0 || cfg.weight > MAX_WEIGHT) {
      throw new TapvsError('BAD_ARGUMENT', 'illegal weight specified');
    }
    for (const v of [cfg.uThreshold, cfg.lThreshold]) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_THRESHOLD) throw new TapvsError('BAD_ARGUMENT', 'illegal threshold specified');
    }
    if (cfg.lThreshold > cfg.uThreshold) throw new TapvsError('OUT_OF_RANGE', 'Numerical result out of range');
  }

  private applyDestConfig(d: Dest, cfg: DestConfig): void {
    d.fwd = 'masq';
    d.weight = cfg.weight;
    if (cfg.weight !== 0) d.lastWeight = cfg.weight;
    d.uThreshold = cfg.uThreshold;
    d.lThreshold = cfg.lThreshold;
  }
}

interface ValidServiceConfig {
  scheduler: string;
  schedFlags: number;
  persistentS: number | null;
  netmask: number;
  ops: boolean;
}

/** A dotted quad checked by ip-address (src/addr.ts), or null: callers word the ipvsadm error. */
function validAddress(text: unknown): number | null {
  try {
    return parseAddress(text, 'address');
  } catch {
    return null;
  }
}

function zeroService(s: Service): void {
  s.stats.zero();
  for (const d of s.dests) d.stats.zero();
}

function isPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 65535;
}

function isMulticastOrBroadcast(a: number): boolean {
  return (a >>> 28) === 0xe || a === -1;
}


export { Dir, FlagClass };
