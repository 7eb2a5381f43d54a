import assert from 'node:assert/strict';
import test from 'node:test';
import type { Dest } from '../../../../src/ipvs/dest.js';
import { MaglevHashing, MH_KEY1, MH_TAB_SIZE } from '../../../../src/ipvs/sched/mh.js';
import { hsiphashU32 } from '../../../../src/ipvs/sched/siphash.js';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../../../../src/ipvs/service.js';
import { addDest, delDest, dest, flow, ip, nameOf, service } from './sched-fixtures.js';

function slotCounts(mh: MaglevHashing): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < MH_TAB_SIZE; i++) {
    const n = nameOf(mh.slot(i));
    m.set(n, (m.get(n) ?? 0) + 1);
  }
  return m;
}

const snapshot = (mh: MaglevHashing): (Dest | null)[] => Array.from({ length: MH_TAB_SIZE }, (_, i) => mh.slot(i));

test('mh: the table has 4093 slots, claimed one per dest per round in list order', () => {
  const mh = new MaglevHashing();
  service(
    mh,
    Array.from({ length: 10 }, (_, i) => dest(`D${i}`)),
  );
  // 4093 = 409 × 10 + 3: rounds give 409 each, the 410th round stops after D0, D1, D2
  const c = slotCounts(mh);
  for (let i = 0; i < 10; i++) assert.equal(c.get(`D${i}`), i < 3 ? 410 : 409, `D${i}`);
  assert.equal(c.get('null'), undefined);
});

test('mh: the first dest in list order owns its preferred slot h1(port + addr) mod 4093', () => {
  const mh = new MaglevHashing();
  const ds = [dest('A'), dest('B'), dest('C')];
  service(mh, ds);
  const offset = (d: Dest) => (hsiphashU32(MH_KEY1, (d.port + d.addr) | 0) >>> 0) % MH_TAB_SIZE;
  assert.equal(mh.slot(offset(ds[0])), ds[0]);
  if (offset(ds[1]) !== offset(ds[0])) assert.equal(mh.slot(offset(ds[1])), ds[1]);
});

test('mh: turns follow the weights divided by their gcd', () => {
  const mh = new MaglevHashing();
  service(mh, [dest('A', { weight: 2 }), dest('B', { weight: 4 })]);
  // turns 1 and 2: 4093 = 3 × 1364 + 1 → A 1365, B 2728
  assert.deepEqual([...slotCounts(mh)].sort(), [
    ['A', 1365],
    ['B', 2728],
  ]);
});

test('mh: large weight ratios are shifted to fit 6 bits (1 and 200 → turns 1 and 50)', () => {
  const mh = new MaglevHashing();
  service(mh, [dest('A', { weight: 1 }), dest('B', { weight: 200 })]);
  // fls(200) = 8 → shift 2: A (1 >> 2 = 0 → 1), B 50; 4093 = 80 × 51 + 13 → A 81, B 4012
  assert.deepEqual([...slotCounts(mh)].sort(), [
    ['A', 81],
    ['B', 4012],
  ]);
});

test('mh: removing one of 10 servers moves its slots and at most ~1/N more', () => {
  const mh = new MaglevHashing();
  const ds = Array.from({ length: 10 }, (_, i) => dest(`D${i}`));
  const victim = ds[4];
  const svc = service(mh, ds.slice());
  const before = snapshot(mh);
  delDest(svc, victim);
  const after = snapshot(mh);
  let moved = 0;
  for (let i = 0; i < MH_TAB_SIZE; i++) {
    if (before[i] === victim) assert.notEqual(after[i], victim);
    if (after[i] !== before[i]) moved++;
  }
  assert.ok(moved >= 409, `moved ${moved}`); // the victim's own slots must move
  assert.ok(moved <= Math.ceil((MH_TAB_SIZE * 1.2) / 10), `moved ${moved} of ${MH_TAB_SIZE}`);
});

