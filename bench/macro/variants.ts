/**
 * The directors compared, each set up on a freshly built lab (lab-lib's textbook topology) and
 * torn down with it:
 *
 *   tapvsd          the real director, as `lab up` starts it (vnet_hdr + GSO offloads, tapvsd's
 *                   default), with the benchmark's rules
 *   tapvsd-checks   the same tapvsd and services, loaded from a keepalived.conf that adds 1,000
 *                   real servers on another port, each TCP_CHECKed every second (checks-config.ts):
 *                   what health checks cost the dataplane
 *   tapvsd-dr       the same tapvsd with the services by direct routing (-g), the lab set up as
 *                   `lab up --method dr` (VIP on the real servers' lo, replies routed by tapvs-dir's
 *                   kernel, never through tapvsd): DR against NAT in the same run
 *   tapvsd-plain    the same with plain frames (`--no-offload`; no flag on a tapvsd that predates
 *                   offloads, whose default was plain frames)
 *   nft             tapvs-dir's kernel as director: VIP on tapvs-br-ext, DIP on tapvs-br-int,
 *                   ip_forward=1, nftables DNAT (numgen inc mod 2 for :80), no SNAT
 *   haproxy         HAProxy (mode tcp) in tapvs-dir, binding VIP:80 and VIP:5201
 *   routing         tapvs-dir's kernel as a plain router, client -> RS directly (ceiling)
 *   tapcopy         bench/c/tapcopy (two TAPs, copy loop) joining the two bridges into one L2;
 *                   the client gets a second address in the real servers' /24 (the TAP ceiling)
 *   tapcopy-vnet    the same with IFF_VNET_HDR + TUNSETOFFLOAD (the offload ceiling)
 *   tapcopy-mq      bench/c/tapcopy-mq: the copy loop -v on 2-queue TAPs, one thread per queue
 *                   (the ceiling of one worker per TAP queue); tapcopy-mq-pin with thread i on CPU i
 *   tapcopy-uring   bench/c/tapcopy-uring: the copy loop -v batched through io_uring (multishot
 *                   reads, one io_uring_enter per batch): the ceiling of fewer system calls
 *   tapcopy-mq-uring  tapcopy-uring -n 2: both, a ring per thread on 2-queue TAPs
 *   tapvsd-packet   tapvsd attached to two veths in tapvs-dir with its AF_PACKET socket
 *                   (`lab up --packet`: packet= links, offloads on), as on a dual-NIC gateway VM
 *   tapvsd-packet-ring  the same with the TPACKET_V3 receive ring (TAPVS_PACKET_RX=ring)
 *   tapvsd-pcap     the same veths through libpcap (`lab up --pcap`: pcap= links, the veths'
 *                   offloads off, as libpcap needs)
 *   nft-veth        kernel NAT on those same veths (`lab up --packet --no-director`, VIP on tvs-px,
 *                   DIP on tvs-pi, forwarding on, nft DNAT): the reference for tapvsd-packet
 *
 * With --baseline DIR, tapvsd-base and tapvsd-plain-base run DIR's tapvsd, started by DIR's own
 * `lab up` with the same rules and flags, next to their current twins (baseline-tree.ts).
 *
 * Everything is namespace-local: addresses go on tapvs-dir's bridges or the client's veth,
 * never on the root namespace.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LAB, type LabAttach, labUp, nsExec, run } from '../../lab/lab-lib.js';
import { type BaselineTree, baselineLabUp } from './baseline-tree.js';
import { CHECKED_SERVERS, checksKeepalivedConf, checksKeepalivedConfSummary } from './checks-config.js';
import { type Targets, UDP_PORT } from './measure.js';
import { type CommandLog, type Started, shellLine, sleep, startInNs, stopStarted, waitUntil } from './sys.js';
import { type CheckCounts, countChecks, describeChecks, type HealthJson, readCheckCounts } from './tapvsd-health.js';

export type VariantKey =
  | 'tapvsd'
  | 'tapvsd-checks'
  | 'tapvsd-dr'
  | 'tapvsd-plain'
  | 'tapvsd-nopoll'
  | 'tapvsd-readwrite'
  | 'nft'
  | 'haproxy'
  | 'routing'
  | 'tapcopy'
  | 'tapcopy-vnet'
  | 'tapcopy-mq'
  | 'tapcopy-mq-pin'
  | 'tapcopy-uring'
  | 'tapcopy-mq-uring'
  | 'tapvsd-packet'
  | 'tapvsd-packet-ring'
  | 'tapvsd-pcap'
  | 'nft-veth'
  | 'tapvsd-base'
  | 'tapvsd-plain-base';

export const VARIANTS: readonly { key: VariantKey; label: string; what: string }[] = [
  {
    key: 'tapvsd',
    label: 'tapvsd (offloads)',
    what: 'tapvsd (its default vnet_hdr + GSO/csum offloads on both TAPs): rr on :80, sh on :5201, rr on UDP :9000 (RS1)',
  },
  {
    key: 'tapvsd-checks',
    label: 'tapvsd + 1,000 checks/s',
    what: `tapvsd (offloads) from a keepalived.conf: the same services without checkers, plus ${CHECKED_SERVERS} real servers on VIP:8000 each with a TCP_CHECK to its host's :80 every 1 s`,
  },
  {
    key: 'tapvsd-dr',
    label: 'tapvsd direct routing',
    what: "tapvsd (offloads), the same services by -g: replies from the real servers go through tapvs-dir's kernel, not tapvsd",
  },
  { key: 'tapvsd-plain', label: 'tapvsd --no-offload', what: 'tapvsd with plain frames, same rules' },
  {
    key: 'tapvsd-nopoll',
    label: 'tapvsd --poll-budget 0',
    what: 'tapvsd (offloads) whose event loop sleeps as soon as nothing is ready (no adaptive polling), same rules',
  },
  {
    key: 'tapvsd-readwrite',
    label: 'tapvsd TAPVS_TAP_IO=readwrite',
    what: 'tapvsd (offloads) with its TAP links on read()/write() per frame instead of io_uring, same rules',
  },
  { key: 'nft', label: 'kernel nftables DNAT', what: 'tapvs-dir kernel: nft DNAT (numgen inc mod 2 on :80), no SNAT' },
  {
    key: 'haproxy',
    label: 'HAProxy (mode tcp)',
    what: 'HAProxy 2 threads, roundrobin on :80, RS1 on :5201 (TCP only)',
  },
  { key: 'routing', label: 'kernel routing (no NAT)', what: 'tapvs-dir kernel routes client -> RS directly: ceiling' },
  {
    key: 'tapcopy',
    label: 'C TAP copy loop',
    what: 'bench/c/tapcopy bridging both bridges (one L2): TAP path ceiling',
  },
  {
    key: 'tapcopy-vnet',
    label: 'C TAP copy loop + vnet_hdr',
    what: 'tapcopy -v (IFF_VNET_HDR + TUNSETOFFLOAD): offload ceiling',
  },
  {
    key: 'tapcopy-mq',
    label: 'C copy loop, 2 TAP queues',
    what: 'bench/c/tapcopy-mq -v -n 2: IFF_MULTI_QUEUE TAPs, one copy thread per queue (the kernel spreads flows by hash): ceiling of one worker per queue',
  },
  {
    key: 'tapcopy-mq-pin',
    label: 'C copy loop, 2 TAP queues, pinned',
    what: 'tapcopy-mq -v -n 2 -p: the same with thread i pinned to CPU i',
  },
  {
    key: 'tapcopy-uring',
    label: 'C copy loop, io_uring',
    what: 'bench/c/tapcopy-uring -v: one thread, a multishot read per TAP into 128 provided buffers, writes batched, one io_uring_enter per batch: ceiling of fewer system calls',
  },
  {
    key: 'tapcopy-mq-uring',
    label: 'C copy loop, 2 TAP queues, io_uring',
    what: 'tapcopy-uring -v -n 2: both mechanisms, 2-queue TAPs with one thread and one ring per queue',
  },
  {
    key: 'tapvsd-packet',
    label: 'tapvsd packet= (AF_PACKET)',
    what: 'tapvsd on two veths of tapvs-dir through its AF_PACKET socket (TPACKET_V3 ring, sendmmsg, PACKET_VNET_HDR: the veths keep their offloads), same rules',
  },
  {
    key: 'tapvsd-packet-ring',
    label: 'tapvsd packet= TPACKET_V3 ring',
    what: 'tapvsd-packet with its receive side on the TPACKET_V3 ring instead of recvmmsg (TAPVS_PACKET_RX=ring: 32 blocks of 256 KiB, 1 ms block retirement)',
  },
  {
    key: 'tapvsd-pcap',
    label: 'tapvsd pcap= (libpcap)',
    what: "the same veths through libpcap (the veths' offloads off: tx/tso/gso on the bridge side, gro on tapvsd's), same rules",
  },
  {
    key: 'nft-veth',
    label: 'kernel NAT on the veths',
    what: 'the veths of tapvsd-packet (offloads on) with VIP/DIP on them, forwarding on, the nft DNAT of `nft`',
  },
];

/**
 * With --baseline: the baseline tree's tapvsd, run like its twin `of` (never selected by --only:
 * each comes with its twin). Labels and descriptions name the tree at run time.
 */
