/**
 * Turns control requests into edits of the IPVS model, as ip_vs_ctl.c turns ipvsadm's requests
 * into kernel structures: the strings of a request are parsed and range-checked, the service or
 * dest it names is looked up, and only then is the model called, with int32 addresses, Service
 * and Dest objects and validated settings. A request that fails changes nothing.
 *
 * Failures are TapvsErrors with the codes tapvsadm maps to ipvsadm's words (SERVICE_EXISTS,
 * SERVICE_NOT_FOUND, DEST_EXISTS, DEST_NOT_FOUND, SCHED_NOT_FOUND, OUT_OF_RANGE, NOT_SUPPORTED)
 * and BAD_ARGUMENT with ipvsadm's own message for input it would have refused itself. Checks run
 * in the kernel's order: the service key, the service's existence, then the rest.
 *
 * Not here: listings (listing.ts) and applying several requests all or nothing (dispatch.ts).
 */
import { tryParseAddress } from '../addr.js';
import { TapvsError } from '../errors.js';
import { type Dest, Fwd, type FwdMethod, TunFlag, TunType } from '../ipvs/dest.js';
import type { DestSettings, Ipvs, ServiceSettings } from '../ipvs/ipvs.js';
import { createScheduler } from '../ipvs/sched/registry.js';
import type { Service } from '../ipvs/service.js';
import { formatIpv4, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import {
  type DestConfig,
  type DestKey,
  type LaddrKey,
  MAX_THRESHOLD,
  MAX_TIMEOUT_S,
  MAX_WEIGHT,
  SCHED_NAME_MAX,
  type ServiceConfig,
  type ServiceKey,
  type Timeouts,
} from './protocol.js';
import { schedFlagsFromWords } from './sched-flags.js';

/**
 * What the rules need to know of the director's links, for the checks only the daemon can make:
 * a direct-routing real server must be on a link, a local address on the link named for it.
 */
export interface DirectorLinks {
  /** The link on whose prefix `addr` is (a neighbour), or null when it is reached through a gateway or not at all. */
  onLinkOf(addr: number): string | null;
  /** The director's link names. */
  names(): readonly string[];
}

/** Edits one director's rules on behalf of control requests. */
export class RuleEditor {
  constructor(
    readonly ipvs: Ipvs,
    private readonly links: DirectorLinks | null = null,
  ) {}

  addService(key: ServiceKey, cfg: ServiceConfig): void {
    const { proto, addr, port } = serviceKey(key);
    if (this.ipvs.exactService(proto, addr, port) !== null) {
      throw new TapvsError('SERVICE_EXISTS', 'Service already exists');
    }
    this.ipvs.addService(proto, addr, port, serviceSettings(cfg, null));
  }

  editService(key: ServiceKey, cfg: ServiceConfig): void {
    const svc = this.service(key, 'No such service');
    this.ipvs.editService(svc, serviceSettings(cfg, svc));
  }

  deleteService(key: ServiceKey): void {
    this.ipvs.deleteService(this.service(key, 'No such service'));
  }

  clear(): void {
    this.ipvs.clear();
  }

  addDest(key: ServiceKey, dk: DestKey, cfg: DestConfig): void {
    const svc = this.service(key, 'Service not defined');
    const { addr, port } = destKey(dk, svc);
    const settings = destSettings(cfg);
    if (svc.findDest(addr, port) !== undefined) throw new TapvsError('DEST_EXISTS', 'Destination already exists');
    this.checkMethod(addr, settings.fwd);
    this.ipvs.addDest(svc, addr, port, settings);
  }

  editDest(key: ServiceKey, dk: DestKey, cfg: DestConfig): void {
    const svc = this.service(key, 'Service not defined');
    const { addr, port } = destKey(dk, svc);
    const settings = destSettings(cfg);
    const d = existingDest(svc, addr, port);
    this.checkMethod(addr, settings.fwd);
    this.ipvs.editDest(svc, d, settings);
  }

  /** DPVS's --add-laddr: a local address for a full NAT service, on the link it is on (or -F's). */
  addLaddr(key: ServiceKey, lk: LaddrKey): void {
    const svc = this.service(key, 'No such service');
    const addr = laddrAddress(lk);
    const link = lk.ifname ?? '';
    if (typeof link !== 'string') throw new TapvsError('BAD_ARGUMENT', 'illegal interface name');
    if (this.links !== null) {
      const on = this.links.onLinkOf(addr);
      if (link !== '' && !this.links.names().includes(link))
        throw new TapvsError('BAD_ARGUMENT', `no link named '${link}' (links: ${this.links.names().join(', ')})`);
      if (on === null || (link !== '' && on !== link))
        throw new TapvsError(
          'BAD_ARGUMENT',
          `local address ${lk.addr} is not on the prefix of ${link === '' ? 'any link' : `link '${link}'`}: ` +
            'the real servers must reach it as a neighbour',
        );
    }
    if (svc.laddrs.indexOf(addr) >= 0) throw new TapvsError('LADDR_EXISTS', 'local address already exists');
    this.ipvs.addLaddr(svc, addr, link);
  }

  /** DPVS's --del-laddr. */
  deleteLaddr(key: ServiceKey, lk: LaddrKey): void {
    const svc = this.service(key, 'No such service');
    const addr = laddrAddress(lk);
    if (svc.laddrs.indexOf(addr) < 0) throw new TapvsError('LADDR_NOT_FOUND', 'no such local address');
    this.ipvs.deleteLaddr(svc, addr);
  }

  /** Direct routing changes only the MAC: the real server must be a neighbour (ip_vs_dr_xmit()). */
  private checkMethod(addr: number, fwd: FwdMethod | undefined): void {
    if (fwd !== Fwd.ROUTE || this.links === null || this.links.onLinkOf(addr) !== null) return;
    throw new TapvsError(
      'BAD_ARGUMENT',
      `direct routing needs the real server on a link of the director: ${formatIpv4(addr)} is not on ` +
        `any link's prefix (use -i to tunnel to it, or -m)`,
    );
  }

  deleteDest(key: ServiceKey, dk: DestKey): void {
    const svc = this.service(key, 'Service not defined');
    const { addr, port } = destKey(dk, svc);
    this.ipvs.deleteDest(svc, existingDest(svc, addr, port));
  }

  /** -Z: one service's counters, or (null) everything's. */
  zero(key: ServiceKey | null): void {
    if (key === null) this.ipvs.zeroAll();
    else this.ipvs.zeroService(this.service(key, 'No such service'));
  }

  /** --set tcp tcpfin udp: seconds, 0 keeps a value. */
  setTimeouts(t: Timeouts): void {
    if (t === null || typeof t !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing timeouts');
    for (const [name, v] of [
      ['tcp', t.tcpS],
      ['tcpfin', t.tcpFinS],
      ['udp', t.udpS],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_TIMEOUT_S) {
        throw new TapvsError('BAD_ARGUMENT', `invalid ${name} timeout value \`${v}' specified`);
      }
    }
    this.ipvs.timeouts.set(t.tcpS, t.tcpFinS, t.udpS);
  }

  /**
   * The service a request names, or SERVICE_NOT_FOUND with `missing`: ipvsadm words the same
   * ESRCH differently per command ("No such service", "Service not defined").
   */
  service(key: ServiceKey, missing: string): Service {
    const { proto, addr, port } = serviceKey(key);
    const svc = this.ipvs.exactService(proto, addr, port);
    if (svc === null) throw new TapvsError('SERVICE_NOT_FOUND', missing);
    return svc;
  }
}

function serviceKey(key: ServiceKey): { proto: number; addr: number; port: number } {
  if (key === null || typeof key !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing service');
  const proto = key.proto === 'tcp' ? IPPROTO_TCP : key.proto === 'udp' ? IPPROTO_UDP : -1;
  if (proto < 0) throw new TapvsError('BAD_ARGUMENT', `unsupported protocol ${String(key.proto)}`);
  const addr = tryParseAddress(key.addr);
  if (addr === null || addr === 0 || isMulticastOrBroadcast(addr) || !isPort(key.port)) {
    throw new TapvsError('BAD_ARGUMENT', 'illegal virtual server address[:port] specified');
  }
  return { proto, addr, port: key.port };
}

function destKey(dk: DestKey, svc: Service): { addr: number; port: number } {
  if (dk === null || typeof dk !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing real server');
  const addr = tryParseAddress(dk.addr);
  if (addr === null || !isPort(dk.port)) {
    throw new TapvsError('BAD_ARGUMENT', 'illegal real server address[:port] specified');
  }
  // ip_vs_ctl.c, ip_vs_new_dest(): a real server must be a unicast address (EINVAL otherwise).
  if (addr === 0 || isMulticastOrBroadcast(addr) || addr >>> 24 === 127) {
    throw new TapvsError('BAD_ARGUMENT', 'Invalid operation.  Possibly wrong module version, address not unicast, ...');
  }
  // A NAT dest of a port-0 service keeps port 0 ("the packet's port"); others default to the service port.
  return { addr, port: dk.port === 0 && svc.port !== 0 ? svc.port : dk.port };
}

/**
 * A request's service configuration as model settings. `svc` is the service being edited: when
 * the scheduler and its flags stay the same, its scheduler instance is kept, with its state.
 */
function serviceSettings(cfg: ServiceConfig, svc: Service | null): ServiceSettings {
  if (cfg === null || typeof cfg !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing service configuration');
  const name = cfg.scheduler;
  if (typeof name !== 'string' || name.length === 0 || name.length > SCHED_NAME_MAX) {
    throw new TapvsError('SCHED_NOT_FOUND', 'Scheduler or persistence engine not found');
  }
  const words = Array.isArray(cfg.schedFlags) ? cfg.schedFlags.map(String) : [];
  const schedFlags = schedFlagsFromWords(name, words);
  const timeoutS = cfg.persistentS ?? null;
  if (timeoutS !== null && (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > MAX_TIMEOUT_S)) {
    throw new TapvsError('BAD_ARGUMENT', 'illegal timeout for persistent service specified');
  }
  // Like the kernel, any mask is taken (ipvsadm parses it with inet_aton); it is ANDed with the client.
  const netmask = tryParseAddress(typeof cfg.netmask === 'string' ? cfg.netmask : '255.255.255.255');
  if (netmask === null) throw new TapvsError('BAD_ARGUMENT', 'illegal virtual server netmask specified');
  const keep = svc !== null && svc.scheduler.name === name && svc.schedFlags === schedFlags;
  // Last: ipvsadm reports a bad -b word or timeout itself, before the kernel looks the name up.
  const scheduler = keep ? svc.scheduler : createScheduler(name, { flags: schedFlags });
  return {
    scheduler,
    schedFlags,
    persistent: timeoutS !== null,
    timeoutS: timeoutS ?? 0,
    netmask,
    ops: cfg.ops === true,
    proxyProtocol: proxyProtocolVersion(cfg.proxyProtocol),
  };
}

const FWD_BY_NAME: Record<string, FwdMethod> = {
  masq: Fwd.MASQ,
  route: Fwd.ROUTE,
  tunnel: Fwd.TUNNEL,
  fullnat: Fwd.FULLNAT,
};

/** --proxy-protocol: absent or v1/v2 (DPVS's insecure variants trust the client's own header: not offered). */
function proxyProtocolVersion(v: unknown): number {
  if (v === undefined || v === null || v === 'disable') return 0;
  if (v === 'v1') return 1;
  if (v === 'v2') return 2;
  throw new TapvsError('BAD_ARGUMENT', `illegal proxy protocol ${JSON.stringify(v)}: v1, v2 or disable`);
}

function destSettings(cfg: DestConfig): Required<DestSettings> {
  if (cfg === null || typeof cfg !== 'object')
    throw new TapvsError('BAD_ARGUMENT', 'missing real server configuration');
  const fwd = FWD_BY_NAME[cfg.fwd as string];
  if (fwd === undefined || !Object.hasOwn(FWD_BY_NAME, cfg.fwd)) {
    throw new TapvsError('BAD_ARGUMENT', `unknown forwarding method ${JSON.stringify(cfg.fwd)}`);
  }
  const tun = tunnelSettings(cfg, fwd);
  if (!Number.isInteger(cfg.weight) || cfg.weight < 0 || cfg.weight > MAX_WEIGHT) {
    throw new TapvsError('BAD_ARGUMENT', 'illegal weight specified');
  }
  for (const v of [cfg.uThreshold, cfg.lThreshold]) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_THRESHOLD)
      throw new TapvsError('BAD_ARGUMENT', 'illegal threshold specified');
  }
  // ip_vs_ctl.c, ip_vs_add_dest() and ip_vs_edit_dest(): ERANGE.
  if (cfg.lThreshold > cfg.uThreshold) throw new TapvsError('OUT_OF_RANGE', 'Numerical result out of range');
  return { weight: cfg.weight, uThreshold: cfg.uThreshold, lThreshold: cfg.lThreshold, fwd, ...tun };
}

/** --tun-type and its options as ipvsadm checks them (tunnel_opt_check()), and the kernel's GUE port rule. */
function tunnelSettings(cfg: DestConfig, fwd: FwdMethod): { tunType: number; tunPort: number; tunFlags: number } {
  const t = cfg.tunnel;
  if (t === undefined || t === null) return { tunType: TunType.IPIP, tunPort: 0, tunFlags: 0 };
  if (typeof t !== 'object') throw new TapvsError('BAD_ARGUMENT', 'illegal tunnel settings');
  if (fwd !== Fwd.TUNNEL) throw new TapvsError('BAD_ARGUMENT', 'Tunnel options conflict with forward method');
  const type = t.type === 'ipip' ? TunType.IPIP : t.type === 'gue' ? TunType.GUE : t.type === 'gre' ? TunType.GRE : -1;
  if (type < 0) throw new TapvsError('BAD_ARGUMENT', 'illegal tunnel type specified');
  const csum = t.csum ?? 'nocsum';
  const flags = csum === 'nocsum' ? 0 : csum === 'csum' ? TunFlag.CSUM : csum === 'remcsum' ? TunFlag.REMCSUM : -1;
  if (flags < 0) throw new TapvsError('BAD_ARGUMENT', 'illegal tunnel checksum option');
  const port = t.port ?? 0;
  if (type === TunType.GUE) {
    // ip_vs_ctl.c, ip_vs_add_dest()/ip_vs_edit_dest(): GUE without a port is EINVAL.
    if (!isPort(port) || port === 0) throw new TapvsError('BAD_ARGUMENT', 'illegal tunnel port specified');
  } else if (port !== 0) {
    throw new TapvsError('BAD_ARGUMENT', `Illegal 'tun-port' option with the '${t.type}' tunnel type`);
  }
  if (type === TunType.IPIP && flags !== 0)
    throw new TapvsError('BAD_ARGUMENT', `Illegal 'tun-${csum}' option with the 'ipip' tunnel type`);
  if (type === TunType.GRE && flags === TunFlag.REMCSUM)
    throw new TapvsError('BAD_ARGUMENT', "Illegal 'tun-remcsum' option with the 'gre' tunnel type");
  return { tunType: type, tunPort: type === TunType.GUE ? port : 0, tunFlags: flags };
}

function laddrAddress(lk: LaddrKey): number {
  if (lk === null || typeof lk !== 'object') throw new TapvsError('BAD_ARGUMENT', 'missing local address');
  const addr = tryParseAddress(lk.addr);
  if (addr === null || addr === 0 || isMulticastOrBroadcast(addr) || addr >>> 24 === 127)
    throw new TapvsError('BAD_ARGUMENT', 'illegal local address specified');
  return addr;
}

function existingDest(svc: Service, addr: number, port: number): Dest {
  const d = svc.findDest(addr, port);
  if (d === undefined) throw new TapvsError('DEST_NOT_FOUND', 'No such destination');
  return d;
}

function isPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 65535;
}

function isMulticastOrBroadcast(a: number): boolean {
  return a >>> 28 === 0xe || a === -1;
}
