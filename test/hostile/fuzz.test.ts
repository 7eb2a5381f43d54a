/**
 * Hostile input straight into the dataplane, in process: mutated real frames (bit flips,
 * truncation at every header boundary, corrupted length fields) and random bytes. Nothing may
 * throw, every frame must end as exactly one verdict, the connection table must stay consistent,
 * and the director must still forward a clean connection afterwards. Seeded: reproducible.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Drop } from '../../src/dataplane/drops.js';
import { Fwd } from '../../src/ipvs/dest.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  resolveNeighbours,
  type TestDirector,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { fixChecksums } from '../helpers/fix-checksums.js';
import { forceGc } from '../helpers/force-gc.js';
import { ACK, arpFrame, ICMP, ip, ipFrame, SYN, TCP, UDP } from '../helpers/frames.js';

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

function mutateRaw(f: Buffer, r: () => number): Buffer {
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

/**
 * Mostly a mutation, then in 60% of cases checksums made right again (fix-checksums.ts): without that,
 * almost every mutated IPv4 frame stops at the checksum check and the parsers behind it
 * (reassembly, ICMP errors' quoted headers, options, transport states) are never fuzzed.
 */
function mutate(f: Buffer, r: () => number): Buffer {
  // One frame in ten unchanged: valid traffic among the hostile, as on a real link (fragments
  // then complete, connections then exist for later mutations to hit).
  if (r() < 0.1) return Buffer.from(f);
  const b = mutateRaw(f, r);
  return r() < 0.6 ? fixChecksums(Buffer.from(b)) : b;
}

/** `f` with `extra` bytes of IP options (NOP... EOL) after the 20-byte header, checksums fixed. */
function withIpOptions(f: Buffer, extra: number): Buffer {
  const opts = Buffer.alloc(extra, 1);
  opts[extra - 1] = 0;
  const b = Buffer.concat([f.subarray(0, 34), opts, f.subarray(34)]);
  b[14] = 0x40 | ((20 + extra) / 4);
  b.writeUInt16BE(b.readUInt16BE(16) + extra, 16);
  return fixChecksums(b);
}

/** `f` with an 802.1Q tag (VLAN `vid`) after the MACs. */
function withVlan(f: Buffer, vid: number): Buffer {
  const tag = Buffer.alloc(4);
  tag.writeUInt16BE(0x8100, 0);
  tag.writeUInt16BE(vid, 2);
  return Buffer.concat([f.subarray(0, 12), tag, f.subarray(12)]);
}

/** The IPv4 datagram in `f` cut into fragments of `pieces` 8-byte units each (the last takes the rest). */
function fragmentsOf(f: Buffer, pieces: readonly number[]): Buffer[] {
  const payload = f.subarray(34, 14 + f.readUInt16BE(16));
  const out: Buffer[] = [];
  let off8 = 0;
  for (let i = 0; i <= pieces.length; i++) {
    const last = i === pieces.length;
    const bytes = last ? payload.subarray(off8 * 8) : payload.subarray(off8 * 8, (off8 + pieces[i]) * 8);
    const b = Buffer.concat([f.subarray(0, 34), bytes]);
    b.writeUInt16BE(20 + bytes.length, 16);
    b.writeUInt16BE((last ? 0 : 0x2000) | off8, 20);
    out.push(fixChecksums(b));
    if (!last) off8 += pieces[i];
  }
  return out;
}

