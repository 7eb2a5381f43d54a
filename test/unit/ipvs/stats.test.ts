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