export const BASELINE_VARIANTS: readonly { key: VariantKey; of: VariantKey }[] = [
  { key: 'tapvsd-base', of: 'tapvsd' },
  { key: 'tapvsd-plain-base', of: 'tapvsd-plain' },
];

/** The current variant a baseline variant is the twin of, or undefined for a current one. */
export function twinOf(key: VariantKey): VariantKey | undefined {
  return BASELINE_VARIANTS.find((b) => b.key === key)?.of;
}

export interface VariantContext {
  readonly tmp: string;
  readonly tapcopy: string;
  readonly log: CommandLog;
  readonly say: (line: string) => void;
  /** --baseline's tree, for the -base variants. */
  readonly baseline: BaselineTree | null;
}

export interface Running {
  readonly targets: Targets;
  /** Present: the director's CPU with no traffic is sampled (idle-cpu.ts), with the health checks' counts when it runs any. */
  readonly idle?: { readonly readChecks: (() => Promise<CheckCounts>) | null };
  /** Stops what the variant started, returns notes (daemon status, warnings); the lab stays. */
  readonly finish: () => Promise<string[]>;
}

export interface NotApplicable {
  readonly na: string;
}

const HTTP_PORT = LAB.httpPort;
const IPERF_PORT = LAB.iperfPort;
const NO_FINISH = async (): Promise<string[]> => [];

