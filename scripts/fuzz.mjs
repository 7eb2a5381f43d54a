#!/usr/bin/env node
// `npm run fuzz -- [--frames N] [--seed S]`: the hostile fuzz tests (test/hostile/fuzz.test.ts) with
// N frames per test (CI runs 200,000) and the seeds varied by S, so a long run explores new inputs.
// Prints the test runner's report and the time taken; exits non-zero on any failure. Needs a build
// (npm test or npm run build first).
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const env = { ...process.env };
for (let i = 0; i < args.length; i += 2) {
  const [flag, value] = [args[i], args[i + 1]];
  if (flag === '--frames' && /^\d+$/.test(value ?? '')) env.TAPVS_FUZZ_FRAMES = value;
  else if (flag === '--seed' && /^\d+$/.test(value ?? '')) env.TAPVS_FUZZ_SEED = value;
  else {
    console.error('usage: npm run fuzz -- [--frames N] [--seed S]');
    process.exit(2);
  }
}
const started = Date.now();
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', 'dist/test/hostile/fuzz.test.js'], {
  stdio: 'inherit',
  env,
});
console.log(
  `fuzz: ${env.TAPVS_FUZZ_FRAMES ?? 200000} frames per test, seed ${env.TAPVS_FUZZ_SEED ?? 0}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
process.exit(r.status ?? 1);
