import assert from 'node:assert/strict';
import test from 'node:test';
import { WeightedFailover } from '../../../../src/ipvs/sched/fo.js';
import { dest, nameOf, service } from './sched-fixtures.js';

const pick = (...ds: ReturnType<typeof dest>[]): string => {
  const svc = service(new WeightedFailover(), ds);
  return nameOf(svc.scheduler.schedule(svc, undefined as never, 0));
};

test('fo: the highest-weight available dest takes everything, whatever its load', () => {
  assert.equal(pick(dest('A', { weight: 5 }), dest('B', { weight: 10, active: 1000 }), dest('C', { weight: 7 })), 'B');
});

test('fo: a weight tie goes to the earlier dest', () => {
  assert.equal(pick(dest('A', { weight: 3 }), dest('B', { weight: 3 })), 'A');
});

test('fo: an overloaded primary fails over to the next weight; quiesced never', () => {
  assert.equal(pick(dest('P', { weight: 10, overloaded: true }), dest('S', { weight: 5 })), 'S');
  assert.equal(pick(dest('Q', { weight: 0 })), 'null');
});
