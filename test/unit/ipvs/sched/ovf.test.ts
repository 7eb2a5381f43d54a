import assert from 'node:assert/strict';
import test from 'node:test';
import { WeightedOverflow } from '../../../../src/ipvs/sched/ovf.js';
import { dest, nameOf, service } from './sched-fixtures.js';

test('ovf: the heaviest dest is filled up to weight + 1 active connections, then the next', () => {
  const a = dest('A', { weight: 2 }),
    b = dest('B', { weight: 3 }),
    c = dest('C', { weight: 0 });
  const svc = service(new WeightedOverflow(), [a, b, c]);
  const seq: string[] = [];
  for (let i = 0; i < 8; i++) {
    const d = svc.scheduler.schedule(svc, undefined as never, 0);
    seq.push(nameOf(d));
    if (d !== null) d.activeConns++; // each pick becomes an established connection
  }
  // B takes active 0..3 (≤ 3), then A takes 0..2 (≤ 2), then nobody qualifies
  assert.deepEqual(seq, ['B', 'B', 'B', 'B', 'A', 'A', 'A', 'null']);
  b.activeConns = 3; // one of B's connections closed
  assert.equal(nameOf(svc.scheduler.schedule(svc, undefined as never, 0)), 'B');
});

test('ovf: inactive connections are ignored and a weight tie goes to the earlier dest', () => {
  const svc = service(new WeightedOverflow(), [dest('A', { weight: 2, inactive: 500 }), dest('B', { weight: 2 })]);
  assert.equal(nameOf(svc.scheduler.schedule(svc, undefined as never, 0)), 'A');
});

test('ovf: overloaded dests are skipped', () => {
  const svc = service(new WeightedOverflow(), [dest('A', { weight: 9, overloaded: true }), dest('B')]);
  assert.equal(nameOf(svc.scheduler.schedule(svc, undefined as never, 0)), 'B');
});