function prefixOf(addr: string): string {
  const p = addr.split('.');
  return `${p[0]}.${p[1]}.${p[2]}`;
}

/** The client's extra address in the real servers' /24 for the L2 (tapcopy) variants. */
function clientL2Addr(): string {
  return `${prefixOf(LAB.rs1)}.201`;
}

async function sh(ctx: VariantContext, ns: string | null, cmd: string, args: string[], input?: string): Promise<void> {
  ctx.log.add(shellLine(ns, cmd, args) + (input !== undefined ? ` <<'EOF'\n${input.trimEnd()}\nEOF` : ''));
  const r =
    ns === null
      ? await run(cmd, args, { timeoutMs: 15_000, ...(input !== undefined ? { input } : {}) })
      : await nsExec(ns, cmd, args, { timeoutMs: 15_000, ...(input !== undefined ? { input } : {}) });
  if (r.code !== 0) throw new Error(`${shellLine(ns, cmd, args)}: exit ${r.code}: ${r.stderr.trim()}`);
}

/** What tapvsd loads at start: an ipvsadm -S rules file or a keepalived.conf. */
interface TapvsdConfig {
  readonly kind: 'rules' | 'keepalived';
  readonly file: string;
}

async function labBase(
  ctx: VariantContext,
  director: false,
  config?: undefined,
  extra?: string[],
  attach?: LabAttach,
): Promise<undefined>;
async function labBase(
  ctx: VariantContext,
  director: true,
  config: TapvsdConfig,
  extra: string[],
  attach?: LabAttach,
): Promise<number>;
async function labBase(
  ctx: VariantContext,
  director: boolean,
  config?: TapvsdConfig,
  extra: string[] = [],
  attach: LabAttach = 'tap',
): Promise<number | undefined> {
  const flags = extra.flatMap((a) => ['--tapvsd-arg', a]).join(' ');
  const upArgs =
    (director && config !== undefined ? `--${config.kind} ${config.file}` : '--no-director') +
    (attach !== 'tap' ? ` --${attach}` : '');
  ctx.log.add(
    `# lab-lib labUp(${config !== undefined ? `{ ${config.kind}: '${config.file}'${extra.length > 0 ? `, tapvsdArgs: ${JSON.stringify(extra)}` : ''}${attach !== 'tap' ? `, attach: '${attach}'` : ''} }` : `{ director: false${attach !== 'tap' ? `, attach: '${attach}'` : ''} }`})` +
      `  (= npm run lab -- up ${upArgs}${flags !== '' ? ` ${flags}` : ''})`,
  );
  const info = await labUp({
    director,
    attach,
    ...(config !== undefined ? { [config.kind]: config.file } : {}),
    tapvsdArgs: extra,
    readyTimeoutMs: 20_000,
  });
  return director ? (info.pids.tapvsd ?? -1) : undefined;
}

