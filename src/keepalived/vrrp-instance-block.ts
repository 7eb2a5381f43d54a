/**
 * One `vrrp_instance NAME { … }` block, with keepalived's defaults and fix-ups (vrrp_data.c
 * alloc_vrrp(), vrrp_parser.c, vrrp.c vrrp_complete_instance()):
 * - priority: 255 when omitted with `state MASTER`, else 100; `nopreempt` and `preempt_delay`
 *   are ignored (with a warning) on an instance that starts as MASTER or owns the addresses;
 * - advert_int: v2 in whole seconds 1..255 (rounded), v3 in centiseconds 0.01..40.95 s;
 * - an unknown `state` is BACKUP, as keepalived reads it (its issue #618).
 *
 * Refused (errors), because ignoring them would change who holds the addresses or who hears
 * the adverts: unicast peers, use_vmac, IPv6 addresses, auth_type AH, virtual_ipaddress_excluded,
 * mcast_dst_ip, and track_* other than an unweighted track_interface on the instance's own
 * interface (tapvs already puts an instance in FAULT when its link goes down). Read but not
 * acted on (warnings): settings that only tune logs, timers of features tapvs lacks, or routes.
 */
import { parseIpv4 } from '../packet/ipv4.js';
import type { VrrpAddress, VrrpInstanceConfig } from '../vrrp/vrrp-config.js';
import type { ConfStatement } from './blocks.js';
import type { DiagnosticSink } from './diagnostics.js';
import { scriptCommand } from './script-words.js';
import { field, walkBlock } from './statements.js';
import { addressProblem, argument, extraWords, msFromUs, readers } from './values.js';

/** global_defs settings an instance inherits (global_data.c; vrrp_garp_*, vrrp_version). */
export interface VrrpGlobals {
  version: 2 | 3;
  garpMasterDelayMs: number;
  garpMasterRepeat: number;
  garpMasterRefreshMs: number;
  garpMasterRefreshRepeat: number;
  v3ChecksumAsV2: boolean;
}

export const DEFAULT_VRRP_GLOBALS: VrrpGlobals = {
  version: 2,
  garpMasterDelayMs: 5000,
  garpMasterRepeat: 5,
  garpMasterRefreshMs: 0,
  garpMasterRefreshRepeat: 1,
  v3ChecksumAsV2: false,
};

const REFUSED: ReadonlyMap<string, string> = new Map([
  ['unicast_peer', 'tapvs sends adverts to 224.0.0.18 only'],
  ['unicast_src_ip', 'tapvs sends adverts to 224.0.0.18 only'],
  ['mcast_dst_ip', 'tapvs sends adverts to 224.0.0.18 only'],
  ['use_vmac', 'tapvs keeps the link MAC for the virtual addresses (no virtual MAC)'],
  ['native_ipv6', 'tapvs runs VRRP over IPv4 only'],
  ['virtual_ipaddress_excluded', 'tapvs holds only the addresses the adverts carry'],
  ['track_script', 'tapvs runs no track scripts: the peer could not tell this instance should give up'],
  ['track_file', 'tapvs tracks no files'],
  ['track_process', 'tapvs tracks no processes'],
  ['track_bfd', 'tapvs has no BFD'],
  ['track_src_ip', 'tapvs tracks no source address'],
]);

const UNUSED: ReadonlyMap<string, string> = new Map([
  ['dont_track_primary', 'a link going down always puts its instances in FAULT'],
  ['accept', 'the dataplane answers for the virtual addresses it holds'],
  ['no_accept', 'the dataplane answers for the virtual addresses it holds'],
  ['strict_mode', ''],
  ['smtp_alert', 'tapvs sends no mail'],
  ['virtual_routes', 'tapvs configures no host routes'],
  ['virtual_rules', 'tapvs configures no routing rules'],
  ['notify_master_rx_lower_pri', ''],
  ['notify_deleted', ''],
  ['notify_priority_changes', ''],
  ['garp_lower_prio_delay', ''],
  ['garp_lower_prio_repeat', ''],
  ['skip_check_adv_addr', 'a differing address list is only counted, as keepalived only logs it'],
  ['check_unicast_src', ''],
  ['vmac_xmit_base', ''],
  ['debug', ''],
  ['kernel_rx_buf_size', ''],
  ['linkbeat_use_polling', ''],
  ['promote_secondaries', ''],
  ['unicast_ttl', ''],
  ['old_unicast_checksum', ''],
]);

