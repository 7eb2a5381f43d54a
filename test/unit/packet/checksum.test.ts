/**
 * Checksums against a plain reference implementation for every length 0..9001, and the RFC 1624
 * incremental updates against full recomputation over random rewrites.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checksum,
  csumApplyDelta,
  csumDelta16,
  csumDelta32,
  csumFinish,
  csumUpdate16,
  csumUpdate32,
  onesSum,
} from '../../../src/packet/checksum.js';

/** RFC 1071 the slow, obvious way. */
function reference(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) + (i + 1 < b.length ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

function rnd(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

test('checksum equals the reference for every length 0..9001 (random and all-0xff data)', () => {
  const r = rnd(99);
  const buf = new Uint8Array(9001);
  for (let i = 0; i < buf.length; i++) buf[i] = r() & 0xff;
  const ff = new Uint8Array(9001).fill(0xff);
  for (let n = 0; n <= 9001; n++) {
    assert.equal(checksum(buf, 0, n), reference(buf.subarray(0, n)), `len ${n}`);
    if (n % 97 === 0) assert.equal(checksum(ff, 0, n), reference(ff.subarray(0, n)), `ff len ${n}`);
  }
});

test('a buffer carrying its own checksum sums to zero', () => {
  const b = Uint8Array.from([
    0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 0x01, 0, 0, 0xc0, 0xa8, 0xde, 0x01, 0xc0, 0xa8, 0xde, 0x83,
  ]);
  const c = checksum(b, 0, 20);
  b[10] = c >> 8;
  b[11] = c & 0xff;
  assert.equal(checksum(b, 0, 20), 0);
});

test('RFC 1624 incremental updates equal full recomputation over 20,000 random rewrites', () => {
  const r = rnd(7);
  const b = new Uint8Array(64);
  for (let k = 0; k < 20_000; k++) {
    for (let i = 0; i < 64; i++) b[i] = r() & 0xff;
    const before = csumFinish(onesSum(b, 0, 64, 0));
    const off = (r() % 15) * 4;
    const old32 = (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3] | 0;
    const now32 = r() | 0;
    b[off] = now32 >>> 24;
    b[off + 1] = (now32 >>> 16) & 0xff;
    b[off + 2] = (now32 >>> 8) & 0xff;
    b[off + 3] = now32 & 0xff;
    const inc32 = csumUpdate32(before, old32, now32);
    const full = csumFinish(onesSum(b, 0, 64, 0));
    // One's complement has two zeros: 0x0000 and 0xffff are the same value.
    assert.ok(
      inc32 === full || ((inc32 ^ full) === 0xffff && (inc32 === 0 || inc32 === 0xffff)),
      `32-bit rewrite ${k}`,
    );
    const w = 62;
    const old16 = (b[w] << 8) | b[w + 1];
    const now16 = r() & 0xffff;
    b[w] = now16 >> 8;
    b[w + 1] = now16 & 0xff;
    const inc16 = csumUpdate16(full, old16, now16);
    const full2 = csumFinish(onesSum(b, 0, 64, 0));
    assert.ok(
      inc16 === full2 || ((inc16 ^ full2) === 0xffff && (inc16 === 0 || inc16 === 0xffff)),
      `16-bit rewrite ${k}`,
    );
  }
});

test('csumApplyDelta: the same bits as csumUpdate32/csumUpdate16 applied one field after another (200,000 random NAT rewrites, edge words included)', () => {
  const r = rnd(11);
  const edge = [0, 0xffff, 0xfffe, 1, 0x8000];
  /** A 16-bit word: now and then one of the values where one's complement's two zeros meet. */
  const word = (): number => (r() % 4 === 0 ? edge[r() % edge.length] : r() & 0xffff);
  const addr = (): number => (word() << 16) | word() | 0;
  for (let k = 0; k < 200_000; k++) {
    const sum = word();
    const fields: Array<[number, number, boolean]> = [
      [addr(), addr(), true],
      [addr(), addr(), true],
      [word(), word(), false],
      [word(), word(), false],
    ];
    let seq = sum,
      seqUdp = sum,
      delta = 0;
    for (const [old, now, wide] of fields) {
      if (r() % 3 === 0) continue; // an unchanged field is skipped by both
      seq = wide ? csumUpdate32(seq, old, now) : csumUpdate16(seq, old, now);
      seqUdp = (wide ? csumUpdate32(seqUdp, old, now) : csumUpdate16(seqUdp, old, now)) || 0xffff;
      delta += wide ? csumDelta32(old, now) : csumDelta16(old, now);
    }
    const once = csumApplyDelta(sum, delta);
    assert.equal(once, seq, `rewrite ${k}`);
    assert.equal(once || 0xffff, delta === 0 ? sum || 0xffff : seqUdp, `UDP rewrite ${k}`);
  }
});

test('csumDelta16 of a TTL decrement is 0xfeff for every TTL/protocol word with TTL > 1', () => {
  for (let ttl = 2; ttl < 256; ttl++) {
    for (const proto of [1, 6, 17, 47, 255]) {
      const w = (ttl << 8) | proto;
      assert.equal(csumDelta16(w, w - 0x100), 0xfeff);
    }
  }
});
