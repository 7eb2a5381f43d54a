/**
 * The status page's rate history: rates are counter deltas over elapsed seconds, the ring keeps
 * the newest `capacity` samples in order, and counters or clocks going backwards never produce
 * a negative rate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rate, RateRing } from '../../../src/control/rate-ring.js';

const T0 = 1_800_000_000_000;

test('rate-ring: the first sample only primes, the second stores deltas per second', () => {
  const r = new RateRing(10);
  r.sample(T0, 5, 50, 40, 5000, 9000);
  assert.equal(r.length, 0);
  assert.equal(r.latest(Rate.Conns), 0);
  r.sample(T0 + 1000, 15, 150, 90, 6500, 19000);
  assert.equal(r.length, 1);
  assert.deepEqual(
    [Rate.Conns, Rate.InPkts, Rate.OutPkts, Rate.InBytes, Rate.OutBytes].map((c) => r.latest(c)),
    [10, 100, 50, 1500, 10000],
  );
  assert.deepEqual(r.times(5), [T0 + 1000]);
});

test('rate-ring: a late sample is the average over the time that really passed', () => {
  const r = new RateRing(10);
  r.sample(T0, 0, 0, 0, 0, 0);
  r.sample(T0 + 4000, 40, 0, 0, 0, 0);
  assert.deepEqual(r.series(Rate.Conns, 10), [10]);
  r.sample(T0 + 4500, 45, 0, 0, 0, 0);
  assert.deepEqual(r.series(Rate.Conns, 10), [10, 10]);
});

test('rate-ring: keeps the newest `capacity` samples, oldest first', () => {
  const r = new RateRing(3);
  for (let i = 0; i <= 5; i++) r.sample(T0 + i * 1000, i * i, 0, 0, 0, 0); // rates 1, 3, 5, 7, 9
  assert.equal(r.length, 3);
  assert.deepEqual(r.series(Rate.Conns, 3), [5, 7, 9]);
  assert.deepEqual(r.series(Rate.Conns, 2), [7, 9]);
  assert.deepEqual(r.series(Rate.Conns, 99), [5, 7, 9]);
  assert.deepEqual(r.times(3), [T0 + 3000, T0 + 4000, T0 + 5000]);
  assert.equal(r.latest(Rate.Conns), 9);
});

test('rate-ring: a counter that goes backwards re-primes instead of storing a negative rate', () => {
  const r = new RateRing(5);
  r.sample(T0, 100, 100, 100, 100, 100);
  r.sample(T0 + 1000, 110, 110, 110, 110, 110);
  r.sample(T0 + 2000, 3, 110, 110, 110, 110); // the object behind the counters was replaced
  assert.deepEqual(r.series(Rate.Conns, 5), [10]);
  r.sample(T0 + 3000, 8, 111, 110, 110, 110);
  assert.deepEqual(r.series(Rate.Conns, 5), [10, 5]);
  assert.deepEqual(r.series(Rate.InPkts, 5), [10, 1]);
});

test('rate-ring: a clock that goes backwards or stands still stores nothing', () => {
  const r = new RateRing(5);
  r.sample(T0, 0, 0, 0, 0, 0);
  r.sample(T0, 10, 0, 0, 0, 0);
  r.sample(T0 - 5000, 20, 0, 0, 0, 0);
  assert.equal(r.length, 0);
  r.sample(T0 - 4000, 30, 0, 0, 0, 0);
  assert.deepEqual(r.series(Rate.Conns, 5), [10]);
});

test('rate-ring: capacity below two is refused', () => {
  assert.throws(() => new RateRing(1), RangeError);
  assert.throws(() => new RateRing(2.5), RangeError);
});
