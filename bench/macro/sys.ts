/**
 * Machine description, CPU sampling and the bookkeeping every macro benchmark shares: the
 * commands it ran (for the results file) and the processes it started (stopped by pid, always).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { run } from '../../lab/lab-lib.js';

// ---------------------------------------------------------------------------------------------
// Commands, for the results file

/** The commands of one variant's first repetition, in order (what a reader would type). */
export class CommandLog {
  private readonly lines: string[] = [];
  private enabled = true;
  add(line: string): void {
    if (this.enabled) this.lines.push(line);
  }
  /** Stop recording (after the first repetition: later ones repeat the same commands). */
  freeze(): void {
    this.enabled = false;
  }
  get all(): readonly string[] {
    return this.lines;
  }
}

/** `ip netns exec NS cmd args` as a shell would show it. */
export function shellLine(ns: string | null, cmd: string, args: readonly string[]): string {
  const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [...(ns !== null ? ['ip', 'netns', 'exec', ns] : []), cmd, ...args].map(q).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Processes we start

/** Children this run started (outside lab-lib's own daemons); stopped by pid, never by name. */
const children = new Map<number, { name: string; child: ChildProcess }>();

export interface Started {
  readonly pid: number;
  readonly name: string;
  /** stdout + stderr collected so far. */
  output(): string;
  /** Resolves with the exit code (or null) once the process has exited. */
  readonly exited: Promise<number | null>;
}

/** Starts `ip netns exec ns cmd args` in the background, collecting its output. */
export function startInNs(name: string, ns: string, cmd: string, args: readonly string[]): Started {
  return startProcess(name, 'ip', ['netns', 'exec', ns, cmd, ...args]);
}

/** Starts `cmd args` in the background (in our namespace), collecting its output. */
export function startProcess(
  name: string,
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Started {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const pid = child.pid;
  let out = '';
  const cap = (b: Buffer): void => {
    if (out.length < 1 << 20) out += b.toString('utf8');
  };
  child.stdout?.on('data', cap);
  child.stderr?.on('data', cap);
  const exited = new Promise<number | null>((r) => {
    child.on('close', (code) => {
      children.delete(pid);
      r(code);
    });
    child.on('error', () => {
      children.delete(pid);
      r(null);
    });
  });
  children.set(pid, { name, child });
  return { pid, name, output: () => out, exited };
}

/** SIGTERM, wait up to `waitMs`, then SIGKILL. Only this run's own children. */
export async function stopStarted(s: Started, waitMs = 3000): Promise<void> {
  if (!children.has(s.pid)) return;
  try {
    process.kill(s.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, waitMs);
  await s.exited;
  clearTimeout(t);
}

/** Last resort on an abort: SIGKILL every child this run still has. */
export function killAllStarted(): void {
  for (const pid of children.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes. */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// CPU

const CLK_TCK = 100;

/** Busy and total jiffies of the whole machine (/proc/stat); all namespaces share one kernel. */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** user + system jiffies of one process, or NaN when it is gone. */
function processJiffies(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15 (utime, stime)
  } catch {
    return Number.NaN;
  }
}

export interface CpuUse {
  /** Whole machine busy, percent of all CPUs (100 = every core saturated). */
  readonly machinePct: number;
  /** The director process (tapvsd, haproxy, tapcopy), percent of one core; NaN when none. */
  readonly directorPct: number;
}

/** Starts a CPU sample; call the returned function at the end of the interval. */
export function cpuSample(directorPid: number | null): () => CpuUse {
  const m0 = machineJiffies();
  const p0 = directorPid !== null ? processJiffies(directorPid) : Number.NaN;
  const t0 = process.hrtime.bigint();
  return () => {
    const m1 = machineJiffies();
    const p1 = directorPid !== null ? processJiffies(directorPid) : Number.NaN;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    return {
      machinePct: m1.total > m0.total ? (100 * (m1.busy - m0.busy)) / (m1.total - m0.total) : Number.NaN,
      directorPct: (100 * (p1 - p0)) / CLK_TCK / secs,
    };
  };
}

// ---------------------------------------------------------------------------------------------
// The machine

export interface Machine {
  readonly cpuModel: string;
  readonly nproc: number;
  readonly memory: string;
  readonly kernel: string;
  readonly node: string;
  readonly tools: Readonly<Record<string, string>>;
  readonly git: string;
  /** 1-minute load average when the run started (other work on the machine skews figures). */
  readonly loadStart: number;
}

export function load1(): number {
  return loadavg()[0] ?? Number.NaN;
}

async function firstLine(cmd: string, args: string[], pick: RegExp = /.+/): Promise<string> {
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000 });
    const text = `${r.stdout}\n${r.stderr}`;
    return (text.split('\n').find((l) => pick.test(l)) ?? '?').trim();
  } catch {
    return 'not installed';
  }
}

/** A checkout's commit as `<short sha>[-dirty]` (tracked files changed), or 'unknown'. */
export async function gitCommit(repo: string): Promise<string> {
  const head = await run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 }).catch(() => null);
  const sha = head?.code === 0 ? head.stdout.trim() : '';
  if (sha === '') return 'unknown';
  // --no-optional-locks: reading the status must not write .git/index.
  const dirty =
    (
      await run('git', ['--no-optional-locks', '-C', repo, 'status', '--porcelain', '--untracked-files=no'], {
        timeoutMs: 10_000,
      }).catch(() => ({ stdout: '' }))
    ).stdout.trim() !== '';
  return `${sha}${dirty ? '-dirty' : ''}`;
}

export async function describeMachine(repo: string): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? '?';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '';
  const hyp = flags.split(' ').includes('hypervisor') ? ' (virtual machine)' : '';
  return {
    cpuModel: model + hyp,
    nproc: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: await firstLine('uname', ['-r']),
    node: process.version,
    tools: {
      iperf3: await firstLine('iperf3', ['-v'], /^iperf/),
      wrk: await firstLine('wrk', ['-v'], /^wrk/),
      haproxy: await firstLine('haproxy', ['-v'], /^HAProxy version/),
      nft: await firstLine('nft', ['--version']),
      gcc: await firstLine('gcc', ['--version']),
    },
    git: await gitCommit(repo),
    loadStart: load1(),
  };
}
