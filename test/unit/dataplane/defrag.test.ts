/**
 * IPv4 reassembly: orderings, duplicates, overlaps, timeouts, limits and eviction, malformed and
 * oversized fragments, keys. Fragments are cut here by hand (not by fragment.ts), and a complete
 * datagram must come out byte-identical to the one that was cut.
 */
import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Defrag, Reassembler } from '../../../src/dataplane/defrag.js';
import { checksum } from '../../../src/packet/checksum.js';

const SRC = 0x0a000001 | 0,
  DST = 0xc0a80164 | 0,
  UDP = 17,
  TCP = 6;

function rnd(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function shuffle<T>(a: T[], r: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = r() % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

interface DgramOpts {
  src?: number;
  dst?: number;
  id?: number;
  proto?: number;
  tos?: number;
  ttl?: number;
  options?: number[];
  seed?: number;
}

/** A whole datagram (MF=0, offset 0, DF clear) with a valid header checksum and seeded payload. */
function datagram(payloadLen: number, o: DgramOpts = {}): Uint8Array {
  const opts = o.options ?? [];
  assert.equal(opts.length % 4, 0);
  const hl = 20 + opts.length;
  const d = new Uint8Array(hl + payloadLen);
  const dv = new DataView(d.buffer);
  d[0] = 0x40 | (hl >> 2);
  d[1] = o.tos ?? 0;
  dv.setUint16(2, d.length);
  dv.setUint16(4, o.id ?? 0x1234);
  d[8] = o.ttl ?? 64;
  d[9] = o.proto ?? UDP;
  dv.setInt32(12, o.src ?? SRC);
  dv.setInt32(16, o.dst ?? DST);
  d.set(opts, 20);
  dv.setUint16(10, checksum(d, 0, hl));
  const r = rnd(o.seed ?? 7);
  for (let i = hl; i < d.length; i++) d[i] = r() & 0xff;
  return d;
}

function hlenOf(d: Uint8Array): number {
  return (d[0] & 15) << 2;
}

/** A fragment of `d` holding payload [off, off + data.length) = `data`, with d's header. */
function fragWith(
  d: Uint8Array,
  off: number,
  data: Uint8Array,
  mf: boolean,
  extra: { df?: boolean; tos?: number } = {},
): Uint8Array {
  const hl = hlenOf(d);
  const f = new Uint8Array(hl + data.length);
  f.set(d.subarray(0, hl), 0);
  f.set(data, hl);
  const dv = new DataView(f.buffer);
  dv.setUint16(2, f.length);
  dv.setUint16(6, (extra.df === true ? 0x4000 : 0) | (mf ? 0x2000 : 0) | (off >> 3));
  if (extra.tos !== undefined) f[1] = extra.tos;
  dv.setUint16(10, 0);
  dv.setUint16(10, checksum(f, 0, hl));
  return f;
}

/** Fragment of d carrying its own payload bytes [off, off + len); MF unless it reaches the end. */
function frag(
  d: Uint8Array,
  off: number,
  len: number,
  extra: { df?: boolean; tos?: number; mf?: boolean } = {},
): Uint8Array {
  const hl = hlenOf(d);
  const end = off + len;
  const mf = extra.mf ?? end < d.length - hl;
  return fragWith(d, off, d.subarray(hl + off, hl + end), mf, extra);
}

/** Splits d's payload into pieces of `size` bytes (a multiple of 8), the last one shorter. */
function split(d: Uint8Array, size: number): Uint8Array[] {
  const n = d.length - hlenOf(d);
  const out: Uint8Array[] = [];
  for (let off = 0; off < n; off += size) out.push(frag(d, off, Math.min(size, n - off)));
  return out;
}

function feed(r: Reassembler, frags: Uint8Array[], now = 0): number[] {
  return frags.map((f) => r.add(f, 0, f.length, now));
}

function outBytes(r: Reassembler): Buffer {
  return Buffer.from(r.out.subarray(0, r.outLen));
}

function assertComplete(r: Reassembler, d: Uint8Array): void {
  assert.equal(checksum(r.out, 0, hlenOf(r.out)), 0, 'reassembled header checksum');
  assert.deepEqual(outBytes(r), Buffer.from(d));
}

test('reassembles fragments that arrive in order into the original datagram', () => {
  const r = new Reassembler();
  const d = datagram(4000);
  const res = feed(r, split(d, 1480));
  assert.deepEqual(res, [Defrag.Pending, Defrag.Pending, Defrag.Complete]);
  assertComplete(r, d);
  assert.equal(r.outLen, 4020);
  assert.equal(r.outFragments, 3);
  assert.equal(r.outMaxFragSize, 1500);
  assert.equal(r.out[6] & 0x3f, 0, 'MF and offset cleared');
  assert.equal(r.counters.reassembled, 1);
  assert.equal(r.inProgress, 0);
  assert.equal(r.bytesInUse, 0);
});

test('reassembles fragments that arrive in reverse order', () => {
  const r = new Reassembler();
  const d = datagram(3001, { seed: 3 });
  const fr = split(d, 512).reverse();
  const res = feed(r, fr);
  assert.equal(res[res.length - 1], Defrag.Complete);
  assert.ok(res.slice(0, -1).every((x) => x === Defrag.Pending));
  assertComplete(r, d);
});

test('reassembles 200 datagrams whose fragments arrive in seeded random order, interleaved', () => {
  const r = new Reassembler({ maxDatagrams: 256, maxTotalBytes: 16 << 20 });
  const rng = rnd(12345);
  const dgrams = new Map<number, Uint8Array>();
  const all: Array<{ id: number; f: Uint8Array }> = [];
  for (let id = 0; id < 200; id++) {
    const len = 9 + (rng() % 20000);
    const d = datagram(len, { id, seed: id + 1 });
    dgrams.set(id, d);
    // Between 2 and 64 fragments (the default per-datagram limit).
    const minBlocks = Math.ceil(len / (8 * 64)),
      maxBlocks = (len - 1) >> 3;
    const size = 8 * (minBlocks + (rng() % (maxBlocks - minBlocks + 1)));
    for (const f of split(d, size)) all.push({ id, f });
  }
  shuffle(all, rng);
  const done = new Set<number>();
  for (const { id, f } of all) {
    const v = r.add(f, 0, f.length, 0);
    if (v === Defrag.Complete) {
      assert.ok(!done.has(id));
      done.add(id);
      assertComplete(r, dgrams.get(id)!);
    } else {
      assert.equal(v, Defrag.Pending);
    }
  }
  assert.equal(done.size, 200);
  assert.equal(r.inProgress, 0);
  assert.equal(r.bytesInUse, 0);
});

test('an exact duplicate is ignored and the datagram still completes', () => {
  const r = new Reassembler();
  const d = datagram(2000);
  const [a, b] = split(d, 1480);
  assert.equal(r.add(a, 0, a.length, 0), Defrag.Pending);
  assert.equal(r.add(a, 0, a.length, 0), Defrag.Pending);
  assert.equal(r.counters.duplicates, 1);
  assert.equal(r.add(b, 0, b.length, 0), Defrag.Complete);
  assertComplete(r, d);
  assert.equal(r.outFragments, 2);
});

test('a duplicate last fragment that arrives after completion starts a new datagram, not a corrupt one', () => {
  const r = new Reassembler();
  const d = datagram(100);
  const [a, b] = split(d, 64);
  feed(r, [a, b]);
  assert.equal(r.add(b, 0, b.length, 0), Defrag.Pending);
  assert.equal(r.inProgress, 1);
});

test('an overlap whose bytes differ drops the whole datagram', () => {
  const r = new Reassembler();
  const d = datagram(3000);
  const [a, b, c] = split(d, 1024);
  assert.equal(r.add(a, 0, a.length, 0), Defrag.Pending);
  assert.equal(r.add(c, 0, c.length, 0), Defrag.Pending);
  // Same range as part of a, one byte changed: a forged TCP/UDP header rewrite.
  const evil = new Uint8Array(d.subarray(20 + 512, 20 + 1024 + 512));
  evil[0] ^= 0xff;
  const e = fragWith(d, 512, evil, true);
  assert.equal(r.add(e, 0, e.length, 0), Defrag.Overlap);
  assert.equal(r.counters.overlaps, 1);
  assert.equal(r.inProgress, 0);
  assert.equal(r.bytesInUse, 0);
  // What arrives next starts from scratch and cannot complete with the dropped pieces.
  assert.equal(r.add(b, 0, b.length, 0), Defrag.Pending);
});

test('a fragment contained in held data with different bytes is an overlap, not a duplicate', () => {
  const r = new Reassembler();
  const d = datagram(2048);
  const a = frag(d, 0, 1024);
  r.add(a, 0, a.length, 0);
  const inner = new Uint8Array(d.subarray(20 + 256, 20 + 512));
  inner[100] ^= 1;
  const e = fragWith(d, 256, inner, true);
  assert.equal(r.add(e, 0, e.length, 0), Defrag.Overlap);
  assert.equal(r.inProgress, 0);
});

test('an overlap carrying identical bytes is accepted (the same datagram cut differently)', () => {
  const r = new Reassembler();
  const d = datagram(4000);
  const pieces = [frag(d, 0, 1480), frag(d, 1000, 1480), frag(d, 2400, 1600)];
  assert.deepEqual(feed(r, pieces), [Defrag.Pending, Defrag.Pending, Defrag.Complete]);
  assertComplete(r, d);
  assert.equal(r.counters.overlaps, 0);
});

test('a fragment that only brings the end information completes a datagram whose bytes are all held', () => {
  const r = new Reassembler();
  const d = datagram(32);
  const whole = frag(d, 0, 32, { mf: true }); // all bytes, but MF: the end is unknown
  assert.equal(r.add(whole, 0, whole.length, 0), Defrag.Pending);
  const tail = frag(d, 24, 8, { mf: false });
  assert.equal(r.add(tail, 0, tail.length, 0), Defrag.Complete);
  assertComplete(r, d);
});

test('a missing fragment makes the datagram time out; expire quotes the first fragment header and 8 bytes', () => {
  const quotes: Buffer[] = [];
  const r = new Reassembler({ timeoutMs: 30000 });
  const d = datagram(3000, { id: 77 });
  const [a, , c] = split(d, 1024);
  r.add(a, 0, a.length, 1000);
  r.add(c, 0, c.length, 20000);
  assert.equal(
    r.expire(30999, (q, len) => quotes.push(Buffer.from(q.subarray(0, len)))),
    0,
    'not yet: timer runs from the first fragment',
  );
  assert.equal(r.inProgress, 1);
  assert.equal(
    r.expire(31000, (q, len) => quotes.push(Buffer.from(q.subarray(0, len)))),
    1,
  );
  assert.equal(r.inProgress, 0);
  assert.equal(r.bytesInUse, 0);
  assert.equal(r.counters.timedOut, 1);
  assert.equal(quotes.length, 1);
  assert.deepEqual(quotes[0], Buffer.from(a.subarray(0, 28)), 'first fragment as received: header (MF set) + 8 bytes');
});

test('no ICMP quote for an expired datagram whose first fragment never arrived', () => {
  let calls = 0;
  const r = new Reassembler({
    timeoutMs: 100,
    onTimeout: () => {
      calls++;
    },
  });
  const d = datagram(3000);
  const [, b] = split(d, 1024);
  r.add(b, 0, b.length, 0);
  const d2 = datagram(3000, { id: 2 });
  const a2 = split(d2, 1024)[0];
  r.add(a2, 0, a2.length, 50);
  assert.equal(r.expire(100), 1);
  assert.equal(calls, 0);
  assert.equal(r.expire(150), 1);
  assert.equal(calls, 1, "the constructor's onTimeout is the default");
});

test('maxDatagrams: a new datagram evicts the oldest incomplete one', () => {
  const r = new Reassembler({ maxDatagrams: 4 });
  const ds = [0, 1, 2, 3, 4].map((id) => datagram(2000, { id, seed: id + 9 }));
  for (let i = 0; i < 5; i++) {
    const f = split(ds[i], 1024)[0];
    assert.equal(r.add(f, 0, f.length, i), Defrag.Pending);
  }
  assert.equal(r.inProgress, 4);
  assert.equal(r.counters.evicted, 1);
  // Datagram 0 was evicted: its second fragment starts a new, incomplete one (evicting 1).
  const late0 = split(ds[0], 1024)[1];
  assert.equal(r.add(late0, 0, late0.length, 10), Defrag.Pending);
  assert.equal(r.counters.evicted, 2);
  // Datagram 2 survived both evictions.
  const rest2 = split(ds[2], 1024)[1];
  assert.equal(r.add(rest2, 0, rest2.length, 11), Defrag.Complete);
  assertComplete(r, ds[2]);
});

test('maxTotalBytes: data beyond the pool evicts the oldest other datagram; held bytes never exceed the pool', () => {
  const r = new Reassembler({ maxDatagrams: 64, maxTotalBytes: 8 * 1024 });
  const ds = [0, 1, 2, 3, 4].map((id) => datagram(3000, { id, seed: id + 5 }));
  // The first 2 KiB of each takes 2 of the 8 one-KiB pages.
  for (let i = 0; i < 5; i++) {
    const f = frag(ds[i], 0, 2048);
    assert.equal(r.add(f, 0, f.length, i), Defrag.Pending);
    assert.ok(r.bytesInUse <= 8 * 1024);
  }
  assert.equal(r.counters.evicted, 1, 'the fifth evicted datagram 0');
  assert.equal(r.inProgress, 4);
  assert.equal(r.bytesInUse, 8 * 1024);
  // Completing 1 needs one more page: the oldest other datagram (2) goes, not 1 itself.
  const t1 = frag(ds[1], 2048, 952);
  assert.equal(r.add(t1, 0, t1.length, 5), Defrag.Complete);
  assertComplete(r, ds[1]);
  assert.equal(r.counters.evicted, 2);
  // 3 completes from freed pages; 2's tail finds its head gone.
  const t3 = frag(ds[3], 2048, 952);
  assert.equal(r.add(t3, 0, t3.length, 6), Defrag.Complete);
  assertComplete(r, ds[3]);
  const t2 = frag(ds[2], 2048, 952);
  assert.equal(r.add(t2, 0, t2.length, 7), Defrag.Pending);
  assert.equal(r.counters.evicted, 2);
});

test('a datagram that cannot fit in the whole pool is dropped with NoMemory, evicting nothing for it', () => {
  const r = new Reassembler({ maxTotalBytes: 6 * 1024 });
  const other = datagram(2000, { id: 1 });
  const o1 = frag(other, 0, 1024);
  r.add(o1, 0, o1.length, 0);
  const big = datagram(8000, { id: 2 });
  assert.deepEqual(feed(r, [frag(big, 0, 2048), frag(big, 2048, 2048)], 1), [Defrag.Pending, Defrag.Pending]);
  assert.equal(r.bytesInUse, 5 * 1024);
  // 3 more pages would make 7 > 6: no eviction can help.
  const b3 = frag(big, 4096, 3072);
  assert.equal(r.add(b3, 0, b3.length, 2), Defrag.NoMemory);
  assert.equal(r.counters.noMemory, 1);
  assert.equal(r.counters.evicted, 0);
  assert.equal(r.inProgress, 1);
  assert.equal(r.bytesInUse, 1024);
});

test('maxFragmentsPerDatagram: one fragment too many drops the datagram with NoMemory', () => {
  const r = new Reassembler({ maxFragmentsPerDatagram: 4 });
  const d = datagram(80);
  const fr = split(d, 16);
  assert.equal(fr.length, 5);
  assert.deepEqual(feed(r, fr), [Defrag.Pending, Defrag.Pending, Defrag.Pending, Defrag.Pending, Defrag.NoMemory]);
  assert.equal(r.inProgress, 0);
  const r2 = new Reassembler({ maxFragmentsPerDatagram: 5 });
  assert.equal(feed(r2, fr)[4], Defrag.Complete);
});

test('a datagram that would exceed 65535 bytes is dropped as TooBig, with what was held of it', () => {
  const r = new Reassembler();
  const d = datagram(1000, { id: 9 });
  const first = frag(d, 0, 504);
  r.add(first, 0, first.length, 0);
  // Offset 65000 + 600 bytes: ends at 65600 + 20-byte header (ping of death).
  const pod = fragWith(d, 65000, new Uint8Array(600), false);
  assert.equal(r.add(pod, 0, pod.length, 0), Defrag.TooBig);
  assert.equal(r.counters.tooBig, 1);
  assert.equal(r.inProgress, 0);
  // Exactly 65535 in all is fine.
  const big = datagram(65535 - 20, { id: 10 });
  const res = feed(r, split(big, 8000));
  assert.equal(res[res.length - 1], Defrag.Complete);
  assertComplete(r, big);
});

test("the first fragment's options count against 65535", () => {
  const r = new Reassembler();
  const opts = [0x94, 4, 0, 0, 1, 1, 1, 0]; // router alert, 3 NOPs, EOL: 28-byte header
  const d = datagram(65535 - 20, { options: [], id: 11 }); // fits with a 20-byte header
  const withOpts = datagram(16, { options: opts, id: 11 });
  const tail = frag(d, 64000, 65535 - 20 - 64000);
  assert.equal(r.add(tail, 0, tail.length, 0), Defrag.Pending);
  const head = frag(withOpts, 0, 8, { mf: true });
  assert.equal(r.add(head, 0, head.length, 0), Defrag.TooBig);
  assert.equal(r.inProgress, 0);
});

test('maxDatagramBytes lowers the size limit', () => {
  const r = new Reassembler({ maxDatagramBytes: 9000 });
  const d = datagram(9000);
  const res = feed(r, split(d, 4000));
  assert.equal(res[res.length - 1], Defrag.TooBig);
});

test('malformed fragments are dropped alone: unaligned non-last length, zero length, not a fragment', () => {
  const r = new Reassembler();
  const d = datagram(3000);
  const good = frag(d, 0, 1024);
  r.add(good, 0, good.length, 0);
  const unaligned = frag(d, 1024, 1001, { mf: true });
  const empty = fragWith(d, 2048, new Uint8Array(0), true);
  const whole = fragWith(d, 0, new Uint8Array(16), false);
  for (const f of [unaligned, empty, whole]) assert.equal(r.add(f, 0, f.length, 0), Defrag.BadFragment);
  assert.equal(r.counters.badFragments, 3);
  assert.equal(r.inProgress, 1, 'the datagram in progress is untouched');
  const res = feed(r, [frag(d, 1024, 1024), frag(d, 2048, 3000 - 2048)]);
  assert.deepEqual(res, [Defrag.Pending, Defrag.Complete]);
  assertComplete(r, d);
});

test('a last fragment that disagrees with the known end drops the datagram', () => {
  const r = new Reassembler();
  const d = datagram(3000);
  feed(r, [frag(d, 0, 1024), frag(d, 2048, 952)]); // last: end 3000
  const other = frag(d, 1024, 1000, { mf: false }); // another "last", end 2024
  assert.equal(r.add(other, 0, other.length, 0), Defrag.BadFragment);
  assert.equal(r.inProgress, 0);
});

test('a fragment past the end fixed by the last fragment drops the datagram', () => {
  const r = new Reassembler();
  const d = datagram(3000);
  feed(r, [frag(d, 2048, 952)]);
  const past = fragWith(d, 2048, new Uint8Array(1024), true);
  assert.equal(r.add(past, 0, past.length, 0), Defrag.BadFragment);
  assert.equal(r.inProgress, 0);
  // And a last fragment that ends before bytes already held.
  feed(r, [frag(d, 0, 2048)]);
  const early = frag(d, 1024, 8, { mf: false });
  assert.equal(r.add(early, 0, early.length, 0), Defrag.BadFragment);
  assert.equal(r.inProgress, 0);
});

test('datagrams with the same id from different sources, to different destinations or of another protocol stay apart', () => {
  const r = new Reassembler();
  const keys = [
    { src: SRC, dst: DST, proto: UDP },
    { src: SRC + 1, dst: DST, proto: UDP },
    { src: SRC, dst: DST + 1, proto: UDP },
    { src: SRC, dst: DST, proto: TCP },
    { src: -2, dst: -3, proto: UDP }, // addresses above 2^31
  ];
  const ds = keys.map((k, i) => datagram(2500, { ...k, id: 0xbeef, seed: 100 + i }));
  const parts = ds.map((d) => split(d, 1024));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < ds.length; i++) {
      const f = parts[i][round];
      const v = r.add(f, 0, f.length, 0);
      if (round < 2) assert.equal(v, Defrag.Pending);
      else {
        assert.equal(v, Defrag.Complete);
        assertComplete(r, ds[i]);
      }
    }
  }
  assert.equal(r.counters.overlaps, 0);
  assert.equal(r.counters.reassembled, ds.length);
});

