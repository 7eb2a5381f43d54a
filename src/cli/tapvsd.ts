#!/usr/bin/env node
/**
 * tapvsd: the director daemon. Creates its TAP devices, owns the VIPs and the DIP on them,
 * forwards with IPVS NAT semantics and serves the control socket that tapvsadm talks to.
 *
 *   tapvsd --link name=ext,tap=tapvs-ext,bridge=tapvs-br-ext,addr=192.168.222.131/24 \
 *          --link name=int,tap=tapvs-int,bridge=tapvs-br-int,addr=192.168.2.136/24 \
 *          [--rules FILE] [--socket PATH] [--pidfile PATH] [--max-conns N] [--no-forward]
 *
 * Start-up order: parse and validate everything (rules file included) before touching a device,
 * so a typo never leaves half a director behind; then links, control socket, rules, traffic.
 * SIGTERM/SIGINT close the TAP devices (the kernel removes them), the socket and the pidfile.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parseAddress, parsePrefix } from '../addr.js';
import { ControlClient } from '../control/client.js';
import { ControlDispatcher } from '../control/dispatch.js';
import { startHttpServer } from '../control/http-server.js';
import { parseListenAddr } from '../control/listen-addr.js';
import { startMetricsServer } from '../control/metrics.js';
import { DEFAULT_SOCKET_PATH, type Request, type TraceRequest } from '../control/protocol.js';
import type { RequestContext } from '../control/server.js';
import { ControlServer } from '../control/server.js';
import { Dataplane, type DataplaneStatus, type PortConfig } from '../dataplane/dataplane.js';
import { DROP_NAMES } from '../dataplane/drops.js';
import { isTapvsError, TapvsError } from '../errors.js';
import { DirectorHa } from '../ha/director-ha.js';
import { HaConfigError, NO_VRRP, readHaConfig, testHaConfig } from '../ha/ha-config.js';
import { systemClock } from '../health/clock.js';
import type { HealthStatus } from '../health/health-status.js';
import { Ipvs } from '../ipvs/ipvs.js';
import type { Link } from '../link/link.js';
import { PacketLink } from '../link/packet.js';
import { PcapLink } from '../link/pcap.js';
import { DEFAULT_POLL_BUDGET_US, type PollingMode, pollingStats, setPolling } from '../link/polling.js';
import { type PollingStats, TapLink } from '../link/tap.js';
import { log } from '../log.js';
import { parseMac } from '../packet/eth.js';
import { installProcessFaultHandlers, logFrameFault, processFaults } from '../process-faults.js';
import { ServiceNotifier } from '../service/sd-notify.js';
import { printSavedTrace } from '../trace/read-trace.js';
import { Tracer } from '../trace/tracer.js';
import { applyV8Tuning } from '../v8-tuning.js';
import { TAPVS_VERSION } from '../version.js';
import type { VrrpConfig } from '../vrrp/vrrp-config.js';
import { ConfigError, type ConfigSource, DaemonConfig, testConfig } from './daemon-config.js';
import { plannedLinks } from './planned-links.js';
import { parseTraceArgs, type TraceArgs } from './trace-args.js';

interface LinkSpec {
  name: string;
  tap: string;
  /** pcap=IFACE: an existing interface attached with libpcap instead of a TAP ('' with tap=). */
  pcap: string;
  /** packet=IFACE: an existing interface attached with an AF_PACKET socket ('' otherwise). */
  packet: string;
  /** mac=nic (pcap= and packet= only): the director speaks with the interface's own MAC, no promiscuous mode. */
  nicMac: boolean;
  bridge: string | null;
  addrs: Array<{ addr: number; prefixLen: number }>;
  gateway: number;
  mac: Uint8Array | null;
  /** 0: not given (the bridge's MTU when enslaved, else 1500). */
  mtu: number;
}

interface DaemonArgs {
  links: LinkSpec[];
  /** Where the rules come from: --rules FILE, else --keepalived FILE (its virtual servers). */
  config: ConfigSource;
  /** --keepalived FILE: also its VRRP part (vrrp_instance, vrrp_sync_group, lvs_sync_daemon). */
  keepalived: string | null;
  rules: string | null;
  /** --config-test: check the config file, print its problems, create nothing. */
  configTest: boolean;
  socket: string;
  pidfile: string | null;
  maxConns: number;
  forward: boolean;
  vnetHdr: boolean;
  expireNodestConn: boolean;
  expireQuiescentTemplate: boolean;
  metrics: { host: string; port: number } | null;
  /** --busy-poll, --poll-budget: how the event loop waits for frames (src/link/polling.ts). */
  polling: { mode: PollingMode; budgetUs: number };
  /** --http [ADDR:]PORT: the status page, its JSON and /metrics (control/http-server.ts). */
  http: { host: string; port: number } | null;
}

