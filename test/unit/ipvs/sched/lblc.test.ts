import assert from 'node:assert/strict';
import test from 'node:test';
import { LocalityLeastConn } from '../../../../src/ipvs/sched/lblc.js';
import { LOCALITY_MAX_SIZE } from '../../../../src/ipvs/sched/locality.js';
import { delDest, dest, flow, ip, nameOf, service } from './sched-fixtures.js';

const MIN = 60_000;
const T0 = 5_000_000; // the timer's phase starts at the first call
const f = flow(ip('198.51.100.1'));

function setup() {
  const a = dest('A', { weight: 1, active: 5 });
  const b = dest('B', { weight: 4 });
  const lblc = new LocalityLeastConn();
  const svc = service(lblc, [a, b]);
  return { a, b, lblc, svc };
}

test('lblc: the first connection is placed by the wlc rule and later ones stick to it', () => {
  const { a, b, lblc, svc } = setup();
  assert.equal(nameOf(lblc.schedule(svc, f, T0)), 'B'); // A: 1280/1, B: 0/4
  b.activeConns = 4; // busier than A per weight now, but not "overloaded" (4 ≤ 4)
  a.activeConns = 0;
  for (let i = 1; i <= 3; i++) assert.equal(nameOf(lblc.schedule(svc, f, T0 + i)), 'B');
  assert.equal(lblc.table.size, 1);
});

test('lblc: a cached dest with active > weight is replaced only if some dest is below half its weight', () => {
  const { a, b, lblc, svc } = setup();
  const c = dest('C', { weight: 4, active: 2 });
  svc.dests.push(c);
  assert.equal(nameOf(lblc.schedule(svc, f, T0)), 'B');
  b.activeConns = 5; // > 4; A: 5 × 2 ≥ 1, C: 2 × 2 ≥ 4 → nobody below half: stays
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 1)), 'B');
  c.activeConns = 1; // C: 1 × 2 < 4 → B counts as overloaded; wlc: A 1280/1, B 1280/4, C 256/4
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 2)), 'C');
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 3)), 'C');
  // Linux unlinks the old entry without decrementing its counter (ip_vs_lblc_new)
  assert.equal(lblc.table.size, 1);
  assert.equal(lblc.table.entries, 2);
  void a;
});

test('lblc: the OVERLOAD threshold flag is ignored on a hit but honoured when rescheduling', () => {
  const { a, b, lblc, svc } = setup();
  assert.equal(nameOf(lblc.schedule(svc, f, T0)), 'B');
  b.overloaded = true;
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 1)), 'B');
  b.weight = 0; // quiesced: the hit is refused, and wlc skips the OVERLOADed B
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 2)), 'A');
  a.overloaded = true;
  b.weight = 4;
  // cached A (OVERLOAD ignored on a hit): A active 5 > weight 1, and B: 0 × 2 < 4 → overloaded;
  // wlc then skips both flagged dests: no destination, the entry stays
  assert.equal(lblc.schedule(svc, f, T0 + 3), null);
  assert.equal(lblc.table.size, 1);
});

test('lblc: a deleted cached dest is replaced', () => {
  const { b, lblc, svc } = setup();
  assert.equal(nameOf(lblc.schedule(svc, f, T0)), 'B');
  delDest(svc, b);
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 1)), 'A');
});

test('lblc: one entry per destination IP (for a VIP service all flows share the VIP entry)', () => {
  const { lblc, svc } = setup();
  lblc.schedule(svc, flow(ip('198.51.100.1'), 1), T0);
  lblc.schedule(svc, flow(ip('198.51.100.2'), 2), T0);
  assert.equal(lblc.table.size, 1);
  lblc.schedule(svc, flow(ip('198.51.100.1'), 1, ip('192.0.2.11')), T0);
  assert.equal(lblc.table.size, 2);
});