/** Seeds for the parsers behind the checksums: fragments (in order, overlapping, duplicate), options, VLAN, an ICMP error quoting a connection. */
function deepCorpus(): Buffer[] {
  const datagram = ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    { proto: UDP, sport: 5353, dport: 53, payload: Buffer.alloc(40, 0x5a) },
    { id: 0x4242, df: false },
  );
  const [a, b, c] = fragmentsOf(datagram, [2, 2]);
  // The same datagram in two pieces with a different boundary: overlaps with the three above.
  const [d, e] = fragmentsOf(datagram, [3]);
  const reply = ipFrame(EXT_MAC, CLIENT_MAC, VIP, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags: SYN | ACK });
  return [
    a,
    b,
    c,
    d,
    e,
    a,
    withIpOptions(ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40002, dport: 80, flags: SYN }), 8),
    withVlan(ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40003, dport: 80, flags: SYN }), 7),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
      proto: ICMP,
      type: 3,
      code: 4,
      rest: 1400,
      payload: reply.subarray(14, 14 + 28),
    }),
  ];
}

// CI runs 200,000 frames; `npm run fuzz -- --frames 10000000 [--seed S]` for a long run.
const N = Number(process.env.TAPVS_FUZZ_FRAMES ?? 200_000);

/** Sends N mutated and random frames from `base` in batches of 64, alternating links; checks the heap stays flat. */
function fuzz(td: TestDirector, base: Buffer[], seed: number): void {
  // TAPVS_FUZZ_SEED (npm run fuzz -- --seed S) varies every test's seed the same way.
  const r = rng(seed ^ Number(process.env.TAPVS_FUZZ_SEED ?? 0));
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
        forceGc();
        heapAfterWarmup = process.memoryUsage().heapUsed;
      }
    }
  }
  td.send('ext', batch);
  forceGc();
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
}

/** Every live entry is findable by both keys (a reply's, per its method), and the gauges match the entries. */
function checkTable(td: TestDirector): void {
  const c = td.ipvs.conns;
  let live = 0;
  c.forEach((id) => {
    live++;
    assert.equal(c.lookupIn(c.proto[id], c.caddr[id], c.cport[id], c.vaddr[id], c.vport[id], false), id);
    const bypass = c.fwd[id] === Fwd.ROUTE || c.fwd[id] === Fwd.TUNNEL;
    const [sa, sp] = bypass ? [c.vaddr[id], c.vport[id]] : [c.daddr[id], c.dport[id]];
    assert.equal(c.lookupOut(c.proto[id], sa, sp, c.laddr[id], c.lport[id]), id);
  });
  assert.equal(live, c.count);
  let gauges = 0;
  for (const s of td.ipvs.services) for (const d of s.dests) gauges += d.activeConns + d.inactConns;
  assert.equal(gauges, c.count);
}

test(`${N} mutated and random frames: no exception, verdicts add up, table consistent, memory flat, still forwarding`, () => {
  const td = makeDirector({ capture: false });
  resolveNeighbours(td);
  textbookService(td);
  fuzz(td, [...corpus(), ...deepCorpus()], 0x7a9b5);
  checkTable(td);
  // The checksums made right let mutations reach reassembly and the ICMP-error parser.
  const reasm = td.dp.status().reassembly;
  assert.ok((reasm.fragments ?? 0) > 1000 && (reasm.reassembled ?? 0) > 0, `reassembly ${JSON.stringify(reasm)}`);
  const c = td.ipvs.conns;
  // Long runs fill the table (4,096 entries here): then a new SYN is rightly refused (table_full).
  // 16 minutes of virtual time later every entry has timed out (ESTABLISHED lasts 900 s), none
  // is left behind, and a clean connection goes through the same director.
  for (let s = 0; s < 960; s++) {
    td.now += 1000;
    td.dp.tick(td.now);
  }
  assert.equal(c.count, 0, 'entries left after every timeout');
  resolveNeighbours(td); // the ARP entries aged out over those minutes too
  td.int.take();
  const before = td.int.txCount;
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 41000, dport: 80, flags: SYN })]);
  assert.equal(td.int.txCount, before + 1);
  const id = c.lookupIn(TCP, CLIENT, 41000, VIP, 80, false);
  assert.ok(id >= 0);
  assert.ok(c.daddr[id] === RS1 || c.daddr[id] === td.ipvs.services[0].dests[1].addr);
});