const USAGE = `Usage: tapvsd --link SPEC [--link SPEC ...] [options]
       tapvsd status [--socket PATH] [--json]     links, counters and drops by reason of a running tapvsd
       tapvsd trace [-i LINK] [-w FILE.pcapng] [-c N] [-s SNAPLEN] [--max-bytes N] [expression]
                    trace a running tapvsd, selecting frames with a tcpdump expression
                    (tcp port 80 and not host 10.0.0.1): to a pcapng file (returns at once), or
                    live to this terminal (one line per packet with the NAT decision) until Ctrl-C
       tapvsd trace -r FILE [-c N] [expression]   print a saved trace with its decisions
       tapvsd trace --stop | --status

  --link name=NAME,tap=DEV[,bridge=BR][,addr=A.B.C.D/LEN ...][,gw=A.B.C.D][,mac=MAC][,mtu=N]
  --link name=NAME,packet=IFACE[,addr=A.B.C.D/LEN ...][,gw=A.B.C.D][,mac=MAC|nic]
                       instead of a TAP, attach to the existing interface IFACE with an AF_PACKET
                       socket (promiscuous, the director's own MAC; mac=nic: the interface's MAC)
  --link name=NAME,pcap=IFACE[,addr=A.B.C.D/LEN ...][,gw=A.B.C.D][,mac=MAC|nic]
                       the same through libpcap (portable, slower: no batches, no offloads)
                       (mtu defaults to the bridge's MTU when bridge= is given, else 1500)
                       a link of the director: a TAP device it creates (optionally enslaved to
                       bridge BR), the addresses it owns there, an optional default gateway
  --rules FILE         load rules in ipvsadm -S format at start (all or nothing); SIGHUP reloads
                       the file as one atomic change (unchanged rules keep their connections)
  --keepalived FILE    load a keepalived.conf: its virtual servers with their health checks
                       (unless --rules is given too: then only its VRRP part is used), its
                       vrrp_instance/vrrp_sync_group (VRRP on tapvsd's links) and global_defs
                       lvs_sync_daemon (connection sync); SIGHUP reloads it
  --config-test        with --keepalived or --rules: print every problem of the file as
                       FILE:LINE, exit 0 when it would load, 1 otherwise; creates nothing
                       (with --link: also the checks that need the links' prefixes)
  --socket PATH        control socket (default ${DEFAULT_SOCKET_PATH}, or $TAPVS_SOCKET)
  --pidfile PATH       write the daemon's PID there
  --max-conns N        connection table size (default 1048576)
  --no-forward         do not route packets that belong to no connection
  --metrics [ADDR:]PORT
                       serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR defaults to
                       127.0.0.1); IPVS series use node_exporter's ipvs collector names
  --http [ADDR:]PORT   serve a live status page at http://ADDR:PORT/ (services, real servers,
                       health, rates over the last minutes), its JSON at /api/status and the
                       metrics at /metrics (ADDR defaults to 127.0.0.1; docs/status-page.md)
  --expire-nodest-conn like sysctl net.ipv4.vs.expire_nodest_conn=1: connections of a deleted
                       real server are dropped at once instead of timing out (default: off)
  --expire-quiescent-template
                       like sysctl expire_quiescent_template=1: persistence stops sending clients
                       to a real server of weight 0 (default: off)
  --no-offload         plain frames only. By default TAP devices use IFF_VNET_HDR + TUNSETOFFLOAD
                       (checksum, TSO, USO): the kernel hands over 64 KB super-frames, NATed whole
                       with their partial checksums kept; packet= links the same with
                       PACKET_VNET_HDR (off automatically with a pcap link)
  --poll-budget US     after frames arrive, keep polling the links for US microseconds before
                       sleeping (default ${DEFAULT_POLL_BUDGET_US}; 0: sleep at once). Saves a wake-up per reply
  --busy-poll          never sleep: poll all the time (one core at 100%, the lowest latency)
  -h, --help           this text
  -v, --version        version
`;

/** A TAP joining a bridge takes the bridge's MTU (the segment's), unless mtu= says otherwise. */
function bridgeMtu(bridge: string | null): number {
  if (bridge === null) return 1500;
  try {
    const n = Number(readFileSync(`/sys/class/net/${bridge}/mtu`, 'utf8').trim());
    return Number.isInteger(n) && n >= 576 && n <= 9000 ? n : 1500;
  } catch {
    return 1500;
  }
}

