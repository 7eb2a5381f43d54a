/**
 * The baseline tree of `--baseline DIR`: another built checkout of tapvs (typically a git
 * worktree of an older commit) whose micro-benchmarks and tapvsd run in the same run as ours, so
 * that current/baseline ratios come from the same machine under the same load.
 *
 * Its tapvsd starts the way that tree starts it, through its own `lab up` (DIR/dist/lab/lab.js
 * with DIR's tapvsd); what is measured, and the teardown, are ours: the lab's namespace names are
 * fixed, and lab-lib's labDown removes whatever runs in them by pid and name.
 *
 * This module never builds DIR (bench/run.mjs does, with --baseline-build or --baseline-rev); it
 * refuses a DIR that lacks what the run needs, naming the missing files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LAB, LabError } from '../../lab/lab-lib.js';
import { type CommandLog, gitCommit, shellLine, startProcess, stopStarted } from './sys.js';

export interface BaselineTree {
  /** Absolute path of the checkout. */
  readonly dir: string;
  /** Its commit, `<short sha>[-dirty]`. */
  readonly git: string;
  readonly tapvsdJs: string;
  readonly labJs: string;
}

/** What a built tree has: the addon, the daemon, and (for the lab) its lab CLI and real servers. */
function requiredFiles(macro: boolean): string[] {
  return [
    'node_modules',
    'build/Release/tapvs_tap.node',
    'dist/src/cli/tapvsd.js',
    'dist/bench/micro',
    ...(macro ? ['dist/lab/lab.js', 'dist/lab/lab-lib.js', 'dist/lab/rs-server.js'] : []),
  ];
}

/** Checks DIR is a built tapvs checkout and describes it; throws naming what is missing. */
export async function openBaseline(dir: string, macro: boolean): Promise<BaselineTree> {
  const abs = resolve(dir);
  let name = '';
  try {
    name = (JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8')) as { name?: string }).name ?? '';
  } catch {
    /* below */
  }
  if (name !== 'tapvs') throw new Error(`--baseline ${abs}: not a tapvs checkout (no package.json named "tapvs")`);
  const missing = requiredFiles(macro).filter((f) => !existsSync(join(abs, f)));
  if (missing.length > 0) {
    throw new Error(
      `--baseline ${abs} is not built: missing ${missing.join(', ')}. ` +
        `Build it (cd ${abs} && bash scripts/setup.sh), or add --baseline-build`,
    );
  }
  return {
    dir: abs,
    git: await gitCommit(abs),
    tapvsdJs: join(abs, 'dist', 'src', 'cli', 'tapvsd.js'),
    labJs: join(abs, 'dist', 'lab', 'lab.js'),
  };
}

/** Bounds the baseline's whole `lab up`: namespaces, servers, and tapvsd's own ready wait. */
const LAB_UP_TIMEOUT_MS = 90_000;
const READY_TIMEOUT_MS = 20_000;

/**
 * `node DIR/dist/lab/lab.js up --rules RULES [--tapvsd-arg A]…`: the baseline's lab
 * with the baseline's tapvsd, as `lab up` builds it in that tree. Returns tapvsd's pid. Rejects
 * with a LabError carrying lab up's message (its tapvsd log included) when it fails; lab up has
 * torn its half-built lab down by then.
 */
export async function baselineLabUp(
  tree: BaselineTree,
  rules: string,
  tapvsdArgs: readonly string[],
  log: CommandLog,
): Promise<number> {
  const args = [
    tree.labJs,
    'up',
    '--rules',
    rules,
    ...tapvsdArgs.flatMap((a) => ['--tapvsd-arg', a]),
    '--ready-timeout',
    String(READY_TIMEOUT_MS),
  ];
  log.add(`${shellLine(null, 'node', args)}  # the baseline tree's lab and tapvsd`);
  // TAPVS_LAB_TAPVSD would point the baseline's lab at some other daemon: it runs its own.
  const env = { ...process.env };
  delete env.TAPVS_LAB_TAPVSD;
  const up = startProcess('baseline lab up', process.execPath, args, env);
  let timedOut = false;
  // SIGTERM makes lab up abort and tear its half-built lab down (stopStarted SIGKILLs it later).
  const timer = setTimeout(() => {
    timedOut = true;
    void stopStarted(up);
  }, LAB_UP_TIMEOUT_MS);
  const code = await up.exited;
  clearTimeout(timer);
  if (timedOut)
    throw new LabError(`baseline lab up did not finish in ${LAB_UP_TIMEOUT_MS / 1000} s: ${up.output().trim()}`);
  if (code !== 0) throw new LabError(`baseline lab up failed (exit ${String(code)}): ${up.output().trim()}`);
  const pid = /tapvsd pid (\d+)/.exec(up.output())?.[1];
  if (pid !== undefined) return Number(pid);
  try {
    return Number(readFileSync(LAB.pidfile, 'utf8').trim());
  } catch {
    return -1;
  }
}
