import assert from 'node:assert/strict';
import test from 'node:test';
import { fls, gcd, hash32 } from '../../../../src/ipvs/sched/hash.js';
import { ip } from './sched-fixtures.js';

test('hash_32: 10.0.0.1 hashes to 39 in 8 bits (the docs/ipvs-behaviour.md example)', () => {
  assert.equal(hash32(ip('10.0.0.1'), 8), 39);
});

test('hash_32: values worked by hand from x × 0x61C88647 mod 2^32', () => {
  // 0x0A000002 × 0x61C88647 ≡ 0x89910C8E → top byte 0x89
  assert.equal(hash32(ip('10.0.0.2'), 8), 137);
  // 0x0A000003 × 0x61C88647 ≡ 0xEB5992D5 → top byte 0xEB, top 10 bits 0x3AD
  assert.equal(hash32(ip('10.0.0.3'), 8), 235);
  assert.equal(hash32(ip('10.0.0.3'), 10), 941);
  // addresses above 2^31 (int32 negative) hash like their uint32 value
  assert.equal(hash32(ip('192.168.1.10'), 8), hash32(0xc0a8010a, 8));
  assert.equal(hash32(0, 8), 0);
});

test('gcd and fls behave like the kernel helpers', () => {
  assert.equal(gcd(12, 18), 6);
  assert.equal(gcd(7, 3), 1);
  assert.equal(gcd(5, 5), 5);
  assert.equal(fls(0), 0);
  assert.equal(fls(1), 1);
  assert.equal(fls(200), 8);
  assert.equal(fls(0x80000000), 32);
});
