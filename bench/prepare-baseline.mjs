/**
 * Makes the baseline tree of `npm run bench -- --baseline DIR [--baseline-build]` or
 * `--baseline-rev REV` ready before the run; bench/macro/baseline-tree.ts then checks it is built
 * and runs its micro-benchmarks and tapvsd next to ours.
 *
 * --baseline DIR --baseline-build: DIR's own `bash scripts/setup.sh` (npm packages, the addon,
 *   tsc), then gcc for DIR's bench/c/*.c into DIR/dist/bench/c/, as DIR's own bench would.
 * --baseline-rev REV: a git worktree of REV at /tmp/tapvs-bench-base-<sha> (made once, reused by
 *   later runs). node_modules and build/ come from the current tree when package-lock.json and the
 *   addon's sources (native/, binding.gyp) are byte-identical in both, then tsc; otherwise its own
 *   setup.sh. Then the same gcc step.
 *
 * Without either, DIR is used as it is (a missing build is reported by the run, naming the files).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** What node_modules and build/ depend on: identical in both trees means they can be copied. */
const INSTALL_INPUTS = ['package-lock.json', 'binding.gyp', 'native'];

/** Files under `rel` (a file or a directory) of `root`, relative to root, sorted. */
function filesUnder(root, rel) {
  const abs = join(root, rel);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs)
    .sort()
    .flatMap((name) => filesUnder(root, join(rel, name)));
}

/** True when every install input has the same files with the same bytes in both trees. */
function sameInstallInputs(a, b) {
  for (const rel of INSTALL_INPUTS) {
    const fa = filesUnder(a, rel),
      fb = filesUnder(b, rel);
    if (fa.join('\n') !== fb.join('\n')) return false;
    if (!fa.every((f) => readFileSync(join(a, f)).equals(readFileSync(join(b, f))))) return false;
  }
  return true;
}

function git(root, args) {
  return { cmd: 'git', args: ['-C', root, ...args] };
}

/**
 * The worktree of REV, created when missing. Reused when it is already a checkout of that commit;
 * anything else at that path is left alone and reported.
 */
function worktreeFor(root, rev, { step, capture }) {
  const sha = capture(
    'resolve --baseline-rev',
    git(root, ['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`]),
  );
  const dir = `/tmp/tapvs-bench-base-${sha.slice(0, 12)}`;
  if (existsSync(dir)) {
    const head = capture(`check ${dir}`, git(dir, ['rev-parse', 'HEAD']), { allowFail: true });
    if (head !== sha) {
      throw new Error(
        `${dir} exists but is not a checkout of ${rev} (${sha}): remove it (git worktree remove --force ${dir}) and run again`,
      );
    }
    process.stderr.write(`bench: baseline ${rev} (${sha.slice(0, 12)}): reusing the worktree ${dir}\n`);
    return dir;
  }
  // A worktree whose directory vanished (a cleaned /tmp) is still registered: forget it first.
  step('forget vanished worktrees', git(root, ['worktree', 'prune']));
  step(`worktree of ${rev}`, git(root, ['worktree', 'add', '--detach', dir, sha]));
  return dir;
}

/** node_modules and build/ from `root` when they fit, then tsc; otherwise the tree's own setup. */
function installAndBuild(root, dir, { step }) {
  if (!sameInstallInputs(root, dir)) {
    process.stderr.write(
      "bench: the baseline's package-lock.json or addon sources differ from ours: running its own setup\n",
    );
    step('baseline setup', { cmd: 'bash', args: ['scripts/setup.sh'], cwd: dir });
    return;
  }
  for (const sub of ['node_modules', 'build']) {
    if (!existsSync(join(dir, sub)))
      step(`copy ${sub} to the baseline`, { cmd: 'cp', args: ['-a', join(root, sub), join(dir, sub)] });
  }
  step('baseline tsc', { cmd: 'npx', args: ['--no-install', 'tsc', '-p', 'tsconfig.json'], cwd: dir });
}

/** The baseline's own bench/c tools, compiled as its bench/run.mjs would. */
function compileC(dir, { step }) {
  const src = join(dir, 'bench', 'c');
  if (!existsSync(src)) return;
  const out = join(dir, 'dist', 'bench', 'c');
  step('baseline dist/bench/c', { cmd: 'mkdir', args: ['-p', out] });
  for (const file of readdirSync(src).filter((f) => f.endsWith('.c'))) {
    step(`baseline compile ${file}`, {
      cmd: 'gcc',
      args: ['-O2', '-Wall', '-Wextra', '-o', join(out, file.slice(0, -2)), join(src, file)],
    });
  }
}

/**
 * Returns the absolute baseline directory (or null without --baseline / --baseline-rev), built
 * as asked. `step(what, {cmd, args, cwd})` runs a command or fails the run; `capture` returns its
 * trimmed stdout.
 */
export function prepareBaseline(root, { dir, rev, build }, runner) {
  if (dir !== null && rev !== null) throw new Error('--baseline and --baseline-rev exclude each other');
  if (dir === null && rev === null) {
    if (build) throw new Error('--baseline-build goes with --baseline DIR');
    return null;
  }
  if (rev !== null) {
    const wt = worktreeFor(root, rev, runner);
    installAndBuild(root, wt, runner);
    compileC(wt, runner);
    return wt;
  }
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new Error(`--baseline ${abs}: no such directory`);
  if (build) {
    runner.step('baseline setup', { cmd: 'bash', args: ['scripts/setup.sh'], cwd: abs });
    compileC(abs, runner);
  }
  return abs;
}
