import assert from 'node:assert/strict';
import test from 'node:test';
import { hash32 } from '../../../../src/ipvs/sched/hash.js';
import { SourceHashing } from '../../../../src/ipvs/sched/sh.js';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../../../../src/ipvs/service.js';
import { IPPROTO_UDP } from '../../../../src/packet/ipv4.js';
import { delDest, dest, flow, ip, nameOf, service } from './sched-fixtures.js';

// Client hashes (hash_32(addr, 8), see hash.test.ts): 10.0.0.1 → 39, 10.0.0.2 → 137,
// 10.0.0.3 → 235; with sh-port, hash_32(addr + port, 8): 10.0.0.1 + 1 = 10.0.0.2 → 137.
const client = (a: string, port = 40000) => flow(ip(a), port);

test('sh: each dest takes `weight` consecutive buckets, quiesced ones still one', () => {
  const sh = new SourceHashing();
  service(sh, [dest('A', { weight: 3 }), dest('B', { weight: 1 }), dest('C', { weight: 0 })]);
  const first = Array.from({ length: 11 }, (_, i) => nameOf(sh.bucket(i)));
  assert.deepEqual(first, ['A', 'A', 'A', 'B', 'C', 'A', 'A', 'A', 'B', 'C', 'A']);
  assert.equal(nameOf(sh.bucket(255)), 'A'); // 255 = 5 × 51: the cycle restarts with A
});

test('sh: one client address always reaches the same server, whatever its port', () => {
  const svc = service(new SourceHashing(), [dest('A'), dest('B'), dest('C')]);
  const s = svc.scheduler;
  for (const port of [1, 40000, 65535]) {
    assert.equal(nameOf(s.schedule(svc, client('10.0.0.1', port), 0)), 'A'); // 39 mod 3
    assert.equal(nameOf(s.schedule(svc, client('10.0.0.2', port), 0)), 'C'); // 137 mod 3
    assert.equal(nameOf(s.schedule(svc, client('10.0.0.3', port), 0)), 'B'); // 235 mod 3
  }
});

test('sh-port: the source port is added to the address before hashing (TCP/UDP only)', () => {
  const svc = service(new SourceHashing(SCHED_FLAG_2), [dest('A'), dest('B'), dest('C')]);
  const s = svc.scheduler;
  assert.equal(nameOf(s.schedule(svc, client('10.0.0.1', 1), 0)), 'C'); // like 10.0.0.2: 137
  assert.equal(nameOf(s.schedule(svc, client('10.0.0.1', 2), 0)), 'B'); // like 10.0.0.3: 235
  const udp = flow(ip('10.0.0.1'), 1, ip('192.0.2.10'), 80, IPPROTO_UDP);
  assert.equal(nameOf(s.schedule(svc, udp, 0)), 'C');
  const icmp = flow(ip('10.0.0.1'), 1, ip('192.0.2.10'), 0, 1);
  assert.equal(nameOf(s.schedule(svc, icmp, 0)), 'A'); // no ports: port 0 → 39
});

test('sh: removing a server refills by position (Linux behaviour, not consistent hashing)', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const svc = service(new SourceHashing(), [a, b, c]);
  delDest(svc, b); // buckets alternate A, C
  assert.equal(nameOf(svc.scheduler.schedule(svc, client('10.0.0.1'), 0)), 'C'); // 39 odd
  assert.equal(nameOf(svc.scheduler.schedule(svc, client('10.0.0.2'), 0)), 'C'); // 137 odd
  assert.equal(nameOf(svc.scheduler.schedule(svc, client('198.51.100.7'), 0)), 'C'); // 171
  assert.equal(nameOf(svc.scheduler.schedule(svc, client('203.0.113.9'), 0)), 'A'); // 64 even
});

test('sh: without sh-fallback an unusable server means no destination', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const svc = service(new SourceHashing(), [a, b, c]);
  a.overloaded = true;
  assert.equal(svc.scheduler.schedule(svc, client('10.0.0.1'), 0), null);
  a.overloaded = false;
  a.weight = 0;
  svc.scheduler.destsChanged(svc);
  assert.equal(svc.scheduler.schedule(svc, client('10.0.0.1'), 0), null);
});

test('sh-fallback: only the clients of a quiesced server move, to bucket (i + h + h) mod 256', () => {
  const a = dest('A'),
    b = dest('B'),
    c = dest('C');
  const svc = service(new SourceHashing(SCHED_FLAG_1), [a, b, c]);
  const before = new Map<number, string>();
  for (let i = 0; i < 2000; i++) {
    const f = client(`172.16.${i >> 8}.${i & 255}`);
    before.set(i, nameOf(svc.scheduler.schedule(svc, f, 0)));
  }
  b.weight = 0; // all weights ≤ 1: the rebuilt table is the same
  svc.scheduler.destsChanged(svc);
  for (let i = 0; i < 2000; i++) {
    const f = client(`172.16.${i >> 8}.${i & 255}`);
    const now = nameOf(svc.scheduler.schedule(svc, f, 0));
    if (before.get(i) !== 'B') {
      assert.equal(now, before.get(i));
    } else {
      // first try: bucket (0 + h + h) & 255; buckets are A, B, C by index mod 3
      const h = hash32(f.caddr, 8);
      let k = 0;
      let want = '';
      for (; ; k++) {
        want = ['A', 'B', 'C'][((((k + h) & 255) + h) & 255) % 3];
        if (want !== 'B') break;
      }
      assert.equal(now, want);
    }
  }
  // 10.0.0.3 hashes to 235 → B; the fallback starts at (235 + 235) & 255 = 214 → B (214 mod 3 = 1),
  // then 215 → C
  assert.equal(nameOf(svc.scheduler.schedule(svc, client('10.0.0.3'), 0)), 'C');
});

test('sh-fallback: an empty table still gives no destination', () => {
  const svc = service(new SourceHashing(SCHED_FLAG_1), []);
  assert.equal(svc.scheduler.schedule(svc, client('10.0.0.1'), 0), null);
});
