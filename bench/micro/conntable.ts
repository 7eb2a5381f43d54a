/**
 * Connection table at scale: insert, lookup (both indexes, hits and misses), re-arm and expire
 * with N live entries (default 1,000,000), and the memory each connection costs.
 *
 *   node --expose-gc dist/bench/micro/conntable.js [entries=1000000] [--json]
 *
 * Memory: process.memoryUsage() deltas around `new ConnTable(N)` (arrayBuffers: what the typed
 * arrays reserve; rss after every entry was written: what the kernel really backs), divided by N,
 * next to ConnTable.bytesPerEntry() (the table's own figure, without the rounding of its indexes
 * to a power of two). Keys: 20 client addresses x 50,000 ports to one VIP:80, like a busy
 * service. Random-order lookups are the worst case (every probe and every per-field array is a
 * cache miss at this size); insertion-order lookups show the same code with the entry arrays in
 * cache. Each phase is timed with process.hrtime.bigint() over all N entries; GCs inside the
 * timed phases are counted (the table allocates nothing per operation, so there should be none).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { ConnFlag, ConnTable } from '../../src/ipvs/conn-table.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const TCP = 6;
const VIP = (192 << 24) | (168 << 16) | (222 << 8) | 131 | 0;
const RS = [(192 << 24) | (168 << 16) | (2 << 8) | 129 | 0, (192 << 24) | (168 << 16) | (2 << 8) | 130 | 0];
const PORTS = 50_000;
const caddrOf = (i: number): number => (10 << 24) | Math.floor(i / PORTS) | 0;
const cportOf = (i: number): number => 10_000 + (i % PORTS);

const gc = (globalThis as { gc?: () => void }).gc;
const settle = (): void => {
  if (gc !== undefined) {
    gc();
    gc();
  }
};
const ns = (t0: bigint): number => Number(process.hrtime.bigint() - t0);

let gcs = 0;
const obs = new PerformanceObserver((l) => {
  gcs += l.getEntries().length;
});
obs.observe({ entryTypes: ['gc'] });

// A fixed visiting order for lookups (a permutation, built before timing: not part of the cost).
const order = new Int32Array(N);
for (let i = 0; i < N; i++) order[i] = i;
let seed = 0x9e3779b9;
for (let i = N - 1; i > 0; i--) {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  const j = (seed >>> 0) % (i + 1);
  const t = order[i];
  order[i] = order[j];
  order[j] = t;
}
const ids = new Int32Array(N);
const now0 = 1_000_000;

settle();
const m0 = process.memoryUsage();
const table = new ConnTable(N);
settle();
const m1 = process.memoryUsage();
const gcBase = gcs;

interface Row {
  op: string;
  ns: number;
  note: string;
}
const rows: Row[] = [];

// Each phase is a function (not module top-level code, whose variables live in a context).
function insertAll(): void {
  // Timeouts spread over 1..60 s so expiry walks many wheel slots.
  for (let i = 0; i < N; i++) {
    const id = table.create(
      TCP,
      caddrOf(i),
      cportOf(i),
      VIP,
      80,
      RS[i & 1],
      80,
      i & 1,
      ConnFlag.ACTIVE,
      1000 + (i % 60_000),
      now0,
    );
    table.hash(id);
    ids[i] = id;
  }
}
function lookupInAll(flip: number): number {
  let found = 0;
  for (let k = 0; k < N; k++) {
    const i = order[k];
    if (table.lookupIn(TCP, caddrOf(i) ^ flip, cportOf(i), VIP, 80, false) >= 0) found++;
  }
  return found;
}
function lookupInSequential(): number {
  let found = 0;
  for (let i = 0; i < N; i++) if (table.lookupIn(TCP, caddrOf(i), cportOf(i), VIP, 80, false) >= 0) found++;
  return found;
}
function lookupOutAll(): number {
  let found = 0;
  for (let k = 0; k < N; k++) {
    const i = order[k];
    if (table.lookupOut(TCP, RS[i & 1], 80, caddrOf(i), cportOf(i)) >= 0) found++;
  }
  return found;
}
function touchAll(): void {
  for (let k = 0; k < N; k++) table.touch(ids[order[k]], now0 + 500);
}
function timed(op: string, f: () => string, per = N): void {
  const t0 = process.hrtime.bigint();
  const note = f();
  rows.push({ op, ns: ns(t0) / per, note });
}

timed('insert (create + hash both indexes)', () => {
  insertAll();
  return `${table.count} live`;
});
const rssFull = process.memoryUsage().rss;
timed('lookup in-key, hit (random order)', () => `${lookupInAll(0)} found`);
timed('lookup in-key, hit (insertion order: entry arrays hot)', () => `${lookupInSequential()} found`);
timed('lookup out-key, hit (random order)', () => `${lookupOutAll()} found`);
timed('lookup in-key, miss (random order)', () => `${lookupInAll(0x00800000)} found (want 0)`);
timed('re-arm (touch, random order)', () => {
  touchAll();
  return '';
});
// Expire: one call that walks the wheel past every deadline (the daemon calls it every 100 ms).
let expired = 0;
table.setExpireHook(() => {
  expired++;
  return true;
});
{
  const t0 = process.hrtime.bigint();
  table.expire(now0 + 120_000);
  rows.push({
    op: 'expire (wheel walk + unhash + free)',
    ns: ns(t0) / Math.max(1, expired),
    note: `${expired} expired, ${table.count} left`,
  });
}
// The same lookup on a 1,000-entry table (all in cache): what the code costs without misses.
{
  const small = new ConnTable(1024);
  for (let i = 0; i < 1000; i++)
    small.hash(small.create(TCP, caddrOf(i), cportOf(i), VIP, 80, RS[i & 1], 80, 0, 0, 60_000, now0));
  const smallLookups = (): number => {
    let found = 0;
    for (let r = 0; r < 1000; r++)
      for (let i = 0; i < 1000; i++) if (small.lookupIn(TCP, caddrOf(i), cportOf(i), VIP, 80, false) >= 0) found++;
    return found;
  };
  smallLookups();
  timed('lookup in-key, hit, 1,000-entry table (in cache)', () => `${smallLookups()} found`, 1_000_000);
}
const timedGcs = gcs - gcBase;
obs.disconnect();

const perEntryAB = (m1.arrayBuffers - m0.arrayBuffers) / N;
const perEntryRss = (rssFull - m0.rss) / N;
const result = {
  entries: N,
  indexSize: table.indexSize,
  bytesPerEntry: ConnTable.bytesPerEntry(),
  arrayBuffersPerEntry: perEntryAB,
  rssPerEntry: perEntryRss,
  gcsInTimedPhases: timedGcs,
  rows,
};
if (json) {
  console.log(JSON.stringify(result));
} else {
  console.log(
    `Connection table, ${N.toLocaleString('en-US')} entries (index ${table.indexSize.toLocaleString('en-US')} slots x 2), Node ${process.version}`,
  );
  console.log('');
  console.log('| operation | ns/op | |');
  console.log('|---|---:|---|');
  for (const r of rows) console.log(`| ${r.op} | ${r.ns.toFixed(1)} | ${r.note} |`);
  console.log('');
  console.log('| memory per connection | bytes |');
  console.log('|---|---:|');
  console.log(`| ConnTable.bytesPerEntry() | ${result.bytesPerEntry} |`);
  console.log(`| arrayBuffers delta / entries (new ConnTable(${N})) | ${perEntryAB.toFixed(1)} |`);
  console.log(`| rss delta / entries (new ConnTable + inserting all) | ${perEntryRss.toFixed(1)} |`);
  console.log('');
  console.log(
    `GCs during the timed phases: ${timedGcs}${gc === undefined ? ' (run with --expose-gc for settled memory figures)' : ''}`,
  );
}
