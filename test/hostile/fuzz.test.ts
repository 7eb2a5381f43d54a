/**
 * Hostile input straight into the dataplane, in process: mutated real frames (bit flips,
 * truncation at every header boundary, corrupted length fields) and random bytes. Nothing may
 * throw, every frame must end as exactly one verdict, the connection table must stay consistent,
 * and the director must still forward a clean connection afterwards. Seeded: reproducible.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Drop } from '../../src/dataplane/drops.js';
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
} from '../helpers/director.js';
import { ACK, arpFrame, ICMP, ipFrame, SYN, TCP, UDP } from '../helpers/frames.js';

/** xorshift32: a tiny seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function corpus(): Buffer[] {
  const z = new Uint8Array(6);
  return [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
      proto: TCP,
      sport: 40000,
      dport: 80,
      flags: ACK,
      payload: Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: Buffer.from('query') }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: ICMP, type: 8, payload: Buffer.alloc(56) }),
    ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags: SYN | ACK }),
    arpFrame(1, CLIENT_MAC, CLIENT, z, VIP),
  ];
}

function mutate(f: Buffer, r: () => number): Buffer {
  const b = Buffer.from(f);
  switch (Math.floor(r() * 6)) {
    case 0: {
      // bit flips
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      return b;
    }
    case 1: // truncation at a header boundary or anywhere
      return b.subarray(
        0,
        [0, 6, 13, 14, 15, 20, 33, 34, 35, 41, 42, 53, 54][Math.floor(r() * 13)] ?? Math.floor(r() * b.length),
      );
    case 2: // IP total length
      if (b.length > 18) b.writeUInt16BE(Math.floor(r() * 65536), 16);
      return b;
    case 3: // IHL / version
      if (b.length > 14) b[14] = Math.floor(r() * 256);
      return b;
    case 4: // TCP data offset / UDP length
      if (b.length > 46) b[46] = Math.floor(r() * 256);
      if (b.length > 39) b.writeUInt16BE(Math.floor(r() * 65536), 38);
      return b;
    default: {
      // random garbage with our MAC
      const g = Buffer.alloc(Math.floor(r() * 1600));
      for (let i = 0; i < g.length; i++) g[i] = Math.floor(r() * 256);
      if (g.length >= 6) Buffer.from(EXT_MAC).copy(g, 0);
      return g;
    }
  }
}

// CI runs 200,000 frames; TAPVS_FUZZ_FRAMES=5000000 (say) for a long run. The seed is fixed.
const N = Number(process.env.TAPVS_FUZZ_FRAMES ?? 200_000);

test(`${N} mutated and random frames: no exception, verdicts add up, table consistent, memory flat, still forwarding`, () => {
  const td = makeDirector({ capture: false });
  resolveNeighbours(td);
  textbookService(td);
  const r = rng(0x7a9b5);
  const base = corpus();
  const batch: Buffer[] = [];
  let batches = 0;
  let heapAfterWarmup = 0;
  for (let i = 0; i < N; i++) {
    batch.push(mutate(base[Math.floor(r() * base.length)], r));
    if (batch.length === 64) {
      td.send(batches++ % 2 === 0 ? 'ext' : 'int', batch);
      batch.length = 0;
      td.now += 1;
      if (i % 6400 === 0) td.dp.tick(td.now);
      if (batches === 200) {
        globalThis.gc?.();
        heapAfterWarmup = process.memoryUsage().heapUsed;
      }
    }
  }
  td.send('ext', batch);
  globalThis.gc?.();
  const heapGrowthMiB = (process.memoryUsage().heapUsed - heapAfterWarmup) / 1048576;
  // The frames themselves are garbage made by this test; the director holds nothing per frame.
  assert.ok(heapGrowthMiB < 64, `heap grew ${heapGrowthMiB.toFixed(1)} MiB`);
  for (const p of td.dp.ports) {
    let drops = 0;
    for (let i = 0; i < p.drops.length; i++) drops += p.drops[i];
    assert.equal(p.sentVerdicts + p.consumedVerdicts + drops, p.rxFrames, `verdicts of ${p.name}`);
  }
  const ext = td.dp.ports[0].drops;
  assert.ok(
    ext[Drop.BadChecksum] > 0 && ext[Drop.Truncated] > 0 && ext[Drop.BadHeader] > 0,
    `drops ${Array.from(ext).join(',')}`,
  );
  // Every live entry is findable by both keys, and the gauges match the entries.
  const c = td.ipvs.conns;
  let live = 0;
  c.forEach((id) => {
    live++;
    assert.equal(c.lookupIn(c.proto[id], c.caddr[id], c.cport[id], c.vaddr[id], c.vport[id], false), id);
    assert.equal(c.lookupOut(c.proto[id], c.daddr[id], c.dport[id], c.caddr[id], c.cport[id]), id);
  });
  assert.equal(live, c.count);
  let gauges = 0;
  for (const d of td.ipvs.services[0].dests) gauges += d.activeConns + d.inactConns;
  assert.equal(gauges, c.count);
  // A clean connection still goes through the same director.
  const before = td.int.txCount;
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 41000, dport: 80, flags: SYN })]);
  assert.equal(td.int.txCount, before + 1);
  const id = c.lookupIn(TCP, CLIENT, 41000, VIP, 80, false);
  assert.ok(id >= 0);
  assert.ok(c.daddr[id] === RS1 || c.daddr[id] === td.ipvs.services[0].dests[1].addr);
});