/** The link's device: its TAP (tap=) or its existing interface (pcap=). */
function linkDevice(l: LinkSpec): string {
  return l.tap !== '' ? l.tap : l.pcap !== '' ? l.pcap : l.packet;
}

/** A packet= link: an AF_PACKET socket on an existing interface (see src/link/packet.ts). */
function openPacketLink(s: LinkSpec, vnetHdr: boolean): PacketLink {
  const link = new PacketLink({
    iface: s.packet,
    vnetHdr,
    mac: s.nicMac ? 'nic' : (s.mac ?? 'own'),
    // The TPACKET_V3 ring is measured slower here (src/link/packet.ts); kept for measuring.
    rxRing: process.env.TAPVS_PACKET_RX === 'ring',
  });
  if (link.offloadWarnings.length > 0) {
    log('warn', 'receive offloads are on and --no-offload was given: frames longer than the MTU will be dropped', {
      link: s.name,
      iface: s.packet,
      offloads: link.offloadWarnings.join(','),
    });
  }
  return link;
}

/** A pcap= link: libpcap on an existing interface (see src/link/pcap.ts and the README). */
function openPcapLink(s: LinkSpec): PcapLink {
  const link = new PcapLink({ iface: s.pcap, mac: s.nicMac ? 'nic' : (s.mac ?? 'own') });
  if (link.offloadWarnings.length > 0) {
    log(
      'warn',
      'receive offloads are on: frames longer than the MTU will be dropped (ethtool -K IFACE gro off lro off)',
      { link: s.name, iface: s.pcap, offloads: link.offloadWarnings.join(',') },
    );
  }
  return link;
}

function fail(msg: string): never {
  process.stderr.write(`tapvsd: ${msg}\n`);
  process.exit(2);
}

function parseLinkSpec(spec: string): LinkSpec {
  const l: LinkSpec = {
    name: '',
    tap: '',
    pcap: '',
    packet: '',
    nicMac: false,
    bridge: null,
    addrs: [],
    gateway: 0,
    mac: null,
    mtu: 0,
  };
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) fail(`--link: expected key=value, got '${part}'`);
    const k = part.slice(0, eq),
      v = part.slice(eq + 1);
    switch (k) {
      case 'name':
        l.name = v;
        break;
      case 'tap':
        l.tap = v;
        break;
      case 'pcap':
        l.pcap = v;
        break;
      case 'packet':
        l.packet = v;
        break;
      case 'bridge':
        l.bridge = v;
        break;
      case 'addr': {
        try {
          l.addrs.push(parsePrefix(v, '--link addr'));
        } catch (e) {
          fail((e as Error).message);
        }
        break;
      }
      case 'gw': {
        try {
          l.gateway = parseAddress(v, '--link gw');
        } catch (e) {
          fail((e as Error).message);
        }
        break;
      }
      case 'mac': {
        if (v === 'nic') {
          l.nicMac = true;
          break;
        }
        const m = parseMac(v);
        if (m === null || (m[0] & 1) === 1) fail(`--link: invalid unicast MAC '${v}'`);
        l.mac = m;
        break;
      }
      case 'mtu': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 576 || n > 9000) fail(`--link: invalid mtu '${v}' (576..9000)`);
        l.mtu = n;
        break;
      }
      default:
        fail(`--link: unknown key '${k}'`);
    }
  }
  // pcap=IFACE (an existing interface, through libpcap) is the alternative to tap=DEV.
  // pcap=IFACE and packet=IFACE (an existing interface) are the alternatives to tap=DEV.
  const nic = l.pcap !== '' ? l.pcap : l.packet;
  if ([l.tap, l.pcap, l.packet].filter((d) => d !== '').length !== 1)
    fail(`--link ${spec}: exactly one of tap=DEV, packet=IFACE and pcap=IFACE is required`);
  if (nic !== '' && l.bridge !== null)
    fail(`--link ${spec}: bridge= is for tap= links (tapvsd does not create the interface ${nic})`);
  if (nic !== '' && l.mtu !== 0) fail(`--link ${spec}: mtu= is for tap= links (${nic} has its own MTU)`);
  if (l.nicMac && nic === '') fail(`--link ${spec}: mac=nic is for packet= and pcap= links`);
  const dev = linkDevice(l);
  if (dev.length > 15) fail(`--link: device name '${dev}' longer than 15 characters`);
  if (l.name === '') l.name = dev;
  if (l.addrs.length === 0) fail(`--link ${spec}: at least one addr=A.B.C.D/LEN is required`);
  return l;
}

