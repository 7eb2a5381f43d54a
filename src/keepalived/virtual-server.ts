/**
 * `virtual_server` and `real_server` blocks read into drafts: what was written, unset values
 * left null. Defaults, inheritance and keepalived's fix-ups come after (resolve.ts).
 * Keywords as keepalived 2.x installs them (check_parser.c init_check_keywords()).
 *
 * Errors for what tapvs cannot do: fwmark virtual servers, IPv6, SCTP, persistence engines, SMTP_CHECK, FILE_CHECK and
 * BFD_CHECK, and out-of-range values. Where keepalived depends on the order of keywords and
 * would silently drop one (sh-port before `lb_algo sh`, sorry_server_inhibit before
 * sorry_server), that is an error too, so a configuration tapvs accepts means the same to both.
 */

import type { TunnelConfig } from '../control/protocol.js';
import type { ConfStatement } from './blocks.js';
import { CHECKER_TYPES, type CheckerDraft, readChecker } from './checkers.js';
import type { DiagnosticSink } from './diagnostics.js';
import type { LvsMethod, SourceRef } from './lvs-config.js';
import { scriptCommand } from './script-words.js';
import { field, type Handler, into, type KeywordTable, walkBlock } from './statements.js';
import { emptyTiming, type TimingDraft, timingHandlers } from './timing.js';
import {
  argument,
  extraWords,
  parseIPv4,
  readAddressPort,
  readBareFlag,
  readers,
  UINT_MAX,
  WEIGHT_MAX,
} from './values.js';

/** keepalived's schedulers (check_parser.c lvs_schedulers[]); tapvs has each of them. */
export const KEEPALIVED_SCHEDULERS: ReadonlySet<string> = new Set([
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'sh',
  'mh',
  'dh',
  'fo',
  'ovf',
  'lblcr',
  'sed',
  'nq',
  'twos',
]);

/** IPVS_SVC_PERSISTENT_TIMEOUT, and the longest persistence keepalived takes (31 days). */
export const DEFAULT_PERSISTENCE_S = 360;
const MAX_PERSISTENCE_S = 2_678_400;

export interface RealServerDraft {
  readonly at: SourceRef;
  readonly addr: string;
  /** The port on the real_server line, 0 when none. */
  readonly portAsWritten: number;
  weight: number | null;
  /** lvs_method; null = the virtual server's. */
  method: LvsMethod | null;
  uthreshold: number;
  lthreshold: number;
  inhibit: boolean | null;
  alpha: boolean | null;
  notifyUp: string[] | null;
  notifyDown: string[] | null;
  readonly timing: TimingDraft;
  virtualhost: string | null;
  readonly checkers: CheckerDraft[];
}

export type VirtualServerTarget =
  | { readonly kind: 'address'; readonly addr: string; readonly port: number }
  | { readonly kind: 'group'; readonly name: string };

export interface VirtualServerDraft {
  readonly at: SourceRef;
  readonly target: VirtualServerTarget;
  protocol: 'tcp' | 'udp' | null;
  scheduler: string | null;
  readonly schedFlags: string[];
  ops: boolean;
  opsAt: SourceRef | null;
  /** Keywords written in the block, valid or not: no fix-up warning repeats an error. */
  readonly written: Set<string>;
  persistenceTimeoutS: number | null;
  granularity: string | null;
  readonly timing: TimingDraft;
  weight: number;
  inhibit: boolean;
  alpha: boolean;
  omega: boolean;
  quorum: number;
  hysteresis: number;
  quorumUp: string[] | null;
  quorumDown: string[] | null;
  sorry: { readonly addr: string; readonly port: number; readonly at: SourceRef } | null;
  /** sorry_server_lvs_method; null = the virtual server's. */
  sorryMethod: LvsMethod | null;
  /** lb_kind / lvs_method; null = not written (NAT). */
  method: LvsMethod | null;
  sorryInhibit: boolean;
  haSuspend: boolean;
  virtualhost: string | null;
  readonly realServers: RealServerDraft[];
}