/** VIP on br-ext and DIP on br-int inside tapvs-dir, ip_forward as asked. */
async function kernelAddresses(ctx: VariantContext, forward: boolean): Promise<void> {
  const dir = LAB.ns.dir;
  await sh(ctx, dir, 'ip', ['addr', 'add', `${LAB.vip}/${LAB.extPrefixLen}`, 'dev', LAB.bridge.ext]);
  await sh(ctx, dir, 'ip', ['addr', 'add', `${LAB.dip}/${LAB.intPrefixLen}`, 'dev', LAB.bridge.int]);
  await sh(ctx, dir, 'sysctl', ['-qw', `net.ipv4.ip_forward=${forward ? 1 : 0}`]);
}

/** The client's route to the real servers' network through the director (VIP as gateway). */
async function clientRouteViaVip(ctx: VariantContext): Promise<void> {
  await sh(ctx, LAB.ns.client, 'ip', ['route', 'add', `${prefixOf(LAB.rs1)}.0/${LAB.intPrefixLen}`, 'via', LAB.vip]);
}

/** The rules tapvsd loads (ipvsadm -S format). */
export function tapvsdRules(): string {
  const v = LAB.vip;
  return [
    `-A -t ${v}:${HTTP_PORT} -s rr`,
    `-a -t ${v}:${HTTP_PORT} -r ${LAB.rs1}:${HTTP_PORT} -m -w 1`,
    `-a -t ${v}:${HTTP_PORT} -r ${LAB.rs2}:${HTTP_PORT} -m -w 1`,
    // iperf3's control and data connections must meet the same server: source hashing (the
    // client has one address), the same dest order for TCP and UDP.
    `-A -t ${v}:${IPERF_PORT} -s sh`,
    `-a -t ${v}:${IPERF_PORT} -r ${LAB.rs1}:${IPERF_PORT} -m -w 1`,
    `-a -t ${v}:${IPERF_PORT} -r ${LAB.rs2}:${IPERF_PORT} -m -w 1`,
    `-A -u ${v}:${UDP_PORT} -s rr`,
    `-a -u ${v}:${UDP_PORT} -r ${LAB.rs1}:${UDP_PORT} -m -w 1`,
    '',
  ].join('\n');
}

/** tapvsdRules() by direct routing (-g): the same schedulers, real servers and ports. */
export function tapvsdDrRules(): string {
  return tapvsdRules().replace(/ -m -w 1$/gm, ' -g -w 1');
}

/**
 * tapvsd-dr: the lab as `lab up --method dr --rules FILE` builds it. No client route via the VIP
 * and no routed ping: with DR the client talks to the VIP only, and the replies (the bytes that
 * count) bypass tapvsd.
 */
async function setupTapvsdDr(ctx: VariantContext): Promise<Running> {
  const rules = join(ctx.tmp, 'tapvsd-dr.rules');
  writeFileSync(rules, tapvsdDrRules());
  ctx.log.add(`cat > ${rules} <<'EOF'\n${tapvsdDrRules().trimEnd()}\nEOF`);
  ctx.log.add(
    `# lab-lib labUp({ method: 'dr', rules: '${rules}' })  (= npm run lab -- up --method dr --rules ${rules})`,
  );
  const info = await labUp({ method: 'dr', rules, readyTimeoutMs: 20_000 });
  return {
    targets: vipTargets(info.pids.tapvsd ?? -1, true, false),
    idle: { readChecks: null },
    finish: () => tapvsdNotes(LAB.tapvsdJs),
  };
}

export function nftRules(): string {
  return `table ip tvsbench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${LAB.vip} tcp dport ${HTTP_PORT} dnat to numgen inc mod 2 map { 0 : ${LAB.rs1}, 1 : ${LAB.rs2} }
    ip daddr ${LAB.vip} tcp dport ${IPERF_PORT} dnat to ${LAB.rs1}
    ip daddr ${LAB.vip} udp dport ${UDP_PORT} dnat to ${LAB.rs1}
  }
}
`;
}

export const HAPROXY_THREADS = 2;

export function haproxyConfig(): string {
  return `global
  nbthread ${HAPROXY_THREADS}
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  maxconn 8000
frontend http
  bind ${LAB.vip}:${HTTP_PORT}
  default_backend web
backend web
  balance roundrobin
  server rs1 ${LAB.rs1}:${HTTP_PORT}
  server rs2 ${LAB.rs2}:${HTTP_PORT}
frontend iperf
  bind ${LAB.vip}:${IPERF_PORT}
  default_backend iperf
backend iperf
  server rs1 ${LAB.rs1}:${IPERF_PORT}
`;
}

