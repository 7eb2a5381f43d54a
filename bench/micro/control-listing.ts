/**
 * `-L -c` at scale: how long the daemon's event loop (and so the dataplane) is held by a listing
 * of N connections (default 1,000,000), sliced as the control server sends it, against building
 * the whole answer at once as before.
 *
 *   node dist/bench/micro/control-listing.js [entries=1000000] [--json]
 *
 * Each slice is timed as the server spends it: ConnListing.next() plus JSON.stringify of the part
 * line. The one-shot figure is collect() plus one JSON.stringify of everything.
 */
import { ConnListing } from '../../src/control/listing.js';
import { collect } from '../../src/control/streamed.js';
import { Ipvs } from '../../src/ipvs/ipvs.js';
import { createScheduler } from '../../src/ipvs/sched/registry.js';
import { Dir } from '../../src/ipvs/tcp-state.js';
import { IPPROTO_TCP } from '../../src/packet/ipv4.js';
import { TCP_SYN } from '../../src/packet/tcp.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const NOW = Date.now();
const VIP = (192 << 24) | (168 << 16) | (222 << 8) | 131 | 0;

const ipvs = new Ipvs({ maxConns: N });
const svc = ipvs.addService(IPPROTO_TCP, VIP, 80, {
  scheduler: createScheduler('rr', { flags: 0 }),
  schedFlags: 0,
  persistent: false,
  timeoutS: 0,
  netmask: -1,
  ops: false,
});
ipvs.addDest(svc, (10 << 24) | 2, 80, { weight: 1, uThreshold: 0, lThreshold: 0 });
ipvs.addDest(svc, (10 << 24) | 3, 80, { weight: 1, uThreshold: 0, lThreshold: 0 });
for (let i = 0; i < N; i++) {
  const id = ipvs.newConnection(
    svc,
    IPPROTO_TCP,
    (11 << 24) | Math.floor(i / 50_000),
    10_000 + (i % 50_000),
    VIP,
    80,
    NOW,
  );
  if (id < 0) throw new Error(`table full at ${i}`);
  ipvs.tcpState(id, Dir.INPUT, TCP_SYN, NOW);
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

// Sliced, as the server does it.
const sliceMs: number[] = [];
let bytes = 0;
let entries = 0;
const t0 = process.hrtime.bigint();
const listing = new ConnListing(ipvs);
for (;;) {
  const s0 = process.hrtime.bigint();
  const part = listing.next();
  if (part === null) break;
  bytes += JSON.stringify({ id: 1, part }).length + 1;
  entries += part.length;
  sliceMs.push(ms(s0));
}
const slicedTotal = ms(t0);
sliceMs.sort((a, b) => a - b);
const p = (q: number): number => sliceMs[Math.min(sliceMs.length - 1, Math.floor(q * sliceMs.length))];

// All at once, as before.
const o0 = process.hrtime.bigint();
const whole = JSON.stringify({ id: 1, ok: true, result: collect(new ConnListing(ipvs)) });
const oneShot = ms(o0);

const result = {
  entries,
  slices: sliceMs.length,
  sliceMedianMs: p(0.5),
  sliceP99Ms: p(0.99),
  sliceMaxMs: sliceMs[sliceMs.length - 1],
  slicedTotalMs: slicedTotal,
  slicedBytes: bytes,
  oneShotStallMs: oneShot,
  oneShotBytes: whole.length,
};
if (json) console.log(JSON.stringify(result));
else {
  console.log(`\`-L -c\` of ${entries} entries, Node ${process.version}\n`);
  console.log('| listing | slices | MB of JSON | longest hold ms | median hold ms | p99 hold ms | total ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  console.log(
    `| sliced (the server's way) | ${result.slices} | ${mb(bytes)} | ${result.sliceMaxMs.toFixed(2)} | ` +
      `${result.sliceMedianMs.toFixed(2)} | ${result.sliceP99Ms.toFixed(2)} | ${slicedTotal.toFixed(0)} |`,
  );
  console.log(
    `| one shot (before) | 1 | ${mb(whole.length)} | ${oneShot.toFixed(2)} | ${oneShot.toFixed(2)} | ` +
      `${oneShot.toFixed(2)} | ${oneShot.toFixed(0)} |`,
  );
}