interface Draft {
  state: 'MASTER' | 'BACKUP';
  link: string | null;
  vrid: number | null;
  priority: number | null;
  advertIntUs: number;
  advertIntAt: ConfStatement | null;
  version: 2 | 3 | null;
  authPass: string | null;
  authAt: ConfStatement | null;
  nopreemptAt: ConfStatement | null;
  preemptDelayMs: number;
  preemptDelayAt: ConfStatement | null;
  addresses: Array<{ addr: number; prefixLen: number; dev: string | null }>;
  garpMasterDelayMs: number | null;
  garpMasterRepeat: number | null;
  garpMasterRefreshMs: number | null;
  garpMasterRefreshRepeat: number | null;
  notifyMaster: string[] | null;
  notifyBackup: string[] | null;
  notifyFault: string[] | null;
  notifyStop: string[] | null;
  notify: string[] | null;
  v3ChecksumAsV2: boolean | null;
  downTimerAdverts: number;
  lowerPrioNoAdvert: boolean;
  higherPrioSendAdvert: boolean;
  mcastSrcIp: number;
  trackedLinks: ConfStatement[];
}

/** Reads one vrrp_instance block; null when it cannot make an instance (errors reported). */
export function readVrrpInstance(
  st: ConfStatement,
  globals: VrrpGlobals,
  diags: DiagnosticSink,
): VrrpInstanceConfig | null {
  const name = st.args[0];
  if (name === undefined) {
    diags.error(st.at, 'vrrp_instance: missing name');
    return null;
  }
  extraWords(st, diags, 1);
  const d: Draft = {
    state: 'BACKUP',
    link: null,
    vrid: null,
    priority: null,
    advertIntUs: 1_000_000,
    advertIntAt: null,
    version: null,
    authPass: null,
    authAt: null,
    nopreemptAt: null,
    preemptDelayMs: 0,
    preemptDelayAt: null,
    addresses: [],
    garpMasterDelayMs: null,
    garpMasterRepeat: null,
    garpMasterRefreshMs: null,
    garpMasterRefreshRepeat: null,
    notifyMaster: null,
    notifyBackup: null,
    notifyFault: null,
    notifyStop: null,
    notify: null,
    v3ChecksumAsV2: null,
    downTimerAdverts: 3,
    lowerPrioNoAdvert: false,
    higherPrioSendAdvert: false,
    mcastSrcIp: 0,
    trackedLinks: [],
  };
  const r = readers(diags);
  const script = (set: (argv: string[]) => void) => (s: ConfStatement) => {
    const argv = readNotify(s, diags);
    if (argv !== null) set(argv);
  };
  const handlers = new Map<string, (s: ConfStatement) => void>([
    ['state', (s) => readState(s, d, diags)],
    ['interface', field(diags, r.text, (v) => (d.link = v))],
    ['virtual_router_id', field(diags, r.unsigned(1, 255), (v) => (d.vrid = v))],
    ['priority', (s) => readPriority(s, d, diags)],
    [
      'advert_int',
      (s) => {
        d.advertIntAt = s;
        field(diags, r.timer(1), (v) => (d.advertIntUs = v))(s);
      },
    ],
    ['version', field(diags, r.unsigned(2, 3), (v) => (d.version = v as 2 | 3))],
    ['authentication', (s) => readAuthentication(s, d, diags)],
    ['nopreempt', (s) => (d.nopreemptAt = s)],
    ['preempt', () => {}],
    ['preempt_delay', field(diags, r.timer(0, 1000 * 1e6), (v) => (d.preemptDelayMs = msFromUs(v)))],
    ['virtual_ipaddress', (s) => readAddresses(s, d, diags)],
    ['garp_master_delay', field(diags, r.unsigned(0, 86400), (v) => (d.garpMasterDelayMs = v * 1000))],
    ['garp_master_repeat', field(diags, r.unsigned(1, 255), (v) => (d.garpMasterRepeat = v))],
    ['garp_master_refresh', field(diags, r.unsigned(0, 86400), (v) => (d.garpMasterRefreshMs = v * 1000))],
    ['garp_master_refresh_repeat', field(diags, r.unsigned(1, 255), (v) => (d.garpMasterRefreshRepeat = v))],
    ['notify_master', script((v) => (d.notifyMaster = v))],
    ['notify_backup', script((v) => (d.notifyBackup = v))],
    ['notify_fault', script((v) => (d.notifyFault = v))],
    ['notify_stop', script((v) => (d.notifyStop = v))],
    ['notify', script((v) => (d.notify = v))],
    ['vrrp_v3_checksum_as_v2', field(diags, r.flag, (v) => (d.v3ChecksumAsV2 = v))],
    ['down_timer_adverts', field(diags, r.unsigned(1, 100), (v) => (d.downTimerAdverts = v))],
    ['lower_prio_no_advert', field(diags, r.flag, (v) => (d.lowerPrioNoAdvert = v))],
    ['higher_prio_send_advert', field(diags, r.flag, (v) => (d.higherPrioSendAdvert = v))],
    ['mcast_src_ip', (s) => readSourceIp(s, d, diags)],
    ['track_interface', (s) => d.trackedLinks.push(s)],
  ]);
  walkBlock(
    st.block ?? [],
    {
      handlers,
      blocks: new Set(['authentication', 'virtual_ipaddress', 'track_interface']),
      unused: UNUSED,
      refused: REFUSED,
    },
    `vrrp_instance ${name}`,
    diags,
  );
  return complete(st, name, d, globals, diags);
}

