#!/usr/bin/env node
/**
 * npm run bench [-- --quick] [-- --reps N] …: tapvsd against kernel NAT, HAProxy, plain routing and
 * a C TAP copy loop, in one run on the lab topology, plus the in-process micro-benchmarks.
 * See bench/README.md.
 *
 * 1. Takes /tmp/tapvs-lab.lock (the lab's namespace names are fixed and shared) through a `flock`
 *    child that holds it until this process ends, unless an ancestor process already holds that
 *    lock (for example `flock /tmp/tapvs-lab.lock npm run bench`) or TAPVS_LAB_LOCKED=1 says the
 *    caller holds it.
 * 2. Sets up and builds: `scripts/setup.sh --bench` (Debian packages incl. wrk, haproxy, nftables;
 *    npm install; the addon; tsc; skip with --no-build) and gcc for bench/c/*.c into dist/bench/c/.
 * 3. With --baseline DIR [--baseline-build] or --baseline-rev REV, makes the baseline tree ready
 *    (bench/prepare-baseline.mjs) and passes it on as --baseline DIR.
 * 4. Runs dist/bench/macro/main.js with the remaining arguments; it prints the report and saves
 *    it under bench/results/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareBaseline } from './prepare-baseline.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LOCK = '/tmp/tapvs-lab.lock';
const LOCK_WAIT_S = 3600;
const args = process.argv.slice(2);

if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write(`usage: npm run bench [-- options]   (node bench/run.mjs [options])
  --quick            smoke run: 1 repetition, 2 s loads (default: 3 repetitions, 5 s loads)
  --reps N           repetitions (1..10)
  --seconds S        duration of each iperf3/wrk/UDP load (1..30)
  --ha               instead: two directors (lab up --ha): failover time over --runs N (10)
                     SIGKILLs, and connection sync of --conns N (100000) connections
  --only a,b         variants: tapvsd,tapvsd-checks,tapvsd-plain,tapvsd-nopoll,tapvsd-readwrite,nft,haproxy,routing,tapcopy,tapcopy-vnet,
                     tapcopy-mq,tapcopy-mq-pin,tapcopy-uring,tapcopy-mq-uring,
                     tapvsd-packet,tapvsd-packet-ring,tapvsd-pcap,nft-veth
  --skip-micro       no in-process micro-benchmarks
  --skip-macro       micro-benchmarks only (no lab)
  --no-build         use the existing dist/ and installed tools (no setup.sh, no tsc)
  --out DIR          where the results file goes (default bench/results)
  --no-save          print only
  --json FILE        raw samples as JSON
  --baseline DIR     also run DIR's micro-benchmarks and tapvsd (variants tapvsd-base, and
                     tapvsd-plain-base with tapvsd-plain), interleaved with ours; the report gives
                     current/baseline ratios. DIR: another tapvs checkout, already built
  --baseline-build   with --baseline: first run DIR's own scripts/setup.sh and gcc for its bench/c
  --baseline-rev REV as --baseline, on a git worktree of REV at /tmp/tapvs-bench-base-<sha>
                     (created or reused; node_modules and build/ copied from this tree when
                     package-lock.json and the addon sources are identical, else its own setup)
                     and built by this run
`);
  process.exit(0);
}

/** Does this process or an ancestor hold an flock on LOCK? (/proc/locks lists holder pids.) */
function ancestorHoldsLock() {
  if (!existsSync(LOCK)) return false;
  const st = statSync(LOCK);
  const holders = new Set();
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF"
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK') continue;
    const [, , inode] = (f[5] ?? '').split(':');
    if (Number(inode) === st.ino) holders.add(Number(f[4]));
  }
  for (let pid = process.pid; pid > 1; ) {
    if (holders.has(pid)) return true;
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return false;
    }
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return false;
}

/**
 * Holds LOCK for as long as this process lives: `flock` runs `cat` on a pipe from us, so the lock
 * goes away with us even if we are SIGKILLed (the pipe closes, cat exits, the lock is released).
 */
