/**
 * ipvsadm's listings, byte for byte: `-L` (plain, --stats, --rate, --thresholds,
 * --persistent-conn, --tun-info, with or without -n and --exact), `-L -t svc`, `-L -c`,
 * `-L --timeout` and `-S` (ipvsadm.c print_title, print_service_entry, print_largenum,
 * print_conn, list_timeout).
 *
 * Contract: pure functions from protocol values to text; every line ends in '\n' and keeps
 * ipvsadm's padding, trailing spaces included. Names (without -n) come from a NameDb: addresses
 * from /etc/hosts, ports from /etc/services for the service's protocol, numbers otherwise.
 *
 * Sorting: unless --nosort, services and destinations are ordered with libipvs's
 * comparators, which subtract 32-bit values and read the difference as a signed int, and with
 * glibc's qsort, a merge sort. Both are reproduced, so even the "wrong" order of addresses
 * more than 2^31 apart (200.0.0.1 before 10.0.0.1) comes out as ipvsadm prints it. With
 * --nosort the daemon's order is kept: destinations newest first, as IPVS keeps them.
 *
 * Forwarding methods: Masq, Route, Tunnel (with ipvsadm's --tun-info column and -S tunnel
 * options, print_tunnel_rule()) and DPVS's FullNat. From DPVS's ipvsadm (tools/ipvsadm/ipvsadm.c):
 * the `ppv1`/`ppv2` word on a service line, `-G` (list_laddrs_print_*()); and in -S, which DPVS
 * does not give them, `--proxy-protocol` on -A lines and one `-P` line per local address after
 * all services, so that `-S | -R` restores everything.
 *
 * Not shown: IPv6, fwmark and SCTP services and persistence engines, which tapvs does not have.
 */
import { formatIpv4, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import { IPVS_VERSION } from './ipvsadm-args.js';
import { dottedToU32, type NameDb, type NameProto, systemNameDb } from './names.js';
import type {
  ConnInfo,
  DestInfo,
  LaddrListResult,
  ListResult,
  Proto,
  ServiceInfo,
  ServiceKey,
  Timeouts,
  TunnelConfig,
} from './protocol.js';
import { printedSchedFlagWords, schedFlagBits } from './sched-flags.js';
import type { SyncDaemonInfo } from './sync-daemon-control.js';

export interface FormatOptions {
  numeric?: boolean;
  exact?: boolean;
  stats?: boolean;
  rate?: boolean;
  thresholds?: boolean;
  persistentConn?: boolean;
  tunInfo?: boolean;
  nosort?: boolean;
}

const FULL_MASK = '255.255.255.255';
/** ipvsadm formats an address:port into a 60-byte buffer. */
const ADDRPORT_MAX = 59;

// ------------------------------------------------------------------ numbers

/**
 * print_largenum: 9 columns. Below 10^8 the number itself; then thousands (K), millions (M),
 * billions (G), trillions (T) in 8 columns plus the letter. --exact prints every digit, with at
 * least one leading space.
 */
export function formatLargeNum(value: number, exact = false): string {
  const v = Math.max(0, Math.floor(value));
  if (exact) {
    const s = BigInt(v).toString();
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 1e8) return String(v).padStart(9);
  if (v < 1e9) return `${div(v, 1e3).padStart(8)}K`;
  if (v < 1e11) return `${div(v, 1e6).padStart(8)}M`;
  if (v < 1e14) return `${div(v, 1e9).padStart(8)}G`;
  return `${div(v, 1e12).padStart(8)}T`;
}

function div(v: number, d: number): string {
  return BigInt(Math.floor(v / d)).toString();
}

// ------------------------------------------------------------------ names

function nameProto(p: Proto | 'IP'): NameProto | null {
  return p === 'tcp' || p === 'udp' ? p : null;
}

/**
 * addrport_to_anyname: `addr:port`, numeric with -n, else host and service names where the
 * local files have them. A null protocol (fwmark templates, "IP") always prints the port number.
 */
function formatAddrPort(addr: string, port: number, proto: NameProto | null, numeric: boolean, names: NameDb): string {
  let s: string;
  if (numeric) {
    s = `${addr}:${port}`;
  } else {
    const host = names.addrToHost(addr) ?? addr;
    const svc = proto === null ? null : names.portToService(port, proto);
    s = `${host}:${svc ?? port}`;
  }
  return s.slice(0, ADDRPORT_MAX);
}

// ------------------------------------------------------------------ sorting

const PROTO_NUMBER: Record<Proto, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };

