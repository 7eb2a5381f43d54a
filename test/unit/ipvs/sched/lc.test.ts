import assert from 'node:assert/strict';
import test from 'node:test';
import { LeastConn } from '../../../../src/ipvs/sched/lc.js';
import { dest, nameOf, service } from './sched-fixtures.js';

const pick = (...ds: ReturnType<typeof dest>[]): string => {
  const svc = service(new LeastConn(), ds);
  return nameOf(svc.scheduler.schedule(svc, undefined as never, 0));
};

test('lc: the smallest overhead 256 × active + inactive wins (255 inactive beats 1 active)', () => {
  assert.equal(pick(dest('A', { active: 1 }), dest('B', { inactive: 255 })), 'B');
  assert.equal(pick(dest('A', { active: 1 }), dest('B', { inactive: 256 })), 'A'); // tie → first
});

test('lc: weight only matters as zero: a heavy server with more connections loses', () => {
  assert.equal(pick(dest('A', { weight: 100, active: 10 }), dest('B', { weight: 1, active: 9 })), 'B');
});

test('lc: quiesced and overloaded dests are skipped even when idle', () => {
  assert.equal(
    pick(dest('Q', { weight: 0 }), dest('O', { overloaded: true }), dest('A', { active: 50, inactive: 3 })),
    'A',
  );
  assert.equal(pick(dest('Q', { weight: 0 }), dest('O', { overloaded: true })), 'null');
});