test('the first fragment gives the header and options; later fragments may carry fewer options', () => {
  const r = new Reassembler();
  const opts = [0x83, 7, 4, 10, 0, 0, 9, 0x94, 4, 0, 0, 0]; // LSRR (7 bytes), router alert, EOL
  const d = datagram(3000, { options: opts, ttl: 33, tos: 0x10 });
  const first = frag(d, 0, 1480);
  const bare = datagram(3000, { ttl: 99 });
  bare.set(d.subarray(32), 20); // same payload, no options
  const later = [frag(bare, 1480, 1480), frag(bare, 2960, 40)];
  const res = feed(r, [later[1], first, later[0]]);
  assert.equal(res[2], Defrag.Complete);
  assertComplete(r, d);
  assert.equal(r.out[8], 33);
});

test('DF is set on the whole only when the largest fragment had it; outMaxFragSize is that fragment', () => {
  const d = datagram(3000);
  const r = new Reassembler();
  feed(r, [frag(d, 0, 1480, { df: true }), frag(d, 1480, 1480, { df: true }), frag(d, 2960, 40)]);
  assert.equal(r.out[6] & 0x40, 0x40);
  assert.equal(r.outMaxFragSize, 1500);
  assert.equal(checksum(r.out, 0, 20), 0);
  feed(r, [frag(d, 0, 1000, { df: true }), frag(d, 1000, 1480), frag(d, 2480, 520, { df: true })]);
  assert.equal(r.out[6] & 0x40, 0);
  assert.equal(r.outMaxFragSize, 1500);
});