export function parseDaemonArgs(argv: string[]): DaemonArgs {
  const a: DaemonArgs = {
    links: [],
    config: null,
    keepalived: null,
    rules: null,
    configTest: false,
    socket: process.env.TAPVS_SOCKET ?? DEFAULT_SOCKET_PATH,
    pidfile: null,
    maxConns: 1 << 20,
    forward: true,
    vnetHdr: true,
    expireNodestConn: false,
    expireQuiescentTemplate: false,
    metrics: null,
    polling: { mode: 'adaptive', budgetUs: DEFAULT_POLL_BUDGET_US },
    http: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) fail(`${name}: missing argument`);
      return v;
    };
    switch (name) {
      case '--link':
        a.links.push(parseLinkSpec(value()));
        break;
      case '--rules':
        if (a.rules !== null) fail('--rules: give it once');
        a.rules = value();
        break;
      case '--keepalived':
        if (a.keepalived !== null) fail('--keepalived: give it once');
        a.keepalived = value();
        break;
      case '--config-test':
        a.configTest = true;
        break;
      case '--socket':
        a.socket = value();
        break;
      case '--pidfile':
        a.pidfile = value();
        break;
      case '--max-conns': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 16 || n > 1 << 26) fail('--max-conns: want an integer 16..67108864');
        a.maxConns = n;
        break;
      }
      case '--no-forward':
        a.forward = false;
        break;
      case '--expire-nodest-conn':
        a.expireNodestConn = true;
        break;
      case '--metrics': {
        const v = value();
        const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):)?(\d{1,5})$/.exec(v);
        const port = m === null ? -1 : Number(m[2]);
        if (m === null || port < 1 || port > 65535) fail(`--metrics: want [ADDR:]PORT, got '${v}'`);
        a.metrics = { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
        break;
      }
      case '--http': {
        const v = value();
        a.http = parseListenAddr(v) ?? fail(`--http: want [ADDR:]PORT, got '${v}'`);
        break;
      }
      case '--expire-quiescent-template':
        a.expireQuiescentTemplate = true;
        break;
      case '--no-offload':
        a.vnetHdr = false;
        break;
      case '--busy-poll':
        a.polling = { mode: 'busy', budgetUs: 0 };
        break;
      case '--poll-budget': {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 100_000) fail(`--poll-budget: want microseconds 0..100000, got '${v}'`);
        if (a.polling.mode !== 'busy') a.polling = { mode: n === 0 ? 'off' : 'adaptive', budgetUs: n };
        break;
      }
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      case '-v':
      case '--version':
        process.stdout.write(`tapvsd ${TAPVS_VERSION}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown option '${arg}' (see --help)`);
    }
  }
  // With both, the rules file holds the virtual servers and keepalived.conf the VRRP part.
  if (a.rules !== null) a.config = { kind: 'rules', file: a.rules };
  else if (a.keepalived !== null) a.config = { kind: 'keepalived', file: a.keepalived };
  if (a.configTest) {
    if (a.config === null) fail('--config-test wants --keepalived FILE or --rules FILE');
    return a;
  }
  if (a.links.length === 0) fail('at least one --link is required (see --help)');
  const names = new Set<string>();
  for (const l of a.links) {
    if (names.has(l.name) || names.has(linkDevice(l))) fail(`duplicate link '${l.name}'`);
    names.add(l.name);
    names.add(linkDevice(l));
  }
  return a;
}

/** The live trace's client, told when a limit ends the trace. */
let liveTrace: { tracer: Tracer; ctx: RequestContext } | null = null;

/** Called from the daemon's tick: a trace that hit its limit is closed and its live client told. */
function reapTrace(dp: Dataplane): void {
  const t = dp.tracer;
  if (t === null || t.active) return;
  const summary = t.stop();
  dp.setTracer(null);
  if (liveTrace !== null && liveTrace.tracer === t) liveTrace.ctx.push({ event: 'end', ...summary });
  liveTrace = null;
  log('info', 'trace ended', { packets: summary.packets, stopped: summary.stopped ?? '' });
}

/**
 * traceStart / traceStop / traceStatus. One trace at a time; a live trace belongs to the
 * connection that asked for it and ends when that client goes away.
 */