/** The signed 32-bit difference libipvs computes; NaN-safe for malformed addresses (sorts as 0). */
function addrDiff(a: string, b: string): number {
  return ((dottedToU32(a) ?? 0) - (dottedToU32(b) ?? 0)) | 0;
}

/** libipvs ipvs_cmp_services for IPv4, non-fwmark services: protocol, address, port. */
function compareServices(a: ServiceInfo, b: ServiceInfo): number {
  const p = PROTO_NUMBER[a.service.proto] - PROTO_NUMBER[b.service.proto];
  if (p !== 0) return p;
  const r = addrDiff(a.service.addr, b.service.addr);
  if (r !== 0) return r;
  return a.service.port - b.service.port;
}

/** libipvs ipvs_cmp_dests: address, then port. */
function compareDests(a: DestInfo, b: DestInfo): number {
  const r = addrDiff(a.addr, b.addr);
  if (r !== 0) return r;
  return a.port - b.port;
}

/**
 * glibc's qsort as ipvsadm ran it (msort_with_tmp): top-down merge sort, left half n/2, ties
 * and "less or equal" taken from the left. Matters because the comparators are not transitive.
 */
function glibcMergeSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const a = items.slice();
  const tmp = new Array<T>(a.length);
  const sort = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >>> 1;
    const n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    let k = 0;
    const iEnd = lo + n1;
    const jEnd = lo + n;
    while (i < iEnd && j < jEnd) tmp[k++] = cmp(a[i], a[j]) <= 0 ? a[i++] : a[j++];
    while (i < iEnd) tmp[k++] = a[i++];
    for (let m = 0; m < k; m++) a[lo + m] = tmp[m];
  };
  sort(0, a.length);
  return a;
}

function sortServices(services: readonly ServiceInfo[]): ServiceInfo[] {
  return glibcMergeSort(services, compareServices);
}

export function sortDests(dests: readonly DestInfo[]): DestInfo[] {
  return glibcMergeSort(dests, compareDests);
}

// ------------------------------------------------------------------ -L