export function readVirtualServer(st: ConfStatement, diags: DiagnosticSink): VirtualServerDraft | null {
  const target = readTarget(st, diags);
  if (target === null) return null;
  const d: VirtualServerDraft = {
    at: st.at,
    target,
    protocol: null,
    scheduler: null,
    schedFlags: [],
    ops: false,
    opsAt: null,
    written: new Set(),
    persistenceTimeoutS: null,
    granularity: null,
    timing: emptyTiming(),
    weight: 1,
    inhibit: false,
    alpha: false,
    omega: false,
    quorum: 1,
    hysteresis: 0,
    quorumUp: null,
    quorumDown: null,
    sorry: null,
    sorryMethod: null,
    method: null,
    sorryInhibit: false,
    haSuspend: false,
    virtualhost: null,
    realServers: [],
  };
  walkBlock(st.block ?? [], virtualServerTable(d, diags), 'virtual_server', diags);
  return d;
}

function readTarget(st: ConfStatement, diags: DiagnosticSink): VirtualServerTarget | null {
  const first = st.args[0];
  if (first === undefined) {
    diags.error(st.at, 'virtual_server: missing address');
    return null;
  }
  if (first === 'fwmark') {
    diags.error(st.at, 'fwmark virtual servers: tapvs has no firewall-mark services');
    return null;
  }
  if (first === 'group') {
    const name = st.args[1];
    if (name === undefined) {
      diags.error(st.at, 'virtual_server group: missing group name');
      return null;
    }
    extraWords(st, diags, 2);
    return { kind: 'group', name };
  }
  const ap = readAddressPort(st, diags);
  return ap === null ? null : { kind: 'address', addr: ap.addr, port: ap.port };
}

const VS_REFUSED: ReadonlyMap<string, string> = new Map([['persistence_engine', 'tapvs has no persistence engines']]);

const VS_UNUSED: ReadonlyMap<string, string> = new Map([
  ['smtp_alert', 'tapvs sends no e-mail'],
  ['snmp_name', 'tapvs has no SNMP agent'],
  ['hashed', 'it has no effect, in keepalived either'],
  ['nat_mask', 'keepalived 2 ignores it too'],
]);

function virtualServerTable(d: VirtualServerDraft, diags: DiagnosticSink): KeywordTable {
  const r = readers(diags);
  const scheduler = field(diags, (st) => readScheduler(st, diags), into(d, 'scheduler'));
  const method = (st: ConfStatement) => readMethod(st, 'virtual', diags, (m) => (d.method = m));
  const h = new Map<string, Handler>([
    ...timingHandlers(d.timing, diags, { retryMin: 1, connectTimeout: true }),
    ['ip_family', (st) => readFamily(st, diags)],
    ['inhibit_on_failure', field(diags, r.bareFlag, into(d, 'inhibit'))],
    ['lb_algo', scheduler],
    ['lvs_sched', scheduler],
    ['ops', (st) => field(diags, r.bareFlag, (v) => Object.assign(d, { ops: v, opsAt: st.at }))(st)],
    ['lb_kind', method],
    ['lvs_method', method],
    ['persistence_timeout', (st) => readPersistence(st, d, diags)],
    ['persistence_granularity', field(diags, (st) => readGranularity(st, diags), into(d, 'granularity'))],
    ['protocol', field(diags, (st) => readProtocol(st, diags), into(d, 'protocol'))],
    [
      'ha_suspend',
      (st) => {
        field(diags, r.bareFlag, into(d, 'haSuspend'))(st);
        diags.warning(st.at, 'ha_suspend: checkers always run (tapvs owns its VIPs, so they are always present)');
      },
    ],
    ['virtualhost', field(diags, r.text, into(d, 'virtualhost'))],
    ['alpha', field(diags, r.bareFlag, into(d, 'alpha'))],
    ['omega', field(diags, r.bareFlag, into(d, 'omega'))],
    ['quorum_up', (st) => (d.quorumUp = readScript(st, d.quorumUp, diags))],
    ['quorum_down', (st) => (d.quorumDown = readScript(st, d.quorumDown, diags))],
    ['quorum', field(diags, r.unsigned(1, UINT_MAX), into(d, 'quorum'))],
    ['hysteresis', field(diags, r.unsigned(0, UINT_MAX), into(d, 'hysteresis'))],
    ['weight', field(diags, r.unsigned(1, WEIGHT_MAX), into(d, 'weight'))],
    ['sorry_server', (st) => readSorryServer(st, d, diags)],
    ['sorry_server_inhibit', (st) => readSorryInhibit(st, d, diags)],
    ['sorry_server_lvs_method', (st) => readSorryMethod(st, d, diags)],
    ['real_server', (st) => readRealServer(st, d, diags)],
  ]);
  for (const word of ['flag-1', 'flag-2', 'flag-3', 'sh-port', 'sh-fallback', 'mh-port', 'mh-fallback']) {
    h.set(word, (st) => readSchedFlag(st, d, diags));
  }
  for (const [k, handle] of h) {
    h.set(k, (st) => {
      d.written.add(k);
      handle(st);
    });
  }
  return { handlers: h, blocks: new Set(['real_server']), unused: VS_UNUSED, refused: VS_REFUSED };
}

