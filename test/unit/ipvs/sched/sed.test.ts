import assert from 'node:assert/strict';
import test from 'node:test';
import { ShortestExpectedDelay } from '../../../../src/ipvs/sched/sed.js';
import { dest, nameOf, service } from './sched-fixtures.js';

const pick = (...ds: ReturnType<typeof dest>[]): string => {
  const svc = service(new ShortestExpectedDelay(), ds);
  return nameOf(svc.scheduler.schedule(svc, undefined as never, 0));
};

test('sed: the lowest (active + 1) / weight wins and inactive connections do not count', () => {
  // A: 1/1, B: 3/4
  assert.equal(pick(dest('A', { weight: 1, inactive: 0 }), dest('B', { weight: 4, active: 2 })), 'B');
  // A: 1/1 even with 1000 inactive, B: 3/2
  assert.equal(pick(dest('A', { weight: 1, inactive: 1000 }), dest('B', { weight: 2, active: 2 })), 'A');
});

test('sed: a tie keeps the earlier dest', () => {
  // A: 1/1, B: 3/3
  assert.equal(pick(dest('A', { weight: 1 }), dest('B', { weight: 3, active: 2 })), 'A');
  assert.equal(pick(dest('B', { weight: 3, active: 2 }), dest('A', { weight: 1 })), 'B');
});

test('sed: quiesced and overloaded dests never win', () => {
  assert.equal(pick(dest('Q', { weight: 0 }), dest('A', { weight: 1, active: 9 })), 'A');
  assert.equal(pick(dest('A', { weight: 1, active: 9 }), dest('Q', { weight: 0 })), 'A');
  assert.equal(pick(dest('O', { weight: 9, overloaded: true }), dest('A', { active: 9 })), 'A');
  assert.equal(pick(dest('O', { overloaded: true })), 'null');
});