test(`${N} mutated frames against full NAT, tunnel (GUE) and direct-routing services: the same guarantees`, () => {
  const td = makeDirector({ capture: false });
  resolveNeighbours(td);
  const cfg = { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false };
  const web = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
  const tun = { proto: 'tcp' as const, addr: '192.168.222.131', port: 8080 };
  const dns = { proto: 'udp' as const, addr: '192.168.222.131', port: 53 };
  const dest = { weight: 1, uThreshold: 0, lThreshold: 0 };
  td.run({ op: 'addService', service: web, config: cfg });
  td.run({ op: 'addService', service: tun, config: cfg });
  td.run({ op: 'addService', service: dns, config: cfg });
  td.run({ op: 'addLaddr', service: web, laddr: { addr: '192.168.2.140' } });
  td.run({
    op: 'addDest',
    service: web,
    dest: { addr: '192.168.2.129', port: 80 },
    config: { fwd: 'fullnat', ...dest },
  });
  td.run({
    op: 'addDest',
    service: tun,
    dest: { addr: '192.168.2.129', port: 8080 },
    config: { fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'csum' }, ...dest },
  });
  td.run({ op: 'addDest', service: dns, dest: { addr: '192.168.2.129', port: 53 }, config: { fwd: 'route', ...dest } });
  // Real traffic of each method, captured, becomes the corpus (with what a router or RS would send back).
  const lip = ip('192.168.2.140');
  const cap = makeDirector({ capture: true });
  resolveNeighbours(cap);
  for (const req of [
    { op: 'addService', service: web, config: cfg },
    { op: 'addService', service: tun, config: cfg },
    { op: 'addLaddr', service: web, laddr: { addr: '192.168.2.140' } },
    { op: 'addDest', service: web, dest: { addr: '192.168.2.129', port: 80 }, config: { fwd: 'fullnat', ...dest } },
    {
      op: 'addDest',
      service: tun,
      dest: { addr: '192.168.2.129', port: 8080 },
      config: { fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'csum' }, ...dest },
    },
  ] as const)
    cap.run(req as Parameters<TestDirector['run']>[0]);
  cap.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40001, dport: 8080, flags: SYN }),
  ]);
  const [fnatSyn, gue] = cap.int.take();
  const lport = fnatSyn.readUInt16BE(34);
  const base = [
    ...corpus(),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40001, dport: 8080, flags: SYN }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: Buffer.from('q') }),
    ipFrame(INT_MAC, RS1_MAC, RS1, lip, { proto: TCP, sport: 80, dport: lport, flags: SYN | ACK }),
    ipFrame(INT_MAC, RS1_MAC, RS1, lip, { proto: ICMP, type: 3, code: 3, payload: fnatSyn.subarray(14, 14 + 28) }),
    ipFrame(INT_MAC, RS1_MAC, RS1, ip('192.168.2.136'), {
      proto: ICMP,
      type: 3,
      code: 4,
      rest: 1400,
      payload: gue.subarray(14, Math.min(gue.length, 14 + 548)),
    }),
    arpFrame(1, RS1_MAC, RS1, new Uint8Array(6), lip),
  ];
  fuzz(td, base, 0x5eedf00d);
  checkTable(td);
  // Each method still forwards a clean connection.
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 42000, dport: 80, flags: SYN }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 42001, dport: 8080, flags: SYN }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, sport: 42002, dport: 53 }),
  ]);
  const c = td.ipvs.conns;
  for (const [port, vport, fwd] of [
    [42000, 80, Fwd.FULLNAT],
    [42001, 8080, Fwd.TUNNEL],
    [42002, 53, Fwd.ROUTE],
  ] as const) {
    const id = c.lookupIn(vport === 53 ? UDP : TCP, CLIENT, port, VIP, vport, false);
    assert.ok(id >= 0, `connection ${port}`);
    assert.equal(c.fwd[id], fwd);
  }
});