function readFamily(st: ConfStatement, diags: DiagnosticSink): void {
  const v = argument(st, diags);
  extraWords(st, diags, 1);
  if (v === 'inet6') diags.error(st.at, 'ip_family inet6: tapvs forwards IPv4 only');
  else if (v !== null && v !== 'inet') diags.error(st.at, `ip_family: unknown address family '${v}'`);
}

function readScheduler(st: ConfStatement, diags: DiagnosticSink): string | null {
  const v = argument(st, diags);
  if (v === null) return null;
  if (!KEEPALIVED_SCHEDULERS.has(v)) {
    diags.error(st.at, `${st.keyword}: unknown scheduler '${v}' (one of ${[...KEEPALIVED_SCHEDULERS].join(' ')})`);
    return null;
  }
  return v;
}

/**
 * keepalived sets sh-* and mh-* only when the scheduler named before them is sh or mh
 * (check_parser.c lbflags_handler()); in any other order it drops them with an error.
 */
function readSchedFlag(st: ConfStatement, d: VirtualServerDraft, diags: DiagnosticSink): void {
  extraWords(st, diags, 0);
  const owner = st.keyword.startsWith('sh-') ? 'sh' : st.keyword.startsWith('mh-') ? 'mh' : null;
  if (owner !== null && d.scheduler !== owner) {
    diags.error(st.at, `${st.keyword} needs 'lb_algo ${owner}' before it (keepalived ignores it otherwise)`);
    return;
  }
  if (!d.schedFlags.includes(st.keyword)) d.schedFlags.push(st.keyword);
}

/**
 * lb_kind / lvs_method: `NAT`, `DR`, or `TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`
 * (keepalived 2.x, check_parser.c): gue needs a port and is the only type with one, remcsum is
 * gue's only, ipip takes no checksum word; the defaults are ipip and nocsum, as ipvsadm's.
 */
function readMethod(st: ConfStatement, whose: string, diags: DiagnosticSink, set: (m: LvsMethod) => void): void {
  const v = argument(st, diags);
  if (v === null) return;
  if (v === 'NAT' || v === 'DR') {
    extraWords(st, diags, 1);
    set({ fwd: v === 'NAT' ? 'masq' : 'route' });
  } else if (v === 'TUN') {
    const t = readTunnel(st, diags);
    if (t !== null) set({ fwd: 'tunnel', tunnel: t });
  } else {
    diags.error(st.at, `${st.keyword}: unknown forwarding method '${v}' for the ${whose} server (NAT, DR or TUN)`);
  }
}