function vipTargets(directorPid: number | null, udp: boolean, pingRouted: boolean): Targets {
  return {
    iperf: LAB.vip,
    http: [`http://${LAB.vip}/`, `http://${LAB.vip}/`],
    ping: LAB.vip,
    udp: udp ? LAB.vip : null,
    pingRouted: pingRouted ? LAB.rs1 : null,
    directorPid,
  };
}

function directTargets(directorPid: number | null): Targets {
  return {
    iperf: LAB.rs1,
    http: [`http://${LAB.rs1}/`, `http://${LAB.rs2}/`],
    ping: LAB.rs1,
    udp: LAB.rs1,
    pingRouted: null,
    directorPid,
  };
}

interface StatusJson {
  conns: number;
  health?: HealthJson;
  tableFull: number;
  memory: { rss: number };
  dropNames: string[];
  ports: {
    name: string;
    rxFrames: number;
    rxBatches: number;
    txFrames: number;
    txDropped: number;
    arpUnresolvedDrops: number;
    drops: number[];
  }[];
}

/**
 * Frames the kernel dropped on the way into user space: a TAP's TX direction is the kernel
 * handing frames to the reader, so tx_dropped counts frames lost because the director did not
 * read fast enough (its queue is the device's txqueuelen).
 */
async function tapKernelDrops(taps: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const tap of taps) {
    const r = await nsExec(LAB.ns.dir, 'ip', ['-s', '-j', 'link', 'show', 'dev', tap], { timeoutMs: 5000 });
    try {
      const j = JSON.parse(r.stdout) as { stats64?: { tx?: { dropped?: number }; rx?: { dropped?: number } } }[];
      const st = j[0]?.stats64;
      parts.push(`${tap} to reader ${st?.tx?.dropped ?? '?'}, from writer ${st?.rx?.dropped ?? '?'}`);
    } catch {
      parts.push(`${tap} ?`);
    }
  }
  return `kernel TAP drops: ${parts.join('; ')}`;
}

/** tapvsd's own view at the end: `tapvsd status --json` (drops by reason), kernel TAP drops, log warnings. */
async function tapvsdNotes(tapvsdJs: string): Promise<string[]> {
  const notes: string[] = [];
  const st = await run(process.execPath, [tapvsdJs, 'status', '--json', '--socket', LAB.socket], { timeoutMs: 10_000 });
  try {
    const j = JSON.parse(st.stdout) as StatusJson;
    const ports = j.ports.map((p) => {
      const drops = p.drops.map((n, i) => [j.dropNames[i], n] as const).filter(([, n]) => n > 0);
      return (
        `${p.name}: rx ${p.rxFrames} frames in ${p.rxBatches} batches (${(p.rxFrames / Math.max(1, p.rxBatches)).toFixed(1)}/batch), ` +
        `tx ${p.txFrames}, tx refused ${p.txDropped}, unresolved-ARP drops ${p.arpUnresolvedDrops}, ` +
        `drops ${drops.length === 0 ? 'none' : drops.map(([k, n]) => `${k} ${n}`).join(' ')}`
      );
    });
    notes.push(
      `tapvsd status: ${j.conns} conns, table-full ${j.tableFull}, rss ${Math.round(j.memory.rss / 2 ** 20)} MiB; ${ports.join('; ')}`,
    );
    if (j.health !== undefined)
      notes.push(`health checks at the end: ${describeChecks(countChecks(j.health, Date.now()))}`);
  } catch {
    notes.push(`tapvsd status failed: ${st.stderr.trim() || st.stdout.trim()}`);
  }
  notes.push(await tapKernelDrops([LAB.tap.ext, LAB.tap.int]));
  let log = '';
  try {
    log = readFileSync(LAB.log, 'utf8');
  } catch {
    /* none */
  }
  const bad = log.split('\n').filter((l) => /warn|error|uncaught|unhandled/i.test(l));
  if (bad.length > 0) notes.push(`log: ${bad.length} warning/error lines, first: ${bad.slice(0, 3).join(' | ')}`);
  return notes;
}

/** Does this tapvsd know `--no-offload` (offloads on by default)? */
async function tapvsdHasNoOffload(tapvsdJs: string): Promise<boolean> {
  const r = await run(process.execPath, [tapvsdJs, '--help'], { timeoutMs: 10_000 });
  return r.stdout.includes('--no-offload');
}

