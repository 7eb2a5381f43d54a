/**
 * Cost of IPv4 reassembly (Reassembler.add) and fragmentation (fragmentInto) per fragment, and
 * whether either allocates. Baselines in the same run, per fragment's worth of bytes: one
 * copyBytes (the word copy both use: the least either must do) and a plain JS byte loop.
 *
 *   node dist/bench/micro/defrag.js [fragments=2000000]
 *
 * Cases: 3000-byte datagrams cut at MTU 1500 (3 fragments: a UDP DNS/NFS-like flow), 9000-byte
 * datagrams cut at 1500 (7, jumbo across a 1500 link), 65535-byte datagrams at 1500 (45, the
 * worst legal case); arrival in order, and shuffled within each datagram. Each case: warm-up, a
 * forced GC when --expose-gc is given, then the timed loop with GCs counted by a
 * PerformanceObserver and heapUsed growth reported; best of 5 rounds. Prints a markdown table.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Defrag, Reassembler } from '../../src/dataplane/defrag.js';
import { copyBytes, FragmentBuffer, fragmentInto } from '../../src/dataplane/fragment.js';
import { checksum } from '../../src/packet/checksum.js';

const target = Number(process.argv[2] ?? 2_000_000);
const gcFn = (globalThis as { gc?: () => void }).gc;

function rnd(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function datagram(total: number, id: number): Uint8Array {
  const d = new Uint8Array(total);
  const dv = new DataView(d.buffer);
  d[0] = 0x45;
  dv.setUint16(2, total);
  dv.setUint16(4, id);
  d[8] = 64;
  d[9] = 17;
  dv.setInt32(12, 0x0a000001);
  dv.setInt32(16, 0xc0a80164 | 0);
  dv.setUint16(10, checksum(d, 0, 20));
  const r = rnd(id + 1);
  for (let i = 20; i < total; i++) d[i] = r() & 0xff;
  return d;
}

interface Row {
  name: string;
  frags: number;
  nsAdd: number;
  nsFrag: number;
  nsCopy: number;
  nsLoop: number;
  gcs: number;
  heapKiB: number;
}

let gcs = 0;
const obs = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
obs.observe({ entryTypes: ['gc'] });

function bench(name: string, total: number, mtu: number, shuffled: boolean): Row {
  // 64 datagrams with distinct ids, fragmented once into one buffer (fragmentInto is what is timed
  // separately below); arrival order optionally shuffled within each datagram.
  const rng = rnd(total ^ mtu);
  const fb = new FragmentBuffer(64 * (total + 2048), 64 * 64);
  const order: number[] = [];
  for (let k = 0; k < 64; k++) {
    const d = datagram(total, k);
    const first = fb.count;
    fragmentInto(d, 0, d.length, mtu, fb);
    const idx: number[] = [];
    for (let i = first; i < fb.count; i++) idx.push(i);
    if (shuffled)
      for (let i = idx.length - 1; i > 0; i--) {
        const j = rng() % (i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
    order.push(...idx);
  }
  const ord = Int32Array.from(order);
  const n = ord.length,
    buf = fb.buf,
    offs = fb.offsets,
    lens = fb.lengths;
  const r = new Reassembler();
  const src = datagram(total, 999);
  const out = new FragmentBuffer(total + 2048, 64);
  const sink = new Uint8Array(total + 2048);
  const per = Math.max(1, Math.round(target / n));

  const runAdd = (rounds: number): number => {
    let done = 0;
    for (let k = 0; k < rounds; k++)
      for (let i = 0; i < n; i++) {
        const f = ord[i];
        if (r.add(buf, offs[f], lens[f], 0) === Defrag.Complete) done++;
      }
    return done;
  };
  const perDgram = n / 64;
  const fragRounds = per * 64;
  const runFrag = (rounds: number): number => {
    let c = 0;
    for (let k = 0; k < rounds; k++) {
      out.reset();
      c += fragmentInto(src, 0, total, mtu, out);
    }
    return c;
  };
  const runCopy = (rounds: number): number => {
    let x = 0;
    for (let k = 0; k < rounds; k++) {
      copyBytes(src, 0, sink, 0, total);
      x += sink[k & 1023];
    }
    return x;
  };
  const runLoop = (rounds: number): number => {
    let x = 0;
    for (let k = 0; k < rounds; k++) {
      for (let i = 0; i < total; i++) sink[i] = src[i];
      x += sink[k & 1023];
    }
    return x;
  };
  runAdd(Math.max(2, Math.round(200_000 / n)));
  runFrag(2000);
  runCopy(2000);
  runLoop(2000);
  if (gcFn !== undefined) gcFn();
  const heap0 = process.memoryUsage().heapUsed;
  const gc0 = gcs;
  let bestAdd = Infinity,
    bestFrag = Infinity,
    bestCopy = Infinity,
    bestLoop = Infinity;
  for (let round = 0; round < 5; round++) {
    let t = process.hrtime.bigint();
    const done = runAdd(per);
    if (done !== per * 64) throw new Error(`${name}: ${done} of ${per * 64} datagrams completed`);
    bestAdd = Math.min(bestAdd, Number(process.hrtime.bigint() - t) / (per * n));
    t = process.hrtime.bigint();
    const c = runFrag(fragRounds);
    bestFrag = Math.min(bestFrag, Number(process.hrtime.bigint() - t) / c);
    t = process.hrtime.bigint();
    runCopy(fragRounds);
    bestCopy = Math.min(bestCopy, Number(process.hrtime.bigint() - t) / (fragRounds * perDgram));
    t = process.hrtime.bigint();
    runLoop(fragRounds);
    bestLoop = Math.min(bestLoop, Number(process.hrtime.bigint() - t) / (fragRounds * perDgram));
  }
  const heap1 = process.memoryUsage().heapUsed;
  return {
    name,
    frags: perDgram,
    nsAdd: bestAdd,
    nsFrag: bestFrag,
    nsCopy: bestCopy,
    nsLoop: bestLoop,
    gcs: gcs - gc0,
    heapKiB: (heap1 - heap0) / 1024,
  };
}

const rows: Row[] = [
  bench('3000 B @ 1500, in order', 3000, 1500, false),
  bench('3000 B @ 1500, shuffled', 3000, 1500, true),
  bench('9000 B @ 1500, in order', 9000, 1500, false),
  bench('9000 B @ 1500, shuffled', 9000, 1500, true),
  bench('65535 B @ 1500, in order', 65535, 1500, false),
  bench('65535 B @ 1500, shuffled', 65535, 1500, true),
];
await new Promise((res) => setTimeout(res, 50));
obs.disconnect();
console.log(
  `node ${process.version}, ~${target} fragments per cell, best of 5${gcFn === undefined ? ' (run with --expose-gc for a clean heap baseline)' : ''}`,
);
console.log(
  '| case | frags/dgram | add ns/frag | fragmentInto ns/frag | copyBytes ns/frag (baseline) | byte loop ns/frag | add ÷ copy | frag ÷ copy | GCs | heap growth |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const x of rows) {
  console.log(
    `| ${x.name} | ${x.frags} | ${x.nsAdd.toFixed(0)} | ${x.nsFrag.toFixed(0)} | ${x.nsCopy.toFixed(0)} | ${x.nsLoop.toFixed(0)} | ${(x.nsAdd / x.nsCopy).toFixed(2)} | ${(x.nsFrag / x.nsCopy).toFixed(2)} | ${x.gcs} | ${x.heapKiB.toFixed(0)} KiB |`,
  );
}