/** keepalived vrrp.c vrrp_complete_instance(): defaults that depend on other settings. */
function complete(
  st: ConfStatement,
  name: string,
  d: Draft,
  g: VrrpGlobals,
  diags: DiagnosticSink,
): VrrpInstanceConfig | null {
  let ok = true;
  if (d.link === null) {
    diags.error(st.at, `vrrp_instance ${name}: missing interface`);
    ok = false;
  }
  if (d.vrid === null) {
    diags.error(st.at, `vrrp_instance ${name}: missing virtual_router_id (1..255)`);
    ok = false;
  }
  for (const t of d.trackedLinks) checkTrackedLinks(t, d.link, diags);
  if (!ok || d.link === null || d.vrid === null) return null;
  const version = d.version ?? g.version;
  const priority = d.priority ?? (d.state === 'MASTER' ? 255 : 100);
  const startsMaster = d.state === 'MASTER' || priority === 255;
  let preempt = true;
  if (d.nopreemptAt !== null) {
    if (startsMaster)
      diags.warning(d.nopreemptAt.at, 'nopreempt: ignored with state MASTER or priority 255, as keepalived does');
    else preempt = false;
  }
  let preemptDelayMs = d.preemptDelayMs;
  if (preemptDelayMs > 0 && (startsMaster || !preempt)) {
    diags.warning(st.at, 'preempt_delay: ignored with nopreempt, state MASTER or priority 255, as keepalived does');
    preemptDelayMs = 0;
  }
  if (d.authPass !== null && version === 3 && d.authAt !== null)
    diags.warning(d.authAt.at, 'authentication: ignored with VRRP version 3, as keepalived does');
  if (d.addresses.length > 255) diags.error(st.at, `vrrp_instance ${name}: more than 255 virtual addresses`);
  const link = d.link;
  const virtualAddresses: VrrpAddress[] = d.addresses.map((a) => ({
    addr: a.addr,
    prefixLen: a.prefixLen,
    link: a.dev ?? link,
  }));
  return {
    name,
    file: st.at.file,
    line: st.at.line,
    version,
    initialState: d.state,
    link,
    vrid: d.vrid,
    priority,
    advertIntMs: advertIntMs(d, version, diags),
    authPass: version === 2 ? d.authPass : null,
    preempt,
    preemptDelayMs,
    virtualAddresses,
    garpMasterDelayMs: d.garpMasterDelayMs ?? g.garpMasterDelayMs,
    garpMasterRepeat: d.garpMasterRepeat ?? g.garpMasterRepeat,
    garpMasterRefreshMs: d.garpMasterRefreshMs ?? g.garpMasterRefreshMs,
    garpMasterRefreshRepeat: d.garpMasterRefreshRepeat ?? g.garpMasterRefreshRepeat,
    notifyMaster: d.notifyMaster,
    notifyBackup: d.notifyBackup,
    notifyFault: d.notifyFault,
    notifyStop: d.notifyStop,
    notify: d.notify,
    v3ChecksumAsV2: d.v3ChecksumAsV2 ?? g.v3ChecksumAsV2,
    downTimerAdverts: d.downTimerAdverts,
    lowerPrioNoAdvert: d.lowerPrioNoAdvert,
    higherPrioSendAdvert: d.higherPrioSendAdvert,
    mcastSrcIp: d.mcastSrcIp,
  };
}

/** v2: whole seconds 1..255; v3: centiseconds 1..4095 (RFC 3768 §5.3.7, RFC 5798 §5.2.7). */
function advertIntMs(d: Draft, version: 2 | 3, diags: DiagnosticSink): number {
  const us = d.advertIntUs;
  const ms =
    version === 2
      ? Math.min(255, Math.max(1, Math.round(us / 1e6))) * 1000
      : Math.min(4095, Math.max(1, Math.round(us / 1e4))) * 10;
  if (ms * 1000 !== us && d.advertIntAt !== null)
    diags.warning(d.advertIntAt.at, `advert_int: ${us / 1e6} s is ${ms / 1000} s with VRRP version ${version}`);
  return ms;
}

function readState(s: ConfStatement, d: Draft, diags: DiagnosticSink): void {
  const v = argument(s, diags);
  if (v === null) return;
  extraWords(s, diags, 1);
  if (v === 'MASTER' || v === 'BACKUP') d.state = v;
  else {
    diags.warning(s.at, `state: '${v}' is neither MASTER nor BACKUP: BACKUP, as keepalived reads it`);
    d.state = 'BACKUP';
  }
}