function traceRequest(dp: Dataplane, req: Request, ctx: RequestContext | null): unknown {
  if (req.op === 'traceStatus') return dp.tracer === null ? { active: false } : dp.tracer.status();
  if (req.op === 'traceStop') {
    const t = dp.tracer;
    dp.setTracer(null);
    return t === null ? { active: false } : t.stop();
  }
  if (req.op !== 'traceStart') throw new TapvsError('PROTOCOL', 'not a trace request');
  const o = (req.trace ?? {}) as TraceRequest;
  if (typeof o !== 'object' || o === null) throw new TapvsError('BAD_ARGUMENT', 'trace: options must be an object');
  const live = o.live === true;
  if (!live && (typeof o.file !== 'string' || o.file === ''))
    throw new TapvsError('BAD_ARGUMENT', 'trace: give a file, live, or both');
  if (typeof o.file === 'string' && o.file !== '' && !isAbsolute(o.file))
    throw new TapvsError('BAD_ARGUMENT', `trace: the file must be an absolute path, not ${o.file}`);
  const link = typeof o.link === 'string' ? dp.ports.findIndex((p) => p.name === o.link) : -1;
  if (typeof o.link === 'string' && link < 0) throw new TapvsError('BAD_ARGUMENT', `trace: no link named ${o.link}`);
  if (live && ctx === null) throw new TapvsError('BAD_ARGUMENT', 'trace: live needs a client connection');
  const tracer = new Tracer({
    links: dp.ports.map((p) => ({ name: p.name })),
    ...(typeof o.file === 'string' && o.file !== '' ? { file: o.file } : {}),
    ...(typeof o.filter === 'string' ? { filter: o.filter } : {}),
    ...(typeof o.maxBytes === 'number' ? { maxBytes: o.maxBytes } : {}),
    ...(typeof o.maxPackets === 'number' ? { maxPackets: o.maxPackets } : {}),
    ...(typeof o.snaplen === 'number' ? { snaplen: o.snaplen } : {}),
    ...(link >= 0 ? { link } : {}),
    ...(live
      ? {
          live: (line: string) => {
            if (!ctx!.push({ event: 'trace', line })) throw new Error('client gone');
          },
        }
      : {}),
  });
  dp.setTracer(tracer);
  liveTrace = live ? { tracer, ctx: ctx! } : null;
  if (live)
    ctx!.onClose(() => {
      if (dp.tracer === tracer) dp.setTracer(null);
      else tracer.stop();
    });
  log('info', 'trace started', { file: o.file ?? '-', live, filter: o.filter ?? '' });
  return tracer.status();
}

/** Connects to a running tapvsd or exits with a clear message. */
async function connectDaemon(socket: string): Promise<ControlClient> {
  try {
    return await ControlClient.connect(socket);
  } catch (e) {
    fail(`cannot reach tapvsd on ${socket}: ${(e as Error).message}`);
  }
}

