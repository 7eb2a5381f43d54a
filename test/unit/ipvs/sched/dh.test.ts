import assert from 'node:assert/strict';
import test from 'node:test';
import { DestinationHashing } from '../../../../src/ipvs/sched/dh.js';
import { addDest, delDest, dest, flow, ip, nameOf, service } from './sched-fixtures.js';

// dh buckets are filled round-robin in list order (bucket i → dests[i mod n]) and keyed by
// hash_32(destination IP, 8): 10.0.0.1 → 39, 10.0.0.2 → 137, 10.0.0.3 → 235 (see hash.test.ts).
const toDst = (vaddr: string) => flow(ip('198.51.100.1'), 40000, ip(vaddr));

test('dh: the packet destination IP picks the bucket; the client does not matter', () => {
  const svc = service(new DestinationHashing(), [dest('A'), dest('B'), dest('C')]);
  const s = svc.scheduler;
  assert.equal(nameOf(s.schedule(svc, toDst('10.0.0.1'), 0)), 'A'); // 39 mod 3 = 0
  assert.equal(nameOf(s.schedule(svc, toDst('10.0.0.2'), 0)), 'C'); // 137 mod 3 = 2
  assert.equal(nameOf(s.schedule(svc, toDst('10.0.0.3'), 0)), 'B'); // 235 mod 3 = 1
  const other = flow(ip('203.0.113.99'), 1234, ip('10.0.0.1'));
  for (let i = 0; i < 5; i++) assert.equal(nameOf(s.schedule(svc, other, 0)), 'A');
});

test('dh: weights are ignored when filling the table', () => {
  const dh = new DestinationHashing();
  service(dh, [dest('A', { weight: 100 }), dest('B', { weight: 1 })]);
  const names = Array.from({ length: 6 }, (_, i) => nameOf(dh.bucket(i)));
  assert.deepEqual(names, ['A', 'B', 'A', 'B', 'A', 'B']);
  assert.equal(nameOf(dh.bucket(255)), 'B');
});

test('dh: removing a server refills by position (Linux behaviour, not consistent hashing)', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const dh = new DestinationHashing();
  const svc = service(dh, [a, b, c]);
  delDest(svc, b);
  // buckets now alternate A, C: 39 → C (was A), 137 → C (was C), 235 → C (was B)
  assert.equal(nameOf(dh.schedule(svc, toDst('10.0.0.1'), 0)), 'C');
  assert.equal(nameOf(dh.schedule(svc, toDst('10.0.0.2'), 0)), 'C');
  assert.equal(nameOf(dh.schedule(svc, toDst('10.0.0.3'), 0)), 'C');
  addDest(svc, b); // back at the head: B, A, C
  assert.equal(nameOf(dh.schedule(svc, toDst('10.0.0.1'), 0)), 'B');
});

test('dh: an unusable bucket dest gives no destination (no fallback)', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const svc = service(new DestinationHashing(), [a, b, c]);
  const f = toDst('10.0.0.1');
  a.weight = 0;
  svc.scheduler.destsChanged(svc);
  assert.equal(svc.scheduler.schedule(svc, f, 0), null);
  a.weight = 1;
  a.overloaded = true;
  assert.equal(svc.scheduler.schedule(svc, f, 0), null);
  a.overloaded = false;
  assert.equal(nameOf(svc.scheduler.schedule(svc, f, 0)), 'A');
  const empty = service(new DestinationHashing(), []);
  assert.equal(empty.scheduler.schedule(empty, f, 0), null);
});