function readPriority(s: ConfStatement, d: Draft, diags: DiagnosticSink): void {
  const v = argument(s, diags);
  if (v === null) return;
  extraWords(s, diags, 1);
  const n = /^[0-9]+$/.test(v) ? Number(v) : Number.NaN;
  if (n >= 1 && n <= 255) d.priority = n;
  else {
    diags.warning(s.at, `priority: '${v}' is outside 1..255: 100, as keepalived reads it`);
    d.priority = 100;
  }
}

function readAuthentication(s: ConfStatement, d: Draft, diags: DiagnosticSink): void {
  let type: string | null = null;
  let pass: string | null = null;
  const handlers = new Map<string, (x: ConfStatement) => void>([
    ['auth_type', (x) => (type = argument(x, diags))],
    ['auth_pass', (x) => (pass = argument(x, diags))],
  ]);
  walkBlock(s.block ?? [], { handlers }, 'authentication', diags);
  d.authAt = s;
  if (type === 'AH') {
    diags.error(s.at, 'authentication: auth_type AH is not supported by tapvs (use PASS or none)');
    return;
  }
  if (type !== 'PASS') {
    diags.error(s.at, `authentication: auth_type must be PASS (got ${type ?? 'none'})`);
    return;
  }
  if (pass === null) {
    diags.error(s.at, 'authentication: auth_pass missing');
    return;
  }
  const p: string = pass;
  if (Buffer.byteLength(p) > 8) diags.warning(s.at, 'auth_pass: longer than 8 bytes: only the first 8 are used');
  d.authPass = p;
}

/** `ADDR[/LEN] [dev IF] [brd …] [scope …] [label …]`: one line of virtual_ipaddress. */
function readAddresses(s: ConfStatement, d: Draft, diags: DiagnosticSink): void {
  for (const line of s.block ?? []) {
    if (line.block !== null) diags.error(line.at, 'virtual_ipaddress: an address takes no block');
    const [text, lenText] = line.keyword.split('/');
    const addr = parseIpv4(text);
    if (addr === null) {
      diags.error(line.at, `virtual_ipaddress: ${addressProblem(text)}`);
      continue;
    }
    const prefixLen = lenText === undefined ? 32 : /^[0-9]{1,2}$/.test(lenText) ? Number(lenText) : -1;
    if (prefixLen < 0 || prefixLen > 32) {
      diags.error(line.at, `virtual_ipaddress: '${line.keyword}': the prefix length must be 0..32`);
      continue;
    }
    let dev: string | null = null;
    for (let i = 0; i < line.args.length; i += 2) {
      const option = line.args[i];
      const value = line.args[i + 1];
      if (value === undefined) {
        diags.warning(line.at, `virtual_ipaddress: '${option}' without a value: ignored`);
        break;
      }
      if (option === 'dev') dev = value;
      else diags.warning(line.at, `virtual_ipaddress: ${option} ${value}: not used by tapvs`);
    }
    if (d.addresses.some((a) => a.addr === addr))
      diags.error(line.at, `virtual_ipaddress: ${text} is given twice in this instance`);
    else d.addresses.push({ addr, prefixLen, dev });
  }
}

function readSourceIp(s: ConfStatement, d: Draft, diags: DiagnosticSink): void {
  const v = argument(s, diags);
  if (v === null) return;
  extraWords(s, diags, 1);
  const a = parseIpv4(v);
  if (a === null) diags.error(s.at, `mcast_src_ip: ${addressProblem(v)}`);
  else d.mcastSrcIp = a;
}

/**
 * track_interface: only the instance's own interface without a weight is accepted (tapvs puts
 * the instance in FAULT when that link goes down); anything else would change who holds the
 * addresses without tapvs acting on it.
 */
function checkTrackedLinks(s: ConfStatement, own: string | null, diags: DiagnosticSink): void {
  for (const t of s.block ?? []) {
    if (t.keyword === own && t.args.length === 0) {
      diags.warning(t.at, `track_interface ${t.keyword}: the instance's own link, already tracked`);
      continue;
    }
    diags.error(
      t.at,
      `track_interface ${[t.keyword, ...t.args].join(' ')}: tapvs tracks only the instance's own link, without a weight`,
    );
  }
}

/** A notify keyword's argv (user and group words are not used: scripts run as tapvsd's user). */
function readNotify(s: ConfStatement, diags: DiagnosticSink): string[] | null {
  const cmd = scriptCommand(s.text);
  if (!cmd.ok) {
    diags.error(s.at, `${s.keyword}: ${cmd.error}`);
    return null;
  }
  if (cmd.extra.length > 0)
    diags.warning(s.at, `${s.keyword}: user and group not used by tapvs: ${cmd.extra.join(' ')}`);
  return cmd.argv;
}
