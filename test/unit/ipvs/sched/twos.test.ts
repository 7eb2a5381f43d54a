import assert from 'node:assert/strict';
import test from 'node:test';
import { TwoChoices, xorshift32 } from '../../../../src/ipvs/sched/twos.js';
import { dest, nameOf, service } from './sched-fixtures.js';

/** An rng that plays back fixed uint32 values. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

test('twos: draws in [0, total] map to dests by running weight sums (first dest has w + 1 chances)', () => {
  // weights 1, 2, 3 → total 6, draws mod 7: 0,1 → A; 2,3 → B; 4,5,6 → C
  const expected = ['A', 'A', 'B', 'B', 'C', 'C', 'C'];
  for (let r = 0; r < 7; r++) {
    const svc = service(new TwoChoices({ rng: scripted([r + 7 * 1000, r]) }), [
      dest('A', { weight: 1 }),
      dest('B', { weight: 2 }),
      dest('C', { weight: 3 }),
    ]);
    // equal loads (all 0): choice 2 never replaces choice 1, so the pick is choice 1
    assert.equal(nameOf(svc.scheduler.schedule(svc, undefined as never, 0)), expected[r], `r=${r}`);
  }
});

test('twos: choice 2 wins only when w2 × oh1 > w1 × oh2', () => {
  const mk = (cInactive: number) => {
    const svc = service(new TwoChoices({ rng: scripted([0, 6]) }), [
      dest('A', { weight: 1, active: 1 }), // choice 1, oh 256
      dest('B', { weight: 2 }),
      dest('C', { weight: 3, active: 1, inactive: cInactive }), // choice 2
    ]);
    return nameOf(svc.scheduler.schedule(svc, undefined as never, 0));
  };
  assert.equal(mk(0), 'C'); // 3 × 256 > 1 × 256
  assert.equal(mk(511), 'C'); // 3 × 256 = 768 > 1 × 767
  assert.equal(mk(512), 'A'); // 768 > 768 is false: choice 1 stays
});

test('twos: a tie keeps choice 1', () => {
  const svc = service(new TwoChoices({ rng: scripted([0, 6]) }), [
    dest('A', { weight: 1, active: 1 }),
    dest('B', { weight: 2 }),
    dest('C', { weight: 3, active: 3 }),
  ]);
  // w2 × oh1 = 3 × 256 = 768, w1 × oh2 = 1 × 768 = 768 → not greater → A
  assert.equal(nameOf(svc.scheduler.schedule(svc, undefined as never, 0)), 'A');
});

test('twos: quiesced and overloaded dests are not drawn; none usable gives null', () => {
  const svc = service(new TwoChoices({ rng: scripted([0, 1, 2, 3]) }), [
    dest('Q', { weight: 0 }),
    dest('O', { weight: 5, overloaded: true }),
    dest('A', { weight: 1 }),
  ]);
  for (let i = 0; i < 4; i++) assert.equal(nameOf(svc.scheduler.schedule(svc, undefined as never, 0)), 'A');
  const none = service(new TwoChoices(), [dest('Q', { weight: 0 }), dest('O', { overloaded: true })]);
  assert.equal(none.scheduler.schedule(none, undefined as never, 0), null);
});

test('twos: the default xorshift32 rng is deterministic for a seed and yields uint32', () => {
  const r = xorshift32(1);
  // x = 1: x ^= x << 13 → 0x2001; x ^= x >>> 17 → 0x2001; x ^= x << 5 → 0x42021
  assert.equal(r(), 0x42021);
  for (let i = 0; i < 1000; i++) {
    const v = r();
    assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
  }
});