/** tapvsd from our tree (`baseline` null) or from the baseline tree, through that tree's lab. */
async function setupTapvsd(
  ctx: VariantContext,
  offload: boolean,
  baseline: BaselineTree | null,
  moreArgs: readonly string[] = [],
): Promise<Running | NotApplicable> {
  const rules = join(ctx.tmp, 'tapvsd.rules');
  writeFileSync(rules, tapvsdRules());
  ctx.log.add(`cat > ${rules} <<'EOF'\n${tapvsdRules().trimEnd()}\nEOF`);
  const tapvsdJs = baseline?.tapvsdJs ?? LAB.tapvsdJs;
  // Offloads are tapvsd's default; plain frames need --no-offload (a tapvsd that predates
  // offloads has neither flag and runs plain).
  const extra = [...(!offload && (await tapvsdHasNoOffload(tapvsdJs)) ? ['--no-offload'] : []), ...moreArgs];
  const pid =
    baseline === null
      ? await labBase(ctx, true, { kind: 'rules', file: rules }, extra)
      : await baselineLabUp(baseline, rules, extra, ctx.log);
  await clientRouteViaVip(ctx);
  return { targets: vipTargets(pid, true, true), idle: { readChecks: null }, finish: () => tapvsdNotes(tapvsdJs) };
}

/**
 * Our tapvsd (offloads) from checks-config.ts's keepalived.conf: the `tapvsd` variant's services
 * plus CHECKED_SERVERS checkers. Ready once every checker has run and is up.
 *
 * tcp_tw_reuse=1 in tapvs-dir: the checks are the only TCP connections of that kernel, and in the
 * lab they all go to two addresses' port 80. Each check's close leaves a TIME_WAIT for 60 s, so
 * 500 per second to one address:port outgrow the ephemeral ports (28,232 by default); from about
 * half of them in use connect() searches the port range for a free one, ~90% of a core in the
 * kernel inside tapvsd's event loop (measured by hand), and the checks fall to ~200/s. On a real
 * network 1,000 checks go to 1,000 servers and none of this happens; reusing TIME_WAIT ports
 * (TCP timestamps make that safe) stands in for that. It changes nothing on the dataplane's path:
 * tapvsd's traffic never enters that kernel's TCP.
 */
