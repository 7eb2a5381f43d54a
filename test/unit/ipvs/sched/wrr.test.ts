import assert from 'node:assert/strict';
import test from 'node:test';
import { WeightedRoundRobin } from '../../../../src/ipvs/sched/wrr.js';
import { addDest, dest, picks, service } from './sched-fixtures.js';

// Sequences below are derived by hand from ip_vs_wrr.c: cw starts at mw = max − (di − 1); a pass
// returns, from the current position on, each dest with weight ≥ cw; at the end of the list
// cw −= di, wrapping to mw at ≤ 0.

test('wrr: weights 4, 3, 2 give A A B A B C A B C and then repeat', () => {
  const svc = service(new WeightedRoundRobin(), [
    dest('A', { weight: 4 }),
    dest('B', { weight: 3 }),
    dest('C', { weight: 2 }),
  ]);
  // cw=4: A | cw=3: A B | cw=2: A B C | cw=1: A B C | cw=4: A ...
  assert.deepEqual(picks(svc, 18), [
    'A',
    'A',
    'B',
    'A',
    'B',
    'C',
    'A',
    'B',
    'C',
    'A',
    'A',
    'B',
    'A',
    'B',
    'C',
    'A',
    'B',
    'C',
  ]);
});

test('wrr: rs1 w1, rs2 w2, rs3 w3 added one by one: a first pass at cw = 1, then the reference cycle', () => {
  const svc = service(new WeightedRoundRobin()); // empty service: mw = 0, cw = 0
  addDest(svc, dest('rs1', { weight: 1 })); // cw = 0 → cw := mw = 1
  addDest(svc, dest('rs2', { weight: 2 })); // mw = 2, cw = 1 kept (≤ mw, ≠ 0, di = 1)
  addDest(svc, dest('rs3', { weight: 3 })); // mw = 3, cw = 1 kept; list rs3, rs2, rs1
  // cw=1: rs3 rs2 rs1 | cw=3: rs3 | cw=2: rs3 rs2 | cw=1: rs3 rs2 rs1 | cw=3: rs3 ...
  assert.deepEqual(picks(svc, 15), [
    'rs3',
    'rs2',
    'rs1',
    'rs3',
    'rs3',
    'rs2',
    'rs3',
    'rs2',
    'rs1',
    'rs3',
    'rs3',
    'rs2',
    'rs3',
    'rs2',
    'rs1',
  ]);
});

test('wrr: bound to a service that already has rs3 w3, rs2 w2, rs1 w1, it starts the cycle at cw = mw', () => {
  const svc = service(new WeightedRoundRobin(), [
    dest('rs3', { weight: 3 }),
    dest('rs2', { weight: 2 }),
    dest('rs1', { weight: 1 }),
  ]);
  assert.deepEqual(picks(svc, 12), [
    'rs3',
    'rs3',
    'rs2',
    'rs3',
    'rs2',
    'rs1',
    'rs3',
    'rs3',
    'rs2',
    'rs3',
    'rs2',
    'rs1',
  ]);
});

test('wrr: weights 4 and 2 step cw by their gcd: A A B repeating', () => {
  // di = 2, mw = 4 − 1 = 3. cw=3: A | cw=1: A B | cw=3: A ...
  const svc = service(new WeightedRoundRobin(), [dest('A', { weight: 4 }), dest('B', { weight: 2 })]);
  assert.deepEqual(picks(svc, 9), ['A', 'A', 'B', 'A', 'A', 'B', 'A', 'A', 'B']);
});

test('wrr: an edit resets the position to the head and keeps cw when it still fits', () => {
  const a = dest('A', { weight: 4 }),
    b = dest('B', { weight: 3 }),
    c = dest('C', { weight: 2 });
  const svc = service(new WeightedRoundRobin(), [a, b, c]);
  assert.deepEqual(picks(svc, 2), ['A', 'A']); // now cw = 3, position A
  c.weight = 6;
  svc.scheduler.destsChanged(svc); // di = 1, mw = 6, cw = 3 kept, position → head
  // cw=3: A B C | cw=2: A B C | cw=1: A B C | cw=6: C | cw=5: C | cw=4: A C | cw=3: A B C
  assert.deepEqual(picks(svc, 16), ['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C', 'C', 'C', 'A', 'C', 'A', 'B', 'C']);
});

test('wrr: when the new gcd is above 1, cw becomes (cw div di) × di + 1', () => {
  const a = dest('A', { weight: 6 }),
    b = dest('B', { weight: 4 });
  const svc = service(new WeightedRoundRobin(), [a, b]);
  // di = 2, mw = 5. cw=5: A | cw=3: A B
  assert.deepEqual(picks(svc, 2), ['A', 'A']); // cw = 3
  a.weight = 8;
  svc.scheduler.destsChanged(svc); // di = 4, mw = 5, cw = (3 div 4) × 4 + 1 = 1
  // cw=1: A B | cw=5: A | cw=1: A B | cw=5: A ...
  assert.deepEqual(picks(svc, 8), ['A', 'B', 'A', 'A', 'B', 'A', 'A', 'B']);
});

test('wrr: quiesced and overloaded dests are skipped, and all of them unusable gives null', () => {
  const a = dest('A', { weight: 2, overloaded: true });
  const b = dest('B', { weight: 0 });
  const c = dest('C', { weight: 1 });
  const svc = service(new WeightedRoundRobin(), [a, b, c]);
  assert.deepEqual(picks(svc, 4), ['C', 'C', 'C', 'C']);
  c.overloaded = true;
  assert.deepEqual(picks(svc, 3), ['null', 'null', 'null']);
  a.overloaded = false; // the flag clears without a destsChanged() (ip_vs_unbind_dest)
  assert.deepEqual(picks(svc, 3), ['A', 'A', 'A']);
});

test('wrr: a service whose weights are all 0 has no destination', () => {
  const svc = service(new WeightedRoundRobin(), [dest('A', { weight: 0 }), dest('B', { weight: 0 })]);
  assert.deepEqual(picks(svc, 2), ['null', 'null']);
  const empty = service(new WeightedRoundRobin(), []);
  assert.deepEqual(picks(empty, 1), ['null']);
});

test('wrr: over 100,000 decisions each dest gets its weight share within 1%', () => {
  const weights = [5, 3, 1, 7, 2];
  const dests = weights.map((w, i) => dest(`D${i}`, { weight: w }));
  const svc = service(new WeightedRoundRobin(), dests);
  const counts = new Map<string, number>();
  for (const p of picks(svc, 100_000)) counts.set(p, (counts.get(p) ?? 0) + 1);
  const total = weights.reduce((a, b) => a + b, 0);
  weights.forEach((w, i) => {
    const share = (counts.get(`D${i}`) ?? 0) / 100_000;
    assert.ok(Math.abs(share - w / total) < 0.01 * (w / total), `D${i}: ${share} vs ${w / total}`);
  });
});
