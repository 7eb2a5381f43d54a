/**
 * IPv4 fragmentation: RFC 791 field rules checked on every fragment with a full checksum
 * recomputation, option copying, DF, MTU limits, fragmenting a fragment, and a round trip through
 * the Reassembler over seeded random sizes, MTUs, options and arrival orders.
 */
import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Defrag, Reassembler } from '../../../src/dataplane/defrag.js';
import {
  copyBytes,
  countFragments,
  FRAG_IGNORE_DF,
  Frag,
  FragmentBuffer,
  type FragmentSink,
  fragmentInto,
} from '../../../src/dataplane/fragment.js';
import { checksum } from '../../../src/packet/checksum.js';

function rnd(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** A datagram with a valid header checksum and seeded payload; `fragWord` as given. */
function datagram(
  payloadLen: number,
  o: { options?: number[]; fragWord?: number; id?: number; seed?: number } = {},
): Uint8Array {
  const opts = o.options ?? [];
  assert.equal(opts.length % 4, 0);
  const hl = 20 + opts.length;
  const d = new Uint8Array(hl + payloadLen);
  const dv = new DataView(d.buffer);
  d[0] = 0x40 | (hl >> 2);
  d[1] = 0xb8;
  dv.setUint16(2, d.length);
  dv.setUint16(4, o.id ?? 0xabcd);
  dv.setUint16(6, o.fragWord ?? 0);
  d[8] = 61;
  d[9] = 17;
  dv.setInt32(12, 0xc6336401 | 0);
  dv.setInt32(16, 0x0a000002);
  d.set(opts, 20);
  dv.setUint16(10, checksum(d, 0, hl));
  const r = rnd(o.seed ?? 1);
  for (let i = hl; i < d.length; i++) d[i] = r() & 0xff;
  return d;
}

interface Piece {
  bytes: Uint8Array;
  hl: number;
  off: number;
  mf: boolean;
  df: boolean;
  data: Uint8Array;
}

function pieces(fb: FragmentBuffer): Piece[] {
  const out: Piece[] = [];
  for (let i = 0; i < fb.count; i++) {
    const bytes = fb.buf.slice(fb.offsets[i], fb.offsets[i] + fb.lengths[i]);
    const hl = (bytes[0] & 15) << 2;
    const word = (bytes[6] << 8) | bytes[7];
    out.push({
      bytes,
      hl,
      off: (word & 0x1fff) * 8,
      mf: (word & 0x2000) !== 0,
      df: (word & 0x4000) !== 0,
      data: bytes.subarray(hl),
    });
  }
  return out;
}

/** Every RFC 791 rule a fragment set must follow, for datagram d cut at `mtu`. */
function assertValidFragments(d: Uint8Array, ps: Piece[], mtu: number): void {
  const dhl = (d[0] & 15) << 2;
  const dword = (d[6] << 8) | d[7];
  const baseOff = (dword & 0x1fff) * 8;
  let next = baseOff;
  const data: number[] = [];
  ps.forEach((p, i) => {
    const last = i === ps.length - 1;
    assert.ok(p.bytes.length <= mtu, `fragment ${i} is ${p.bytes.length} > ${mtu}`);
    assert.equal(p.bytes[0] >> 4, 4);
    assert.equal((p.bytes[2] << 8) | p.bytes[3], p.bytes.length, 'total length');
    assert.equal(checksum(p.bytes, 0, p.hl), 0, `header checksum of fragment ${i}`);
    for (const k of [1, 4, 5, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19]) assert.equal(p.bytes[k], d[k], `header byte ${k}`);
    assert.equal(p.off, next, 'offsets follow each other');
    if (!last) {
      assert.ok(p.mf, 'MF on all but the last');
      assert.equal(p.data.length % 8, 0, 'non-last data is a multiple of 8');
    } else {
      assert.equal(p.mf, (dword & 0x2000) !== 0, 'the last keeps the original MF');
    }
    if (i === 0) assert.deepEqual(p.bytes.subarray(20, p.hl), d.subarray(20, dhl), 'first fragment keeps all options');
    next += p.data.length;
    for (const b of p.data) data.push(b);
  });
  assert.deepEqual(Uint8Array.from(data), d.subarray(dhl));
}

test('copyBytes copies exactly len bytes for every alignment and length 0..100, touching nothing else', () => {
  const rng = rnd(5);
  const src = new Uint8Array(256).map(() => rng() & 0xff);
  const base = new Uint8Array(256).fill(0xee);
  for (let len = 0; len <= 100; len++) {
    for (let so = 0; so < 4; so++) {
      for (let dof = 0; dof < 4; dof++) {
        const dst = base.slice();
        const at = 10 + dof,
          from = 3 + so;
        copyBytes(src, from, dst, at, len);
        const want = base.slice();
        want.set(src.subarray(from, from + len), at);
        assert.deepEqual(dst, want, `len ${len} src+${so} dst+${dof}`);
      }
    }
  }
});

test('a datagram that fits the MTU is emitted once, unchanged, even with DF', () => {
  const fb = new FragmentBuffer(4096, 8);
  const d = datagram(1480, { fragWord: 0x4000 });
  assert.equal(fragmentInto(d, 0, d.length, 1500, fb), 1);
  assert.deepEqual(fb.buf.subarray(0, fb.lengths[0]), d);
  assert.equal(countFragments(d, 0, d.length, 1500), 1);
});

test('splits into fragments of at most the MTU: multiple-of-8 data, MF on all but the last, offsets in 8-byte units', () => {
  const fb = new FragmentBuffer(16384, 16);
  const d = datagram(4000);
  const n = fragmentInto(d, 0, d.length, 1500, fb);
  assert.equal(n, 3);
  const ps = pieces(fb);
  assert.deepEqual(
    ps.map((p) => [p.bytes.length, p.off, p.mf]),
    [
      [1500, 0, true],
      [1500, 1480, true],
      [1060, 2960, false],
    ],
  );
  assert.deepEqual(
    ps.map((p) => (p.bytes[6] << 8) | p.bytes[7]),
    [0x2000, 0x2000 | 185, 370],
  );
  assertValidFragments(d, ps, 1500);
});

test('an MTU that is not 8-aligned past the header leaves fragments shorter than the MTU', () => {
  const fb = new FragmentBuffer(16384, 16);
  const d = datagram(1000);
  assert.equal(fragmentInto(d, 0, d.length, 577, fb), 2);
  const ps = pieces(fb);
  assert.equal(ps[0].bytes.length, 20 + 552); // (577 - 20) rounded down to 8
  assertValidFragments(d, ps, 577);
});

test('DF set and too big: DontFragment, nothing emitted', () => {
  const fb = new FragmentBuffer(16384, 16);
  const d = datagram(2000, { fragWord: 0x4000 });
  assert.equal(fragmentInto(d, 0, d.length, 1500, fb), Frag.DontFragment);
  assert.equal(fb.count, 0);
  assert.equal(countFragments(d, 0, d.length, 1500), Frag.DontFragment);
});

test('FRAG_IGNORE_DF fragments a reassembled DF datagram and keeps DF on every fragment', () => {
  const fb = new FragmentBuffer(16384, 16);
  const d = datagram(2000, { fragWord: 0x4000 });
  assert.equal(fragmentInto(d, 0, d.length, 1500, fb, FRAG_IGNORE_DF), 2);
  const ps = pieces(fb);
  assert.ok(ps.every((p) => p.df));
  assertValidFragments(d, ps, 1500);
});

test('an MTU below 68 is refused; 68 works even with a 60-byte header', () => {
  const fb = new FragmentBuffer(65536, 4096);
  const d = datagram(200);
  assert.equal(fragmentInto(d, 0, d.length, 67, fb), Frag.MtuTooSmall);
  assert.equal(countFragments(d, 0, d.length, 67), Frag.MtuTooSmall);
  const opts = [0x83, 39, 4, ...new Array(36).fill(7), 0]; // LSRR with 9 addresses: 60-byte header
  const big = datagram(100, { options: opts });
  const n = fragmentInto(big, 0, big.length, 68, fb);
  assert.equal(n, countFragments(big, 0, big.length, 68));
  const ps = pieces(fb);
  assert.equal(ps[0].bytes.length, 68);
  assert.ok(
    ps.every((p) => p.hl === 60),
    'LSRR is copied: every fragment has the full header',
  );
  assertValidFragments(big, ps, 68);
});

test('options: the first fragment keeps all; later ones keep only copied options, padded to 4 bytes', () => {
  const fb = new FragmentBuffer(16384, 16);
  const rr = [7, 7, 4, 0, 0, 0, 0]; // record route: not copied
  const nop = [1];
  const lsrr = [0x83, 7, 4, 10, 0, 0, 9]; // copied
  const ra = [0x94, 4, 0, 0]; // router alert: copied
  const ts = [0x44, 4, 5, 0]; // timestamp (empty): not copied
  const opts = [...rr, ...nop, ...lsrr, ...ra, ...ts, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // 23 bytes + EOL padding = 32
  assert.equal(opts.length, 32);
  const d = datagram(3000, { options: opts });
  const n = fragmentInto(d, 0, d.length, 1000, fb);
  assert.equal(n, countFragments(d, 0, d.length, 1000));
  const ps = pieces(fb);
  assert.equal(ps[0].hl, 52);
  const later = Uint8Array.from([...lsrr, ...ra, 0]); // 11 bytes + 1 EOL = 12
  for (const p of ps.slice(1)) {
    assert.equal(p.hl, 32);
    assert.deepEqual(p.bytes.subarray(20, 32), later);
  }
  assertValidFragments(d, ps, 1000);
});

test('malformed options (a length past the header, or below 2) return BadOptions', () => {
  const fb = new FragmentBuffer(16384, 16);
  const past = datagram(2000, { options: [0x83, 9, 4, 0] });
  assert.equal(fragmentInto(past, 0, past.length, 576, fb), Frag.BadOptions);
  const short = datagram(2000, { options: [0x94, 1, 0, 0] });
  assert.equal(fragmentInto(short, 0, short.length, 576, fb), Frag.BadOptions);
  const dangling = datagram(2000, { options: [1, 1, 1, 0x94] });
  assert.equal(fragmentInto(dangling, 0, dangling.length, 576, fb), Frag.BadOptions);
  assert.equal(fb.count, 0);
});

test('fragmenting a fragment continues its offset and keeps its MF on the last piece', () => {
  const fb = new FragmentBuffer(16384, 16);
  const mid = datagram(1480, { fragWord: 0x2000 | 185 }); // offset 1480, MF
  assert.equal(fragmentInto(mid, 0, mid.length, 600, fb), 3);
  const ps = pieces(fb);
  assert.deepEqual(
    ps.map((p) => [p.off, p.mf]),
    [
      [1480, true],
      [2056, true],
      [2632, true],
    ],
  );
  assertValidFragments(mid, ps, 600);
  fb.reset();
  const tail = datagram(1000, { fragWord: 370 }); // offset 2960, last
  assert.equal(fragmentInto(tail, 0, tail.length, 600, fb), 2);
  assert.deepEqual(
    pieces(fb).map((p) => [p.off, p.mf]),
    [
      [2960, true],
      [3536, false],
    ],
  );
});

test('a sink that runs out of room stops fragmentation with NoRoom', () => {
  const fb = new FragmentBuffer(16384, 2);
  const d = datagram(4000);
  assert.equal(fragmentInto(d, 0, d.length, 1500, fb), Frag.NoRoom);
  assert.equal(fb.count, 2);
});

test('fragments go where the sink says, e.g. TX ring slots at an offset inside a larger buffer', () => {
  const ring = new Uint8Array(8 * 2048);
  let slot = 0;
  const sink: FragmentSink = {
    buf: ring,
    reserve: (len) => (slot < 8 && len <= 2048 - 14 ? slot * 2048 + 14 : -1),
    commit: (off) => {
      assert.equal(off, slot * 2048 + 14);
      slot++;
    },
  };
  const d = datagram(5000, { seed: 4 });
  const src = new Uint8Array(100 + d.length);
  src.set(d, 100);
  assert.equal(fragmentInto(src, 100, d.length, 1500, sink), 4);
  const r = new Reassembler();
  let v = -1;
  for (let i = 0; i < slot; i++) {
    const off = i * 2048 + 14;
    v = r.add(ring, off, (ring[off + 2] << 8) | ring[off + 3], 0);
  }
  assert.equal(v, Defrag.Complete);
  assert.deepEqual(r.out.subarray(0, r.outLen), d);
});

test('round trip over 300 seeded random datagrams, MTUs, options and orders: bytes identical', () => {
  const rng = rnd(2024);
  const r = new Reassembler({ maxFragmentsPerDatagram: 8192 });
  const fb = new FragmentBuffer(200_000, 8192);
  const optionSets = [
    [],
    [0x94, 4, 0, 0],
    [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x83, 7, 4, 1, 2, 3, 4, 0],
    [0x82, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // security (copied), EOL-padded
  ];
  for (let t = 0; t < 300; t++) {
    const options = optionSets[rng() % optionSets.length];
    const len = 1 + (rng() % 20000);
    const d = datagram(len, { options, id: t, seed: t + 77 });
    const mtu = 68 + (rng() % 9000);
    fb.reset();
    const n = fragmentInto(d, 0, d.length, mtu, fb);
    assert.equal(n, countFragments(d, 0, d.length, mtu), `count, case ${t}`);
    const ps = pieces(fb);
    assertValidFragments(d, ps, mtu);
    if (n === 1) {
      assert.deepEqual(ps[0].bytes, d);
      continue;
    }
    const order = ps.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng() % (i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    let v = -1;
    for (let i = 0; i < order.length; i++) {
      const p = ps[order[i]];
      v = r.add(p.bytes, 0, p.bytes.length, 0);
      assert.equal(v, i === order.length - 1 ? Defrag.Complete : Defrag.Pending, `case ${t} piece ${i}/${n}`);
    }
    assert.equal(checksum(r.out, 0, (r.out[0] & 15) << 2), 0);
    assert.deepEqual(r.out.subarray(0, r.outLen), d, `case ${t}: len ${len} mtu ${mtu} options ${options.length}`);
  }
});

test('re-fragmenting a reassembled datagram at its largest fragment size reproduces the original fragments', () => {
  const d = datagram(7000, { seed: 9 });
  const first = new FragmentBuffer(20000, 16);
  assert.equal(fragmentInto(d, 0, d.length, 1500, first), 5);
  const r = new Reassembler();
  for (let i = 0; i < first.count; i++) r.add(first.buf, first.offsets[i], first.lengths[i], 0);
  const again = new FragmentBuffer(20000, 16);
  assert.equal(fragmentInto(r.out, 0, r.outLen, Math.min(9000, r.outMaxFragSize), again, FRAG_IGNORE_DF), 5);
  assert.deepEqual(again.buf.subarray(0, 7020 + 4 * 20), first.buf.subarray(0, 7020 + 4 * 20));
});

test('100k fragments out of fragmentInto grow the heap by almost nothing and cause no GC', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const d = datagram(9000, { options: [0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0] });
  const fb = new FragmentBuffer(20000, 64);
  const run = (times: number): number => {
    let n = 0;
    for (let i = 0; i < times; i++) {
      fb.reset();
      n += fragmentInto(d, 0, d.length, 1500 - (i & 7) * 100, fb);
    }
    return n;
  };
  run(20_000);
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  gc();
  const before = process.memoryUsage().heapUsed;
  obs.observe({ entryTypes: ['gc'] });
  const n = run(12_000);
  const after = process.memoryUsage().heapUsed;
  await new Promise((res) => setTimeout(res, 20));
  obs.disconnect();
  assert.ok(n >= 100_000, `fragments: ${n}`);
  assert.equal(gcs, 0, 'a garbage collection ran during the loop');
  assert.ok(after - before < 256 * 1024, `heap grew by ${after - before} bytes over ${n} fragments`);
});