async function setupTapvsdChecks(ctx: VariantContext): Promise<Running> {
  const conf = join(ctx.tmp, 'tapvsd-checks.conf');
  writeFileSync(conf, checksKeepalivedConf());
  ctx.log.add(`cat > ${conf} <<'EOF'\n${checksKeepalivedConfSummary()}\nEOF`);
  const pid = await labBase(ctx, true, { kind: 'keepalived', file: conf }, []);
  await sh(ctx, LAB.ns.dir, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
  await clientRouteViaVip(ctx);
  const readChecks = (): Promise<CheckCounts> => readCheckCounts(LAB.tapvsdJs);
  let last: CheckCounts | null = null;
  try {
    await waitUntil(`all ${CHECKED_SERVERS} checkers to have run and be up`, 20_000, async () => {
      last = await readChecks();
      return last.checkers === CHECKED_SERVERS && last.up === CHECKED_SERVERS && last.checksRun >= CHECKED_SERVERS;
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}; last: ${last !== null ? describeChecks(last) : 'no answer'}`);
  }
  return { targets: vipTargets(pid, true, true), idle: { readChecks }, finish: () => tapvsdNotes(LAB.tapvsdJs) };
}

/** tapvsd on the lab's veths in tapvs-dir: packet= (AF_PACKET) or pcap= (libpcap) links. */
/** Runs `start` with NAME=VALUE in the environment tapvsd inherits from the lab's spawn. */
async function withEnv<T>(ctx: VariantContext, name: string, value: string, start: () => Promise<T>): Promise<T> {
  ctx.log.add(`export ${name}=${value}`);
  process.env[name] = value;
  try {
    return await start();
  } finally {
    delete process.env[name];
  }
}

async function setupTapvsdNic(ctx: VariantContext, attach: 'packet' | 'pcap', ring = false): Promise<Running> {
  const rules = join(ctx.tmp, 'tapvsd.rules');
  writeFileSync(rules, tapvsdRules());
  ctx.log.add(`cat > ${rules} <<'EOF'\n${tapvsdRules().trimEnd()}\nEOF`);
  const up = (): Promise<number> => labBase(ctx, true, { kind: 'rules', file: rules }, [], attach);
  const pid = ring ? await withEnv(ctx, 'TAPVS_PACKET_RX', 'ring', up) : await up();
  await clientRouteViaVip(ctx);
  return { targets: vipTargets(pid, true, true), idle: { readChecks: null }, finish: () => tapvsdNotes(LAB.tapvsdJs) };
}

/**
 * Kernel NAT on the veths `lab up --packet` makes (offloads on), undoing what the lab does to
 * keep that kernel out (forwarding off, arp_ignore=8 on the veths): the reference for
 * tapvsd-packet on the same devices.
 */
async function setupNftVeth(ctx: VariantContext): Promise<Running> {
  await labBase(ctx, false, undefined, [], 'packet');
  const dir = LAB.ns.dir;
  const ext = LAB.pcapVeth.ext.name,
    int = LAB.pcapVeth.int.name;
  await sh(ctx, dir, 'ip', ['addr', 'add', `${LAB.vip}/${LAB.extPrefixLen}`, 'dev', ext]);
  await sh(ctx, dir, 'ip', ['addr', 'add', `${LAB.dip}/${LAB.intPrefixLen}`, 'dev', int]);
  await sh(ctx, dir, 'sysctl', [
    '-qw',
    'net.ipv4.ip_forward=1',
    `net.ipv4.conf.${ext}.arp_ignore=0`,
    `net.ipv4.conf.${int}.arp_ignore=0`,
    `net.ipv4.conf.${ext}.forwarding=1`,
    `net.ipv4.conf.${int}.forwarding=1`,
  ]);
  await sh(ctx, dir, 'nft', ['-f', '-'], nftRules());
  await clientRouteViaVip(ctx);
  return { targets: vipTargets(null, true, true), finish: NO_FINISH };
}

async function setupNft(ctx: VariantContext): Promise<Running> {
  await labBase(ctx, false);
  await kernelAddresses(ctx, true);
  await sh(ctx, LAB.ns.dir, 'nft', ['-f', '-'], nftRules());
  await clientRouteViaVip(ctx);
  return {
    targets: vipTargets(null, true, true),
    finish: async () => {
      const r = await nsExec(LAB.ns.dir, 'nft', ['list', 'table', 'ip', 'tvsbench'], { timeoutMs: 10_000 });
      return r.code === 0 ? [] : [`nft table missing at the end: ${r.stderr.trim()}`];
    },
  };
}

async function setupHaproxy(ctx: VariantContext): Promise<Running> {
  await labBase(ctx, false);
  await kernelAddresses(ctx, false);
  const cfg = join(ctx.tmp, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig());
  ctx.log.add(`cat > ${cfg} <<'EOF'\n${haproxyConfig().trimEnd()}\nEOF`);
  ctx.log.add(`${shellLine(LAB.ns.dir, 'haproxy', ['-f', cfg, '-db'])} &`);
  const hp = startInNs('haproxy', LAB.ns.dir, 'haproxy', ['-f', cfg, '-db']);
  try {
    await waitUntil('haproxy to listen', 10_000, async () => {
      if ((await Promise.race([hp.exited, sleep(0).then(() => 'running')])) !== 'running')
        throw new Error(`haproxy exited: ${hp.output()}`);
      const r = await nsExec(LAB.ns.dir, 'ss', ['-Htln'], { timeoutMs: 5000 });
      return r.stdout.includes(`${LAB.vip}:${HTTP_PORT}`) && r.stdout.includes(`${LAB.vip}:${IPERF_PORT}`);
    });
  } catch (e) {
    await stopStarted(hp);
    throw e;
  }
  return {
    targets: vipTargets(hp.pid, false, false),
    finish: async () => {
      await stopStarted(hp);
      const out = hp
        .output()
        .split('\n')
        .filter((l) => /WARNING|ALERT/.test(l));
      return out.length > 0 ? [`haproxy: ${out.slice(0, 3).join(' | ')}`] : [];
    },
  };
}

async function setupRouting(ctx: VariantContext): Promise<Running> {
  await labBase(ctx, false);
  await kernelAddresses(ctx, true);
  await clientRouteViaVip(ctx);
  return { targets: directTargets(null), finish: NO_FINISH };
}

const TAPCOPY_EXT = 'tvs-cp-ext';
const TAPCOPY_INT = 'tvs-cp-int';

/**
 * A C copy loop from bench/c, started in tapvs-dir with `args` before the two TAP names; it prints
 * "BINARY: ready" once its TAPs exist. The binaries other than tapcopy are built by bench/run.mjs
 * next to it (ctx.tapcopy's directory).
 */
async function setupTapcopy(ctx: VariantContext, binary: string, flags: readonly string[]): Promise<Running> {
  await labBase(ctx, false);
  const path = binary === 'tapcopy' ? ctx.tapcopy : join(dirname(ctx.tapcopy), binary);
  const args = [...flags, TAPCOPY_EXT, TAPCOPY_INT];
  ctx.log.add(`${shellLine(LAB.ns.dir, path, args)} &`);
  const tc: Started = startInNs(binary, LAB.ns.dir, path, args);
  try {
    await waitUntil(`${binary} to create its TAPs`, 5000, async () => {
      if ((await Promise.race([tc.exited, sleep(0).then(() => 'running')])) !== 'running')
        throw new Error(`${binary} exited: ${tc.output()}`);
      return tc.output().includes(`${binary}: ready`);
    });
    await sh(ctx, LAB.ns.dir, 'ip', ['link', 'set', TAPCOPY_EXT, 'master', LAB.bridge.ext, 'up']);
    await sh(ctx, LAB.ns.dir, 'ip', ['link', 'set', TAPCOPY_INT, 'master', LAB.bridge.int, 'up']);
    await sh(ctx, LAB.ns.client, 'ip', [
      'addr',
      'add',
      `${clientL2Addr()}/${LAB.intPrefixLen}`,
      'dev',
      LAB.veth.client.name,
    ]);
  } catch (e) {
    await stopStarted(tc);
    throw e;
  }
  return {
    targets: directTargets(tc.pid),
    finish: async () => {
      const drops = await tapKernelDrops([TAPCOPY_EXT, TAPCOPY_INT]);
      await stopStarted(tc);
      const line = tc
        .output()
        .split('\n')
        .find((l) => l.includes('frames'));
      return [...(line !== undefined ? [line.trim()] : []), drops];
    },
  };
}

function needBaseline(ctx: VariantContext): BaselineTree {
  if (ctx.baseline === null) throw new Error('a -base variant without --baseline');
  return ctx.baseline;
}

export async function setupVariant(key: VariantKey, ctx: VariantContext): Promise<Running | NotApplicable> {
  switch (key) {
    case 'tapvsd':
      return setupTapvsd(ctx, true, null);
    case 'tapvsd-checks':
      return setupTapvsdChecks(ctx);
    case 'tapvsd-dr':
      return setupTapvsdDr(ctx);
    case 'tapvsd-plain':
      return setupTapvsd(ctx, false, null);
    case 'tapvsd-nopoll':
      return setupTapvsd(ctx, true, null, ['--poll-budget', '0']);
    case 'tapvsd-readwrite':
      return withEnv(ctx, 'TAPVS_TAP_IO', 'readwrite', () => setupTapvsd(ctx, true, null));
    case 'tapvsd-base':
      return setupTapvsd(ctx, true, needBaseline(ctx));
    case 'tapvsd-plain-base':
      return setupTapvsd(ctx, false, needBaseline(ctx));
    case 'nft':
      return setupNft(ctx);
    case 'haproxy':
      return setupHaproxy(ctx);
    case 'routing':
      return setupRouting(ctx);
    case 'tapcopy':
      return setupTapcopy(ctx, 'tapcopy', []);
    case 'tapcopy-vnet':
      return setupTapcopy(ctx, 'tapcopy', ['-v']);
    case 'tapcopy-mq':
      return setupTapcopy(ctx, 'tapcopy-mq', ['-v', '-n', '2']);
    case 'tapcopy-mq-pin':
      return setupTapcopy(ctx, 'tapcopy-mq', ['-v', '-n', '2', '-p']);
    case 'tapcopy-uring':
      return setupTapcopy(ctx, 'tapcopy-uring', ['-v']);
    case 'tapcopy-mq-uring':
      return setupTapcopy(ctx, 'tapcopy-uring', ['-v', '-n', '2']);
    case 'tapvsd-packet':
      return setupTapvsdNic(ctx, 'packet');
    case 'tapvsd-packet-ring':
      return setupTapvsdNic(ctx, 'packet', true);
    case 'tapvsd-pcap':
      return setupTapvsdNic(ctx, 'pcap');
    case 'nft-veth':
      return setupNftVeth(ctx);
  }
}

/** A first request through the variant: the path works before anything is timed. */
export async function checkPath(t: Targets): Promise<void> {
  for (const url of t.http) {
    let body = '';
    for (let i = 0; i < 20 && !body.startsWith('RS'); i++) {
      const r = await nsExec(LAB.ns.client, 'curl', ['-s', '--max-time', '2', url], { timeoutMs: 5000 });
      body = r.stdout;
      if (!body.startsWith('RS')) await sleep(100);
    }
    if (!body.startsWith('RS')) throw new Error(`no answer from ${url} through the variant`);
  }
}