test('ECN: CE on one ECT fragment marks the whole datagram CE; Not-ECT mixed with ECT drops it', () => {
  const d = datagram(2000, { tos: 0x02 });
  const r = new Reassembler();
  assert.equal(feed(r, [frag(d, 0, 1480, { tos: 0x02 }), frag(d, 1480, 520, { tos: 0x03 })])[1], Defrag.Complete);
  assert.equal(r.out[1], 0x03);
  assert.equal(checksum(r.out, 0, 20), 0);
  assert.equal(feed(r, [frag(d, 0, 1480, { tos: 0x00 }), frag(d, 1480, 520, { tos: 0x02 })])[1], Defrag.BadFragment);
  assert.equal(r.inProgress, 0);
});

test('the constructor rejects limits it cannot honour', () => {
  assert.throws(() => new Reassembler({ maxDatagrams: 0 }), { code: 'BAD_ARGUMENT' });
  assert.throws(() => new Reassembler({ maxTotalBytes: 100 }), { code: 'BAD_ARGUMENT' });
  assert.throws(() => new Reassembler({ maxDatagramBytes: 70000 }), { code: 'BAD_ARGUMENT' });
  assert.throws(() => new Reassembler({ timeoutMs: 0 }), { code: 'BAD_ARGUMENT' });
  assert.throws(() => new Reassembler({ maxFragmentsPerDatagram: 1 }), { code: 'BAD_ARGUMENT' });
});

