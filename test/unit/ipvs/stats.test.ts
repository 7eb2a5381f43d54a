/**
 * The IPVS rate estimator (ip_vs_est.c; docs/ipvs-behaviour.md#rate-estimator): 2 s samples, EWMA
 * weight 1/4, scaled averages and the kernel's rounding on read-out (ip_vs_read_estimator()); -Z
 * semantics; counters shown in 2 s steps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Stats } from '../../../src/ipvs/stats.js';

/** The kernel's arithmetic written out with BigInt, as the oracle. */
function kernel(deltas: number[], shift: bigint, round: bigint, div: bigint): number[] {
  let avg = 0n;
  const out: number[] = [];
  for (const d of deltas) {
    const sample = BigInt(d) << shift;
    avg += (sample - avg) >> 2n; // arithmetic shift: floors toward -inf
    out.push(Number((avg + round) >> div));
  }
  return out;
}

test('estimator: cps/pps/bps follow the kernel EWMA and rounding exactly, rising and falling', () => {
  const s = new Stats();
  const conns = [10, 10, 10, 0, 0, 100, 3, 0, 0, 0, 0, 0];
  const bytes = [15000, 0, 1_000_000, 7, 0, 0, 0, 123456, 0, 0, 0, 0];
  const wantCps = kernel(conns, 9n, 0x1ffn, 10n);
  const wantBps = kernel(bytes, 4n, 0xfn, 5n);
  for (let i = 0; i < conns.length; i++) {
    s.conns += conns[i];
    s.inPkts += conns[i] * 3;
    s.inBytes += bytes[i];
    s.estimate();
    assert.equal(s.cps, wantCps[i], `cps step ${i}`);
    assert.equal(s.inbps, wantBps[i], `inbps step ${i}`);
  }
  assert.equal(kernel([10, 10, 10], 9n, 0x1ffn, 10n)[2], 3); // sanity of the oracle: 5/s after 3 steps of 10/2s
});

test('estimator: a steady 100 connections per 2 s converges to 50 cps', () => {
  const s = new Stats();
  for (let i = 0; i < 40; i++) {
    s.conns += 100;
    s.estimate();
  }
  assert.equal(s.cps, 50);
});

test('shown counters advance only at estimator ticks; -Z zeroes them and the rates', () => {
  const s = new Stats();
  s.conns = 5;
  s.inPkts = 50;
  s.outBytes = 9000;
  assert.equal(s.snapshot().conns, 0);
  s.estimate();
  assert.deepEqual([s.snapshot().conns, s.snapshot().inPkts, s.snapshot().outBytes], [5, 50, 9000]);
  s.zero();
  assert.deepEqual([s.snapshot().conns, s.snapshot().cps], [0, 0]);
  s.conns += 2;
  s.estimate();
  assert.equal(s.snapshot().conns, 2);
});

/**
 * ip_vs_ctl.c, ip_vs_zero_stats(): the zero point is kstats, the copy the estimator made at its last
 * run, and ip_vs_est.c, ip_vs_zero_estimator() sets the estimator's last values to that copy. So
 * what was counted between that run and -Z is shown after -Z: in the counters and in the rates of
 * the next run (kernel: shown = kstats - kstats0; rate sample = kstats - last).
 */
test("-Z zeroes from the estimator's last copy, not the live counters (ip_vs_zero_stats(), ip_vs_zero_estimator())", () => {
  const s = new Stats();
  s.conns = 10;
  s.inPkts = 100;
  s.inBytes = 64_000;
  s.estimate(); // copy: 10 / 100 / 64000
  s.conns += 4; // counted after the copy, before -Z
  s.inPkts += 40;
  s.inBytes += 3200;
  s.zero();
  assert.deepEqual(
    [s.snapshot().conns, s.snapshot().inPkts, s.snapshot().cps],
    [0, 0, 0],
    'nothing shows until the next run',
  );
  s.conns += 2; // after -Z
  s.estimate();
  const snap = s.snapshot();
  assert.deepEqual([snap.conns, snap.inPkts, snap.inBytes], [6, 40, 3200], 'the 4 conns of before -Z are shown');
  // Rates: one EWMA step from 0 with the sample since the last copy (6 conns, 40 pkts, 3200 bytes).
  assert.equal(snap.cps, kernel([6], 9n, 0x1ffn, 10n)[0]);
  assert.equal(snap.inpps, kernel([40], 9n, 0x1ffn, 10n)[0]);
  assert.equal(snap.inbps, kernel([3200], 4n, 0xfn, 5n)[0]);
  assert.equal(snap.inpps, 5, 'oracle sanity: (40 << 9) / 4 = 5120 -> (5120 + 511) >> 10 = 5');
});
