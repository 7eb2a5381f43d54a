#!/usr/bin/env node
// `npm test`: set up (packages, addon, build), check (`npm run lint`: Biome's linter and formatter;
// `npm run typecheck`), then run every test area with node's test runner: unit, pipeline and
// hostile always; integration (network namespaces) when running as root.
// Options: --only AREA[,AREA] to run some areas (no lint/typecheck then); --skip-setup.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1].split(',') : null;
if (!args.includes('--skip-setup')) {
  const r = spawnSync('bash', ['scripts/setup.sh'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (only === null) {
  for (const script of ['lint', 'typecheck']) {
    const r = spawnSync('npm', ['run', '--silent', script], { stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(
        `npm test: \`npm run ${script}\` failed${script === 'lint' ? ' (npm run format fixes formatting)' : ''}`,
      );
      process.exit(r.status ?? 1);
    }
  }
}

function testFiles(dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(testFiles(p));
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const isRoot = process.getuid?.() === 0;
const areas = ['unit', 'pipeline', 'hostile', 'integration'].filter((a) => only === null || only.includes(a));
const files = [];
for (const a of areas) {
  if (a === 'integration' && !isRoot) {
    console.log('# integration tests skipped: they need root (network namespaces, TAP devices)');
    continue;
  }
  files.push(...testFiles(join('dist', 'test', a)));
}
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
// Integration tests share the lab's namespace names: run files one at a time.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
