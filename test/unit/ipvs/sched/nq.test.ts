import assert from 'node:assert/strict';
import test from 'node:test';
import { NeverQueue } from '../../../../src/ipvs/sched/nq.js';
import { dest, nameOf, service } from './sched-fixtures.js';

const pick = (...ds: ReturnType<typeof dest>[]): string => {
  const svc = service(new NeverQueue(), ds);
  return nameOf(svc.scheduler.schedule(svc, undefined as never, 0));
};

test('nq: the first dest with no active connection is taken at once', () => {
  // B is idle; C is idle too and heavier, but B comes first
  assert.equal(
    pick(dest('A', { weight: 1, active: 1 }), dest('B', { weight: 1, inactive: 99 }), dest('C', { weight: 10 })),
    'B',
  );
});

test('nq: with nobody idle the sed rule (active + 1) / weight decides, ties to the earlier', () => {
  // A: 4/2, B: 10/5 → tie → A
  assert.equal(pick(dest('A', { weight: 2, active: 3 }), dest('B', { weight: 5, active: 9 })), 'A');
  // A: 4/2, B: 9/5 → B
  assert.equal(pick(dest('A', { weight: 2, active: 3 }), dest('B', { weight: 5, active: 8 })), 'B');
});

test('nq: idle quiesced or overloaded dests are not taken', () => {
  assert.equal(
    pick(dest('Q', { weight: 0 }), dest('O', { overloaded: true }), dest('A', { weight: 1, active: 7 })),
    'A',
  );
  assert.equal(pick(dest('Q', { weight: 0 }), dest('O', { overloaded: true })), 'null');
});