test('lblc: an entry unused for 24 h is dropped by the full check of the 30-minute cycle', () => {
  const { a, b, lblc, svc } = setup();
  assert.equal(nameOf(lblc.schedule(svc, f, T0)), 'B'); // timer phase starts at T0
  lblc.tick(svc, T0 + 1440 * MIN - 1);
  assert.equal(lblc.table.size, 1);
  lblc.tick(svc, T0 + 1440 * MIN); // firing 1440 is a full check (every 30th)
  assert.equal(lblc.table.size, 0);
  // with the entry gone, the next connection is placed afresh
  a.activeConns = 0;
  b.activeConns = 1;
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 1441 * MIN)), 'A');
});

test('lblc: a use refreshes the entry; expiry is replayed lazily by schedule() without ticks', () => {
  const { a, lblc, svc } = setup();
  assert.equal(nameOf(lblc.schedule(svc, f, T0)), 'B');
  a.activeConns = 0; // A now wins the wlc rule, but B stays cached while the entry lives
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 1000 * MIN)), 'B');
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 2439 * MIN)), 'B'); // last check at 2430: 1430 min idle
  // the last use is now 2439 min, so the entry lives until the first full check at or after
  // 2439 + 1440 = 3879 min, which is the one at 3900 min
  lblc.tick(svc, T0 + 3899 * MIN);
  assert.equal(lblc.table.size, 1);
  assert.equal(nameOf(lblc.schedule(svc, f, T0 + 3900 * MIN)), 'A');
});

test('lblc: the lblc_expiration setting applies to the full check', () => {
  const lblc = new LocalityLeastConn({ expirationMs: 10 * MIN });
  const svc = service(lblc, [dest('A')]);
  lblc.schedule(svc, f, T0);
  lblc.schedule(svc, flow(1, 1, ip('192.0.2.20')), T0 + 25 * MIN);
  lblc.tick(svc, T0 + 30 * MIN); // first full check: the entry used at T0 goes, the other stays
  assert.equal(lblc.table.size, 1);
  lblc.tick(svc, T0 + 60 * MIN);
  assert.equal(lblc.table.size, 0);
});

test('lblc: above 16384 entries, entries idle 6 minutes are dropped until the goal is met', () => {
  const lblc = new LocalityLeastConn({ expirationMs: 10 * MIN });
  const svc = service(lblc, [dest('A')]);
  const extra = 300;
  const g = flow(1);
  for (let i = 0; i < LOCALITY_MAX_SIZE + extra; i++) {
    g.vaddr = (0x0b000000 + i) | 0;
    lblc.schedule(svc, g, T0);
  }
  assert.equal(lblc.table.size, LOCALITY_MAX_SIZE + extra);
  lblc.tick(svc, T0 + 6 * MIN - 1); // firings 1..5: too full, but nothing idle for 6 minutes
  assert.equal(lblc.table.size, LOCALITY_MAX_SIZE + extra);
  lblc.tick(svc, T0 + 6 * MIN); // goal = 300 × 4 / 3 = 400, whole buckets at a time
  const dropped = LOCALITY_MAX_SIZE + extra - lblc.table.size;
  assert.ok(dropped >= 400 && dropped < 400 + 64, `dropped ${dropped}`);
  assert.equal(lblc.table.entries, lblc.table.size);
  // Those runs did not advance the full-check counter: firing 7 is its first count, so the full
  // check (expiry 10 minutes) comes at firing 36 instead of 30.
  lblc.tick(svc, T0 + 35 * MIN);
  assert.equal(lblc.table.size, LOCALITY_MAX_SIZE + extra - dropped);
  lblc.tick(svc, T0 + 36 * MIN);
  assert.equal(lblc.table.size, 0);
});

test('lblc: done() empties the table', () => {
  const { lblc, svc } = setup();
  lblc.schedule(svc, f, T0);
  lblc.done();
  assert.equal(lblc.table.size, 0);
  assert.equal(lblc.table.entries, 0);
});
