/**
 * tapvsadm's command line: ipvsadm 1.31's parsing model, reproduced so that the same words give
 * the same result, the same message and the same exit status (ipvsadm.c and libpopt's rules).
 *
 * Contract: parseArgs(argv) never throws and never touches the network; it returns what to do
 * (a request for tapvsd, a listing, restore, help, version) or a failure with ipvsadm's message
 * and exit code. Host and service names come from a NameDb (by default /etc/hosts and
 * /etc/services, see names.ts).
 *
 * The model, in the order ipvsadm applies it:
 * 1. popt tokenizing: bundled short options (`-Ln`), `--name value` / `--name=value`,
 *    `-p`'s optional value (never a word starting with '-'), `--` ending options, other words
 *    collected as positional arguments. popt errors print `<word>: <text>` and exit 255.
 * 2. The first option must be a command (or -h/-v); otherwise the "Try" line, exit 255. A
 *    command after the first option is `invalid option `<word>'` (exit 2).
 * 3. Each further option in order: its class must not repeat (`multiple '<class>' options
 *    specified`), its value is checked on the spot.
 * 4. `--set` values, stray words, -b flags, then the command/option matrix, then the
 *    per-command checks (zero port, -o on UDP only, real-server port and family, tunnels, list
 *    conflicts).
 * 5. tapvs's own limits, only once ipvsadm would have accepted the line: IPv4 only, TCP/UDP
 *    services only, no fwmark services, no persistence engines, an IPv4 sync group.
 *    --start-daemon/--stop-daemon are refused in rules files: -R is one atomic apply of rules.
 *
 * Forwarding: -g (the default, as in ipvsadm), -m, -i with ipvsadm's --tun-* options, and DPVS's
 * full NAT as --fullnat only (DPVS spells it -b too, which ipvsadm uses for --sched-flags). From
 * DPVS's ipvsadm (tools/ipvsadm/ipvsadm.c) also: -P|--add-laddr, -Q|--del-laddr, -G|--get-laddr
 * with -z|--laddr and -F|--ifname (optional here: DPVS requires it), and --proxy-protocol on
 * -A/-E. None of these letters is one ipvsadm 1.31 uses.
 *
 * Not done here: whether a scheduler exists (tapvsd answers "Scheduler or persistence engine
 * not found", as the kernel does) and everything else the kernel decides.
 */
import { isIPv6 } from 'node:net';
import { isTapvsError } from '../errors.js';
import { DEFAULT_SCHEDULER } from '../ipvs/sched/registry.js';
import { formatIpv4 } from '../packet/ipv4.js';
import { TAPVS_VERSION } from '../version.js';
import { dottedToU32, inetAton, type NameDb, stringToNumber, systemNameDb } from './names.js';
import {
  type Command,
  type DestConfig,
  type DestKey,
  type FwdName,
  type LaddrKey,
  MAX_THRESHOLD,
  MAX_TIMEOUT_S,
  MAX_WEIGHT,
  type ProxyProtocolVersion,
  SCHED_NAME_MAX,
  type ServiceConfig,
  type ServiceKey,
  type TunnelConfig,
} from './protocol.js';
import { schedFlagsFromWords, schedFlagWords } from './sched-flags.js';
import type { SyncDaemonSettings } from './sync-daemon-control.js';

/** ipvsadm's DEF_MCAST_IFN: the interface when --mcast-interface is not given. */
const DEFAULT_MCAST_INTERFACE = 'eth0';

/** ipvsadm's internal command names, as they appear in its messages. */
export type CommandName =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'flush'
  | 'list'
  | 'add-server'
  | 'delete-server'
  | 'edit-server'
  | 'set'
  | 'start-daemon'
  | 'stop-daemon'
  | 'restore'
  | 'save'
  | 'zero'
  // DPVS's full NAT local-address commands (its cmdnames).
  | 'add-laddr'
  | 'del-laddr'
  | 'get-laddr';

/** Everything that shapes a listing (-L) or a save (-S). */
export interface ListOptions {
  numeric: boolean;
  exact: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  tunInfo: boolean;
  nosort: boolean;
  connection: boolean;
  timeout: boolean;
  daemon: boolean;
}

export interface ParseFailure {
  kind: 'error';
  /** The complete text for stderr, without the final newline. */
  message: string;
  exitCode: number;
  /** True when the message is the "Try `tapvsadm -h' ..." line. */
  tryLine?: boolean;
}

export type Parsed =
  | { kind: 'request'; command: CommandName; request: Command }
  /** -L: `request` is list, listConns (-c), getTimeouts (--timeout) or listDaemon (--daemon). */
  | { kind: 'list'; request: Command; service: ServiceKey | null; options: ListOptions }
  /** -S: `request` is a list of all services. */
  | { kind: 'save'; request: Command; options: ListOptions }
  | { kind: 'restore' }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  | ParseFailure;

export interface ParseOptions {
  /** Host and service names (default: /etc/hosts and /etc/services). */
  names?: NameDb;
  /** The program name in the "Try" line and the usage text (ipvsadm prints its argv[0]). */
  progName?: string;
  /** Parsing a line of -R input: a nested -R is refused as ipvsadm refuses it. */
  inRules?: boolean;
}

export const PROG_NAME = 'tapvsadm';
/** IPVS version tapvs reports (kernel IP_VS_VERSION_CODE 0x010201). */
export const IPVS_VERSION = '1.2.1';
/**
 * `-v`: tapvs's own name and version first (it is not ipvsadm), then the ipvsadm release whose
 * command line it follows and the IPVS version whose behaviour it implements. Scripts that look
 * for "IPVS v1.2.1" still find it.
 */
export const VERSION_LINE = `tapvsadm v${TAPVS_VERSION} (ipvsadm v1.31 2019/12/24 compatible, user space, IPVS v${IPVS_VERSION})`;

/** -p without a value (libipvs IPVS_SVC_PERSISTENT_TIMEOUT). */
const DEFAULT_PERSISTENT_S = 360;

// ------------------------------------------------------------------ option classes