test('100k fragments through add() grow the heap by almost nothing and cause no GC', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // 500 datagrams of 2..6 fragments, laid out in one buffer; some overlaps, duplicates and
  // expiries are mixed in so that every path runs.
  const rng = rnd(4242);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < 500; i++) {
    const d = datagram(1000 + (rng() % 7000), { id: i, seed: i + 1 });
    const fr = shuffle(split(d, 8 * (150 + (rng() % 100))), rng);
    pieces.push(...fr);
    if (i % 50 === 0) pieces.push(fr[0]); // a straggler: starts a datagram that times out
    // A burst of 20 heads that never complete: more than maxDatagrams, so some are evicted.
    if (i % 100 === 0) for (let j = 0; j < 20; j++) pieces.push(frag(datagram(64, { id: 20000 + i * 20 + j }), 0, 32));
  }
  const total = pieces.reduce((s, p) => s + p.length, 0);
  const buf = new Uint8Array(total);
  const offs = new Int32Array(pieces.length),
    lens = new Int32Array(pieces.length);
  let at = 0;
  pieces.forEach((p, i) => {
    buf.set(p, at);
    offs[i] = at;
    lens[i] = p.length;
    at += p.length;
  });
  const r = new Reassembler({ maxDatagrams: 16, maxTotalBytes: 16 * 1024, timeoutMs: 30 });
  const n = pieces.length;
  let now = 0;
  const run = (count: number): number => {
    let complete = 0;
    for (let k = 0; k < count; k++) {
      const i = k % n;
      if (r.add(buf, offs[i], lens[i], now) === Defrag.Complete) complete++;
      if ((k & 63) === 0) {
        now += 10;
        r.expire(now);
      }
    }
    return complete;
  };
  run(100_000); // warm up: compile, settle shapes
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  gc();
  const before = process.memoryUsage().heapUsed;
  obs.observe({ entryTypes: ['gc'] });
  const complete = run(100_000);
  const after = process.memoryUsage().heapUsed;
  await new Promise((res) => setTimeout(res, 20));
  obs.disconnect();
  assert.ok(complete > 1000, `datagrams completed: ${complete}`);
  assert.ok(
    r.counters.evicted > 0 && r.counters.timedOut > 0,
    `eviction and expiry ran too: ${JSON.stringify(r.counters)}`,
  );
  assert.equal(gcs, 0, 'a garbage collection ran during the loop');
  assert.ok(after - before < 256 * 1024, `heap grew by ${after - before} bytes over 100k fragments`);
});