test('mh: removing one of 10 servers remaps about 1/10 of 20,000 clients', () => {
  const ds = Array.from({ length: 10 }, (_, i) => dest(`E${i}`));
  const victim = ds[7];
  const mh = new MaglevHashing();
  const svc = service(mh, ds.slice());
  const f = flow(0);
  const addrOf = (i: number) => (0x64400000 + i * 7919) | 0;
  const was: (Dest | null)[] = [];
  for (let i = 0; i < 20_000; i++) {
    f.caddr = addrOf(i);
    was.push(mh.schedule(svc, f, 0));
  }
  delDest(svc, victim);
  let moved = 0;
  for (let i = 0; i < 20_000; i++) {
    f.caddr = addrOf(i);
    const now = mh.schedule(svc, f, 0);
    if (was[i] === victim) assert.notEqual(now, victim);
    if (now !== was[i]) moved++;
  }
  assert.ok(moved >= 20_000 * 0.08 && moved <= 20_000 * 0.12, `clients moved ${moved}`);
});

test('mh: setting a weight to 0 keeps the table (last weight) and makes the dest unusable', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const mh = new MaglevHashing();
  const svc = service(mh, [a, b, c]);
  const before = snapshot(mh);
  b.weight = 0;
  mh.destsChanged(svc);
  assert.deepEqual(snapshot(mh), before);
  let nulls = 0;
  const f = flow(0);
  for (let i = 0; i < 3000; i++) {
    f.caddr = (0x0a000000 + i) | 0;
    const want = before[mh.slotOf(f.caddr, 0)];
    const got = mh.schedule(svc, f, 0);
    if (want === b) {
      assert.equal(got, null);
      nulls++;
    } else assert.equal(got, want);
  }
  assert.ok(nulls > 0);
  b.weight = 1;
  mh.destsChanged(svc);
  assert.deepEqual(snapshot(mh), before);
});

test('mh: a dest added with weight 0 takes no slot', () => {
  const mh = new MaglevHashing();
  const svc = service(mh, [dest('A'), dest('B')]);
  addDest(svc, dest('Z', { weight: 0 }));
  assert.deepEqual([...slotCounts(mh)].sort(), [
    ['A', 2047],
    ['B', 2046],
  ]);
});

test('mh-fallback: clients of an unusable dest go to h1(slot + i + port + addr), others stay', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const mh = new MaglevHashing(SCHED_FLAG_1);
  const svc = service(mh, [a, b, c]);
  const table = snapshot(mh);
  b.overloaded = true;
  const f = flow(0);
  for (let i = 0; i < 3000; i++) {
    f.caddr = (0x0a000000 + i) | 0;
    const slot = mh.slotOf(f.caddr, 0);
    let want = table[slot];
    for (let k = 0; want === b; k++) {
      want = table[(hsiphashU32(MH_KEY1, (((k + slot) % MH_TAB_SIZE) + f.caddr) | 0) >>> 0) % MH_TAB_SIZE];
    }
    assert.equal(mh.schedule(svc, f, 0), want);
  }
  a.overloaded = true;
  c.weight = 0;
  mh.destsChanged(svc);
  assert.equal(mh.schedule(svc, f, 0), null); // every slot unusable: the scan ends empty-handed
});

test('mh-port: the client source port is part of the key', () => {
  const mh = new MaglevHashing(SCHED_FLAG_2);
  const svc = service(
    mh,
    Array.from({ length: 8 }, (_, i) => dest(`D${i}`)),
  );
  const seen = new Set<Dest | null>();
  const f = flow(ip('10.0.0.1'));
  for (let port = 1000; port < 1100; port++) {
    f.cport = port;
    const d = mh.schedule(svc, f, 0);
    assert.equal(d, mh.slot(mh.slotOf(f.caddr, port)));
    seen.add(d);
  }
  assert.ok(seen.size > 1);
  const plain = new MaglevHashing();
  const svc2 = service(plain, svc.dests);
  const first = plain.schedule(svc2, f, 0);
  f.cport = 5;
  assert.equal(plain.schedule(svc2, f, 0), first);
});

test('mh: an empty service or all last weights 0 gives an empty table', () => {
  const mh = new MaglevHashing();
  const svc = service(mh, []);
  assert.equal(mh.schedule(svc, flow(1), 0), null);
  addDest(svc, dest('Z', { weight: 0 }));
  assert.equal(mh.slot(0), null);
  assert.equal(mh.schedule(svc, flow(1), 0), null);
});