/** Option classes in ipvsadm's bit order: the matrix check walks them in this order. */
const OPT_NAMES = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'pe',
  'sched-flags',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'tun-port',
  'tun-nocsum',
  'tun-csum',
  'tun-remcsum',
  // DPVS's (tools/ipvsadm/ipvsadm.c optnames): full NAT local addresses, --proxy-protocol.
  'local-address',
  'ifname',
  'proxy-protocol',
] as const;
type OptClass = (typeof OPT_NAMES)[number];

/** Per command: required (+), optional (' ') and exclusive ('1') classes; the rest is illegal. */
interface Legality {
  required: OptClass[];
  optional: OptClass[];
  exclusive: OptClass[];
}
const SERVICE_OPTS: Legality = {
  required: ['service-address'],
  optional: ['scheduler', 'persistent', 'netmask', 'ops', 'pe', 'sched-flags', 'proxy-protocol'],
  exclusive: [],
};
const SERVER_OPTS: Legality = {
  required: ['service-address', 'real-server'],
  optional: [
    'forwarding-method',
    'weight',
    'u-threshold',
    'l-threshold',
    'tun-type',
    'tun-port',
    'tun-nocsum',
    'tun-csum',
    'tun-remcsum',
  ],
  exclusive: [],
};
const NOTHING: Legality = { required: [], optional: [], exclusive: [] };
const LEGALITY: Record<CommandName, Legality> = {
  'add-service': SERVICE_OPTS,
  'edit-service': SERVICE_OPTS,
  'delete-service': { required: ['service-address'], optional: [], exclusive: [] },
  flush: NOTHING,
  list: {
    required: [],
    optional: ['numeric', 'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'tun-info'],
    exclusive: ['connection', 'service-address', 'timeout', 'daemon'],
  },
  'add-server': SERVER_OPTS,
  'delete-server': { required: ['service-address', 'real-server'], optional: [], exclusive: [] },
  'edit-server': SERVER_OPTS,
  set: NOTHING,
  'start-daemon': {
    required: [],
    optional: ['mcast-interface', 'syncid', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen'],
    exclusive: [],
  },
  'stop-daemon': { required: [], optional: ['syncid'], exclusive: [] },
  restore: NOTHING,
  save: { required: [], optional: ['numeric'], exclusive: [] },
  zero: { required: [], optional: ['service-address'], exclusive: [] },
  // DPVS makes -F compulsory with -P/-Q; tapvs finds the link by the route when it is not given.
  'add-laddr': { required: ['service-address', 'local-address'], optional: ['ifname'], exclusive: [] },
  'del-laddr': { required: ['service-address', 'local-address'], optional: ['ifname'], exclusive: [] },
  'get-laddr': { required: [], optional: ['service-address'], exclusive: [] },
};

// ------------------------------------------------------------------ popt option table

type ArgKind = 'none' | 'required' | 'optional';
interface OptSpec {
  long: string | null;
  short: string | null;
  arg: ArgKind;
  tag: string;
}

/** The options ipvsadm declares to popt, in its table order (long-name lookups take the first). */
const OPTIONS: OptSpec[] = [
  { long: 'add-service', short: 'A', arg: 'none', tag: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', tag: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', tag: 'D' },
  { long: 'clear', short: 'C', arg: 'none', tag: 'C' },
  { long: 'list', short: 'L', arg: 'none', tag: 'L' },
  { long: 'list', short: 'l', arg: 'none', tag: 'L' },
  { long: 'zero', short: 'Z', arg: 'none', tag: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', tag: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', tag: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', tag: 'd' },
  { long: 'set', short: null, arg: 'none', tag: 'set' },
  { long: 'help', short: 'h', arg: 'none', tag: 'h' },
  { long: 'version', short: 'v', arg: 'none', tag: 'v' },
  { long: 'restore', short: 'R', arg: 'none', tag: 'R' },
  { long: 'save', short: 'S', arg: 'none', tag: 'S' },
  { long: 'start-daemon', short: null, arg: 'required', tag: 'start-daemon' },
  { long: 'stop-daemon', short: null, arg: 'required', tag: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'required', tag: 't' },
  { long: 'udp-service', short: 'u', arg: 'required', tag: 'u' },
  { long: 'sctp-service', short: null, arg: 'required', tag: 'sctp' },
  { long: 'fwmark-service', short: 'f', arg: 'required', tag: 'f' },
  { long: 'scheduler', short: 's', arg: 'required', tag: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', tag: 'p' },
  { long: 'netmask', short: 'M', arg: 'required', tag: 'M' },
  { long: 'real-server', short: 'r', arg: 'required', tag: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', tag: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', tag: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', tag: 'g' },
  { long: 'weight', short: 'w', arg: 'required', tag: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'required', tag: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'required', tag: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', tag: 'n' },
  { long: 'connection', short: 'c', arg: 'none', tag: 'c' },
  { long: 'mcast-interface', short: null, arg: 'required', tag: 'mcast-interface' },
  { long: 'syncid', short: null, arg: 'required', tag: 'syncid' },
  { long: 'timeout', short: null, arg: 'none', tag: 'timeout' },
  { long: 'daemon', short: null, arg: 'none', tag: 'daemon' },
  { long: 'stats', short: null, arg: 'none', tag: 'stats' },
  { long: 'rate', short: null, arg: 'none', tag: 'rate' },
  { long: 'thresholds', short: null, arg: 'none', tag: 'thresholds' },
  { long: 'persistent-conn', short: null, arg: 'none', tag: 'persistent-conn' },
  { long: 'nosort', short: null, arg: 'none', tag: 'nosort' },
  { long: 'sort', short: null, arg: 'none', tag: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', tag: 'X' },
  { long: 'ipv6', short: '6', arg: 'none', tag: '6' },
  { long: 'ops', short: 'o', arg: 'none', tag: 'o' },
  { long: 'pe', short: null, arg: 'required', tag: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'required', tag: 'b' },
  { long: 'mcast-group', short: null, arg: 'required', tag: 'mcast-group' },
  { long: 'mcast-port', short: null, arg: 'required', tag: 'mcast-port' },
  { long: 'mcast-ttl', short: null, arg: 'required', tag: 'mcast-ttl' },
  { long: 'sync-maxlen', short: null, arg: 'required', tag: 'sync-maxlen' },
  { long: 'tun-info', short: null, arg: 'none', tag: 'tun-info' },
  { long: 'tun-type', short: null, arg: 'required', tag: 'tun-type' },
  { long: 'tun-port', short: null, arg: 'required', tag: 'tun-port' },
  { long: 'tun-nocsum', short: null, arg: 'none', tag: 'tun-nocsum' },
  { long: 'tun-csum', short: null, arg: 'none', tag: 'tun-csum' },
  { long: 'tun-remcsum', short: null, arg: 'none', tag: 'tun-remcsum' },
  // DPVS's options (tools/ipvsadm/ipvsadm.c), letters ipvsadm does not use. DPVS spells full NAT
  // -b as well, but ipvsadm's -b is --sched-flags: tapvs keeps ipvsadm's and has --fullnat only.
  { long: 'add-laddr', short: 'P', arg: 'none', tag: 'P' },
  { long: 'del-laddr', short: 'Q', arg: 'none', tag: 'Q' },
  { long: 'get-laddr', short: 'G', arg: 'none', tag: 'G' },
  { long: 'fullnat', short: null, arg: 'none', tag: 'fullnat' },
  { long: 'laddr', short: 'z', arg: 'required', tag: 'z' },
  { long: 'ifname', short: 'F', arg: 'required', tag: 'F' },
  { long: 'proxy-protocol', short: null, arg: 'required', tag: 'proxy-protocol' },
];

const COMMAND_TAGS: ReadonlyMap<string, CommandName> = new Map<string, CommandName>([
  ['A', 'add-service'],
  ['E', 'edit-service'],
  ['D', 'delete-service'],
  ['C', 'flush'],
  ['L', 'list'],
  ['Z', 'zero'],
  ['a', 'add-server'],
  ['e', 'edit-server'],
  ['d', 'delete-server'],
  ['set', 'set'],
  ['R', 'restore'],
  ['S', 'save'],
  ['start-daemon', 'start-daemon'],
  ['stop-daemon', 'stop-daemon'],
  ['P', 'add-laddr'],
  ['Q', 'del-laddr'],
  ['G', 'get-laddr'],
]);

/** popt's error texts (poptStrerror). */
const POPT_BADOPT = 'unknown option';
const POPT_NOARG = 'missing argument';
const POPT_UNWANTEDARG = 'option does not take an argument';

type PoptEvent = { kind: 'opt'; spec: OptSpec; arg: string | null } | { kind: 'end' } | { kind: 'error'; text: string };

/**
 * A popt context over argv (without the program name): the subset of popt's poptGetNextOpt that
 * ipvsadm's table exercises (no aliases, no one-dash long options).
 */
class Popt {
  private next = 0;
  /** The rest of a short-option bundle still to read, or null. May be "" (popt keeps it). */
  private charArg: string | null = null;
  private restLeftover = false;
  readonly leftovers: string[] = [];

  constructor(private readonly argv: readonly string[]) {}

  /** poptBadOption: the last command-line word consumed. */
  get badWord(): string {
    return this.argv[this.next - 1] ?? '';
  }

  nextOpt(): PoptEvent {
    for (;;) {
      if (this.charArg === null && this.next === this.argv.length) return { kind: 'end' };
      let spec: OptSpec | undefined;
      let longArg: string | null = null;
      if (this.charArg === null) {
        const word = this.argv[this.next++];
        if (this.restLeftover || word[0] !== '-' || word === '-') {
          this.leftovers.push(word);
          continue;
        }
        if (word === '--') {
          this.restLeftover = true;
          continue;
        }
        if (word[1] === '-') {
          const body = word.slice(2);
          const eq = body.indexOf('=');
          const name = eq < 0 ? body : body.slice(0, eq);
          if (eq >= 0) longArg = body.slice(eq + 1);
          spec = OPTIONS.find((o) => o.long === name);
          if (spec === undefined) return { kind: 'error', text: POPT_BADOPT };
        } else {
          this.charArg = word.slice(1);
        }
      }
      if (this.charArg !== null) {
        const c = this.charArg[0];
        const rest = this.charArg.slice(1);
        this.charArg = null;
        spec = c === undefined ? undefined : OPTIONS.find((o) => o.short === c);
        if (spec === undefined) return { kind: 'error', text: POPT_BADOPT };
        if (rest !== '') this.charArg = rest;
      }
      if (spec === undefined) return { kind: 'error', text: POPT_BADOPT };
      if (spec.arg === 'none') {
        if (longArg !== null || (this.charArg !== null && this.charArg[0] === '=')) {
          return { kind: 'error', text: POPT_UNWANTEDARG };
        }
        return { kind: 'opt', spec, arg: null };
      }
      let arg: string | null;
      if (longArg !== null) {
        arg = longArg;
      } else if (this.charArg !== null) {
        arg = this.charArg[0] === '=' ? this.charArg.slice(1) : this.charArg;
        this.charArg = null;
      } else if (this.next === this.argv.length) {
        if (spec.arg === 'required') return { kind: 'error', text: POPT_NOARG };
        arg = null;
      } else if (spec.arg === 'optional' && this.argv[this.next][0] === '-') {
        arg = null; // current popt: an optional value never starts with '-'
      } else {
        arg = this.argv[this.next++];
      }
      return { kind: 'opt', spec, arg };
    }
  }
}

// ------------------------------------------------------------------ scheduler flags

/** Canonical words for the request: every set bit once, named for the scheduler where it can be. */
function schedFlagRequestWords(sched: string, bits: number): string[] {
  return schedFlagWords(sched, bits);
}

/**
 * ipvsadm's parse_sched_flags, through sched-flags.ts's checks (sh-* only with sh, mh-* only with
 * mh, against -s or wlc; first bad word reported).
 */
function parseSchedFlags(sched: string, arg: string): number {
  // ipvsadm crashes on a list of commas only; refusing it is the sane reading.
  if (/^,+$/.test(arg)) throw new Fail(`invalid scheduler flag \`${arg}'`);
  try {
    return schedFlagsFromWords(sched, [arg]);
  } catch (e) {
    if (isTapvsError(e)) throw new Fail(e.message);
    throw e;
  }
}

// ------------------------------------------------------------------ parsing state

class Fail {
  constructor(
    readonly message: string,
    readonly exitCode = 2,
    readonly tryLine = false,
  ) {}
}

type SvcProto = 'tcp' | 'udp' | 'sctp' | null;

interface ParsedAddr {
  af: 4 | 6;
  addr: string;
  port: number | null;
}

/**
 * ipvsadm's parse_service: `a.b.c.d[:port]`, `name[:port]`, `[v6]:port` or a bare v6 literal.
 * Port: decimal 0..65535 or a service name for the protocol known so far. null = illegal.
 */
function parseService(buf: string, proto: SvcProto, names: NameDb): ParsedAddr | null {
  if (/^\d*$/.test(buf)) return null; // str_is_digit, which also holds for ""
  let s = buf;
  let portStr: string | null = null;
  let bracketed = false;
  if (s[0] === '[') {
    const close = s.indexOf(']', 1);
    if (close < 0 || s[close + 1] !== ':') return null;
    portStr = s.slice(close + 2);
    s = s.slice(1, close);
    bracketed = true;
  }
  let af: 4 | 6;
  let addr: string;
  if (isIPv6(s) && !s.includes('%')) {
    af = 6;
    addr = s;
  } else {
    // Inside brackets ipvsadm looks for the port separator in what is left of the string: an
    // IPv4 address in brackets therefore loses its port (`[1.2.3.4]:80` is 1.2.3.4, port 0).
    if (bracketed) portStr = null;
    const colon = s.lastIndexOf(':');
    if (colon >= 0) {
      portStr = s.slice(colon + 1);
      s = s.slice(0, colon);
    }
    const a = inetAton(s);
    if (a !== null) {
      addr = formatIpv4(a);
    } else {
      const h = names.hostToAddr(s);
      if (h === null) return null;
      addr = h;
    }
    af = 4;
  }
  if (portStr === null) return { af, addr, port: null };
  let port = stringToNumber(portStr, 0, 65535);
  if (port < 0) {
    const p = proto === null ? null : names.serviceToPort(portStr, proto);
    if (p === null) return null;
    port = p;
  }
  return { af, addr, port };
}

/** ipvsadm's parse_netmask: inet_aton, else a resolvable host name. Dotted, or null. */
function parseNetmask(buf: string, names: NameDb): string | null {
  const a = inetAton(buf);
  if (a !== null) return formatIpv4(a);
  return names.hostToAddr(buf);
}

function parseTimeout(buf: string | null, min: number, max: number): number {
  if (buf === null) return DEFAULT_PERSISTENT_S;
  const n = stringToNumber(buf, min, max);
  if (n < 0) throw new Fail(`invalid timeout value \`${buf}' specified`);
  return n;
}

/** parse_fwmark: strtol base 10 of the whole string, then 1..UINT_MAX. */
function parseFwmark(buf: string): number {
  const n = stringToNumber(buf, 1, 4294967295);
  if (n < 0) throw new Fail(`invalid fwmark value \`${buf}' specified`);
  return n;
}

/**
 * inet_pton(AF_INET6) then IN6_IS_ADDR_MULTICAST: the first 16-bit group, written in full, starts
 * with ff (`ff::1` does not); inet_pton takes no zone (`%eth0`).
 */
function isMulticastV6(text: string): boolean {
  return isIPv6(text) && !text.includes('%') && /^ff[0-9a-f]{2}:/i.test(text);
}

type TunType = TunnelConfig['type'];

interface State {
  cmd: CommandName | null;
  opts: Set<OptClass>;
  svcProto: SvcProto;
  svcAf: 0 | 4 | 6;
  svcAddr: string | null;
  svcPort: number;
  fwmark: number;
  netmask: string;
  sched: string;
  persistent: boolean;
  timeoutS: number;
  ops: boolean;
  pe: string;
  schedFlagsArg: string;
  schedBits: number;
  destAf: 0 | 4 | 6;
  destAddr: string | null;
  destPort: number;
  fwd: FwdName;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  /** --tun-port (GUE), 0 when not given. */
  tunPort: number;
  tunCsum: TunnelConfig['csum'];
  /** --proxy-protocol v1|v2; null = disable or not given. */
  proxyProtocol: ProxyProtocolVersion | null;
  /** -z / -F (DPVS's local-address commands). */
  laddrAf: 0 | 4 | 6;
  laddr: string | null;
  ifname: string | null;
  timeouts: [number, number, number];
  list: ListOptions;
  /** --start-daemon/--stop-daemon: the role and the daemon options (ipvsadm's defaults). */
  daemon: SyncDaemonSettings;
  /** --mcast-group was a valid IPv6 group: ipvsadm accepts it, tapvs refuses it afterwards. */
  mcastGroupV6: boolean;
}

function newState(): State {
  return {
    daemon: {
      role: 'master',
      mcastInterface: DEFAULT_MCAST_INTERFACE,
      syncid: 0,
      maxlen: 0,
      group: 0,
      port: 0,
      ttl: 0,
    },
    mcastGroupV6: false,
    cmd: null,
    opts: new Set(),
    svcProto: null,
    svcAf: 0,
    svcAddr: null,
    svcPort: 0,
    fwmark: 0,
    netmask: '255.255.255.255',
    sched: '',
    persistent: false,
    timeoutS: 0,
    ops: false,
    pe: '',
    schedFlagsArg: '',
    schedBits: 0,
    destAf: 0,
    destAddr: null,
    destPort: 0,
    fwd: 'route',
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: 'ipip',
    tunPort: 0,
    tunCsum: 'nocsum',
    proxyProtocol: null,
    laddrAf: 0,
    laddr: null,
    ifname: null,
    timeouts: [0, 0, 0],
    list: {
      numeric: false,
      exact: false,
      stats: false,
      rate: false,
      thresholds: false,
      persistentConn: false,
      tunInfo: false,
      nosort: false,
      connection: false,
      timeout: false,
      daemon: false,
    },
  };
}

function setOption(st: State, c: OptClass): void {
  if (st.opts.has(c)) throw new Fail(`multiple '${c}' options specified`);
  st.opts.add(c);
}

function tryLine(prog: string): string {
  return `Try \`${prog} -h' or '${prog} --help' for more information.`;
}

// ------------------------------------------------------------------ the parser

/** Parses a tapvsadm command line (argv without the program name). Never throws. */
export function parseArgs(argv: readonly string[], options: ParseOptions = {}): Parsed {
  const prog = options.progName ?? PROG_NAME;
  const names = options.names ?? systemNameDb();
  try {
    return parse(argv, prog, names, options.inRules === true);
  } catch (e) {
    if (e instanceof Fail) {
      const f: ParseFailure = { kind: 'error', message: e.message, exitCode: e.exitCode };
      if (e.tryLine) f.tryLine = true;
      return f;
    }
    throw e;
  }
}

function parse(argv: readonly string[], prog: string, names: NameDb, inRules: boolean): Parsed {
  const st = newState();
  if (argv.length === 0 && !inRules) {
    // ipvsadm with no arguments lists the table, non-numeric.
    return listResult(st);
  }
  const popt = new Popt(argv);
  const tryFail = new Fail(tryLine(prog), 255, true);

  // The first option must be a command (ipvsadm dispatches only the first one).
  const first = popt.nextOpt();
  if (first.kind !== 'opt') throw tryFail;
  const tag = first.spec.tag;
  if (tag === 'h') return { kind: 'help', text: usageText(prog) };
  if (tag === 'v') return { kind: 'version', text: VERSION_LINE };
  const cmd = COMMAND_TAGS.get(tag);
  if (cmd === undefined) throw tryFail;
  st.cmd = cmd;
  if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
    if (first.arg !== 'master' && first.arg !== 'backup') {
      throw new Fail(
        cmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified',
      ); // sic, ipvsadm's words
    }
    st.daemon.role = first.arg;
  }

  for (;;) {
    const ev = popt.nextOpt();
    if (ev.kind === 'end') break;
    if (ev.kind === 'error') throw new Fail(`${popt.badWord}: ${ev.text}`, 255);
    applyOption(st, ev.spec, ev.arg, names, popt);
  }

  const leftovers = popt.leftovers;
  if (cmd === 'set') {
    if (leftovers.length < 3) throw new Fail('--set option requires 3 timeout values');
    const [a, b, c] = leftovers.splice(0, 3);
    st.timeouts = [
      parseTimeout(a, 0, MAX_TIMEOUT_S),
      parseTimeout(b, 0, MAX_TIMEOUT_S),
      parseTimeout(c, 0, MAX_TIMEOUT_S),
    ];
  }
  if (leftovers.length > 0) throw new Fail(`unexpected argument ${leftovers[0]}`);
  if (st.schedFlagsArg !== '') st.schedBits = parseSchedFlags(st.sched, st.schedFlagsArg);

  genericOptCheck(cmd, st.opts);

  if (cmd === 'add-service' || cmd === 'edit-service') {
    if (st.fwmark === 0 && st.svcPort === 0 && !st.persistent) {
      throw new Fail('Zero port specified for non-persistent service');
    }
    if (st.ops && st.fwmark === 0 && st.svcProto !== 'udp') {
      throw new Fail('One-Packet Scheduling is only for UDP virtual services');
    }
    if (st.sched === '') st.sched = DEFAULT_SCHEDULER;
  }
  if (cmd === 'add-server' || cmd === 'edit-server') {
    // Direct routing and tunnelling cannot change the port (ipvsadm forces it).
    if (st.fwmark === 0 && (st.fwd === 'route' || st.fwd === 'tunnel')) st.destPort = st.svcPort;
    if (st.destAf !== st.svcAf && st.fwd !== 'tunnel') {
      throw new Fail('Different address family is allowed only for tunneling servers');
    }
    const tunOpts = (['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const).some((o) =>
      st.opts.has(o),
    );
    if (tunOpts && st.fwd !== 'tunnel') throw new Fail('Tunnel options conflict with forward method');
    tunnelOptCheck(st.tunType, st.opts);
  }
  if (cmd === 'list') {
    const o = st.opts;
    if (
      ((o.has('connection') || o.has('timeout') || o.has('daemon')) &&
        (o.has('stats') || o.has('rate') || o.has('thresholds'))) ||
      ((o.has('timeout') || o.has('daemon')) && o.has('persistent-conn'))
    ) {
      throw new Fail('options conflicts in the list command');
    }
  }
  if (cmd === 'restore' && inRules) throw tryFail; // ipvsadm refuses a nested -R this way

  tapvsLimits(st, cmd, inRules);
  return build(st, cmd);
}

function applyOption(st: State, spec: OptSpec, arg: string | null, names: NameDb, popt: Popt): void {
  const a = arg ?? '';
  switch (spec.tag) {
    case 't':
    case 'u':
    case 'sctp': {
      setOption(st, 'service-address');
      st.svcProto = spec.tag === 'sctp' ? 'sctp' : spec.tag === 't' ? 'tcp' : 'udp';
      const p = parseService(a, st.svcProto, names);
      if (p === null) throw new Fail('illegal virtual server address[:port] specified');
      st.svcAf = p.af;
      st.svcAddr = p.addr;
      if (p.af === 6) st.netmask = '128';
      if (p.port !== null) st.svcPort = p.port;
      return;
    }
    case 'f':
      setOption(st, 'service-address');
      st.svcAf = 4;
      st.svcProto = 'tcp'; // ipvsadm sets TCP for fwmark services, unused but it drives name lookups
      st.fwmark = parseFwmark(a);
      return;
    case 's':
      setOption(st, 'scheduler');
      st.sched = a.slice(0, SCHED_NAME_MAX);
      return;
    case 'p':
      setOption(st, 'persistent');
      st.persistent = true;
      st.timeoutS = parseTimeout(arg, 1, MAX_TIMEOUT_S);
      return;
    case 'M': {
      setOption(st, 'netmask');
      if (st.svcAf !== 6) {
        const m = parseNetmask(a, names);
        if (m === null) throw new Fail('illegal virtual server persistent mask specified');
        st.netmask = m;
      } else {
        const plen = atoi(a);
        if (plen < 1 || plen > 128) throw new Fail('illegal ipv6 netmask specified');
        st.netmask = String(plen);
      }
      return;
    }
    case 'r': {
      setOption(st, 'real-server');
      const p = parseService(a, st.svcProto, names);
      if (p === null) throw new Fail('illegal real server address[:port] specified');
      st.destAf = p.af;
      st.destAddr = p.addr;
      // No port given: the service port as parsed so far (0 if -t comes later).
      st.destPort = p.port ?? st.svcPort;
      return;
    }
    case 'i':
      setOption(st, 'forwarding-method');
      st.fwd = 'tunnel';
      return;
    case 'g':
      setOption(st, 'forwarding-method');
      st.fwd = 'route';
      return;
    case 'm':
      setOption(st, 'forwarding-method');
      st.fwd = 'masq';
      return;
    case 'fullnat':
      setOption(st, 'forwarding-method');
      st.fwd = 'fullnat';
      return;
    case 'z': {
      // DPVS: parse_service, so a port is read and ignored.
      setOption(st, 'local-address');
      const p = parseService(a, st.svcProto, names);
      if (p === null) throw new Fail('illegal local address');
      st.laddrAf = p.af;
      st.laddr = p.addr;
      return;
    }
    case 'F':
      setOption(st, 'ifname');
      st.ifname = a.slice(0, 15); // IFNAMSIZ - 1, as DPVS's snprintf cuts it
      return;
    case 'proxy-protocol':
      setOption(st, 'proxy-protocol');
      st.proxyProtocol = parseProxyProtocol(a);
      return;
    case 'w':
      setOption(st, 'weight');
      st.weight = stringToNumber(a, 0, MAX_WEIGHT);
      if (st.weight < 0) throw new Fail('illegal weight specified');
      return;
    case 'x':
      setOption(st, 'u-threshold');
      st.uThreshold = stringToNumber(a, 0, MAX_THRESHOLD);
      if (st.uThreshold < 0) throw new Fail('illegal u_threshold specified');
      return;
    case 'y':
      setOption(st, 'l-threshold');
      st.lThreshold = stringToNumber(a, 0, MAX_THRESHOLD);
      if (st.lThreshold < 0) throw new Fail('illegal l_threshold specified');
      return;
    case 'c':
      setOption(st, 'connection');
      st.list.connection = true;
      return;
    case 'n':
      setOption(st, 'numeric');
      st.list.numeric = true;
      return;
    case 'mcast-interface':
      setOption(st, 'mcast-interface');
      st.daemon.mcastInterface = a.slice(0, 15); // IP_VS_IFNAME_MAXLEN - 1
      return;
    case 'syncid':
      setOption(st, 'syncid');
      st.daemon.syncid = stringToNumber(a, 0, 255);
      if (st.daemon.syncid < 0) throw new Fail('illegal syncid specified');
      return;
    case 'timeout':
      setOption(st, 'timeout');
      st.list.timeout = true;
      return;
    case 'daemon':
      setOption(st, 'daemon');
      st.list.daemon = true;
      return;
    case 'stats':
      setOption(st, 'stats');
      st.list.stats = true;
      return;
    case 'rate':
      setOption(st, 'rate');
      st.list.rate = true;
      return;
    case 'thresholds':
      setOption(st, 'thresholds');
      st.list.thresholds = true;
      return;
    case 'persistent-conn':
      setOption(st, 'persistent-conn');
      st.list.persistentConn = true;
      return;
    case 'nosort':
      setOption(st, 'nosort');
      st.list.nosort = true;
      return;
    case 'sort':
      return; // sorting is the default; kept for compatibility, as in ipvsadm
    case 'X':
      setOption(st, 'exact');
      st.list.exact = true;
      return;
    case '6':
      if (st.fwmark === 0) throw new Fail('-6 used before -f\n'); // sic: ipvsadm adds a blank line
      st.svcAf = 6;
      st.netmask = '128';
      return;
    case 'o':
      setOption(st, 'ops');
      st.ops = true;
      return;
    case 'pe':
      setOption(st, 'pe');
      st.pe = a;
      return;
    case 'b':
      setOption(st, 'sched-flags');
      st.schedFlagsArg = a;
      return;
    case 'mcast-group':
      setOption(st, 'mcast-group');
      if (a.includes(':')) {
        if (!isMulticastV6(a)) throw new Fail(`invalid IPv6 mcast-group \`${a}'`);
        st.mcastGroupV6 = true;
      } else {
        const group = dottedToU32(a);
        if (group === null || group >>> 28 !== 0xe) throw new Fail(`invalid IPv4 mcast-group \`${a}'`);
        st.daemon.group = group | 0;
      }
      return;
    case 'mcast-port':
      setOption(st, 'mcast-port');
      st.daemon.port = stringToNumber(a, 1, 65535);
      if (st.daemon.port < 0) throw new Fail('illegal mcast-port specified');
      return;
    case 'mcast-ttl':
      setOption(st, 'mcast-ttl');
      st.daemon.ttl = stringToNumber(a, 1, 255);
      if (st.daemon.ttl < 0) throw new Fail('illegal mcast-ttl specified');
      return;
    case 'sync-maxlen':
      setOption(st, 'sync-maxlen');
      st.daemon.maxlen = stringToNumber(a, 1, 65535 - 20 - 8);
      if (st.daemon.maxlen < 0) throw new Fail('illegal sync-maxlen specified');
      return;
    case 'tun-info':
      setOption(st, 'tun-info');
      st.list.tunInfo = true;
      return;
    case 'tun-type':
      setOption(st, 'tun-type');
      if (a !== 'ipip' && a !== 'gue' && a !== 'gre') throw new Fail('illegal tunnel type specified');
      st.tunType = a;
      return;
    case 'tun-port':
      setOption(st, 'tun-port');
      st.tunPort = stringToNumber(a, 1, 65535);
      if (st.tunPort < 0) throw new Fail('illegal tunnel port specified');
      return;
    case 'tun-nocsum':
      setOption(st, 'tun-nocsum');
      st.tunCsum = 'nocsum';
      return;
    case 'tun-csum':
      setOption(st, 'tun-csum');
      st.tunCsum = 'csum';
      return;
    case 'tun-remcsum':
      setOption(st, 'tun-remcsum');
      st.tunCsum = 'remcsum';
      return;
    default:
      // A command, -h or -v after the first option: not handled by ipvsadm's option loop.
      throw new Fail(`invalid option \`${popt.badWord}'`);
  }
}

/**
 * --proxy-protocol (DPVS's proxy_protocol_type words): v1, v2 or disable. DPVS's v1-insecure and
 * v2-insecure (a header taken from the client as is) are refused: tapvs always writes its own.
 */
function parseProxyProtocol(a: string): ProxyProtocolVersion | null {
  if (a === 'v1' || a === 'v2') return a;
  if (a === 'disable') return null;
  if (a === 'v1-insecure' || a === 'v2-insecure') {
    throw new Fail(
      `tapvs has no insecure PROXY protocol mode (--proxy-protocol ${a}): use v1 or v2, ` +
        'which always send the client address tapvs saw',
    );
  }
  throw new Fail(`illegal proxy protocol specified: \`${a}' (disable, v1 or v2)`);
}

/** C atoi: leading blanks, sign, digits; anything else stops it. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m === null ? 0 : Number(m[1]);
}

/** ipvsadm's generic_opt_check: walk the classes in bit order, report the first problem. */
function genericOptCheck(cmd: CommandName, opts: Set<OptClass>): void {
  const rule = LEGALITY[cmd];
  let firstExclusive: OptClass | null = null;
  for (const c of OPT_NAMES) {
    if (!opts.has(c)) {
      if (rule.required.includes(c)) {
        throw new Fail(`You need to supply the '${c}' option for the '${cmd}' command`);
      }
      continue;
    }
    if (rule.required.includes(c) || rule.optional.includes(c)) continue;
    if (!rule.exclusive.includes(c)) throw new Fail(`Illegal '${c}' option with the '${cmd}' command`);
    if (firstExclusive === null) {
      firstExclusive = c;
      continue;
    }
    throw new Fail(`The option '${c}' conflicts with the '${firstExclusive}' option in the '${cmd}' command`);
  }
}

/** ipvsadm's tunnel_opt_check: gue needs --tun-port and takes one checksum option, gre one of two. */
function tunnelOptCheck(type: TunType, opts: Set<OptClass>): void {
  const table: Record<TunType, Partial<Record<OptClass, '+' | '1'>>> = {
    ipip: {},
    gue: { 'tun-port': '+', 'tun-nocsum': '1', 'tun-csum': '1', 'tun-remcsum': '1' },
    gre: { 'tun-nocsum': '1', 'tun-csum': '1' },
  };
  const rule = table[type];
  let firstExclusive: OptClass | null = null;
  for (const c of ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const) {
    const r = rule[c];
    if (!opts.has(c)) {
      if (r === '+') throw new Fail(`You need to supply the '${c}' option for the '${type}' tunnel type`);
      continue;
    }
    if (r === undefined) throw new Fail(`Illegal '${c}' option with the '${type}' tunnel type`);
    if (r === '1') {
      if (firstExclusive === null) {
        firstExclusive = c;
        continue;
      }
      throw new Fail(`The option '${c}' conflicts with the '${firstExclusive}' option in the '${type}' tunnel type`);
    }
  }
}

/** What tapvs does not do, said plainly, once ipvsadm would have accepted the command. */
function tapvsLimits(st: State, cmd: CommandName, inRules: boolean): void {
  if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
    if (inRules) throw new Fail(`--${cmd} does not belong in a rules file: run it as its own tapvsadm command`);
    if (st.mcastGroupV6) throw new Fail('tapvs syncs IPv4 only: give an IPv4 --mcast-group');
  }
  if (st.opts.has('service-address')) {
    if (st.fwmark !== 0) {
      throw new Fail('tapvs has no firewall-mark services (-f): use -t or -u');
    }
    if (st.svcProto === 'sctp') throw new Fail('tapvs has no SCTP services: use -t or -u');
    if (st.svcAf === 6) throw new Fail('tapvs is IPv4 only: the virtual service must be an IPv4 address');
  }
  if (st.pe !== '') throw new Fail('tapvs has no persistence engines (--pe)');
  if (cmd === 'add-server' || cmd === 'edit-server') {
    if (st.destAf === 6) throw new Fail('tapvs is IPv4 only: the real server must be an IPv4 address');
  }
  if (st.laddrAf === 6) throw new Fail('tapvs is IPv4 only: the local address must be an IPv4 address');
}

function serviceKey(st: State): ServiceKey {
  // tapvsLimits has ruled out fwmark, SCTP and IPv6 by now.
  return { proto: st.svcProto === 'udp' ? 'udp' : 'tcp', addr: st.svcAddr ?? '0.0.0.0', port: st.svcPort };
}

function serviceConfig(st: State): ServiceConfig {
  return {
    scheduler: st.sched,
    schedFlags: schedFlagRequestWords(st.sched, st.schedBits),
    persistentS: st.persistent ? st.timeoutS : null,
    netmask: st.netmask,
    ops: st.ops,
    ...(st.proxyProtocol === null ? {} : { proxyProtocol: st.proxyProtocol }),
  };
}

function destKey(st: State): DestKey {
  return { addr: st.destAddr ?? '0.0.0.0', port: st.destPort };
}

function destConfig(st: State): DestConfig {
  const c: DestConfig = { fwd: st.fwd, weight: st.weight, uThreshold: st.uThreshold, lThreshold: st.lThreshold };
  if (st.fwd === 'tunnel') c.tunnel = { type: st.tunType, port: st.tunPort, csum: st.tunCsum };
  return c;
}

function laddrKey(st: State): LaddrKey {
  const k: LaddrKey = { addr: st.laddr ?? '0.0.0.0' };
  if (st.ifname !== null) k.ifname = st.ifname;
  return k;
}

function listResult(st: State): Parsed {
  const o = st.list;
  const service = st.opts.has('service-address') ? serviceKey(st) : null;
  let request: Command;
  if (o.connection) request = { op: 'listConns' };
  else if (service !== null) request = { op: 'list', service };
  else if (o.timeout) request = { op: 'getTimeouts' };
  else if (o.daemon) request = { op: 'listDaemon' };
  else request = { op: 'list', service: null };
  return { kind: 'list', request, service, options: o };
}

function build(st: State, cmd: CommandName): Parsed {
  const req = (request: Command): Parsed => ({ kind: 'request', command: cmd, request });
  switch (cmd) {
    case 'add-service':
      return req({ op: 'addService', service: serviceKey(st), config: serviceConfig(st) });
    case 'edit-service':
      return req({ op: 'editService', service: serviceKey(st), config: serviceConfig(st) });
    case 'delete-service':
      return req({ op: 'deleteService', service: serviceKey(st) });
    case 'flush':
      return req({ op: 'clear' });
    case 'add-server':
      return req({ op: 'addDest', service: serviceKey(st), dest: destKey(st), config: destConfig(st) });
    case 'edit-server':
      return req({ op: 'editDest', service: serviceKey(st), dest: destKey(st), config: destConfig(st) });
    case 'delete-server':
      return req({ op: 'deleteDest', service: serviceKey(st), dest: destKey(st) });
    case 'zero':
      return req({ op: 'zero', service: st.opts.has('service-address') ? serviceKey(st) : null });
    case 'set':
      return req({
        op: 'setTimeouts',
        timeouts: { tcpS: st.timeouts[0], tcpFinS: st.timeouts[1], udpS: st.timeouts[2] },
      });
    case 'list':
      return listResult(st);
    case 'save':
      return { kind: 'save', request: { op: 'list', service: null }, options: st.list };
    case 'restore':
      return { kind: 'restore' };
    case 'start-daemon':
      return req({ op: 'startDaemon', daemon: { ...st.daemon } });
    case 'stop-daemon':
      return req({ op: 'stopDaemon', role: st.daemon.role });
    case 'add-laddr':
      return req({ op: 'addLaddr', service: serviceKey(st), laddr: laddrKey(st) });
    case 'del-laddr':
      return req({ op: 'deleteLaddr', service: serviceKey(st), laddr: laddrKey(st) });
    case 'get-laddr': {
      const service = st.opts.has('service-address') ? serviceKey(st) : null;
      return { kind: 'list', request: { op: 'listLaddrs', service }, service, options: st.list };
    }
  }
}

// ------------------------------------------------------------------ -h

/**
 * `-h`: the version line, ipvsadm's synopsis with our program name, and the option list. The
 * text is ours; the option spellings and the synopsis are ipvsadm's. What tapvs does not support
 * is marked, since it is accepted on the command line and then refused.
 */
function usageText(prog: string = PROG_NAME): string {
  const p = prog;
  return `${VERSION_LINE}
Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
          [--proxy-protocol v1|v2|disable]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -P|Q virtual-service -z local-address [-F ifname]
  ${p} -G [virtual-service]
  ${p} -L|l [virtual-service] [options]
  ${p} -Z [virtual-service]
  ${p} --set tcp tcpfin udp
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands (long or short form):
  --add-service     -A        add a virtual service
  --edit-service    -E        edit a virtual service (every setting is replaced)
  --delete-service  -D        delete a virtual service and its real servers
  --clear           -C        delete every virtual service
  --restore         -R        read rules in -S format from stdin, applied all or nothing
  --save            -S        print the rules in -R format
  --add-server      -a        add a real server
  --edit-server     -e        edit a real server (every setting is replaced)
  --delete-server   -d        delete a real server
  --add-laddr       -P        add a full NAT local address to a service (DPVS)
  --del-laddr       -Q        delete a full NAT local address (DPVS)
  --get-laddr       -G        list the full NAT local addresses of one service, or of all (DPVS)
  --list            -L|-l     list services, connections (-c) or timeouts (--timeout)
  --zero            -Z        zero the counters of one service, or of all
  --set tcp tcpfin udp        set the TCP, TCP FIN_WAIT and UDP timeouts (seconds, 0 = keep)
  --start-daemon {master|backup}  start a connection sync daemon on tapvsd
  --stop-daemon {master|backup}   stop it
  --help            -h        show this text

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   (not supported by tapvs)
  --fwmark-service|-f fwmark          (not supported by tapvs)

Options:
  --ipv6         -6                   (not supported by tapvs: IPv4 only)
  --scheduler    -s scheduler         rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf,
                                      mh or twos; ${DEFAULT_SCHEDULER} when not given
  --pe            engine              (not supported by tapvs)
  --persistent   -p [timeout]         persistent service, timeout in seconds (${DEFAULT_PERSISTENT_S} when not given)
  --netmask      -M netmask           persistence granularity mask
  --real-server  -r server-address    server-address is host[:port]
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat                           full NAT (DPVS): source and destination translated; long
                                      form only, as -b is --sched-flags in ipvsadm
  --tun-type      type                one of ipip|gue|gre, the default tunnel type is ipip.
  --tun-port      port                tunnel destination port (gue, required there)
  --tun-nocsum                        tunnel encapsulation without checksum (gue, gre)
  --tun-csum                          tunnel encapsulation with checksum (gue, gre)
  --tun-remcsum                       tunnel encapsulation with remote checksum (gue)
  --laddr        -z local-address     full NAT local address (with -P/-Q)
  --ifname       -F ifname            tapvsd link the local address belongs to (with -P/-Q)
  --proxy-protocol v1|v2|disable      PROXY protocol header to full NAT real servers (DPVS);
                                      v1-insecure and v2-insecure are not supported
  --weight       -w weight            capacity of the real server, 0..${MAX_WEIGHT}
  --u-threshold  -x uthreshold        upper connection threshold
  --l-threshold  -y lthreshold        lower connection threshold
  --connection   -c                   list the connection table
  --timeout                           list the timeouts (tcp tcpfin udp)
  --daemon                            list the running sync daemons
  --stats                             list counters
  --rate                              list rates
  --exact        -X                   print numbers in full
  --thresholds                        list thresholds
  --persistent-conn                   list persistence templates per real server
  --tun-info                          list tunnel settings
  --nosort                            keep the daemon's order
  --sort                              no effect (sorting is the default)
  --ops          -o                   one-packet scheduling (UDP)
  --numeric      -n                   numeric addresses and ports
  --sched-flags  -b flags             scheduler flags, comma-separated
Daemon Options:
  --syncid sid                        0..255, 0 when not given (a backup with 0 takes any)
  --sync-maxlen length                largest sync message, 1..65507
  --mcast-interface interface         tapvsd link to sync on (${DEFAULT_MCAST_INTERFACE} when not given)
  --mcast-group address               IPv4 multicast group (224.0.0.81 when not given)
  --mcast-port port                   UDP port (8848 when not given)
  --mcast-ttl ttl                     multicast TTL, 1..255 (1 when not given)
Environment:
  TAPVS_SOCKET                        tapvsd's control socket (default /run/tapvs/tapvsd.sock)
`;
}