/** `tapvsd trace ...`: start/stop/inspect tracing on a running daemon, or follow it live. */
async function traceCommand(argv: string[]): Promise<void> {
  let a: TraceArgs;
  try {
    a = parseTraceArgs(argv, process.cwd());
    if (a.mode === 'read') {
      printSavedTrace(a.readFile!, { filter: a.request.filter, count: a.request.maxPackets }, (l) =>
        process.stdout.write(`${l}\n`),
      );
      return;
    }
  } catch (e) {
    fail((e as Error).message);
  }
  const socket = a.socket ?? process.env.TAPVS_SOCKET ?? DEFAULT_SOCKET_PATH;
  const t = a.request;
  const mode = a.mode;
  const c = await connectDaemon(socket);
  if (mode !== 'start' || t.file !== undefined) {
    try {
      const op = mode === 'stop' ? 'traceStop' : mode === 'status' ? 'traceStatus' : 'traceStart';
      const r = await c.request(op === 'traceStart' ? { op, trace: t } : { op });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (e) {
      fail((e as Error).message);
    } finally {
      c.close();
    }
    return;
  }
  // Live: the daemon pushes one event line per packet on this connection until Ctrl-C, the
  // trace's limit ({"event":"end"}) or the daemon going away.
  c.onEvent = (msg) => {
    if (msg.event === 'trace' && typeof msg.line === 'string') process.stdout.write(`${msg.line}\n`);
    else if (msg.event === 'missed' && typeof msg.count === 'number')
      process.stderr.write(`tapvsd: ${msg.count} trace lines dropped: this terminal did not keep up\n`);
    else if (msg.event === 'end') {
      c.close();
      process.exit(0);
    }
  };
  c.onClose = () => process.exit(0);
  process.on('SIGINT', () => {
    c.close();
    process.exit(0);
  });
  try {
    await c.request({ op: 'traceStart', trace: { ...t, live: true } });
  } catch (e) {
    fail((e as Error).message);
  }
}

/** `tapvsd status [--socket PATH] [--json]`: the running daemon's links, counters and drops by reason. */
async function statusCommand(argv: string[]): Promise<void> {
  let socket = process.env.TAPVS_SOCKET ?? DEFAULT_SOCKET_PATH;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--socket' && argv[i + 1] !== undefined) socket = argv[++i];
    else if (argv[i].startsWith('--socket=')) socket = argv[i].slice(9);
    else if (argv[i] === '--json') json = true;
    else fail(`status: unknown option '${argv[i]}'`);
  }
  const c = await connectDaemon(socket);
  const st = (await c.request({ op: 'status' })) as StatusReply;
  c.close();
  if (json) {
    process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(
    `tapvsd ${st.version} pid ${st.pid} up ${st.uptimeS}s  connections ${st.conns}/${st.connCapacity}` +
      `  table-full ${st.tableFull}  icmp-rate-limited ${st.icmpRateLimited}` +
      `  exceptions ${st.exceptions ?? 0}/${st.uncaughtExceptions ?? 0} (dataplane/uncaught)  rss ${Math.round(st.memory.rss / 1048576)} MiB`,
  );
  for (const p of st.ports) {
    out.push(
      `link ${p.name} (${p.kind ?? 'tap'} ${p.device}${p.io !== undefined ? `, io ${p.io}` : ''}): rx ${p.rxFrames} frames ${p.rxBytes} bytes in ${p.rxBatches} batches,` +
        ` tx ${p.txFrames} frames ${p.txBytes} bytes, tx refused ${p.txDropped}, arp ${p.arpEntries} entries` +
        ` ${p.arpPending} pending ${p.arpUnresolvedDrops} unresolved`,
    );
    const drops = p.drops.map((n, i) => [st.dropNames[i], n] as const).filter(([, n]) => n > 0);
    out.push(`  drops: ${drops.length === 0 ? 'none' : drops.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  for (const v of st.vrrp ?? []) {
    out.push(
      `vrrp ${v.name} (link ${v.link}, vrid ${v.vrid}): ${v.state}, priority ${v.priority}, master ${v.masterAddress ?? 'unknown'}`,
    );
  }
  if (st.health !== undefined) out.push(...formatHealth(st.health));
  const pl = st.polling;
  if (pl !== undefined)
    out.push(
      `polling: ${pl.mode}${pl.mode === 'adaptive' ? ` ${pl.budgetUs} us` : ''}; began ${pl.started} times,` +
        ` ${pl.turns} turns without sleeping, ${pl.rxWhileSpinning} reads that saved a wake-up`,
    );
  const k = st.control;
  if (k !== undefined)
    out.push(
      `control: ${k.clients} clients, ${k.requests} requests, ${k.errors} errors; closed idle ${k.idleClosed},` +
        ` evicted ${k.evicted}, refused ${k.refused}; trace lines dropped ${k.pushDropped}, slow consumers dropped ${k.slowDisconnects}`,
    );
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The health checks in `tapvsd status`: per virtual server its quorum, per checker its state and last result. */
function formatHealth(h: HealthStatus): string[] {
  const out: string[] = [];
  const when = (ms: number | null): string => (ms === null ? 'never' : new Date(ms).toISOString());
  for (const vs of h.virtualServers) {
    const q = vs.quorum;
    out.push(
      `virtual server ${vs.key}: quorum ${q.up ? 'up' : 'down'} (alive weight ${q.aliveWeight}, quorum ${q.quorum},` +
        ` hysteresis ${q.hysteresis}), sorry server ${vs.sorryServer === null ? 'none' : `${vs.sorryServer}${vs.sorryServerIn ? ' (in)' : ''}`}`,
    );
    for (const c of h.checkers.filter((x) => x.virtualServer === vs.key)) {
      out.push(
        `  ${c.realServer} ${c.type}${c.url !== null ? ` ${c.url}` : ''} ${c.state}: ${c.lastReason ?? 'not run yet'};` +
          ` changed ${when(c.lastChangeMs)}; ${c.checksRun} checks`,
      );
    }
  }
  return out;
}

/** What `status` answers: the dataplane's status and the daemon's own facts. */
interface StatusReply extends DataplaneStatus {
  version: string;
  pid: number;
  uptimeS: number;
  memory: { rss: number };
  dropNames: string[];
  polling?: PollingStats;
  /** The control socket's clients and what they cost (server.ts). */
  control?: ControlServer['counters'] & { clients: number };
  uncaughtExceptions?: number;
  unhandledRejections?: number;
  /** With VRRP instances in keepalived.conf: their states. */
  vrrp?: Array<{
    name: string;
    link: string;
    vrid: number;
    state: string;
    priority: number;
    masterAddress: string | null;
  }>;
  /** The connection sync daemons. */
  sync?: unknown;
  /** With --keepalived: the health checks. */
  health?: HealthStatus;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'status') return statusCommand(process.argv.slice(3));
  if (process.argv[2] === 'trace') return traceCommand(process.argv.slice(3));
  const args = parseDaemonArgs(process.argv.slice(2));
  applyV8Tuning();
  // Read (and removed from the environment) before any check or script is started.
  const systemd = new ServiceNotifier();

  // The rules' link-dependent checks (DR neighbours, -P addresses) see the --link prefixes.
  const planned = plannedLinks(args.links);
  if (args.configTest && args.config !== null) {
    let status = testConfig(args.config, args.links.length > 0 ? planned : null);
    if (args.rules !== null && args.keepalived !== null) status = Math.max(status, testHaConfig(args.keepalived));
    process.exit(status);
  }

  // The config file is read and checked before any device exists: a bad file changes nothing.
  let config: DaemonConfig;
  try {
    config = DaemonConfig.read(args.config, planned);
  } catch (e) {
    fail(e instanceof ConfigError ? e.message : ((e as Error).stack ?? String(e)));
  }
  // ...and so is its VRRP part, against the links it names.
  const linkNames = args.links.map((l) => l.name);
  const readHa = (): VrrpConfig =>
    args.keepalived === null ? NO_VRRP : readHaConfig(args.keepalived, linkNames, args.rules !== null);
  let haConfig: VrrpConfig;
  try {
    haConfig = readHa();
  } catch (e) {
    fail(e instanceof HaConfigError ? e.message : ((e as Error).stack ?? String(e)));
  }

  const ipvs = new Ipvs({ maxConns: args.maxConns });
  ipvs.expireNodestConn = args.expireNodestConn;
  ipvs.expireQuiescentTemplate = args.expireQuiescentTemplate;
  const links: Link[] = [];
  const closeLinks = (): void => {
    for (const l of links) {
      try {
        l.close();
      } catch {
        /* closing anyway */
      }
    }
  };
  let dataplane: Dataplane;
  try {
    const ports: PortConfig[] = [];
    // Offloads need every link to speak virtio-net headers: a GSO super-frame must never leave
    // on a link that cannot segment it. With a libpcap link in the set, all links go without.
    const vnetHdr = args.vnetHdr && args.links.every((l) => l.pcap === ''); // packet= links take GSO too
    if (args.vnetHdr && !vnetHdr) log('info', 'offloads off: a libpcap link cannot take GSO super-frames');
    for (const s of args.links) {
      const link =
        s.pcap !== ''
          ? openPcapLink(s)
          : s.packet !== ''
            ? openPacketLink(s, vnetHdr)
            : new TapLink({
                name: s.tap,
                mtu: s.mtu !== 0 ? s.mtu : bridgeMtu(s.bridge),
                vnetHdr,
                ...(s.mac !== null ? { mac: s.mac } : {}),
                ...(s.bridge !== null ? { bridge: s.bridge } : {}),
              });
      links.push(link);
      if (link instanceof TapLink && link.io !== 'uring') {
        log('info', 'TAP link without io_uring: one read() and write() per frame', {
          link: s.name,
          reason: link.ioFallback,
        });
      }
      ports.push({ name: s.name, link, addrs: s.addrs, gateway: s.gateway });
    }
    dataplane = new Dataplane(ipvs, ports, { forward: args.forward });
  } catch (e) {
    closeLinks();
    fail(isTapvsError(e) ? e.message : ((e as Error).stack ?? String(e)));
  }

  // Virtual addresses start as the peer's, before any rule or announcement (VRRP starts later).
  const ha = new DirectorHa(dataplane, ipvs, haConfig, systemClock);
  ha.prepare();

  const started = Date.now();
  const liveLinks = {
    onLinkOf: (a: number) => dataplane.linkOnPrefix(a),
    names: () => dataplane.ports.map((p) => p.name),
  };
  config.useLinks(liveLinks);
  const dispatcher = new ControlDispatcher(ipvs, {
    syncDaemons: ha.sync,
    links: liveLinks,
    rulesChanged: () => dataplane.rulesChanged(),
    servicesChanged: () => dataplane.announce(),
    trace: (req, ctx) => traceRequest(dataplane, req, ctx),
    status: () => {
      const st = dataplane.status();
      return {
        version: TAPVS_VERSION,
        pid: process.pid,
        uptimeS: Math.round((Date.now() - started) / 1000),
        ...st,
        dropNames: DROP_NAMES,
        memory: process.memoryUsage(),
        uncaughtExceptions: processFaults.uncaughtExceptions,
        unhandledRejections: processFaults.unhandledRejections,
        health: config.status(),
        ...ha.status(),
        control: { clients: server.clients, ...server.counters },
        polling: pollingStats(),
      };
    },
  });
  const server: ControlServer = new ControlServer(args.socket, (req, ctx) => dispatcher.handle(req, ctx));
  try {
    await server.listen();
  } catch (e) {
    closeLinks();
    fail(isTapvsError(e) ? e.message : String(e));
  }

  try {
    config.start(dispatcher);
    dataplane.setHealthNote((proto, vaddr, vport) => config.healthNote(proto, vaddr, vport));
  } catch (e) {
    server.close();
    closeLinks();
    fail(e instanceof ConfigError ? e.message : ((e as Error).stack ?? String(e)));
  }

  if (args.metrics !== null) {
    try {
      await startMetricsServer(args.metrics.host, args.metrics.port, ipvs, dataplane, config, ha);
    } catch (e) {
      server.close();
      closeLinks();
      fail(`--metrics ${args.metrics.host}:${args.metrics.port}: ${(e as Error).message}`);
    }
  }

  if (args.http !== null) {
    const o = { ipvs, dataplane, health: config, ha, version: TAPVS_VERSION, startedMs: started };
    try {
      await startHttpServer(args.http.host, args.http.port, o);
    } catch (e) {
      server.close();
      closeLinks();
      fail(`--http ${args.http.host}:${args.http.port}: ${(e as Error).message}`);
    }
  }

  if (args.pidfile !== null) writeFileSync(args.pidfile, `${process.pid}\n`);

  const tick = setInterval(() => {
    try {
      reapTrace(dataplane);
    } catch (e) {
      log('error', 'trace end failed', { error: String(e) });
      dataplane.setTracer(null);
    }
    try {
      dataplane.tick(Date.now());
    } catch (e) {
      log('error', 'tick failed', { error: (e as Error).stack ?? String(e) });
    }
  }, 100);
  const est = setInterval(() => ipvs.estimate(), 2000);

  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping', { signal: sig });
    systemd.stopping();
    clearInterval(tick);
    clearInterval(est);
    server.close();
    try {
      ha.stop();
    } catch (e) {
      log('error', 'VRRP stop failed', { error: (e as Error).stack ?? String(e) });
    }
    closeLinks();
    if (args.pidfile !== null) {
      try {
        unlinkSync(args.pidfile);
      } catch {
        /* gone */
      }
    }
    // Checks stop (omega's notify scripts run, 1 s each at most); the rules go with the process.
    config.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  const serviceStatus = (): string =>
    `${ipvs.services.length} services, ${ipvs.conns.count} connections, control socket ${args.socket}`;
  process.on('SIGHUP', () => {
    systemd.reloading();
    config.reload(dispatcher);
    if (args.keepalived !== null) {
      try {
        ha.reload(readHa());
      } catch (e) {
        log('error', 'VRRP reload refused: nothing changed', { problems: (e as Error).message });
      }
    }
    systemd.reloaded(serviceStatus());
  });
  // A bug must not take the director down with every connection: counted, logged, kept running.
  installProcessFaultHandlers();
  dataplane.faults.reporter = logFrameFault;

  dataplane.start((port, err) => {
    log('error', 'link failed: its traffic stops, rules and other links stay', { link: port, error: err.message });
    ha.linkFailed(port);
  });
  dataplane.announce();
  ha.start();
  setPolling(args.polling.mode, args.polling.budgetUs);
  log('info', 'ready', {
    links: args.links.map(linkDevice).join(','),
    socket: args.socket,
    services: ipvs.services.length,
    polling: args.polling.mode === 'adaptive' ? `adaptive ${args.polling.budgetUs} us` : args.polling.mode,
  });
  process.stdout.write('tapvsd: ready\n');
  systemd.ready(serviceStatus);
}

main().catch((e: unknown) => {
  process.stderr.write(`tapvsd: ${e instanceof TapvsError ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
