/**
 * The npm package as a user gets it: `npm pack`, `npm install -g` into an empty prefix (which
 * builds the native addons at install time), then the installed commands, and the lab run from the
 * installed package with the installed tapvsadm. Root only (the lab); needs the npm registry for
 * the package's dependencies, as any `npm install` does.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { LAB, labDown, nsExec, run } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (the lab: network namespaces, TAP devices)';
const ROOT = resolve(import.meta.dirname, '..', '..', '..');

test('package: npm pack, install into an empty prefix, then tapvsd, tapvsadm and the lab from there', {
  skip,
  timeout: 600_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-pkg-'));
  const prefix = join(dir, 'prefix');
  // dist/ is built by npm test's set-up; a pack from a fresh clone builds it with `prepare`.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {
    timeoutMs: 120_000,
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  assert.equal(pack.code, 0, pack.stderr);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz !== undefined, 'npm pack made no tarball');
  const listing = await run('tar', ['-tzf', join(dir, tgz)]);
  const files = listing.stdout.split('\n').filter(Boolean);
  assert.ok(files.includes('package/LICENSE'));
  assert.ok(files.includes('package/packaging/systemd/tapvsd.service'));
  assert.ok(files.includes('package/native/notify.cc') && files.includes('package/binding.gyp'));
  assert.deepEqual(
    files.filter((f) => /\/(test|bench)\/|\.map$|\.ts$|^package\/\.ci\//.test(f)),
    [],
    'no tests, benchmarks, sources or maps in the package',
  );

  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_loglevel: 'error' };
  // Headers for the addons' build: the distribution's Node keeps them in /usr/include/node.
  if (existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
  const install = await run('npm', ['install', '-g', '--prefix', prefix, join(dir, tgz)], {
    timeoutMs: 480_000,
    env,
  });
  assert.equal(install.code, 0, `${install.stderr}\n${install.stdout}`);
  const bin = (name: string): string => join(prefix, 'bin', name);
  const pkgDir = join(prefix, 'lib', 'node_modules', 'tapvs');
  assert.ok(existsSync(join(pkgDir, 'build', 'Release', 'tapvs_tap.node')), 'the TAP addon was built at install');
  assert.ok(existsSync(join(pkgDir, 'build', 'Release', 'tapvs_bpf.node')), 'the BPF addon was built at install');

  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const v = await run(bin('tapvsd'), ['--version']);
  assert.equal(v.stdout.trim(), `tapvsd ${version}`);
  const h = await run(bin('tapvsadm'), ['-h']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /tapvsadm/);

  t.after(() => labDown());
  const up = await run(bin('tapvs-lab'), ['up'], { timeoutMs: 120_000 });
  assert.equal(up.code, 0, up.stderr + up.stdout);
  const env2 = { ...process.env, TAPVS_SOCKET: LAB.socket };
  for (const args of [
    ['-A', '-t', `${LAB.vip}:80`, '-s', 'rr'],
    ['-a', '-t', `${LAB.vip}:80`, '-r', `${LAB.rs1}:80`, '-m'],
  ]) {
    const r = await run(bin('tapvsadm'), args, { env: env2 });
    assert.equal(r.code, 0, r.stderr);
  }
  const curl = await nsExec(LAB.ns.client, 'curl', ['-sS', '--fail', '--max-time', '5', `http://${LAB.vip}/`]);
  assert.equal(curl.code, 0, curl.stderr);
  assert.match(curl.stdout, /^RS1 /);
  const saved = await run(bin('tapvsadm-save'), ['-n'], { env: env2 });
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stdout, new RegExp(`-A -t ${LAB.vip.replace(/\./g, '\\.')}:80 -s rr`));
  const down = await run(bin('tapvs-lab'), ['down'], { timeoutMs: 60_000 });
  assert.equal(down.code, 0, down.stderr);
});
