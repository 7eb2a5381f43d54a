/**
 * The connection table: both lookup directions, templates apart from connections, deletion
 * keeping probe chains intact (checked against a Map model under random churn), expiry by the
 * timing wheel with lazy re-arming, and the full-table refusal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnFlag, ConnTable } from '../../../src/ipvs/conn-table.js';
import { Fwd } from '../../../src/ipvs/dest.js';

function add(t: ConnTable, i: number, now: number, timeoutMs = 1000): number {
  const id = t.create(
    6,
    0x0a000000 + i,
    1000 + (i % 50000),
    0x0b000001,
    80,
    0x0c000000 + (i % 7),
    8080,
    0,
    0,
    timeoutMs,
    now,
  );
  if (id >= 0) t.hash(id);
  return id;
}

test('conn table: in and out lookups find the entry; other keys do not', () => {
  const t = new ConnTable(64);
  const id = add(t, 1, 0);
  assert.equal(t.lookupIn(6, 0x0a000001, 1001, 0x0b000001, 80, false), id);
  assert.equal(t.lookupOut(6, 0x0c000001, 8080, 0x0a000001, 1001), id);
  assert.equal(t.lookupIn(17, 0x0a000001, 1001, 0x0b000001, 80, false), -1);
  assert.equal(t.lookupIn(6, 0x0a000001, 1002, 0x0b000001, 80, false), -1);
  assert.equal(t.lookupIn(6, 0x0a000001, 1001, 0x0b000001, 80, true), -1, 'a connection is not a template');
});

test('conn table: replies match by method: from RIP:rport for NAT, from VIP:vport for DR, to laddr:lport for full NAT', () => {
  const t = new ConnTable(64);
  const VIP = 0x0b000001,
    RIP = 0x0c000001,
    LADDR = 0x0d000001;
  // Ports above 0x7fff and an address above 2^31 (negative int32) too: the key record packs them.
  const nat = t.create(6, 0x0a000001, 40000, VIP, 80, RIP, 8080, 0, 0, 1000, 0);
  t.hash(nat);
  const dr = t.create(6, 0x0a000002, 1002, VIP, 80, RIP, 80, 0, 0, 1000, 0);
  t.fwd[dr] = Fwd.ROUTE;
  t.hash(dr);
  const full = t.create(17, 0xc0a80001 | 0, 53000, VIP, 53, RIP, 5353, 0, 0, 1000, 0);
  t.fwd[full] = Fwd.FULLNAT;
  t.laddr[full] = LADDR;
  t.lport[full] = 61000;
  t.hash(full);
  assert.equal(t.lookupOut(6, RIP, 8080, 0x0a000001, 40000), nat);
  assert.equal(t.lookupOut(6, VIP, 80, 0x0a000001, 40000), -1, 'a NAT reply comes from the real server');
  assert.equal(t.lookupOut(6, VIP, 80, 0x0a000002, 1002), dr);
  assert.equal(t.lookupOut(6, RIP, 80, 0x0a000002, 1002), -1, 'a DR reply keeps the VIP as its source');
  assert.equal(t.lookupOut(17, RIP, 5353, LADDR, 61000), full);
  assert.equal(t.lookupOut(17, RIP, 5353, 0xc0a80001 | 0, 53000), -1, 'full NAT replies go to the local address');
  assert.equal(t.lookupOut(6, RIP, 5353, LADDR, 61000), -1, 'another protocol');
  assert.equal(t.lookupIn(17, 0xc0a80001 | 0, 53000, VIP, 53, false), full);
  assert.equal(t.lookupIn(17, 0xc0a80001 | 0, 53000, VIP, 54, false), -1);
});

test('conn table: templates are found only by template lookups and never by the out key', () => {
  const t = new ConnTable(64);
  const id = t.create(6, 0x0a000000, 0, 0x0b000001, 80, 0x0c000001, 80, 0, ConnFlag.TEMPLATE, 360_000, 0);
  t.hash(id);
  assert.equal(t.lookupIn(6, 0x0a000000, 0, 0x0b000001, 80, true), id);
  assert.equal(t.lookupIn(6, 0x0a000000, 0, 0x0b000001, 80, false), -1);
  assert.equal(t.lookupOut(6, 0x0c000001, 80, 0x0a000000, 0), -1);
});

test('conn table: random insert/remove churn agrees with a Map model (backward-shift deletion)', () => {
  const t = new ConnTable(4096);
  const model = new Map<number, number>();
  let x = 12345;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let step = 0; step < 50_000; step++) {
    const k = rnd() % 3000;
    const have = model.get(k);
    if (have === undefined) {
      const id = add(t, k, 0);
      assert.ok(id >= 0);
      model.set(k, id);
    } else {
      t.remove(have);
      model.delete(k);
    }
  }
  assert.equal(t.count, model.size);
  for (let k = 0; k < 3000; k++) {
    const want = model.get(k) ?? -1;
    assert.equal(t.lookupIn(6, 0x0a000000 + k, 1000 + k, 0x0b000001, 80, false), want, `in ${k}`);
    assert.equal(t.lookupOut(6, 0x0c000000 + (k % 7), 8080, 0x0a000000 + k, 1000 + k), want, `out ${k}`);
    // The fast path's lookup: both indexes, in either order, with the direction in the low bit.
    for (const outFirst of [false, true]) {
      assert.equal(t.lookupFlow(6, 0x0a000000 + k, 1000 + k, 0x0b000001, 80, outFirst), want < 0 ? -1 : want << 1);
      const reply = t.lookupFlow(6, 0x0c000000 + (k % 7), 8080, 0x0a000000 + k, 1000 + k, outFirst);
      assert.equal(reply, want < 0 ? -1 : (want << 1) | 1);
    }
  }
});

test('conn table: create() tells the create hook, so state kept per entry elsewhere starts afresh', () => {
  const t = new ConnTable(16);
  const created: number[] = [];
  t.setCreateHook((id) => created.push(id));
  const a = add(t, 1, 0);
  t.remove(a);
  const b = add(t, 2, 0);
  assert.deepEqual(created, [a, b]);
  assert.equal(a, b, 'the freed id is reused');
});

test('conn table: the wheel expires entries at their deadline, touched entries live on', () => {
  const t = new ConnTable(64);
  const expired: number[] = [];
  t.setExpireHook((id) => {
    expired.push(id);
    return true;
  });
  t.expire(0);
  const a = add(t, 1, 0, 2000);
  const b = add(t, 2, 0, 2000);
  t.expire(1500);
  t.touch(b, 1500); // b now expires at 3500
  t.expire(2100);
  assert.deepEqual(expired, [a]);
  assert.equal(t.lookupIn(6, 0x0a000001, 1001, 0x0b000001, 80, false), -1);
  t.expire(3400);
  assert.deepEqual(expired, [a]);
  t.expire(3700);
  assert.deepEqual(expired, [a, b]);
  assert.equal(t.count, 0);
});

test('conn table: a hook that re-arms keeps the entry; timeouts longer than the wheel span work', () => {
  const t = new ConnTable(64);
  let calls = 0;
  t.setExpireHook((id, now) => {
    calls++;
    if (calls === 1) {
      t.expiresAt[id] = now + 60_000;
      return false;
    }
    return true;
  });
  t.expire(0);
  add(t, 1, 0, 900_000); // 15 min: longer than the 409.6 s wheel
  t.expire(899_000);
  assert.equal(calls, 0);
  t.expire(900_200);
  assert.equal(calls, 1);
  assert.equal(t.count, 1);
  t.expire(960_300);
  assert.equal(calls, 2);
  assert.equal(t.count, 0);
});

test('conn table: a full table refuses new entries and accepts again after a removal', () => {
  const t = new ConnTable(16);
  const ids: number[] = [];
  for (let i = 0; i < 16; i++) ids.push(add(t, i, 0));
  assert.equal(add(t, 99, 0), -1);
  t.remove(ids[3]);
  assert.ok(add(t, 99, 0) >= 0);
});