/** The words after TUN; null (with an error) when they do not make a tunnel. */
function readTunnel(st: ConfStatement, diags: DiagnosticSink): TunnelConfig | null {
  let type: TunnelConfig['type'] = 'ipip';
  let port: number | null = null;
  let csum: TunnelConfig['csum'] | null = null;
  const words = st.args.slice(1);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === 'type') {
      const t = words[++i];
      if (t !== 'ipip' && t !== 'gue' && t !== 'gre') {
        diags.error(st.at, `${st.keyword} TUN: unknown tunnel type '${t ?? ''}' (ipip, gue or gre)`);
        return null;
      }
      type = t;
    } else if (w === 'port') {
      const n = words[++i];
      const p = n !== undefined && /^\d+$/.test(n) ? Number(n) : -1;
      if (p < 1 || p > 65535) {
        diags.error(st.at, `${st.keyword} TUN: invalid tunnel port '${n ?? ''}' (1-65535)`);
        return null;
      }
      port = p;
    } else if (w === 'nocsum' || w === 'csum' || w === 'remcsum') {
      if (csum !== null) {
        diags.error(st.at, `${st.keyword} TUN: '${w}' after '${csum}': one checksum word only`);
        return null;
      }
      csum = w;
    } else {
      diags.error(st.at, `${st.keyword} TUN: unknown word '${w}' (type, port, nocsum, csum or remcsum)`);
      return null;
    }
  }
  if (type === 'gue' && port === null) {
    diags.error(st.at, `${st.keyword} TUN type gue needs a port`);
    return null;
  }
  if (type !== 'gue' && port !== null) {
    diags.error(st.at, `${st.keyword} TUN: a port is for type gue only`);
    return null;
  }
  if (csum !== null && (type === 'ipip' || (type === 'gre' && csum === 'remcsum'))) {
    diags.error(st.at, `${st.keyword} TUN: ${csum} does not apply to type ${type}`);
    return null;
  }
  return { type, port: port ?? 0, csum: csum ?? 'nocsum' };
}

function readPersistence(st: ConfStatement, d: VirtualServerDraft, diags: DiagnosticSink): void {
  if (st.args.length === 0) {
    d.persistenceTimeoutS = DEFAULT_PERSISTENCE_S;
    return;
  }
  field(diags, readers(diags).unsigned(1, MAX_PERSISTENCE_S), into(d, 'persistenceTimeoutS'))(st);
}

function readGranularity(st: ConfStatement, diags: DiagnosticSink): string | null {
  const v = argument(st, diags);
  if (v === null) return null;
  if (!v.includes('.')) {
    diags.error(
      st.at,
      `persistence_granularity ${v}: an IPv6 prefix length; tapvs is IPv4-only (want a netmask A.B.C.D)`,
    );
    return null;
  }
  const mask = parseIPv4(v);
  if (mask === null) diags.error(st.at, `persistence_granularity: '${v}' is not a netmask (A.B.C.D)`);
  return mask;
}

function readProtocol(st: ConfStatement, diags: DiagnosticSink): 'tcp' | 'udp' | null {
  const v = argument(st, diags);
  if (v === null) return null;
  const p = v.toLowerCase();
  if (p === 'tcp' || p === 'udp') return p;
  if (p === 'sctp') diags.error(st.at, 'protocol SCTP: tapvs forwards TCP and UDP only');
  else diags.error(st.at, `protocol: unknown protocol '${v}' (TCP, UDP or SCTP)`);
  return null;
}

/** A script keyword's argv; given twice is an error (keepalived keeps the first). */
function readScript(st: ConfStatement, previous: string[] | null, diags: DiagnosticSink): string[] | null {
  if (previous !== null) {
    diags.error(st.at, `${st.keyword} given twice (keepalived keeps the first)`);
    return previous;
  }
  const cmd = scriptCommand(st.text);
  if (!cmd.ok) {
    diags.error(st.at, `${st.keyword}: ${cmd.error}`);
    return null;
  }
  if (cmd.extra.length > 0) {
    diags.warning(
      st.at,
      `${st.keyword}: user and group not used by tapvs (scripts run as tapvsd's user): ${cmd.extra.join(' ')}`,
    );
  }
  return cmd.argv;
}

