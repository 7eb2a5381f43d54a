import assert from 'node:assert/strict';
import test from 'node:test';
import { RoundRobin } from '../../../../src/ipvs/sched/rr.js';
import { dest, picks, service } from './sched-fixtures.js';

test('rr: cycles in list order from the head and skips quiesced and overloaded dests', () => {
  const svc = service(new RoundRobin(), [
    dest('A'),
    dest('B', { weight: 0 }),
    dest('C', { overloaded: true }),
    dest('D', { weight: 5 }),
  ]);
  assert.deepEqual(picks(svc, 6), ['A', 'D', 'A', 'D', 'A', 'D']);
});

test('rr: over 100,000 decisions equal weights get equal shares within 1%', () => {
  const svc = service(new RoundRobin(), [dest('A'), dest('B', { weight: 9 }), dest('C')]);
  const counts = new Map<string, number>();
  for (const p of picks(svc, 100_000)) counts.set(p, (counts.get(p) ?? 0) + 1);
  for (const n of ['A', 'B', 'C']) {
    assert.ok(Math.abs((counts.get(n) ?? 0) / 100_000 - 1 / 3) < 0.01 / 3, n);
  }
});
