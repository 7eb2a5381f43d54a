import assert from 'node:assert/strict';
import test from 'node:test';
import { MH_KEY1, MH_KEY2 } from '../../../../src/ipvs/sched/mh.js';
import { hsiphashU32, SipKey, siphash } from '../../../../src/ipvs/sched/siphash.js';

const seq = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
const KEY = SipKey.fromBytes(seq(16)); // 00 01 .. 0f, as in the paper and lib/siphash_kunit.c
const hex64 = ([hi, lo]: [number, number]) => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');

test('siphash-2-4: the SipHash paper vector (15-byte message 00..0e) is a129ca6149be45e5', () => {
  assert.equal(hex64(siphash(2, 4, KEY, seq(15))), 'a129ca6149be45e5');
});

test('siphash-2-4: reference vectors for 0, 1, 7, 8, 16 and 63 bytes', () => {
  // veorq/SipHash vectors.h, as u64 (also lib/siphash_kunit.c test_vectors_siphash)
  assert.equal(hex64(siphash(2, 4, KEY, seq(0))), '726fdb47dd0e0e31');
  assert.equal(hex64(siphash(2, 4, KEY, seq(1))), '74f839c593dc67fd');
  assert.equal(hex64(siphash(2, 4, KEY, seq(7))), 'ab0200f58b01d137');
  assert.equal(hex64(siphash(2, 4, KEY, seq(8))), '93f5f5799a932462');
  assert.equal(hex64(siphash(2, 4, KEY, seq(16))), '3f2acc7f57c29bdb');
  assert.equal(hex64(siphash(2, 4, KEY, seq(63))), '958a324ceb064572');
});

test('siphash-1-3 low 32 bits equals the 64-bit kernel hsiphash vectors', () => {
  // lib/siphash_kunit.c test_vectors_hsiphash (BITS_PER_LONG == 64)
  const want: [number, number][] = [
    [0, 0x050fc4dc],
    [1, 0x7d57ca93],
    [4, 0x88d38328],
    [7, 0x9bb11140],
    [8, 0x8d299a8e],
    [15, 0x2a519956],
    [16, 0x7d908b66],
    [63, 0xb7bbb3a8],
  ];
  for (const [len, v] of want) assert.equal(siphash(1, 3, KEY, seq(len))[1], v, `len ${len}`);
});

test('hsiphashU32: the 4-byte fast path gives hsiphash_1u32(0x03020100) = 0x88d38328', () => {
  assert.equal(hsiphashU32(KEY, 0x03020100) >>> 0, 0x88d38328);
});

test('hsiphashU32 agrees with the generic SipHash-1-3 on random words, with mh keys too', () => {
  const mhKeyBytes = (w: number) => {
    const b = new Uint8Array(16);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, w, true); // key[0] = w as a 64-bit little-endian word
    dv.setUint32(8, w, true); // key[1] = w
    return SipKey.fromBytes(b);
  };
  const k1 = mhKeyBytes(2654435761),
    k2 = mhKeyBytes(2654446892);
  let x = 12345;
  for (let i = 0; i < 500; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    const msg = new Uint8Array(4);
    new DataView(msg.buffer).setInt32(0, x, true);
    assert.equal(hsiphashU32(KEY, x) >>> 0, siphash(1, 3, KEY, msg)[1]);
    assert.equal(hsiphashU32(MH_KEY1, x) >>> 0, siphash(1, 3, k1, msg)[1]);
    assert.equal(hsiphashU32(MH_KEY2, x) >>> 0, siphash(1, 3, k2, msg)[1]);
  }
});