/** Line 1 of a full listing: IPVS version and connection hash table size. */
function versionHeader(connTableSize: number): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${connTableSize})\n`;
}

/** print_title: the column headers of each listing mode (stats > rate > thresholds > ...). */
function formatTitle(o: FormatOptions): string {
  const prot = 'Prot LocalAddress:Port'.padEnd(33);
  const right = (...w: string[]): string => w.map((x) => ` ${x.padStart(8)}`).join('');
  if (o.stats) return `${prot}${right('Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes')}\n  -> RemoteAddress:Port\n`;
  if (o.rate) return `${prot}${right('CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS')}\n  -> RemoteAddress:Port\n`;
  if (o.thresholds) {
    return (
      `${prot} ${'Uthreshold'.padEnd(10)} ${'Lthreshold'.padEnd(10)} ${'ActiveConn'.padEnd(10)} ` +
      `${'InActConn'.padEnd(10)}\n  -> RemoteAddress:Port\n`
    );
  }
  if (o.persistentConn) {
    return (
      `${prot} ${'Weight'.padEnd(9)} ${'PersistConn'.padEnd(11)} ${'ActiveConn'.padEnd(10)} ` +
      `${'InActConn'.padEnd(10)}\n  -> RemoteAddress:Port\n`
    );
  }
  if (o.tunInfo) {
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    );
  }
  return (
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
  );
}

const FWD_NAME: Record<DestInfo['fwd'], string> = {
  masq: 'Masq',
  route: 'Route',
  tunnel: 'Tunnel',
  fullnat: 'FullNat',
};
const FWD_SWITCH: Record<DestInfo['fwd'], string> = { masq: '-m', route: '-g', tunnel: '-i', fullnat: '--fullnat' };

/** ipvsadm's tunflags[] (fwd_tun_info) and tun_flags_opts[] (print_tunnel_rule), by --tun-*. */
const TUN_FLAGS: Record<TunnelConfig['csum'], string> = { nocsum: '-c', csum: '+c', remcsum: 'r+c' };
const TUN_FLAG_OPTS: Record<TunnelConfig['csum'], string> = {
  nocsum: '--tun-nocsum',
  csum: '--tun-csum',
  remcsum: '--tun-remcsum',
};
const NO_TUNNEL = 'n/a';

/** A tunnel dest's settings; ipip when the daemon sent none. */
function tunnelOf(d: DestInfo): TunnelConfig {
  return d.tunnel ?? { type: 'ipip', port: 0, csum: 'nocsum' };
}

/** fwd_tun_info: `ipip`, `gue:PORT:FLAGS`, `gre:FLAGS`; n/a for every other method. */
export function tunnelInfo(d: DestInfo): string {
  if (d.fwd !== 'tunnel') return NO_TUNNEL;
  const t = tunnelOf(d);
  switch (t.type) {
    case 'ipip':
      return 'ipip';
    case 'gue':
      return `gue:${t.port}:${TUN_FLAGS[t.csum]}`;
    case 'gre':
      return `gre:${TUN_FLAGS[t.csum]}`;
  }
}

/** print_tunnel_rule's options after `-w N`: what `-a ... -i` needs to make the same tunnel. */
function tunnelRule(d: DestInfo): string {
  const t = tunnelOf(d);
  switch (t.type) {
    case 'ipip':
      return ' --tun-type ipip';
    case 'gue':
      return ` --tun-type gue --tun-port ${t.port} ${TUN_FLAG_OPTS[t.csum]}`;
    case 'gre':
      return ` --tun-type gre ${TUN_FLAG_OPTS[t.csum]}`;
  }
}

function isFullMask(mask: string): boolean {
  const m = dottedToU32(mask);
  return m === null ? mask === FULL_MASK : m === 0xffffffff;
}

/** The "sched (flags) persistent N mask M ops" tail of a plain service line. */
function serviceTail(s: ServiceInfo): string {
  const c = s.config;
  let out = ` ${c.scheduler}`;
  const bits = schedFlagBits(c.schedFlags);
  if (bits !== 0) out += ` (${printedSchedFlagWords(c.scheduler, bits).join(',')})`;
  if (c.persistentS !== null) {
    out += ` persistent ${c.persistentS}`;
    if (!isFullMask(c.netmask)) out += ` mask ${c.netmask}`;
  }
  if (c.ops) out += ' ops';
  // DPVS prints the PROXY protocol version as one word after the flags (print_service_entry()).
  if (c.proxyProtocol !== undefined) out += ` pp${c.proxyProtocol}`;
  return out;
}

/** print_service_entry for the listing modes: the service line and its destinations. */
function formatServiceEntry(s: ServiceInfo, o: FormatOptions, names: NameDb = systemNameDb()): string {
  const numeric = o.numeric === true;
  const exact = o.exact === true;
  const proto = s.service.proto;
  const vname = formatAddrPort(s.service.addr, s.service.port, proto, numeric, names);
  // IPv4 service names are cut at 33 characters, destination names at 28.
  const svcName = `${proto.toUpperCase().padEnd(4)} ${vname}`.slice(0, 33);
  let out: string;
  if (o.stats) {
    const st = s.stats;
    out =
      svcName.padEnd(33) +
      [st.conns, st.inPkts, st.outPkts, st.inBytes, st.outBytes].map((v) => formatLargeNum(v, exact)).join('');
  } else if (o.rate) {
    const st = s.stats;
    out =
      svcName.padEnd(33) +
      [st.cps, st.inpps, st.outpps, st.inbps, st.outbps].map((v) => formatLargeNum(v, exact)).join('');
  } else {
    out = svcName + serviceTail(s);
  }
  out += '\n';
  const dests = o.nosort ? s.dests : sortDests(s.dests);
  for (const d of dests) {
    const dname = formatAddrPort(d.addr, d.port, proto, numeric, names).slice(0, 28).padEnd(28);
    const u = (v: number, w: number): string => String(Math.max(0, Math.floor(v))).padEnd(w);
    if (o.stats) {
      const st = d.stats;
      out += `  -> ${dname}${[st.conns, st.inPkts, st.outPkts, st.inBytes, st.outBytes]
        .map((v) => formatLargeNum(v, exact))
        .join('')}\n`;
    } else if (o.rate) {
      const st = d.stats;
      const n8 = (v: number): string => ` ${String(Math.max(0, Math.floor(v))).padStart(8)}`;
      out +=
        `  -> ${dname}${n8(st.cps)}${n8(st.inpps)}${n8(st.outpps)}` +
        `${formatLargeNum(st.inbps, exact)}${formatLargeNum(st.outbps, exact)}\n`;
    } else if (o.thresholds) {
      out +=
        `  -> ${dname} ${u(d.uThreshold, 10)} ${u(d.lThreshold, 10)} ${u(d.activeConns, 10)} ` +
        `${u(d.inactConns, 10)}\n`;
    } else if (o.persistentConn) {
      out +=
        `  -> ${dname} ${u(d.weight, 9)} ${u(d.persistConns, 11)} ${u(d.activeConns, 10)} ` +
        `${u(d.inactConns, 10)}\n`;
    } else if (o.tunInfo) {
      out +=
        `  -> ${dname} ${FWD_NAME[d.fwd].padEnd(7)} ${tunnelInfo(d).padEnd(13)} ${u(d.weight, 6)} ` +
        `${u(d.activeConns, 10)} ${u(d.inactConns, 10)}\n`;
    } else {
      out +=
        `  -> ${dname} ${FWD_NAME[d.fwd].padEnd(7)} ${u(d.weight, 6)} ${u(d.activeConns, 10)} ` +
        `${u(d.inactConns, 10)}\n`;
    }
  }
  return out;
}

/** `-L` of everything: version line, titles, services (sorted unless --nosort). */
export function formatList(result: ListResult, o: FormatOptions = {}, names: NameDb = systemNameDb()): string {
  const services = o.nosort ? result.services : sortServices(result.services);
  let out = versionHeader(result.connTableSize) + formatTitle(o);
  for (const s of services) out += formatServiceEntry(s, o, names);
  return out;
}

/** `-L -t|-u svc`: titles and that one service, no version line. */
export function formatSingleService(s: ServiceInfo, o: FormatOptions = {}, names: NameDb = systemNameDb()): string {
  return formatTitle(o) + formatServiceEntry(s, o, names);
}

// ------------------------------------------------------------------ -S

/**
 * `-S [-n]`: one -A line per service, each followed by its -a lines (thresholds are not saved, as
 * in ipvsadm), then one -P line per full NAT local address.
 */
export function formatSave(result: ListResult, o: FormatOptions = {}, names: NameDb = systemNameDb()): string {
  const numeric = o.numeric === true;
  const services = o.nosort ? result.services : sortServices(result.services);
  let out = '';
  for (const s of services) {
    const proto = s.service.proto;
    const svcName = `${proto === 'tcp' ? '-t' : '-u'} ${formatAddrPort(s.service.addr, s.service.port, proto, numeric, names)}`;
    const c = s.config;
    out += `-A ${svcName} -s ${c.scheduler}`;
    if (c.persistentS !== null) {
      out += ` -p ${c.persistentS}`;
      if (!isFullMask(c.netmask)) out += ` -M ${c.netmask}`;
    }
    if (c.ops) out += ' -o';
    const bits = schedFlagBits(c.schedFlags);
    if (bits !== 0) out += ` -b ${printedSchedFlagWords(c.scheduler, bits).join(',')}`;
    if (c.proxyProtocol !== undefined) out += ` --proxy-protocol ${c.proxyProtocol}`;
    out += '\n';
    const dests = o.nosort ? s.dests : sortDests(s.dests);
    for (const d of dests) {
      const dname = formatAddrPort(d.addr, d.port, proto, numeric, names);
      out += `-a ${svcName} -r ${dname} ${FWD_SWITCH[d.fwd]} -w ${d.weight}`;
      if (d.fwd === 'tunnel') out += tunnelRule(d);
      out += '\n';
    }
  }
  // Local addresses after every service: a restore has made the services by then.
  for (const s of services) {
    const proto = s.service.proto;
    const svcName = `${proto === 'tcp' ? '-t' : '-u'} ${formatAddrPort(s.service.addr, s.service.port, proto, numeric, names)}`;
    for (const l of s.laddrs) {
      out += `-P ${svcName} -z ${l.addr}${l.ifname === undefined ? '' : ` -F ${l.ifname}`}\n`;
    }
  }
  return out;
}

// ------------------------------------------------------------------ -G

/**
 * `-G [-t|-u svc]` as DPVS prints it (list_laddrs_print_title(), list_laddrs_print_service(),
 * list_laddrs_print_laddr()): the title once, then per service its numeric VIP:port and count
 * (with DPVS's trailing space), then per local address a row under two empty columns.
 */
export function formatLaddrs(result: LaddrListResult): string {
  let out = '';
  result.services.forEach((s, i) => {
    if (i === 0)
      out += `${'VIP:VPORT'.padEnd(20)} ${'TOTAL'.padEnd(8)} ${'SNAT_IP'.padEnd(20)} ${'CONFLICTS'.padEnd(10)} ${'CONNS'.padEnd(10)}\n`;
    out += `${vipPort(s.service).padEnd(20)} ${String(s.laddrs.length).padEnd(8)} \n`;
    for (const l of s.laddrs) {
      out += `${''.padEnd(20)} ${''.padEnd(8)} ${l.addr.padEnd(20)} ${String(l.conflicts).padEnd(10)} ${String(l.conns).padEnd(10)}\n`;
    }
  });
  return out;
}

function vipPort(s: ServiceKey): string {
  return `${s.addr}:${s.port}`;
}

// ------------------------------------------------------------------ -c, --timeout

/** `-L -c`: the connection table in the daemon's (hash) order, never sorted. */
export function formatConns(conns: readonly ConnInfo[], o: FormatOptions = {}, names: NameDb = systemNameDb()): string {
  return formatConnsHeader(o) + formatConnRows(conns, o, names);
}

/** `-L -c`'s two heading lines (tapvsadm prints them before the first part of the listing). */
export function formatConnsHeader(o: FormatOptions = {}): string {
  const out = 'IPVS connection entries\n';
  return o.persistentConn
    ? `${out}pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} ` +
        `${'destination'.padEnd(18)} ${'pe name'.padEnd(16)} pe_data\n`
    : `${out}pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} destination\n`;
}

/** `-L -c`'s lines for some entries (one part of the listing). */
export function formatConnRows(
  conns: readonly ConnInfo[],
  o: FormatOptions = {},
  names: NameDb = systemNameDb(),
): string {
  const numeric = o.numeric === true;
  let out = '';
  for (const c of conns) {
    const proto = nameProto(c.proto);
    const label = c.proto === 'IP' ? 'IP' : c.proto.toUpperCase();
    const secs = Math.max(0, Math.floor(c.expireS));
    const expire = `${pad2(Math.floor(secs / 60))}:${pad2(secs % 60)}`;
    const cname = formatAddrPort(c.caddr, c.cport, proto, numeric, names);
    const vname = formatAddrPort(c.vaddr, c.vport, proto, numeric, names);
    const dname = formatAddrPort(c.daddr, c.dport, proto, numeric, names);
    out +=
      `${label.padEnd(3)} ${expire.padEnd(6)} ${c.state.padEnd(11)} ${cname.padEnd(18)} ` +
      `${vname.padEnd(18)} ${dname}\n`;
  }
  return out;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `-L --timeout`. */
export function formatTimeouts(t: Timeouts): string {
  const s = (v: number): number => Math.floor(v);
  return `Timeout (tcp tcpfin udp): ${s(t.tcpS)} ${s(t.tcpFinS)} ${s(t.udpS)}\n`;
}

/**
 * `-L --daemon` (ipvsadm.c list_daemon()): one line per running daemon, master first, each part
 * after the syncid only when it is set; nothing when none runs.
 */
export function formatDaemons(daemons: readonly SyncDaemonInfo[]): string {
  let out = '';
  for (const d of daemons) {
    let line = `${d.role} sync daemon (mcast=${d.mcastInterface}, syncid=${d.syncid}`;
    if (d.maxlen !== 0) line += `, maxlen=${d.maxlen}`;
    if (d.group !== 0) line += `, group=${formatIpv4(d.group)}`;
    if (d.port !== 0) line += `, port=${d.port}`;
    if (d.ttl !== 0) line += `, ttl=${d.ttl}`;
    out += `${line})\n`;
  }
  return out;
}
