import assert from 'node:assert/strict';
import test from 'node:test';
import { LocalityLeastConnReplicated } from '../../../../src/ipvs/sched/lblcr.js';
import { delDest, dest, flow, ip, nameOf, service } from './sched-fixtures.js';

const MIN = 60_000;
const T0 = 7_000_000;
const f = flow(ip('198.51.100.1'));

function setup(expirationMs = 60_000) {
  const a = dest('A', { weight: 4 });
  const b = dest('B', { weight: 4 });
  const c = dest('C', { weight: 4, active: 3 });
  const lblcr = new LocalityLeastConnReplicated({ expirationMs });
  const svc = service(lblcr, [a, b, c]);
  return { a, b, c, lblcr, svc };
}
const members = (s: LocalityLeastConnReplicated) => s.membersOf(f.vaddr).map(nameOf);

test('lblcr: a miss creates a one-member set chosen by the wlc rule', () => {
  const { lblcr, svc } = setup();
  assert.equal(nameOf(lblcr.schedule(svc, f, T0)), 'A'); // A and B tie at 0: the first wins
  assert.deepEqual(members(lblcr), ['A']);
});

test('lblcr: an overloaded least member makes the service-wide wlc pick join the set', () => {
  const { a, b, lblcr, svc } = setup();
  lblcr.schedule(svc, f, T0);
  a.activeConns = 5; // > weight 4, and B (0 × 2 < 4) is below half its weight
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 1000)), 'B'); // wlc: A 1280, B 0, C 768
  assert.deepEqual(members(lblcr), ['B', 'A']); // newest first
  b.activeConns = 1;
  // set min over B (256/4) and A (1280/4) → B, not overloaded
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 2000)), 'B');
  assert.deepEqual(members(lblcr), ['B', 'A']);
});

test('lblcr: after the expiration since the last change the most loaded member leaves the set', () => {
  const { a, b, lblcr, svc } = setup(60_000);
  lblcr.schedule(svc, f, T0);
  a.activeConns = 5;
  lblcr.schedule(svc, f, T0 + 1000); // set [B, A], lastmod T0 + 1000
  b.activeConns = 1;
  // now > lastmod + expiration is strict: not yet at exactly 60 s
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 61_000)), 'B');
  assert.deepEqual(members(lblcr), ['B', 'A']);
  // A (1280/4) is more loaded than B (256/4): erased; the pick was made before and is B
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 61_001)), 'B');
  assert.deepEqual(members(lblcr), ['B']);
  // a single member is never erased
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 300_000)), 'B');
  assert.deepEqual(members(lblcr), ['B']);
});

test('lblcr: the member picked can be the one erased in the same call', () => {
  const { a, b, lblcr, svc } = setup(60_000);
  lblcr.schedule(svc, f, T0); // [A]
  a.activeConns = 5;
  lblcr.schedule(svc, f, T0 + 1000); // [B, A]
  a.activeConns = 0;
  b.activeConns = 2; // set min: B 512/4 vs A 0/4 → A; set max → B
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 62_000)), 'A');
  assert.deepEqual(members(lblcr), ['A']);
});

test('lblcr: deleted, quiesced or OVERLOADed members are not picked from the set', () => {
  const { a, b, c, lblcr, svc } = setup();
  lblcr.schedule(svc, f, T0); // [A]
  a.activeConns = 5;
  lblcr.schedule(svc, f, T0 + 1); // [B, A]
  b.overloaded = true;
  // set min: B skipped (OVERLOAD), A is overloaded by the lblc test (5 > 4, C 3×2 < 4? no, B 0 < 4)
  // → wlc over the service (A 1280/4, C 768/4; B skipped) → C joins
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 2)), 'C');
  assert.deepEqual(members(lblcr), ['C', 'B', 'A']);
  delDest(svc, c);
  b.overloaded = false;
  b.weight = 0;
  // set min: C deleted, B quiesced (cannot be the first candidate) → A; A has 5 > 4 active but
  // nobody is below half its weight any more (B's weight is 0), so A is used
  assert.equal(nameOf(lblcr.schedule(svc, f, T0 + 3)), 'A');
});

test('lblcr: unused entries expire at the half-hourly full check', () => {
  const { lblcr, svc } = setup(10 * MIN);
  lblcr.schedule(svc, f, T0);
  lblcr.tick(svc, T0 + 30 * MIN - 1);
  assert.equal(lblcr.table.size, 1);
  lblcr.tick(svc, T0 + 30 * MIN);
  assert.equal(lblcr.table.size, 0);
  assert.deepEqual(members(lblcr), []);
});