async function takeLock() {
  closeSync(openSync(LOCK, 'a'));
  process.stderr.write(`bench: taking ${LOCK} (waits up to ${LOCK_WAIT_S} s while another lab user holds it)\n`);
  const holder = spawn('flock', ['-w', String(LOCK_WAIT_S), LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ok = await new Promise((res) => {
    holder.stdout.on('data', (b) => {
      if (b.toString().includes('locked')) res(true);
    });
    holder.on('exit', () => res(false));
    holder.on('error', () => res(false));
  });
  if (!ok) {
    process.stderr.write(`bench: could not take ${LOCK}\n`);
    process.exit(1);
  }
  return () => {
    holder.stdin.end();
  };
}

/**
 * Runs one preparation command; a failure stops the run unless `allowFail`. `quiet`: no progress
 * line, no report of a tolerated failure. Returns its trimmed stdout.
 */
function step(what, cmd, cmdArgs, { allowFail = false, cwd = ROOT, quiet = false } = {}) {
  if (!quiet)
    process.stderr.write(`bench: ${what}: ${cwd !== ROOT ? `(in ${cwd}) ` : ''}${cmd} ${cmdArgs.join(' ')}\n`);
  const r = spawnSync(cmd, cmdArgs, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 10 * 60_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status !== 0) {
    if (!allowFail) {
      process.stderr.write(`${out}\nbench: ${what} failed\n`);
      process.exit(1);
    }
    const lines = out.split('\n').filter((l) => !/^npm warn/.test(l));
    if (!quiet)
      process.stderr.write(
        `bench: ${what} reported problems (continuing with what it emitted):\n  ${lines.slice(0, 10).join('\n  ')}\n`,
      );
  }
  return (r.stdout ?? '').trim();
}

/** The value after `flag` in args (removing both), or null. */
function takeOption(list, flag) {
  const i = list.indexOf(flag);
  if (i < 0) return null;
  const v = list[i + 1];
  if (v === undefined || v.startsWith('--')) {
    process.stderr.write(`bench: ${flag} wants a value\n`);
    process.exit(2);
  }
  list.splice(i, 2);
  return v;
}

const rest = args.filter((a) => a !== '--no-build');
// The baseline options are this script's: main.js gets a built tree as --baseline DIR.
const forMain = rest.filter((a) => a !== '--baseline-build');
const baselineWanted = {
  dir: takeOption(forMain, '--baseline'),
  rev: takeOption(forMain, '--baseline-rev'),
  build: args.includes('--baseline-build'),
};
const release = process.env.TAPVS_LAB_LOCKED === '1' || ancestorHoldsLock() ? () => {} : await takeLock();
if (!args.includes('--no-build')) {
  // A fresh clone needs nothing else: Debian packages (iperf3, wrk, haproxy, nftables, gcc, …),
  // npm packages, the native addon and the TypeScript build, each only when missing or stale.
  step('setup', 'bash', ['scripts/setup.sh', '--bench']);
}
for (const f of ['dist/bench/macro/main.js', 'dist/lab/lab-lib.js', 'dist/src/cli/tapvsd.js']) {
  if (!existsSync(join(ROOT, f))) {
    process.stderr.write(`bench: ${f} is missing: build first (npx tsc -p tsconfig.json)\n`);
    process.exit(1);
  }
}
const binDir = join(ROOT, 'dist', 'bench', 'c');
mkdirSync(binDir, { recursive: true });
// tapcopy-mq and tapcopy-uring sit next to tapcopy (variants.ts finds them there); -pthread for
// tapcopy-mq; fastpath-c is a micro-benchmark (macro/micro.ts).
for (const name of ['tapcopy', 'tapcopy-mq', 'tapcopy-uring', 'udpblast', 'fastpath-c']) {
  step(`compile ${name}`, 'gcc', [
    '-O2',
    '-Wall',
    '-Wextra',
    '-pthread',
    '-o',
    join(binDir, name),
    join(ROOT, 'bench', 'c', `${name}.c`),
  ]);
}
let baselineDir;
try {
  baselineDir = prepareBaseline(ROOT, baselineWanted, {
    step: (what, c) => {
      step(what, c.cmd, c.args, { cwd: c.cwd ?? ROOT });
    },
    capture: (what, c, { allowFail = false } = {}) =>
      step(what, c.cmd, c.args, { cwd: c.cwd ?? ROOT, allowFail, quiet: true }),
  });
} catch (e) {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
}
if (baselineDir !== null) forMain.push('--baseline', baselineDir);

const ha = forMain.includes('--ha');
const child = spawn(
  process.execPath,
  ha
    ? [join(ROOT, 'dist', 'bench', 'ha', 'main.js'), ...forMain.filter((a) => a !== '--ha')]
    : [
        join(ROOT, 'dist', 'bench', 'macro', 'main.js'),
        '--tapcopy',
        join(binDir, 'tapcopy'),
        '--udpblast',
        join(binDir, 'udpblast'),
        ...forMain,
      ],
  {
    cwd: ROOT,
    stdio: 'inherit',
    env: {
      ...process.env,
      TAPVS_LAB_LOCKED: '1',
      TAPVS_BENCH_COMMAND: `npm run bench${rest.length > 0 ? ` -- ${rest.join(' ')}` : ''}`,
    },
  },
);
// The child cleans the lab up on SIGINT/SIGTERM; pass ours on and wait for it.
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  });
const code = await new Promise((res) => child.on('exit', (c, sig) => res(c ?? (sig !== null ? 130 : 1))));
release();
process.exit(code);
