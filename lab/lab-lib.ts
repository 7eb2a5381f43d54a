/**
 * The textbook LVS-NAT lab in network namespaces, as a library (lab.ts is its CLI).
 *
 * ```
 *  tapvs-client (192.168.222.1/24)                         tapvs-rs1 (192.168.2.129/24, default via .136)
 *         | veth tvs-c0                                         | veth tvs-r1
 *    [tapvs-br-ext] ---- tap tapvs-ext ==( tapvsd )== tap tapvs-int ---- [tapvs-br-int] ---- veth tvs-r2 ---- tapvs-rs2
 *         \______ namespace tapvs-dir: both bridges and tapvsd's TAPs, NO IP addresses ______/   (192.168.2.130/24,
 *                                                                                                  default via .136)
 *  VIP 192.168.222.131/24 (tapvsd, link "ext")        DIP 192.168.2.136/24 (tapvsd, link "int")
 *                                                      check address 192.168.2.137/24 (kernel of tapvs-dir, on tapvs-br-int)
 * ```
 *
 * Contract (integration tests, benchmarks and people rely on it; keep it stable):
 * - `labUp(opts)` builds the four namespaces, bridges and veths, starts `rs-server` (HTTP :80)
 *   and `iperf3 -s` (:5201) in each real-server namespace, then (unless `director: false`)
 *   starts tapvsd inside `tapvs-dir`, where it creates the TAPs and enslaves them to the
 *   bridges, and waits until it is ready. It tears down any earlier (even half-built) lab first,
 *   and tears down what it built if it fails. Processes it starts outlive the caller.
 * - `labDown()` stops every process it recorded and every process inside a lab namespace
 *   (SIGTERM, bounded wait, SIGKILL), deletes the namespaces and /run/tapvs-lab. Idempotent.
 * - Nothing is ever added to the root namespace: veths are created inside their namespaces.
 *   The kernel of tapvs-dir owns neither the VIP nor the DIP; only tapvsd does. IPv6 is off in
 *   every lab namespace so captures show only the traffic a test makes.
 * - The kernel of tapvs-dir has one address of its own, the check address (default
 *   192.168.2.137, in the real servers' prefix): the source of tapvsd's health checks, which are
 *   ordinary sockets of the tapvsd process (docs/health-check-source.md). It sits on
 *   tapvs-br-int (TAP mode; the bridge gets the fixed MAC `macFor(check)`) or on `tvs-pi` (pcap
 *   mode): `checkDevice(attach)`. On that device arp_ignore=1 (ARP answers only for the check
 *   address), arp_announce=2 and rp_filter=1; ip_forward=0. Frames to tapvsd's MAC reach that
 *   stack at most as PACKET_OTHERHOST, which IP drops before it counts them: the kernel never
 *   answers, resets or forwards tapvsd's traffic. The real servers reach it on-link.
 * - `rsStop`/`rsStart` stop and start one real server's rs-server and iperf3 (by the pids the lab
 *   recorded), `rsFail`/`rsHeal` switch its failing mode (`/` and `/health` answer 503) through
 *   rs-server's loopback-only admin port, `rsLink` sets its veth down or up (restoring its default
 *   route), `rsStatus` reports them. Each touches its one server and nothing else.
 * - Addresses: `LAB` holds the defaults, overridden by environment variables (TAPVS_LAB_CLIENT,
 *   TAPVS_LAB_VIP, TAPVS_LAB_EXT_PREFIX, TAPVS_LAB_DIP, TAPVS_LAB_RS1, TAPVS_LAB_RS2,
 *   TAPVS_LAB_INT_PREFIX, TAPVS_LAB_CHECK_ADDR, TAPVS_SOCKET) when this module loads; `labUp({ addresses })`
 *   overrides them per call and returns the effective values. Names are fixed.
 *   TAPVS_LAB_TAPVSD names another tapvsd script (default dist/src/cli/tapvsd.js).
 * - Veth MACs are derived from the IPv4 address (02:00:a:b:c:d) so captures are reproducible.
 * - `attach: 'pcap'` (`lab up --pcap`) attaches tapvsd the way a dual-NIC gateway VM does: the lab
 *   creates a veth pair per side inside tapvs-dir (`tvs-px` with `tvs-pxb` on tapvs-br-ext,
 *   `tvs-pi` with `tvs-pib` on tapvs-br-int) and tapvsd captures and injects on `tvs-px`/`tvs-pi`
 *   with libpcap (`--link name=ext,pcap=tvs-px,...`) instead of creating TAPs. Those veths play
 *   the VM's NICs: no addresses, forwarding off, ARP answers off, IPv6 off, and the bridge-side
 *   peers resolve checksums and segment in software (tx/tso/gso off) the way a hypervisor does for
 *   a NIC without offloads. `pcapMac: 'nic'` makes tapvsd use the veths' own MACs (mac=nic).
 * - `attach: 'packet'` (`lab up --packet`) is the same on the same veths through tapvsd's
 *   AF_PACKET socket (`--link name=ext,packet=tvs-px,...`), with the offloads left on: super-frames
 *   cross the veths whole, as from a virtio NIC with GRO/TSO, and tapvsd takes them with
 *   PACKET_VNET_HDR. `pcapMac: 'nic'` works the same there.
 * - `keepalived: FILE` starts tapvsd with `--keepalived FILE` instead of `--rules FILE`.
 * - `method: 'dr' | 'tun' | 'fullnat' | 'nat'` (`lab up --method`) sets the real servers up for that
 *   forwarding method and loads its rules file unless `rules`/`keepalived` is given
 *   (lab-methods.ts): dr/tun put the VIP on the real servers' lo and route their replies through
 *   the kernel of tapvs-dir (ip_forward=1 there, 192.168.222.137 on tapvs-br-ext), tun also starts
 *   a tunnel endpoint per real server (pids rs1-tun, rs2-tun); fullnat leaves the real servers
 *   without a default route. rs-server also listens on the PROXY protocol port 8080.
 *
 * Not here: the director itself, virtual services (pass `rules` or `keepalived`, or use
 * tapvsadm), benchmarks.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanDaemonLogs } from './daemon-log.js';
import {
  type LabMethod,
  type LabTunType,
  METHOD_LAB,
  makeDirectorKernelRouter,
  methodRulesFile,
  prepareVipOnRealServer,
  rsGateway,
  tunnelEndpointArgs,
} from './lab-methods.js';

/** Where this file lives once compiled: <repo>/dist/lab/lab-lib.js. */
const DIST_LAB_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(DIST_LAB_DIR, '..', '..');

/** The addresses a lab uses. Prefix lengths are in bits. */
export interface LabAddresses {
  /** The client's address on the external network. */
  readonly client: string;
  /** The virtual IP, owned by tapvsd on its `ext` link. */
  readonly vip: string;
  readonly extPrefixLen: number;
  /** The director's internal IP, owned by tapvsd on its `int` link; the real servers' gateway. */
  readonly dip: string;
  readonly rs1: string;
  readonly rs2: string;
  readonly intPrefixLen: number;
  /**
   * The kernel of tapvs-dir's own address on the internal network, never the DIP: the source of
   * tapvsd's health checks (see the module comment).
   */
  readonly check: string;
}

const DEFAULT_ADDRESSES: LabAddresses = {
  client: '192.168.222.1',
  vip: '192.168.222.131',
  extPrefixLen: 24,
  dip: '192.168.2.136',
  rs1: '192.168.2.129',
  rs2: '192.168.2.130',
  intPrefixLen: 24,
  check: '192.168.2.137',
};

