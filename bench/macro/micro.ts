/**
 * The in-process micro-benchmarks (fast path, connection table, schedulers, control listing), each in its own
 * `node` started in the tree it belongs to. Alone they run once. With a baseline tree each runs
 * from both trees (DIR/dist/bench/micro/X.js and ours) `reps` times, interleaved per repetition:
 * ours first in odd repetitions, the baseline's first in even ones, so that drift of the machine
 * and any advantage of going first spread over both trees alike.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type TreeName = 'current' | 'baseline';

export interface MicroJob {
  readonly title: string;
  /**
   * `node` arguments, the one ending in .js being the script, relative to the tree's root; or,
   * with `bin`, the program's arguments.
   */
  readonly args: readonly string[];
  /** A compiled program (relative to the tree's root) run instead of `node`. */
  readonly bin?: string;
  /** The columns of its markdown tables that are figures worth a current/baseline ratio. */
  readonly figures: RegExp;
}

export interface MicroRun {
  readonly tree: TreeName;
  readonly rep: number;
  /** What the script printed, or why it did not run. */
  readonly output: string;
  /** False when the script is not in that tree or failed: its output has no figures. */
  readonly ok: boolean;
}

export interface MicroResult {
  readonly title: string;
  readonly command: string;
  readonly figures: RegExp;
  readonly runs: MicroRun[];
}

const RUN_TIMEOUT_MS = 5 * 60_000;

export function microJobs(quick: boolean): MicroJob[] {
  return [
    {
      title: 'NAT fast path (parse, look up, rewrite, checksum, route, queue), loopback links',
      args: ['dist/bench/micro/fastpath.js', quick ? '1000000' : '5000000', '1000'],
      figures: /^ns\//,
    },
    {
      title:
        'The same fast-path work written in C (bench/c/fastpath-c.c; what a native established-flow path would cost per frame)',
      bin: 'dist/bench/c/fastpath-c',
      args: [quick ? '1000000' : '1500000', '1000'],
      figures: /^ns\//,
    },
    {
      title: 'Connection table at 1,000,000 entries',
      args: ['--expose-gc', 'dist/bench/micro/conntable.js', '1000000'],
      figures: /^ns\/op$|^bytes$/,
    },
    {
      title: 'Scheduler decision cost at 2 / 64 / 1024 dests',
      args: ['dist/bench/micro/sched.js', quick ? '100000' : '500000'],
      figures: /ns\/dec$/,
    },
    {
      title: '`-L -c` of 1,000,000 connections: how long the event loop (the dataplane) is held',
      args: ['dist/bench/micro/control-listing.js', quick ? '200000' : '1000000'],
      figures: /hold ms$/,
    },
  ];
}

function run(cwd: string, cmd: string, args: readonly string[]): Promise<{ output: string; ok: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const t = setTimeout(() => {
      out += `\n(killed after ${RUN_TIMEOUT_MS / 1000} s)`;
      child.kill('SIGKILL');
    }, RUN_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve(
        code === 0 ? { output: out.trimEnd(), ok: true } : { output: `${out.trimEnd()}\n(exit ${code})`, ok: false },
      );
    });
    child.on('error', (e) => {
      clearTimeout(t);
      resolve({ output: `failed to start: ${e.message}`, ok: false });
    });
  });
}

/**
 * Runs every job: once from `current` alone, or `reps` times from both trees when `baseline` is
 * given (a directory like `current`).
 */
export async function runMicros(
  jobs: readonly MicroJob[],
  current: string,
  baseline: string | null,
  reps: number,
  say: (s: string) => void,
): Promise<MicroResult[]> {
  const roots: Record<TreeName, string | null> = { current, baseline };
  const results: MicroResult[] = jobs.map((j) => ({
    title: j.title,
    command: `${j.bin ?? 'node'} ${j.args.join(' ')}`,
    figures: j.figures,
    runs: [],
  }));
  const rounds = baseline === null ? 1 : reps;
  for (let rep = 1; rep <= rounds; rep++) {
    const order: TreeName[] =
      baseline === null ? ['current'] : rep % 2 === 1 ? ['current', 'baseline'] : ['baseline', 'current'];
    for (const [i, job] of jobs.entries()) {
      const script = job.bin ?? job.args.find((a) => a.endsWith('.js')) ?? '';
      for (const tree of order) {
        const root = roots[tree] as string;
        if (!existsSync(join(root, script))) {
          results[i].runs.push({
            tree,
            rep,
            output: `(${script} is not in the ${tree} tree's build: skipped)`,
            ok: false,
          });
          continue;
        }
        say(`micro${rounds > 1 ? ` rep ${rep}/${rounds}` : ''}: ${tree}: ${results[i].command}`);
        const cmd = job.bin !== undefined ? join(root, job.bin) : process.execPath;
        results[i].runs.push({ tree, rep, ...(await run(root, cmd, job.args)) });
      }
    }
  }
  return results;
}
