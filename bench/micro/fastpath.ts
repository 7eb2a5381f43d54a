/**
 * In-process NAT fast path: frame parse + connection lookup + DNAT/SNAT rewrite + checksum
 * update + route + queue, per packet, over loopback links (no kernel). Also counts garbage
 * collections during the timed loop: the per-packet path must cause none.
 *
 *   node dist/bench/micro/fastpath.js [packets=5000000] [conns=1000] [clock=wall|cpu]
 *
 * `cpu` times each round by the process's CPU time (process.cpuUsage) instead of the wall clock
 * and runs nine rounds instead of five: on a shared machine, time spent preempted by other work
 * then does not count, which makes A/B comparisons of small changes steadier (docs/dataplane.md).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { applyV8Tuning } from '../../src/v8-tuning.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  resolveNeighbours,
  textbookService,
  VIP,
} from '../../test/helpers/director.js';
import { ACK, ipFrame, SYN, TCP } from '../../test/helpers/frames.js';

applyV8Tuning(); // as tapvsd does at start-up

const packets = Number(process.argv[2] ?? 5_000_000);
const nConns = Number(process.argv[3] ?? 1000);
const cpuClock = process.argv[4] === 'cpu';
const nRounds = cpuClock ? 9 : 5;
const td = makeDirector({ capture: false, maxConns: 1 << 16 });
resolveNeighbours(td);
textbookService(td);
const payload = Buffer.alloc(64, 0x61);

// Open nConns connections (SYN), then time ACK data segments in both directions.
for (let i = 0; i < nConns; i++)
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 10000 + i, dport: 80, flags: SYN })]);
const inFrames: Buffer[] = [];
const outFrames: Buffer[] = [];
for (let i = 0; i < 64; i++) {
  const c = i % nConns;
  inFrames.push(
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 10000 + c, dport: 80, flags: ACK, payload }),
  );
  const id = td.ipvs.conns.lookupIn(TCP, CLIENT, 10000 + c, VIP, 80, false);
  const rs = td.ipvs.conns.daddr[id];
  outFrames.push(
    ipFrame(INT_MAC, rs === RS1 ? RS1_MAC : Buffer.from([0x52, 0x54, 0, 0, 1, 0x30]), rs, CLIENT, {
      proto: TCP,
      sport: 80,
      dport: 10000 + c,
      flags: ACK,
      payload,
    }),
  );
}

// Write the 64-frame batches into the RX rings once; each iteration re-delivers them. The
// rewrite happens in place, so before every batch the frames' bytes are restored (as a read()
// from the device writes exactly the frame, no more): a word copy of each frame, timed separately
// and subtracted.
const ext = td.ext,
  int = td.int;
interface Saved {
  saved: Int32Array;
  ring: Int32Array;
  words: Int32Array;
}
function load(link: typeof ext, frames: Buffer[]): Saved {
  const b = link.rx.buf;
  const saved = Buffer.alloc(b.length);
  frames.forEach((f, i) => {
    f.copy(saved, link.rx.offsets[i]);
    link.rx.lengths[i] = f.length;
  });
  const words = Int32Array.from(frames, (f, i) => (link.rx.offsets[i] / 4) * 65536 + Math.ceil(f.length / 4));
  return {
    saved: new Int32Array(saved.buffer, saved.byteOffset, saved.length >> 2),
    ring: new Int32Array(b.buffer, b.byteOffset, b.length >> 2),
    words,
  };
}
function restore(s: Saved): void {
  const { saved, ring, words } = s;
  for (let i = 0; i < words.length; i++) {
    const w = words[i],
      start = w >>> 16,
      end = start + (w & 0xffff);
    for (let j = start; j < end; j++) ring[j] = saved[j];
  }
}
const extSaved = load(ext, inFrames),
  intSaved = load(int, outFrames);
const dp = td.dp;
const extPort = dp.ports[0],
  intPort = dp.ports[1];
ext.start((n) => dp.processBatch(extPort, n, td.now));
int.start((n) => dp.processBatch(intPort, n, td.now));

/** Nanoseconds of the chosen clock (CPU time: microsecond resolution, enough for rounds of ~100 ms). */
function clockNs(): bigint {
  if (!cpuClock) return process.hrtime.bigint();
  const u = process.cpuUsage();
  return BigInt(u.user + u.system) * 1000n;
}

function run(batches: number, work: boolean): number {
  const t0 = clockNs();
  for (let b = 0; b < batches; b++) {
    restore(extSaved);
    restore(intSaved);
    if (work) {
      ext.deliver(64);
      int.deliver(64);
    }
  }
  return Number(clockNs() - t0);
}

let gcs = 0;
const obs = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
run(2000, true); // warm-up: every path optimised
obs.observe({ entryTypes: ['gc'] });
const batches = Math.ceil(packets / 128);
const heap0 = process.memoryUsage().heapUsed;
// Five rounds (nine with the CPU clock); the fastest is reported (the machine's other load only ever adds time).
let best = Infinity;
const rounds: number[] = [];
for (let r = 0; r < nRounds; r++) {
  const tWork = run(batches, true);
  const tCopy = run(batches, false);
  const v = (tWork - tCopy) / (batches * 128);
  rounds.push(v);
  if (v < best) best = v;
}
const heap1 = process.memoryUsage().heapUsed;
obs.disconnect();
const n = batches * 128 * nRounds;
const ns = best;
console.log(`rounds (ns/packet): ${rounds.map((x) => x.toFixed(1)).join(' ')}`);
console.log(`| packets | ns/packet (NAT in+out) | Mpps | GCs during run | heap growth |`);
console.log(`|---|---|---|---|---|`);
console.log(
  `| ${n} | ${ns.toFixed(1)} | ${(1000 / ns).toFixed(2)} | ${gcs} | ${((heap1 - heap0) / 1024).toFixed(0)} KiB |`,
);