function envAddresses(): LabAddresses {
  const e = process.env;
  return {
    client: e.TAPVS_LAB_CLIENT ?? DEFAULT_ADDRESSES.client,
    vip: e.TAPVS_LAB_VIP ?? DEFAULT_ADDRESSES.vip,
    extPrefixLen: Number(e.TAPVS_LAB_EXT_PREFIX ?? DEFAULT_ADDRESSES.extPrefixLen),
    dip: e.TAPVS_LAB_DIP ?? DEFAULT_ADDRESSES.dip,
    rs1: e.TAPVS_LAB_RS1 ?? DEFAULT_ADDRESSES.rs1,
    rs2: e.TAPVS_LAB_RS2 ?? DEFAULT_ADDRESSES.rs2,
    intPrefixLen: Number(e.TAPVS_LAB_INT_PREFIX ?? DEFAULT_ADDRESSES.intPrefixLen),
    check: e.TAPVS_LAB_CHECK_ADDR ?? DEFAULT_ADDRESSES.check,
  };
}

const RUN_DIR = '/run/tapvs-lab';
const ENV_ADDRESSES = envAddresses();

/** The lab's names, paths and (default or environment) addresses. Read-only. */
export const LAB = Object.freeze({
  ...ENV_ADDRESSES,
  ns: Object.freeze({ client: 'tapvs-client', dir: 'tapvs-dir', rs1: 'tapvs-rs1', rs2: 'tapvs-rs2' }),
  bridge: Object.freeze({ ext: 'tapvs-br-ext', int: 'tapvs-br-int' }),
  tap: Object.freeze({ ext: 'tapvs-ext', int: 'tapvs-int' }),
  /** Veth pairs: `name` lives in the host's namespace, `peer` in tapvs-dir on a bridge. */
  veth: Object.freeze({
    client: Object.freeze({ name: 'tvs-c0', peer: 'tvs-c0p' }),
    rs1: Object.freeze({ name: 'tvs-r1', peer: 'tvs-r1p' }),
    rs2: Object.freeze({ name: 'tvs-r2', peer: 'tvs-r2p' }),
  }),
  /**
   * `attach: 'pcap'`: the director's "NICs" in tapvs-dir (`name`, captured by tapvsd with
   * libpcap) and their bridge-side peers (`peer`), with fixed MACs for reproducible captures.
   */
  pcapVeth: Object.freeze({
    ext: Object.freeze({ name: 'tvs-px', peer: 'tvs-pxb', mac: '02:00:00:00:e0:01' }),
    int: Object.freeze({ name: 'tvs-pi', peer: 'tvs-pib', mac: '02:00:00:00:e0:02' }),
  }),
  /** Identities the real servers print on `GET /`. */
  rsId: Object.freeze({ rs1: 'RS1', rs2: 'RS2' }),
  httpPort: 80,
  iperfPort: 5201,
  /** rs-server's failing-mode switch, on 127.0.0.1 inside each real server's namespace only. */
  rsAdminPort: 8081,
  runDir: RUN_DIR,
  socket: process.env.TAPVS_SOCKET ?? '/run/tapvs/tapvsd.sock',
  pidfile: join(RUN_DIR, 'tapvsd.pid'),
  log: join(RUN_DIR, 'tapvsd.log'),
  repoRoot: REPO_ROOT,
  /** The daemon the lab starts; env TAPVS_LAB_TAPVSD points it at another build. */
  tapvsdJs: process.env.TAPVS_LAB_TAPVSD ?? join(REPO_ROOT, 'dist', 'src', 'cli', 'tapvsd.js'),
  tapvsadmJs: join(REPO_ROOT, 'dist', 'src', 'cli', 'tapvsadm.js'),
  rsServerJs: join(DIST_LAB_DIR, 'rs-server.js'),
  /** The user-space IPIP/GUE/GRE endpoint each real server runs with `--method tun`. */
  tunnelEndpointJs: join(DIST_LAB_DIR, 'tunnel-endpoint.js'),
  labJs: join(DIST_LAB_DIR, 'lab.js'),
  /** The textbook service as a keepalived.conf with HTTP_GET checks (`lab up --keepalived`). */
  keepalivedConf: join(REPO_ROOT, 'lab', 'keepalived-lab.conf'),
});

/** Every namespace the lab creates, in creation order. `labDown()` deletes exactly these. */
export const LAB_NAMESPACES: readonly string[] = Object.freeze([LAB.ns.dir, LAB.ns.client, LAB.ns.rs1, LAB.ns.rs2]);
/** Namespaces added by `up --ha` (the second director) and `peer up` (a keepalived): removed by labDown too. */
export const EXTRA_NAMESPACES: readonly string[] = Object.freeze(['tapvs-dir2', 'tapvs-ka']);

export type RealServerKey = 'rs1' | 'rs2';
export const REAL_SERVERS: readonly RealServerKey[] = Object.freeze(['rs1', 'rs2'] as const);

/** The device of tapvs-dir holding the check address: the internal bridge, or with pcap the director's internal veth. */
export function checkDevice(attach: LabAttach): string {
  return attach !== 'tap' ? LAB.pcapVeth.int.name : LAB.bridge.int;
}

const PIDS_DIR = join(RUN_DIR, 'pids');
const STATE_FILE = join(RUN_DIR, 'lab.json');
/** The line tapvsd prints on stdout once its links are up and its socket listens. */
const READY_LINE = 'tapvsd: ready';

const CMD_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
const SERVERS_READY_TIMEOUT_MS = 10_000;
const DEFAULT_READY_TIMEOUT_MS = 15_000;
const TERM_WAIT_MS = 5_000;
const KILL_WAIT_MS = 2_000;

export class LabError extends Error {
  override readonly name = 'LabError';
}

// ---------------------------------------------------------------------------------------------
// Running commands

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  readonly timeoutMs?: number;
  /** Reject unless the command exits 0. Default false: inspect `code` yourself. */
  readonly check?: boolean;
  /** Written to the command's stdin, then stdin is closed. */
  readonly input?: string | Uint8Array;
  readonly env?: NodeJS.ProcessEnv;
  /** Stop collecting stdout beyond this many bytes (default 256 MiB); `truncated` says so. */
  readonly maxBytes?: number;
}

export interface ExecResult {
  /** Exit status, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** The same stdout as bytes (for binary bodies such as `/blob`). */
  readonly stdoutBuf: Buffer;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly truncated: boolean;
}