function readSorryServer(st: ConfStatement, d: VirtualServerDraft, diags: DiagnosticSink): void {
  const ap = readAddressPort(st, diags);
  if (ap !== null) d.sorry = { ...ap, at: st.at };
}

function readSorryInhibit(st: ConfStatement, d: VirtualServerDraft, diags: DiagnosticSink): void {
  const v = readBareFlag(st, diags);
  extraWords(st, diags, 1);
  if (v === null) return;
  if (d.sorry === null) {
    diags.error(st.at, 'sorry_server_inhibit needs a sorry_server before it (keepalived ignores it otherwise)');
    return;
  }
  d.sorryInhibit = v;
}

function readSorryMethod(st: ConfStatement, d: VirtualServerDraft, diags: DiagnosticSink): void {
  if (d.sorry === null) {
    diags.error(st.at, 'sorry_server_lvs_method needs a sorry_server before it (keepalived ignores it otherwise)');
    return;
  }
  readMethod(st, 'sorry', diags, (m) => (d.sorryMethod = m));
}

const RS_UNUSED: ReadonlyMap<string, string> = new Map([
  ['smtp_alert', 'tapvs sends no e-mail'],
  ['snmp_name', 'tapvs has no SNMP agent'],
]);

const RS_HINTS: ReadonlyMap<string, string> = new Map([
  ['lb_kind', 'in a real_server keepalived accepts lvs_method only'],
  ['lb_algo', 'the scheduler belongs to the virtual_server'],
]);

/** Checkers tapvs cannot run, and why. */
const UNSUPPORTED_CHECKERS: ReadonlyMap<string, string> = new Map([
  ['SMTP_CHECK', 'tapvs has no SMTP checker'],
  ['FILE_CHECK', 'tapvs does not track files'],
  ['BFD_CHECK', 'tapvs has no BFD'],
]);

function readRealServer(st: ConfStatement, vs: VirtualServerDraft, diags: DiagnosticSink): void {
  const ap = readAddressPort(st, diags);
  if (ap === null) return;
  const d: RealServerDraft = {
    at: st.at,
    addr: ap.addr,
    portAsWritten: ap.port,
    weight: null,
    method: null,
    uthreshold: 0,
    lthreshold: 0,
    inhibit: null,
    alpha: null,
    notifyUp: null,
    notifyDown: null,
    timing: emptyTiming(),
    virtualhost: null,
    checkers: [],
  };
  const r = readers(diags);
  const h = new Map<string, Handler>([
    ...timingHandlers(d.timing, diags, { retryMin: 1, connectTimeout: true }),
    ['weight', field(diags, r.unsigned(0, WEIGHT_MAX), into(d, 'weight'))],
    ['lvs_method', (s) => readMethod(s, 'real', diags, (m) => (d.method = m))],
    ['uthreshold', field(diags, r.unsigned(0, UINT_MAX), into(d, 'uthreshold'))],
    ['lthreshold', field(diags, r.unsigned(0, UINT_MAX), into(d, 'lthreshold'))],
    ['inhibit_on_failure', field(diags, r.flag, into(d, 'inhibit'))],
    ['notify_up', (s) => (d.notifyUp = readScript(s, d.notifyUp, diags))],
    ['notify_down', (s) => (d.notifyDown = readScript(s, d.notifyDown, diags))],
    ['alpha', field(diags, r.flag, into(d, 'alpha'))],
    ['virtualhost', field(diags, r.text, into(d, 'virtualhost'))],
  ]);
  const blocks = new Set<string>();
  for (const type of CHECKER_TYPES) {
    blocks.add(type);
    h.set(type, (s) => {
      const c = readChecker(s, diags);
      if (c !== null) d.checkers.push(c);
    });
  }
  walkBlock(
    st.block ?? [],
    { handlers: h, blocks, unused: RS_UNUSED, refused: UNSUPPORTED_CHECKERS, hints: RS_HINTS },
    'real_server',
    diags,
  );
  vs.realServers.push(d);
}
