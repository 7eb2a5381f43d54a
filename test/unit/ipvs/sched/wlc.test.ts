import assert from 'node:assert/strict';
import test from 'node:test';
import { WeightedLeastConn } from '../../../../src/ipvs/sched/wlc.js';
import { dest, nameOf, service } from './sched-fixtures.js';

const pick = (...ds: ReturnType<typeof dest>[]): string => {
  const svc = service(new WeightedLeastConn(), ds);
  return nameOf(svc.scheduler.schedule(svc, undefined as never, 0));
};

test('wlc: the lowest (256 × active + inactive) / weight wins', () => {
  // A: 300/1 = 300, B: 512/2 = 256, C: 773/3 = 257.7
  assert.equal(
    pick(
      dest('A', { weight: 1, inactive: 300 }),
      dest('B', { weight: 2, active: 2 }),
      dest('C', { weight: 3, active: 3, inactive: 5 }),
    ),
    'B',
  );
});

test('wlc: an exact tie keeps the earlier dest in list order', () => {
  // A: 256/1 = 256, B: 512/2 = 256
  assert.equal(pick(dest('A', { weight: 1, active: 1 }), dest('B', { weight: 2, active: 2 })), 'A');
  assert.equal(pick(dest('B', { weight: 2, active: 2 }), dest('A', { weight: 1, active: 1 })), 'B');
  // one inactive connection more breaks it: 513/2 > 256/1
  assert.equal(pick(dest('B', { weight: 2, active: 2, inactive: 1 }), dest('A', { weight: 1, active: 1 })), 'A');
});

test('wlc: an idle quiesced dest never wins, neither first nor later in the list', () => {
  assert.equal(pick(dest('Q', { weight: 0 }), dest('A', { weight: 1, active: 10 })), 'A');
  assert.equal(pick(dest('A', { weight: 1, active: 10 }), dest('Q', { weight: 0 })), 'A');
});

test('wlc: overloaded dests are skipped, all unusable gives null', () => {
  assert.equal(pick(dest('O', { weight: 5, overloaded: true }), dest('A', { active: 3 })), 'A');
  assert.equal(pick(dest('O', { overloaded: true }), dest('Q', { weight: 0 })), 'null');
  assert.equal(pick(), 'null');
});

test('wlc: the comparison is exact for large counters (cross multiplication, no division)', () => {
  // 1e6 active × 256 on weight 65535 vs weight 65534 with one fewer inactive connection
  assert.equal(
    pick(dest('A', { weight: 65535, active: 1_000_000, inactive: 1 }), dest('B', { weight: 65534, active: 1_000_000 })),
    'A',
  );
});