/** Runs a command (no shell), collects its output, kills it at the timeout. Never hangs. */
export function run(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let truncated = false;
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => {
      if (outBytes + b.length > maxBytes) {
        truncated = true;
        return;
      }
      out.push(b);
      outBytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBuf = Buffer.concat(out);
      const result: ExecResult = {
        code,
        signal,
        stdoutBuf,
        stdout: stdoutBuf.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        truncated,
      };
      if (opts.check === true && code !== 0) {
        const why = timedOut
          ? `timed out after ${timeoutMs} ms`
          : code === null
            ? `killed by ${signal ?? '?'}`
            : `exit ${code}`;
        reject(new LabError(`${cmd} ${args.join(' ')}: ${why}${result.stderr ? `: ${result.stderr.trim()}` : ''}`));
        return;
      }
      resolvePromise(result);
    });
    child.stdin.on('error', () => {
      /* the command may exit without reading its input */
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Runs `cmd args` inside network namespace `ns` (`ip netns exec ns cmd args…`). */
export function nsExec(
  ns: string,
  cmd: string,
  args: readonly string[] = [],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/**
 * Starts a long-running command inside `ns` and returns the child (its pid is the command's own,
 * as `ip netns exec` execs it). The caller owns it: kill it by pid. Output goes to `logFile`
 * (appended) or is ignored.
 */
export function nsSpawn(
  ns: string,
  cmd: string,
  args: readonly string[] = [],
  opts: { logFile?: string; detached?: boolean } = {},
): ChildProcess {
  let fd = -1;
  let stdio: StdioOptions = 'ignore';
  if (opts.logFile !== undefined) {
    fd = openSync(opts.logFile, 'a');
    stdio = ['ignore', fd, fd];
  }
  try {
    return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio, detached: opts.detached ?? false });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Runs tapvsadm (`node dist/src/cli/tapvsadm.js args…`) from the root namespace against the lab's socket. */
export function tapvsadm(args: readonly string[], opts: ExecOptions & { socket?: string } = {}): Promise<ExecResult> {
  const env = { ...(opts.env ?? process.env), TAPVS_SOCKET: opts.socket ?? currentSocket() };
  return run(process.execPath, [LAB.tapvsadmJs, ...args], { ...opts, env });
}

export function ip(args: readonly string[]): Promise<ExecResult> {
  return run('ip', args, { timeoutMs: CMD_TIMEOUT_MS, check: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// Addresses

function parseIpv4(s: string, what: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) throw new LabError(`${what}: not an IPv4 address: ${JSON.stringify(s)}`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) throw new LabError(`${what}: not an IPv4 address: ${s}`);
    v = v * 256 + b;
  }
  return v;
}

function sameSubnet(a: number, b: number, prefixLen: number): boolean {
  const size = 2 ** (32 - prefixLen);
  return Math.floor(a / size) === Math.floor(b / size);
}

/** Checks a full address set: valid dotted quads, distinct, each network sharing one prefix. */
function validateAddresses(a: LabAddresses): void {
  for (const [name, len] of [
    ['extPrefixLen', a.extPrefixLen],
    ['intPrefixLen', a.intPrefixLen],
  ] as const) {
    if (!Number.isInteger(len) || len < 8 || len > 30)
      throw new LabError(`${name} must be an integer in 8..30, got ${len}`);
  }
  const client = parseIpv4(a.client, 'client'),
    vip = parseIpv4(a.vip, 'vip');
  const dip = parseIpv4(a.dip, 'dip'),
    rs1 = parseIpv4(a.rs1, 'rs1'),
    rs2 = parseIpv4(a.rs2, 'rs2');
  if (!sameSubnet(client, vip, a.extPrefixLen))
    throw new LabError(`client ${a.client} and vip ${a.vip} are not in one /${a.extPrefixLen}`);
  const check = parseIpv4(a.check, 'check');
  if (
    !sameSubnet(dip, rs1, a.intPrefixLen) ||
    !sameSubnet(dip, rs2, a.intPrefixLen) ||
    !sameSubnet(dip, check, a.intPrefixLen)
  ) {
    throw new LabError(
      `dip ${a.dip}, rs1 ${a.rs1}, rs2 ${a.rs2} and check ${a.check} are not in one /${a.intPrefixLen}`,
    );
  }
  if (new Set([a.client, a.vip, a.dip, a.rs1, a.rs2, a.check]).size !== 6)
    throw new LabError('lab addresses must be distinct');
}

/** The locally administered MAC the lab gives the veth holding `addr`: 02:00 then the 4 address bytes. */
export function macFor(addr: string): string {
  return ['02', '00', ...addr.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

// ---------------------------------------------------------------------------------------------
// Processes

/** What the lab records about each process it starts: pids/<name> holds the pid. */
const PROC_MARKERS: Readonly<Record<string, string>> = {
  'rs1-http': 'rs-server',
  'rs2-http': 'rs-server',
  'rs1-iperf3': 'iperf3',
  'rs2-iperf3': 'iperf3',
  tapvsd: 'tapvsd',
  tapvsd2: 'tapvsd',
  'rs1-tun': 'tunnel-endpoint',
  'rs2-tun': 'tunnel-endpoint',
  keepalived: 'keepalived',
};

/** True while `pid` exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the command name in parentheses, which may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export function readPid(file: string): number {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : -1;
  } catch {
    return -1;
  }
}

function recordPid(name: string, pid: number): void {
  mkdirSync(PIDS_DIR, { recursive: true });
  writeFileSync(join(PIDS_DIR, name), `${pid}\n`);
}

/** Sends SIGTERM, waits (bounded) for all to go, then SIGKILLs and waits again. */
export async function stopPids(pids: readonly number[]): Promise<number[]> {
  const live = pids.filter(pidAlive);
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  let deadline = Date.now() + TERM_WAIT_MS;
  while (live.some(pidAlive) && Date.now() < deadline) await sleep(POLL_MS);
  const stubborn = live.filter(pidAlive);
  for (const pid of stubborn) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  deadline = Date.now() + KILL_WAIT_MS;
  while (stubborn.some(pidAlive) && Date.now() < deadline) await sleep(POLL_MS);
  return live;
}

/** Pids of processes whose network namespace is `ns` (empty when `ns` does not exist). */
async function nsPids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns], { timeoutMs: CMD_TIMEOUT_MS });
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((p) => p !== process.pid);
}

/** Names of all existing network namespaces. */
export async function listNamespaces(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { timeoutMs: CMD_TIMEOUT_MS, check: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() >= deadline) throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function readText(file: string, maxChars = 20_000): string {
  try {
    const t = readFileSync(file, 'utf8');
    return t.length > maxChars ? `…${t.slice(-maxChars)}` : t;
  } catch {
    return '';
  }
}

/** Starts `cmd args` detached inside `ns`, output to runDir/<name>.log, pid in runDir/pids/<name>. */
export function startDaemon(name: string, ns: string, cmd: string, args: readonly string[]): ChildProcess {
  const logFile = join(RUN_DIR, `${name}.log`);
  const child = nsSpawn(ns, cmd, args, { logFile, detached: true });
  child.on('error', () => {
    /* reported through the readiness wait and the log */
  });
  if (child.pid === undefined) throw new LabError(`could not start ${name}: ${cmd} ${args.join(' ')}`);
  recordPid(name, child.pid);
  child.unref();
  return child;
}

// ---------------------------------------------------------------------------------------------
// Up

export interface LabUpOptions {
  /** An ipvsadm -S rules file for tapvsd (`--rules`); without it tapvsd starts with no service. */
  readonly rules?: string;
  /** A keepalived.conf for tapvsd (`--keepalived`), instead of `rules`. */
  readonly keepalived?: string;
  /** Start tapvsd (default true). `false` is `lab up --no-director`. */
  readonly director?: boolean;
  /** How tapvsd attaches: TAPs it creates (default) or libpcap on lab-made veths (`lab up --pcap`). */
  readonly attach?: LabAttach;
  /** With `attach: 'pcap'`: the director's own MACs (default) or the veths' (`--pcap-nic-mac`). */
  readonly pcapMac?: 'own' | 'nic';
  /** Overrides of `LAB`'s addresses for this lab. */
  readonly addresses?: Partial<LabAddresses>;
  /** tapvsd's control socket (default `LAB.socket`). */
  readonly socket?: string;
  /** Extra arguments appended to tapvsd's command line. */
  readonly tapvsdArgs?: readonly string[];
  /**
   * The forwarding method the real servers are set up for (lab-methods.ts); with no `rules` or
   * `keepalived`, tapvsd loads that method's rules file. Absent: the NAT lab with no service.
   */
  readonly method?: LabMethod;
  /** With `method: 'tun'`: the encapsulation (default ipip). */
  readonly tunType?: LabTunType;
  /** How long to wait for `tapvsd: ready` (default 15 s). */
  readonly readyTimeoutMs?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Aborting stops the build between steps and tears down what was built. */
  readonly signal?: AbortSignal;
}

export interface LabInfo {
  readonly addresses: LabAddresses;
  readonly socket: string;
  readonly director: boolean;
  readonly attach: LabAttach;
  readonly pcapMac: 'own' | 'nic';
  readonly rules: string | null;
  readonly keepalived: string | null;
  /** The device of tapvs-dir holding `addresses.check` (`checkDevice(attach)`). */
  readonly checkDevice: string;
  /** Pids of the processes the lab started, by name (rs1-http, rs1-iperf3, …, tapvsd). */
  readonly pids: Readonly<Record<string, number>>;
  /** tapvsd's full command line (also when `director` is false: what it would have run). */
  readonly tapvsdCommand: readonly string[];
  /** The forwarding method the real servers are set up for ('nat' when none was asked). */
  readonly method: LabMethod;
  /** The tunnel type with method 'tun', else null. */
  readonly tunType: LabTunType | null;
}

export type LabAttach = 'tap' | 'pcap' | 'packet';

/** tapvsd's arguments (after `node tapvsd.js`) for a lab with these settings. */
function tapvsdArgs(
  a: LabAddresses,
  opts: {
    rules?: string | null;
    keepalived?: string | null;
    socket?: string;
    extra?: readonly string[];
    attach?: LabAttach;
    pcapMac?: 'own' | 'nic';
  } = {},
): string[] {
  const pcapMac = opts.pcapMac === 'nic' ? ',mac=nic' : '';
  const args =
    opts.attach === 'pcap' || opts.attach === 'packet'
      ? [
          '--link',
          `name=ext,${opts.attach}=${LAB.pcapVeth.ext.name},addr=${a.vip}/${a.extPrefixLen}${pcapMac}`,
          '--link',
          `name=int,${opts.attach}=${LAB.pcapVeth.int.name},addr=${a.dip}/${a.intPrefixLen}${pcapMac}`,
        ]
      : [
          '--link',
          `name=ext,tap=${LAB.tap.ext},bridge=${LAB.bridge.ext},addr=${a.vip}/${a.extPrefixLen}`,
          '--link',
          `name=int,tap=${LAB.tap.int},bridge=${LAB.bridge.int},addr=${a.dip}/${a.intPrefixLen}`,
        ];
  if (opts.rules !== undefined && opts.rules !== null) args.push('--rules', resolve(opts.rules));
  if (opts.keepalived !== undefined && opts.keepalived !== null) args.push('--keepalived', resolve(opts.keepalived));
  args.push('--socket', opts.socket ?? LAB.socket, '--pidfile', LAB.pidfile);
  args.push(...(opts.extra ?? []));
  return args;
}

/** Builds the lab (see the module comment). Rejects with a LabError after cleaning up. */
export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  if (process.getuid?.() !== 0) throw new LabError('the lab needs root (network namespaces, TAP devices)');
  const addresses: LabAddresses = { ...ENV_ADDRESSES, ...opts.addresses };
  validateAddresses(addresses);
  const say = opts.log ?? ((): void => {});
  const director = opts.director ?? true;
  const attach: LabAttach = opts.attach ?? 'tap';
  const pcapMac = opts.pcapMac ?? 'own';
  if (attach !== 'tap' && attach !== 'pcap' && attach !== 'packet')
    throw new LabError(`attach must be 'tap', 'pcap' or 'packet', got ${String(attach)}`);
  if (pcapMac !== 'own' && pcapMac !== 'nic')
    throw new LabError(`pcapMac must be 'own' or 'nic', got ${String(pcapMac)}`);
  const socket = opts.socket ?? LAB.socket;
  const method: LabMethod = opts.method ?? 'nat';
  const tunType: LabTunType | null = method === 'tun' ? (opts.tunType ?? 'ipip') : null;
  if (opts.tunType !== undefined && method !== 'tun') throw new LabError('tunType goes with method tun');
  const methodRules =
    opts.method !== undefined && opts.rules === undefined && opts.keepalived === undefined
      ? methodRulesFile(opts.method, tunType ?? 'ipip')
      : undefined;
  const rulesOpt = opts.rules ?? methodRules;
  const rules = rulesOpt !== undefined ? resolve(rulesOpt) : null;
  if (rules !== null && !existsSync(rules)) throw new LabError(`rules file not found: ${rules}`);
  const keepalived = opts.keepalived !== undefined ? resolve(opts.keepalived) : null;
  if (keepalived !== null && !existsSync(keepalived)) throw new LabError(`keepalived.conf not found: ${keepalived}`);
  if (rules !== null && keepalived !== null) throw new LabError('tapvsd takes --rules or --keepalived, not both');
  if (method === 'tun' && !existsSync(LAB.tunnelEndpointJs))
    throw new LabError(`${LAB.tunnelEndpointJs} is missing: the tun method needs lab/tunnel-endpoint.ts, built`);
  if (!existsSync(LAB.rsServerJs)) throw new LabError(`${LAB.rsServerJs} is missing: run npx tsc -p tsconfig.json`);
  if (director && !existsSync(LAB.tapvsdJs))
    throw new LabError(`${LAB.tapvsdJs} is missing: build tapvsd first (npx tsc -p tsconfig.json)`);
  const tapvsdCommand = [
    process.execPath,
    LAB.tapvsdJs,
    ...tapvsdArgs(addresses, { rules, keepalived, socket, extra: opts.tapvsdArgs ?? [], attach, pcapMac }),
  ];

  const existing = new Set(await listNamespaces());
  if (LAB_NAMESPACES.some((ns) => existing.has(ns)) || existsSync(RUN_DIR)) {
    say('lab: an earlier lab exists, tearing it down first');
    await labDown();
  }
  const step = (line: string): void => {
    opts.signal?.throwIfAborted();
    say(line);
  };
  const pids: Record<string, number> = {};
  const info = (): LabInfo => ({
    addresses,
    socket,
    director,
    attach,
    pcapMac,
    rules,
    keepalived,
    checkDevice: checkDevice(attach),
    pids: { ...pids },
    tapvsdCommand,
    method,
    tunType,
  });
  try {
    mkdirSync(PIDS_DIR, { recursive: true });
    writeFileSync(STATE_FILE, `${JSON.stringify({ ...info(), state: 'building' }, null, 2)}\n`);

    step('lab: namespaces');
    for (const ns of LAB_NAMESPACES) {
      await ip(['netns', 'add', ns]);
      // Before any link exists, so every later link inherits "default" and stays quiet.
      await nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], {
        timeoutMs: CMD_TIMEOUT_MS,
        check: true,
      });
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }

    step('lab: bridges');
    const dir = LAB.ns.dir;
    for (const br of [LAB.bridge.ext, LAB.bridge.int]) await addBridge(dir, br);

    step('lab: veths and addresses');
    const hosts = [
      {
        ns: LAB.ns.client,
        veth: LAB.veth.client,
        addr: addresses.client,
        len: addresses.extPrefixLen,
        br: LAB.bridge.ext,
        gw: null,
      },
      {
        ns: LAB.ns.rs1,
        veth: LAB.veth.rs1,
        addr: addresses.rs1,
        len: addresses.intPrefixLen,
        br: LAB.bridge.int,
        gw: rsGateway(method, addresses),
      },
      {
        ns: LAB.ns.rs2,
        veth: LAB.veth.rs2,
        addr: addresses.rs2,
        len: addresses.intPrefixLen,
        br: LAB.bridge.int,
        gw: rsGateway(method, addresses),
      },
    ];
    for (const h of hosts) {
      // Created inside the host's namespace with the peer sent straight to tapvs-dir: the root
      // namespace never sees either end.
      await ip([
        '-n',
        h.ns,
        'link',
        'add',
        h.veth.name,
        'address',
        macFor(h.addr),
        'type',
        'veth',
        'peer',
        'name',
        h.veth.peer,
        'netns',
        dir,
      ]);
      await ip(['-n', dir, 'link', 'set', h.veth.peer, 'master', h.br]);
      await ip(['-n', dir, 'link', 'set', h.veth.peer, 'up']);
      await ip(['-n', h.ns, 'addr', 'add', `${h.addr}/${h.len}`, 'dev', h.veth.name]);
      await ip(['-n', h.ns, 'link', 'set', h.veth.name, 'up']);
      if (h.gw !== null) await ip(['-n', h.ns, 'route', 'add', 'default', 'via', h.gw, 'dev', h.veth.name]);
    }

    if (attach !== 'tap') {
      step(`lab: veths for ${attach === 'pcap' ? 'libpcap' : 'AF_PACKET'} (tvs-px, tvs-pi) in tapvs-dir`);
      await buildPcapVeths(attach === 'pcap');
    }

    step(`lab: check address ${addresses.check}/${addresses.intPrefixLen} on ${checkDevice(attach)}`);
    await addCheckAddress(addresses, attach);

    if (method === 'dr' || method === 'tun') {
      step(
        `lab: ${method}: VIP on the real servers' lo, ${dir}'s kernel routes their replies (${METHOD_LAB.routerExt})`,
      );
      await makeDirectorKernelRouter(addresses, checkDevice(attach));
      for (const key of REAL_SERVERS) await prepareVipOnRealServer(key, addresses);
    }

    step(`lab: real servers (HTTP :${LAB.httpPort}, iperf3 :${LAB.iperfPort})`);
    for (const key of REAL_SERVERS) Object.assign(pids, startRealServer(key, addresses[key], RS_PROCESSES));
    for (const key of REAL_SERVERS) await waitRealServerListening(key, pids);
    if (tunType !== null) {
      step(`lab: tunnel endpoints (${tunType}) on the real servers`);
      for (const key of REAL_SERVERS) Object.assign(pids, await startTunnelEndpoint(key, tunType));
    }

    if (director) {
      step(`lab: tapvsd in ${dir}`);
      pids.tapvsd = await startTapvsdInLab(
        tapvsdCommand,
        socket,
        opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        opts.signal,
        attach,
      );
    }
    opts.signal?.throwIfAborted();
    writeFileSync(STATE_FILE, `${JSON.stringify({ ...info(), state: 'up' }, null, 2)}\n`);
    say('lab: up');
    return info();
  } catch (e) {
    say('lab: failed, tearing down');
    await labDown();
    throw e;
  }
}

/**
 * `attach: 'pcap'`: the two veth pairs in tapvs-dir that stand for a gateway VM's NICs, and the
 * kernel settings that keep the kernel of tapvs-dir out of the director's traffic on them (the
 * README's "libpcap attachment" says why each is needed on a real VM).
 */
async function buildPcapVeths(offloadsOff: boolean): Promise<void> {
  const dir = LAB.ns.dir;
  const sysctl = (...kv: string[]): Promise<ExecResult> => dirSysctl(...kv);
  const ethtool = async (dev: string, ...features: string[]): Promise<void> => {
    const r = await nsExec(dir, 'ethtool', ['-K', dev, ...features], { timeoutMs: CMD_TIMEOUT_MS });
    if (r.code !== 0)
      throw new LabError(
        `ethtool -K ${dev} ${features.join(' ')}: ${r.stderr.trim() || `exit ${String(r.code)}`} (is ethtool installed?)`,
      );
  };
  // No forwarding in tapvs-dir: the kernel must never route what it sees on the director's NICs.
  await sysctl('net.ipv4.ip_forward=0', 'net.ipv4.conf.all.forwarding=0', 'net.ipv4.conf.default.forwarding=0');
  for (const [v, br] of [
    [LAB.pcapVeth.ext, LAB.bridge.ext],
    [LAB.pcapVeth.int, LAB.bridge.int],
  ] as const) {
    await ip(['-n', dir, 'link', 'add', v.name, 'address', v.mac, 'type', 'veth', 'peer', 'name', v.peer]);
    await sysctl(
      `net.ipv6.conf.${v.name}.disable_ipv6=1`,
      `net.ipv6.conf.${v.peer}.disable_ipv6=1`,
      // arp_ignore=8: never answer ARP on it (it has no address; the director answers for VIP/DIP).
      // arp_announce=2: were the kernel to ask, only with an address of that interface.
      // (tvs-pi then gets the check address and arp_ignore=1: addCheckAddress.)
      `net.ipv4.conf.${v.name}.arp_ignore=8`,
      `net.ipv4.conf.${v.name}.arp_announce=2`,
      `net.ipv4.conf.${v.name}.forwarding=0`,
    );
    // What a hypervisor does for a NIC without offloads: frames leave the bridge for the
    // director's veth with full checksums and at most MTU-sized (the senders' veths hand over
    // partial checksums and 64 KB TSO frames, which libpcap would pass on as they are).
    // (AF_PACKET with PACKET_VNET_HDR takes them whole: `lab up --packet` leaves them on.)
    if (offloadsOff) {
      await ethtool(v.peer, 'tx', 'off', 'tso', 'off', 'gso', 'off');
      await ethtool(v.name, 'gro', 'off');
    }
    await ip(['-n', dir, 'link', 'set', v.peer, 'master', br]);
    await ip(['-n', dir, 'link', 'set', v.peer, 'up']);
    await ip(['-n', dir, 'link', 'set', v.name, 'up']);
  }
}

/** A lab bridge: STP off (ports forward at once), snooping off (the bridge sends no queries of its own). */
export async function addBridge(ns: string, br: string): Promise<void> {
  await ip([
    '-n',
    ns,
    'link',
    'add',
    br,
    'type',
    'bridge',
    'stp_state',
    '0',
    'forward_delay',
    '0',
    'mcast_snooping',
    '0',
  ]);
  await ip(['-n', ns, 'link', 'set', br, 'up']);
}

function dirSysctl(...settings: string[]): Promise<ExecResult> {
  return nsExec(LAB.ns.dir, 'sysctl', ['-qw', ...settings], { timeoutMs: CMD_TIMEOUT_MS, check: true });
}

/**
 * The check address (module comment; docs/health-check-source.md says why each setting): the
 * kernel of tapvs-dir gets an address of its own on the real servers' network for tapvsd's health
 * checks, on a device where it answers ARP for that address only and forwards nothing.
 */
async function addCheckAddress(a: LabAddresses, attach: LabAttach): Promise<void> {
  await addCheckAddressIn(LAB.ns.dir, checkDevice(attach), a.check, a.intPrefixLen, attach === 'tap');
}

/** addCheckAddress() in any namespace (the second director's kernel gets one too: `up --ha`). */
export async function addCheckAddressIn(
  ns: string,
  dev: string,
  addr: string,
  prefixLen: number,
  pinBridgeMac = true,
): Promise<void> {
  await nsExec(
    ns,
    'sysctl',
    [
      '-qw',
      // The kernel must never route what reaches it from the director's networks.
      'net.ipv4.ip_forward=0',
      'net.ipv4.conf.all.forwarding=0',
      'net.ipv4.conf.default.forwarding=0',
      // arp_ignore=1: answer ARP only for an address of this device (the check address, never the
      // DIP or VIP, which the kernel does not have). arp_announce=2: ask with the check address.
      `net.ipv4.conf.${dev}.arp_ignore=1`,
      `net.ipv4.conf.${dev}.arp_announce=2`,
      // Strict reverse-path filtering holds: the real servers answer on-link through this device.
      `net.ipv4.conf.${dev}.rp_filter=1`,
    ],
    { timeoutMs: CMD_TIMEOUT_MS, check: true },
  );
  // A bridge takes the lowest MAC of its ports unless told one: pinned, tapvsd's TAP joining later
  // cannot change the check address's MAC under the real servers' ARP caches.
  if (pinBridgeMac) await ip(['-n', ns, 'link', 'set', dev, 'address', macFor(addr)]);
  await ip(['-n', ns, 'addr', 'add', `${addr}/${prefixLen}`, 'dev', dev]);
}

/**
 * Starts tapvsd inside tapvs-dir (detached, log in LAB.log, pid recorded) and waits until it
 * prints `tapvsd: ready` or its socket accepts, and both TAPs sit on their bridges. On failure it
 * stops that tapvsd and rejects with the log in the message; the namespaces stay.
 * For tests that built the lab with `director: false` and want tapvsd with their own arguments.
 */
export async function startTapvsd(
  opts: {
    rules?: string;
    keepalived?: string;
    socket?: string;
    extraArgs?: readonly string[];
    readyTimeoutMs?: number;
    addresses?: Partial<LabAddresses>;
    pcapMac?: 'own' | 'nic';
  } = {},
): Promise<number> {
  const addresses: LabAddresses = { ...currentAddresses(), ...opts.addresses };
  validateAddresses(addresses);
  const socket = opts.socket ?? LAB.socket;
  // The attachment is the lab's (its veths exist or not); the MAC choice may differ per start.
  const attach = currentAttach();
  const cmd = [
    process.execPath,
    LAB.tapvsdJs,
    ...tapvsdArgs(addresses, {
      rules: opts.rules ?? null,
      keepalived: opts.keepalived ?? null,
      socket,
      extra: opts.extraArgs ?? [],
      attach,
      pcapMac: opts.pcapMac ?? savedState()?.pcapMac ?? 'own',
    }),
  ];
  mkdirSync(PIDS_DIR, { recursive: true });
  return startTapvsdInLab(cmd, socket, opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, undefined, attach);
}

export async function startTapvsdInLab(
  command: readonly string[],
  socket: string,
  readyTimeoutMs: number,
  signal: AbortSignal | undefined,
  attach: LabAttach,
  /** The second director (`up --ha`) runs in its own namespace, with its own name (log, pid). */
  where: { ns: string; name: string } = { ns: LAB.ns.dir, name: 'tapvsd' },
): Promise<number> {
  mkdirSync(dirname(socket), { recursive: true });
  const logFile = join(RUN_DIR, `${where.name}.log`);
  scanDaemonLogs(RUN_DIR, { restart: `${where.name}.log` }); // the log check reads the old one first
  writeFileSync(logFile, `# ip netns exec ${where.ns} ${command.join(' ')}\n`);
  const child = startDaemon(where.name, where.ns, command[0] ?? process.execPath, command.slice(1));
  const pid = child.pid ?? -1;
  const exited = new Promise<string>((r) =>
    child.once('exit', (code, sig) => r(code !== null ? `with status ${code}` : `on ${sig ?? '?'}`)),
  );
  const fail = async (why: string): Promise<never> => {
    await stopPids([pid]);
    const log = readText(logFile);
    // tapvsd's last word first (an unknown option, a bad config), then the whole log.
    const last = log
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .pop();
    throw new LabError(`tapvsd ${why}${last !== undefined ? `: ${last.trim()}` : ''}\nits log (${logFile}):\n${log}`);
  };
  const deadline = Date.now() + readyTimeoutMs;
  let ready = false;
  while (!ready) {
    if (signal?.aborted === true) await fail('start was aborted');
    // The exit status arrives once node reaps the child, shortly after it turns into a zombie.
    if (!pidAlive(pid)) {
      const how = await Promise.race([exited, sleep(1000).then(() => '')]);
      await fail(`exited${how !== '' ? ` ${how}` : ''} before it was ready`);
    }
    ready = readText(logFile).includes(READY_LINE) || (await socketAccepts(socket));
    if (!ready) {
      if (Date.now() >= deadline) await fail(`was not ready after ${readyTimeoutMs} ms`);
      await sleep(POLL_MS * 2);
    }
  }
  // Ready means its links are up; the lab is useless unless the TAPs are bridge ports too.
  for (;;) {
    const missing = await tapsNotOnBridges(attach, where.ns);
    if (missing.length === 0) break;
    if (Date.now() >= deadline) await fail(`is ready but ${missing.join(', ')}`);
    if (!pidAlive(pid)) await fail('exited after it was ready');
    await sleep(POLL_MS * 2);
  }
  return pid;
}

/** Bridge ports that should exist and do not: tapvsd's TAPs, or with pcap the lab's veth peers. */
async function tapsNotOnBridges(attach: LabAttach, ns: string = LAB.ns.dir): Promise<string[]> {
  const missing: string[] = [];
  const ports =
    attach !== 'tap'
      ? ([
          [LAB.pcapVeth.ext.peer, LAB.bridge.ext],
          [LAB.pcapVeth.int.peer, LAB.bridge.int],
        ] as const)
      : ([
          [LAB.tap.ext, LAB.bridge.ext],
          [LAB.tap.int, LAB.bridge.int],
        ] as const);
  for (const [tap, br] of ports) {
    const r = await run('ip', ['-n', ns, '-o', 'link', 'show', 'master', br], { timeoutMs: CMD_TIMEOUT_MS });
    if (!new RegExp(`^\\d+: ${tap}[@:]`, 'm').test(r.stdout)) missing.push(`${tap} is not a port of ${br}`);
  }
  return missing;
}

/** True when a Unix socket at `path` accepts a connection within 500 ms. */
export function socketAccepts(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((r) => {
    const s = createConnection(path);
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      r(ok);
    };
    const t = setTimeout(() => done(false), 500);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Down and status

interface SavedState {
  addresses?: LabAddresses;
  keepalived?: string | null;
  socket?: string;
  director?: boolean;
  attach?: LabAttach;
  pcapMac?: 'own' | 'nic';
  state?: string;
  pids?: Record<string, number>;
  tapvsdCommand?: string[];
  method?: LabMethod;
  tunType?: LabTunType | null;
}

function savedState(): SavedState | null {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as SavedState;
  } catch {
    return null;
  }
}

function currentAddresses(): LabAddresses {
  return savedState()?.addresses ?? ENV_ADDRESSES;
}

function currentAttach(): LabAttach {
  const a = savedState()?.attach;
  return a === 'pcap' || a === 'packet' ? a : 'tap';
}

function currentSocket(): string {
  return savedState()?.socket ?? LAB.socket;
}

/** The processes the lab recorded in runDir/pids, kept only if their command line still matches. */
function recordedPids(): Map<string, number> {
  const found = new Map<string, number>();
  let names: string[] = [];
  try {
    names = readdirSync(PIDS_DIR);
  } catch {
    /* no lab */
  }
  for (const name of names) {
    const pid = readPid(join(PIDS_DIR, name));
    const marker = PROC_MARKERS[name];
    // A pid file can outlive its process and the pid be reused: only signal what still matches.
    if (pid > 0 && marker !== undefined && cmdline(pid).includes(marker)) found.set(name, pid);
  }
  const tapvsdPid = readPid(LAB.pidfile);
  if (tapvsdPid > 0 && !found.has('tapvsd') && cmdline(tapvsdPid).includes('tapvsd')) found.set('tapvsd', tapvsdPid);
  return found;
}

export interface LabDownResult {
  /** Pids that were alive and got signalled. */
  readonly stopped: readonly number[];
  /** Namespaces deleted. */
  readonly namespaces: readonly string[];
}

/** Removes the lab, even half-built; idempotent. Rejects only if something could not be removed. */
export async function labDown(): Promise<LabDownResult> {
  const socket = currentSocket();
  const recorded = recordedPids();
  const existing = new Set(await listNamespaces());
  const namespaces = [...LAB_NAMESPACES, ...EXTRA_NAMESPACES].filter((ns) => existing.has(ns));
  const pids = new Set(recorded.values());
  for (const ns of namespaces) for (const pid of await nsPids(ns)) pids.add(pid);
  const stopped = await stopPids([...pids]);
  const problems: string[] = [];
  for (const pid of stopped)
    if (pidAlive(pid)) problems.push(`process ${pid} (${cmdline(pid).trim()}) survived SIGKILL`);

  // Deleting a namespace deletes every virtual link in it, and veths take their peers along.
  for (const ns of namespaces) {
    const r = await run('ip', ['netns', 'del', ns], { timeoutMs: CMD_TIMEOUT_MS });
    if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
  }
  // The socket is ours only when it was our tapvsd's; another tapvsd may be using the default path.
  if (recorded.has('tapvsd') && existsSync(socket) && !(await socketAccepts(socket))) rmSync(socket, { force: true });
  scanDaemonLogs(RUN_DIR, { removing: true }); // the log check reads the logs before they go
  rmSync(RUN_DIR, { recursive: true, force: true });

  const left = new Set(await listNamespaces());
  for (const ns of [...LAB_NAMESPACES, ...EXTRA_NAMESPACES])
    if (left.has(ns)) problems.push(`namespace ${ns} still exists`);
  if (problems.length > 0) throw new LabError(`lab down incomplete:\n  ${problems.join('\n  ')}`);
  return { stopped, namespaces };
}

export interface LabStatus {
  /** Every network namespace whose name starts with `tapvs-` (lab or not). */
  readonly namespaces: readonly string[];
  /** `ip -br link` and `ip -br -4 addr` per existing lab namespace. */
  readonly links: Readonly<Record<string, string>>;
  readonly processes: readonly { name: string; pid: number; alive: boolean }[];
  readonly addresses: LabAddresses | null;
  readonly state: string | null;
  /** The forwarding method the real servers are set up for (null: no lab recorded). */
  readonly method: LabMethod | null;
  readonly tunType: LabTunType | null;
  readonly socket: string;
  readonly socketAccepts: boolean;
  /** Problems with the TAPs' bridge membership (only when tapvsd runs). */
  readonly tapProblems: readonly string[];
}

/** What exists of the lab right now. */
export async function labStatus(): Promise<LabStatus> {
  const all = await listNamespaces();
  const links: Record<string, string> = {};
  for (const ns of LAB_NAMESPACES) {
    if (!all.includes(ns)) continue;
    const l = await run('ip', ['-n', ns, '-br', 'link'], { timeoutMs: CMD_TIMEOUT_MS });
    const a = await run('ip', ['-n', ns, '-br', '-4', 'addr'], { timeoutMs: CMD_TIMEOUT_MS });
    links[ns] = `${l.stdout.trimEnd()}\n${a.stdout.trimEnd()}`.trim();
  }
  const processes: { name: string; pid: number; alive: boolean }[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(PIDS_DIR).sort();
  } catch {
    /* no lab */
  }
  const recorded = recordedPids();
  for (const name of names) {
    const pid = readPid(join(PIDS_DIR, name));
    processes.push({ name, pid, alive: recorded.get(name) === pid && pidAlive(pid) });
  }
  const st = savedState();
  const socket = st?.socket ?? LAB.socket;
  const tapvsdUp = processes.some((p) => p.name === 'tapvsd' && p.alive);
  return {
    namespaces: all.filter((n) => n.startsWith('tapvs-')),
    links,
    processes,
    addresses: st?.addresses ?? null,
    state: st?.state ?? null,
    method: st === null ? null : (st.method ?? 'nat'),
    tunType: st?.tunType ?? null,
    socket,
    socketAccepts: await socketAccepts(socket),
    tapProblems: tapvsdUp ? await tapsNotOnBridges(currentAttach()) : [],
  };
}

// ---------------------------------------------------------------------------------------------
// Real servers: one at a time (for health-check tests)

/** A real server's processes: `<key>-http` (rs-server) and `<key>-iperf3`, as in runDir/pids. */
const RS_PROCESSES = ['http', 'iperf3'] as const;
type RealServerProcess = (typeof RS_PROCESSES)[number];

/** Starts the given processes of real server `key` (detached, pids recorded); returns their pids by name. */
function startRealServer(
  key: RealServerKey,
  addr: string,
  which: readonly RealServerProcess[],
): Record<string, number> {
  const ns = LAB.ns[key];
  const started: Record<string, number> = {};
  for (const p of which) {
    const name = `${key}-${p}`;
    const child =
      p === 'http'
        ? startDaemon(name, ns, process.execPath, [
            LAB.rsServerJs,
            '--id',
            LAB.rsId[key],
            '--addr',
            addr,
            '--port',
            String(LAB.httpPort),
            '--admin-port',
            String(LAB.rsAdminPort),
            '--proxy-port',
            String(METHOD_LAB.proxyPort),
          ])
        : startDaemon(name, ns, 'iperf3', ['-s', '-p', String(LAB.iperfPort)]);
    started[name] = child.pid ?? -1;
  }
  return started;
}

/**
 * `--method tun`: starts the user-space tunnel endpoint in real server `key`'s namespace
 * (recorded as `<key>-tun`, stopped by pid like the servers) and waits until its TUN device is up.
 */
async function startTunnelEndpoint(key: RealServerKey, tunType: LabTunType): Promise<Record<string, number>> {
  const name = `${key}-tun`;
  const ns = LAB.ns[key];
  const child = startDaemon(name, ns, process.execPath, [LAB.tunnelEndpointJs, ...tunnelEndpointArgs(tunType)]);
  const pid = child.pid ?? -1;
  await waitFor(`${name}'s TUN device ${METHOD_LAB.tunDevice}`, SERVERS_READY_TIMEOUT_MS, async () => {
    if (!pidAlive(pid)) throw new LabError(`${name} exited:\n${readText(join(RUN_DIR, `${name}.log`))}`);
    const r = await run('ip', ['-n', ns, '-o', 'link', 'show', 'dev', METHOD_LAB.tunDevice], {
      timeoutMs: CMD_TIMEOUT_MS,
    });
    return r.code === 0 && /[<,]UP[,>]/.test(r.stdout);
  });
  // The inner packets' source (the client) is routed out of the veth, not the TUN device.
  await nsExec(ns, 'sysctl', ['-qw', `net.ipv4.conf.${METHOD_LAB.tunDevice}.rp_filter=0`], {
    timeoutMs: CMD_TIMEOUT_MS,
    check: true,
  });
  return { [name]: pid };
}

/** Waits until both processes of `key` (pids by name in `pids`) run and their ports listen. */
async function waitRealServerListening(key: RealServerKey, pids: Readonly<Record<string, number>>): Promise<void> {
  const want = [LAB.httpPort, LAB.rsAdminPort, LAB.iperfPort, METHOD_LAB.proxyPort].map(String);
  await waitFor(`${key}'s servers to listen`, SERVERS_READY_TIMEOUT_MS, async () => {
    for (const p of RS_PROCESSES) {
      const name = `${key}-${p}`;
      if (!pidAlive(pids[name] ?? -1)) throw new LabError(`${name} exited:\n${readText(join(RUN_DIR, `${name}.log`))}`);
    }
    const r = await nsExec(LAB.ns[key], 'ss', ['-Htln'], { timeoutMs: CMD_TIMEOUT_MS });
    const ports = new Set(
      r.stdout
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[3] ?? '')
        .map((local) => local.slice(local.lastIndexOf(':') + 1)),
    );
    return want.every((p) => ports.has(p));
  });
}

/** The recorded lab, or a LabError saying there is none (`rs` commands act on a built lab only). */
async function requireLab(): Promise<SavedState & { addresses: LabAddresses }> {
  const st = savedState();
  const all = new Set(await listNamespaces());
  const missing = LAB_NAMESPACES.filter((ns) => !all.has(ns));
  if (st?.addresses === undefined || st.state !== 'up' || missing.length > 0)
    throw new LabError('no lab is up (npm run lab -- up)');
  return { ...st, addresses: st.addresses };
}

/** lab.json's pids, rewritten from runDir/pids after a real server was stopped or started. */
function saveRecordedPids(): void {
  const st = savedState();
  if (st === null) return;
  writeFileSync(STATE_FILE, `${JSON.stringify({ ...st, pids: Object.fromEntries(recordedPids()) }, null, 2)}\n`);
}

/**
 * Stops real server `key`'s rs-server and iperf3 (SIGTERM, bounded wait, SIGKILL) by the pids the
 * lab recorded, and forgets them. Nothing else is touched; stopping a stopped server is no error.
 * Returns the pids that were running.
 */
export async function rsStop(key: RealServerKey): Promise<{ stopped: readonly number[] }> {
  await requireLab();
  const recorded = recordedPids();
  const names = RS_PROCESSES.map((p) => `${key}-${p}`);
  const stopped = await stopPids(names.flatMap((n) => recorded.get(n) ?? []));
  const survivors = stopped.filter(pidAlive);
  if (survivors.length > 0) throw new LabError(`${key}: pid(s) ${survivors.join(', ')} survived SIGKILL`);
  for (const n of names) rmSync(join(PIDS_DIR, n), { force: true });
  saveRecordedPids();
  return { stopped };
}

/**
 * Starts whichever of real server `key`'s rs-server and iperf3 is not running (rs-server starts
 * healthy) and waits until they listen. Returns the pids it started (none when both ran).
 */
export async function rsStart(key: RealServerKey): Promise<{ started: Readonly<Record<string, number>> }> {
  const lab = await requireLab();
  const recorded = recordedPids();
  const missing = RS_PROCESSES.filter((p) => !pidAlive(recorded.get(`${key}-${p}`) ?? -1));
  const started = startRealServer(key, lab.addresses[key], missing);
  try {
    await waitRealServerListening(key, { ...Object.fromEntries(recorded), ...started });
  } catch (e) {
    await stopPids(Object.values(started));
    for (const name of Object.keys(started)) rmSync(join(PIDS_DIR, name), { force: true });
    throw e;
  }
  saveRecordedPids();
  return { started };
}

/** Asks real server `key`'s rs-server, on its loopback admin port, to `fail`, `heal` or report its `state`. */
async function rsAdmin(key: RealServerKey, what: 'fail' | 'heal' | 'state'): Promise<'failing' | 'healthy'> {
  await requireLab();
  const url = `http://127.0.0.1:${LAB.rsAdminPort}/${what}`;
  const r = await nsExec(
    LAB.ns[key],
    'curl',
    ['-sS', '--fail', '--max-time', '5', ...(what === 'state' ? [] : ['-X', 'POST']), url],
    { timeoutMs: CMD_TIMEOUT_MS },
  );
  const state = r.stdout.trim();
  if (r.code !== 0 || (state !== 'failing' && state !== 'healthy'))
    throw new LabError(
      `${key}: rs-server's admin port did not answer (${r.stderr.trim() || state || `curl exit ${String(r.code)}`}); ` +
        `is it running? (npm run lab -- rs status)`,
    );
  return state;
}

/** Puts real server `key` in failing mode: its `/` and `/health` answer 503 until rsHeal. */
export async function rsFail(key: RealServerKey): Promise<void> {
  const state = await rsAdmin(key, 'fail');
  if (state !== 'failing') throw new LabError(`${key}: rs-server says ${state} after /fail`);
}

/** Ends real server `key`'s failing mode. */
export async function rsHeal(key: RealServerKey): Promise<void> {
  const state = await rsAdmin(key, 'heal');
  if (state !== 'healthy') throw new LabError(`${key}: rs-server says ${state} after /heal`);
}

/**
 * Sets real server `key`'s veth (tvs-r1 / tvs-r2, in its namespace) down or up. Its bridge-side
 * peer loses carrier with it, so nothing reaches the server: PING_CHECK and every other check
 * fail. The kernel deletes the routes through a device that goes down; up restores the default
 * route via the DIP (the connected route returns with the address by itself).
 */
export async function rsLink(key: RealServerKey, state: 'up' | 'down'): Promise<void> {
  const lab = await requireLab();
  const ns = LAB.ns[key];
  const dev = LAB.veth[key].name;
  await ip(['-n', ns, 'link', 'set', dev, state]);
  const gw = rsGateway(lab.method ?? 'nat', lab.addresses);
  if (state === 'up' && gw !== null) await ip(['-n', ns, 'route', 'replace', 'default', 'via', gw, 'dev', dev]);
}

export interface RealServerStatus {
  readonly server: RealServerKey;
  readonly ns: string;
  readonly addr: string;
  /** rs-server and iperf3: the recorded pid (null when stopped) and whether it runs. */
  readonly processes: readonly { readonly name: string; readonly pid: number | null; readonly running: boolean }[];
  /** Its veth's administrative state ('missing' when the device is gone). */
  readonly link: 'up' | 'down' | 'missing';
  /** The status code of `GET /health` from inside its namespace (200, 503), or null when nothing answers. */
  readonly health: number | null;
}

/** The real servers' processes, links and health as seen from inside their namespaces. */
export async function rsStatus(): Promise<RealServerStatus[]> {
  const lab = await requireLab();
  const recorded = recordedPids();
  const out: RealServerStatus[] = [];
  for (const key of REAL_SERVERS) {
    const ns = LAB.ns[key];
    const l = await run('ip', ['-n', ns, '-o', 'link', 'show', 'dev', LAB.veth[key].name], {
      timeoutMs: CMD_TIMEOUT_MS,
    });
    const h = await nsExec(
      ns,
      'curl',
      ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://127.0.0.1:${LAB.httpPort}/health`],
      { timeoutMs: CMD_TIMEOUT_MS },
    );
    const code = Number(h.stdout.trim());
    out.push({
      server: key,
      ns,
      addr: lab.addresses[key],
      processes: RS_PROCESSES.map((p) => {
        const pid = recorded.get(`${key}-${p}`) ?? null;
        return { name: `${key}-${p}`, pid, running: pid !== null && pidAlive(pid) };
      }),
      link: l.code !== 0 ? 'missing' : /<([^>]*,)?UP(,[^>]*)?>/.test(l.stdout) ? 'up' : 'down',
      health: Number.isInteger(code) && code > 0 ? code : null,
    });
  }
  return out;
}

export type { LabMethod, LabTunType } from './lab-methods.js';
export { LAB_METHODS, LAB_TUN_TYPES, METHOD_LAB, methodRulesFile } from './lab-methods.js';
