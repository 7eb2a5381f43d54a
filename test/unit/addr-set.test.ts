/** AddrSet against a Map over a long random sequence of sets, deletes and lookups (collisions, growth, rebuilds). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddrSet } from '../../src/addr-set.js';

test('AddrSet behaves like a Map<int32, value>', () => {
  const s = new AddrSet(4),
    m = new Map<number, number>();
  let x = 12345;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
  // A small key space forces collisions, re-sets and deletes of present keys; high-bit keys are int32 negatives.
  const keys = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? (0xc0a80000 + i) | 0 : next()) || 1);
  for (let i = 0; i < 20000; i++) {
    const k = keys[(next() >>> 0) % keys.length],
      op = (next() >>> 0) % 3;
    if (op === 0) {
      s.set(k, i);
      m.set(k, i);
    } else if (op === 1) assert.equal(s.delete(k), m.delete(k));
    else assert.equal(s.get(k), m.get(k) ?? -1);
    assert.equal(s.size, m.size);
  }
  for (const k of keys) assert.equal(s.get(k), m.get(k) ?? -1);
});

test('AddrSet refuses 0.0.0.0 and negative values; 0 is never found', () => {
  const s = new AddrSet();
  assert.throws(() => s.set(0, 1), RangeError);
  assert.throws(() => s.set(5, -1), RangeError);
  assert.equal(s.get(0), -1);
  assert.equal(s.has(0), false);
});
