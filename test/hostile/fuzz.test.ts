/**
 * Hostile input straight into the dataplane, in process: mutated real frames (bit flips,
 * truncation at every header boundary, corrupted length fields) and random bytes. Nothing may
 * throw, every frame must end as exactly one verdict, the connection table must stay consistent,
 * and the director must still forward a clean connection afterwards. Seeded: reproducible.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Drop } from '../../src/dataplane/drops.js';
import { DirectorHa } from '../../src/ha/director-ha.js';
import { ConnFlag } from '../../src/ipvs/conn-table.js';
import { Fwd } from '../../src/ipvs/dest.js';
import { SyncBackup } from '../../src/sync/sync-backup.js';
import { type SyncEntry, WireFlag } from '../../src/sync/sync-message.js';
import type { VrrpConfig } from '../../src/vrrp/vrrp-config.js';
import {
  CLIENT,
  CLIENT_MAC,
  DIP,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  RS2,
  RS2_MAC,
  resolveNeighbours,
  type TestDirector,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { fixChecksums } from '../helpers/fix-checksums.js';
import { forceGc } from '../helpers/force-gc.js';
import { ACK, arpFrame, ICMP, ip, ipFrame, mac, PSH, SYN, TCP, UDP } from '../helpers/frames.js';
import {
  mutateVnet,
  type SyncConn,
  syncFrame,
  syncV0,
  syncV1,
  VNET_GSO_TCPV4,
  VNET_HDR_LEN,
  vrrpAdvertFrame,
  withVnetHdr,
} from '../helpers/fuzz-seeds.js';
import { StepClock } from '../helpers/step-clock.js';
import { instanceConfig } from '../helpers/vrrp-instance-config.js';

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
    // ARP beyond the request for the VIP: a reply, a gratuitous announcement, a request for the DIP.
    arpFrame(2, CLIENT_MAC, CLIENT, EXT_MAC, VIP),
    arpFrame(1, CLIENT_MAC, CLIENT, z, CLIENT),
    arpFrame(1, RS1_MAC, RS1, z, DIP),
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

interface FuzzOptions {
  /** How a seed becomes a test frame (default `mutate`). */
  mutate?: (f: Buffer, r: () => number) => Buffer;
  /** Runs after every batch (and tick): reads what the director sent, runs due timers. */
  afterBatch?: () => void;
}

/** Sends N mutated and random frames from `base` in batches of 64, alternating links; checks the heap stays flat. */
function fuzz(td: TestDirector, base: Buffer[], seed: number, opts: FuzzOptions = {}): void {
  // TAPVS_FUZZ_SEED (npm run fuzz -- --seed S) varies every test's seed the same way.
  const r = rng(seed ^ Number(process.env.TAPVS_FUZZ_SEED ?? 0));
  const change = opts.mutate ?? mutate;
  const batch: Buffer[] = [];
  let batches = 0;
  let heapAfterWarmup = 0;
  for (let i = 0; i < N; i++) {
    batch.push(change(base[Math.floor(r() * base.length)], r));
    if (batch.length === 64) {
      td.send(batches++ % 2 === 0 ? 'ext' : 'int', batch);
      batch.length = 0;
      td.now += 1;
      // The daemon's tick (expiry, ARP retries, reassembly timeouts) every 100 batches.
      if (batches % 100 === 0) td.dp.tick(td.now);
      opts.afterBatch?.();
      if (batches === 200) {
        forceGc();
        heapAfterWarmup = process.memoryUsage().heapUsed;
      }
    }
  }
  td.send('ext', batch);
  opts.afterBatch?.();
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

/**
 * Every live hashed entry is findable by its keys (a connection by both, a reply's per its method;
 * a template, from a persistent service or a sync message, by its in-key only), and the gauges match
 * the entries: active + inactive = connections, persistConns = templates.
 */
function checkTable(td: TestDirector): void {
  const c = td.ipvs.conns;
  let live = 0,
    templates = 0;
  c.forEach((id) => {
    live++;
    const template = (c.flags[id] & ConnFlag.TEMPLATE) !== 0;
    if (template) templates++;
    // Unhashed entries (invalidated templates) wait out their timer unfindable, as in the kernel.
    // Due no later than its timeout from now: the timeout shown (-c) and re-armed is the real one.
    assert.ok(c.expiresAt[id] - td.now <= c.timeoutMs[id], `entry ${id} due after its timeout`);
    if ((c.flags[id] & ConnFlag.HASHED) === 0) return;
    assert.equal(c.lookupIn(c.proto[id], c.caddr[id], c.cport[id], c.vaddr[id], c.vport[id], template), id);
    if (template) return;
    const bypass = c.fwd[id] === Fwd.ROUTE || c.fwd[id] === Fwd.TUNNEL;
    const [sa, sp] = bypass ? [c.vaddr[id], c.vport[id]] : [c.daddr[id], c.dport[id]];
    assert.equal(c.lookupOut(c.proto[id], sa, sp, c.laddr[id], c.lport[id]), id);
  });
  assert.equal(live, c.count);
  let gauges = 0,
    persist = 0;
  for (const s of td.ipvs.services)
    for (const d of s.dests) {
      gauges += d.activeConns + d.inactConns;
      persist += d.persistConns;
    }
  assert.equal(gauges, c.count - templates);
  assert.equal(persist, templates);
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
  // Mutated ARP reaches the ARP parser: only a packet that bound whole, with an opcode neither
  // request nor reply, is counted ArpIgnored (host/arp.ts).
  for (const p of td.dp.ports) assert.ok(p.drops[Drop.ArpIgnored] > 0, `${p.name}: no ARP reached the parser`);
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

/**
 * Lets 16 virtual minutes pass (ESTABLISHED lasts 900 s): every entry is gone but those
 * `longLived` allows. Then re-teaches the neighbours with `resolve` and checks that `syn` (from
 * CLIENT:`sport` to VIP:80) is forwarded on the internal link.
 */
function stillForwards(
  td: TestDirector,
  resolve: () => void,
  syn: Buffer,
  sport: number,
  longLived: (id: number) => boolean = () => false,
): void {
  for (let s = 0; s < 960; s++) {
    td.now += 1000;
    td.dp.tick(td.now);
  }
  const c = td.ipvs.conns;
  let left = 0;
  c.forEach((id) => {
    if (!longLived(id)) left++;
  });
  assert.equal(left, 0, 'entries left after every timeout');
  resolve();
  td.ext.take();
  td.int.take();
  const before = td.int.txCount;
  td.send('ext', [syn]);
  assert.equal(td.int.txCount, before + 1, 'a clean SYN is forwarded');
  assert.ok(c.lookupIn(TCP, CLIENT, sport, VIP, 80, false) >= 0);
}

test(`${N} mutated frames with virtio-net headers (offloads on): GSO super-frames and every header field, the same guarantees`, () => {
  // A TAP with offloads: every frame behind a 12-byte header, slots for 64 KB super-frames.
  const td = makeDirector({ capture: true, vnetHdr: true, slotSize: 65536 + 64 });
  const z = new Uint8Array(6);
  const resolve = (): void => {
    td.send('ext', [withVnetHdr(arpFrame(1, CLIENT_MAC, CLIENT, z, VIP))]);
    td.send('int', [withVnetHdr(arpFrame(1, RS1_MAC, RS1, z, DIP)), withVnetHdr(arpFrame(1, RS2_MAC, RS2, z, DIP))]);
  };
  resolve();
  textbookService(td);
  const tun = { proto: 'tcp' as const, addr: '192.168.222.131', port: 8080 };
  td.run({
    op: 'addService',
    service: tun,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({
    op: 'addDest',
    service: tun,
    dest: { addr: '192.168.2.129', port: 8080 },
    config: {
      fwd: 'tunnel',
      tunnel: { type: 'gue', port: 6080, csum: 'csum' },
      weight: 1,
      uThreshold: 0,
      lThreshold: 0,
    },
  });
  const SEQ = 1_000_000;
  const data = Buffer.alloc(3000, 0x61);
  const tcpTo = (sport: number, dport: number, flags: number, payload?: Buffer): Buffer =>
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
      proto: TCP,
      sport,
      dport,
      flags,
      seq: SEQ,
      ...(payload ? { payload } : {}),
    });
  const gso = { needsCsum: true, gsoType: VNET_GSO_TCPV4, gsoSize: 1000 };
  const base = [
    // Connections first (plain and partial checksum), then 3,000-byte super-frames on them: NAT
    // forwards one whole; the tunnel must cut it to gso_size segments (tcp-segment.ts).
    withVnetHdr(tcpTo(40000, 80, SYN)),
    withVnetHdr(tcpTo(40001, 8080, SYN), { needsCsum: true }),
    withVnetHdr(tcpTo(40000, 80, ACK | PSH, data), gso),
    withVnetHdr(tcpTo(40001, 8080, ACK | PSH, data), gso),
    withVnetHdr(tcpTo(40000, 80, ACK, Buffer.from('GET / HTTP/1.1\r\n\r\n')), { needsCsum: true }),
    // The real server's super-frame back to the client (SNAT), partial UDP, ARP, ICMP.
    withVnetHdr(
      ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags: ACK, payload: data }),
      gso,
    ),
    withVnetHdr(
      ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: Buffer.from('q') }),
      {
        needsCsum: true,
      },
    ),
    withVnetHdr(arpFrame(1, CLIENT_MAC, CLIENT, z, VIP)),
    withVnetHdr(ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: ICMP, type: 8, payload: Buffer.alloc(56) })),
  ];
  // What left on each link: super-frames forwarded whole (a virtio GSO type and more than the MTU:
  // only a GSO frame may be that long) and GUE packets carrying a later segment of a super-frame
  // (inner sequence number past the seed's, within 64 KB): only segmentTcp() makes those.
  let whole = 0,
    segments = 0;
  const MAX_PLAIN = VNET_HDR_LEN + 14 + 1500;
  const look = (): void => {
    for (const f of td.ext.take()) if (f[1] !== 0 && f.length > MAX_PLAIN) whole++;
    for (const f of td.int.take()) {
      if (f[1] !== 0 && f.length > MAX_PLAIN) whole++;
      // vnet 12, Ethernet 14, outer IPv4 20, UDP 8, GUE 4: the inner IPv4 header at 58.
      if (f.length < 58 + 40 || f.readUInt16BE(24) !== 0x0800 || f[35] !== UDP || f.readUInt16BE(48) !== 6080) continue;
      if (f[58] >>> 4 !== 4 || f[67] !== TCP) continue;
      const ahead = (f.readUInt32BE(58 + (f[58] & 0x0f) * 4 + 4) - SEQ) >>> 0;
      if (ahead > 0 && ahead < 65536) segments++;
    }
  };
  fuzz(td, base, 0x0ff10ad, { mutate: (f, r) => mutateVnet(f, r, mutate), afterBatch: look });
  checkTable(td);
  assert.ok(whole > 0, 'no GSO super-frame was forwarded whole');
  assert.ok(segments > 0, 'no GSO super-frame was cut into segments for the tunnel');
  stillForwards(td, resolve, withVnetHdr(tcpTo(41000, 80, SYN), { needsCsum: true }), 41000);
});

test(`${N} mutated frames at a director with VRRP v2 and v3 instances and a sync backup: adverts and v0/v1 sync messages reach their parsers`, () => {
  const td = makeDirector({ capture: false });
  resolveNeighbours(td);
  textbookService(td);
  const VVIP_EXT = ip('192.168.222.140'),
    VVIP_INT = ip('192.168.2.140');
  const PEER_MAC = mac('52:54:00:00:02:22');
  const PEER_EXT = ip('192.168.222.133'),
    PEER_INT = ip('192.168.2.133');
  const clock = new StepClock(() => td.now);
  const config: VrrpConfig = {
    instances: [
      instanceConfig({
        name: 'VI_2',
        version: 2,
        link: 'ext',
        vrid: 51,
        virtualAddresses: [{ addr: VVIP_EXT, prefixLen: 32, link: 'ext' }],
      }),
      instanceConfig({
        name: 'VI_3',
        version: 3,
        link: 'int',
        vrid: 52,
        // Above the peer's 150: it preempts once the peer's master-down timer runs out (long runs).
        priority: 200,
        virtualAddresses: [{ addr: VVIP_INT, prefixLen: 32, link: 'int' }],
      }),
    ],
    syncGroups: [],
    // No instance named: the backup daemon runs throughout (and a master too), as ipvsadm --start-daemon.
    lvsSyncDaemon: {
      link: 'int',
      instance: null,
      syncid: 0,
      maxlen: 0,
      port: 0,
      ttl: 0,
      group: 0,
      file: 'fuzz.conf',
      line: 1,
    },
  };
  const ha = new DirectorHa(td.dp, td.ipvs, config, clock, { defer: (fn) => fn() });
  ha.prepare();
  ha.start();
  const spec = (version: 2 | 3, vrid: number, addr: number) =>
    ({ version, vrid, advertIntMs: 1000, authPass: null, v3ChecksumAsV2: false, addresses: [addr] }) as const;
  const conn = (cport: number, flags: number, state: number): SyncConn => ({
    proto: TCP,
    flags,
    state,
    caddr: CLIENT,
    cport,
    vaddr: VIP,
    vport: 80,
    daddr: RS1,
    dport: 80,
  });
  const SYNC_GROUP = ip('224.0.0.81');
  const v1 = syncV1(7, [
    conn(45000, WireFlag.MASQ, 1),
    conn(0, WireFlag.TEMPLATE, 0),
    { ...conn(45001, 0, 0), proto: UDP },
  ]);
  const v0 = syncV0(7, [conn(45002, WireFlag.MASQ, 1), conn(45003, WireFlag.IN_SEQ | WireFlag.OUT_SEQ, 1)]);
  const base = [
    ...corpus(),
    // A peer's adverts: higher priority (it stays master), lower (we take over after the timer), resigning.
    vrrpAdvertFrame(PEER_MAC, PEER_EXT, spec(2, 51, VVIP_EXT), 150),
    vrrpAdvertFrame(PEER_MAC, PEER_EXT, spec(2, 51, VVIP_EXT), 50),
    vrrpAdvertFrame(PEER_MAC, PEER_EXT, spec(2, 51, VVIP_EXT), 0),
    vrrpAdvertFrame(PEER_MAC, PEER_INT, spec(3, 52, VVIP_INT), 150),
    vrrpAdvertFrame(PEER_MAC, PEER_INT, spec(3, 52, VVIP_INT), 0),
    // The peer master's sync messages, v1 and v0, to the default group and port.
    syncFrame(PEER_MAC, PEER_INT, SYNC_GROUP, 8848, v1),
    syncFrame(PEER_MAC, PEER_INT, SYNC_GROUP, 8848, v0),
  ];
  // Which sync version each entry the parser handed over came in (the backup's own counters do
  // not tell v0 from v1): SyncBackup.entry() is wrapped for this test only.
  const entries = { v0: 0, v1: 0 };
  const entry = SyncBackup.prototype.entry;
  SyncBackup.prototype.entry = function (this: SyncBackup, e: SyncEntry): void {
    entries[e.v0 ? 'v0' : 'v1']++;
    entry.call(this, e);
  };
  try {
    fuzz(td, base, 0x7e4d5, { afterBatch: () => clock.runDue() });
  } finally {
    SyncBackup.prototype.entry = entry;
  }
  checkTable(td);
  const st = ha.status();
  const vrrp = st.vrrp ?? [];
  for (const name of ['VI_2', 'VI_3']) {
    const v = vrrp.find((x) => x.name === name);
    // advertsReceived counts only adverts checkAdvert() passed: the version's parser ran to the end.
    assert.ok(v !== undefined && (v.advertsReceived as number) > 0, `${name}: ${JSON.stringify(v)}`);
  }
  const backup = (st.sync as { backup: { messages: number; installed: number } | null }).backup;
  assert.ok(backup !== null && backup.messages > 1000 && backup.installed > 0, `sync backup ${JSON.stringify(backup)}`);
  assert.ok(entries.v0 > 0 && entries.v1 > 0, `sync entries read ${JSON.stringify(entries)}`);
  ha.stop();
  // Synced entries keep the master's timeout (up to 2^32 - 1 ms here), and a template lives on
  // while it controls one: those may outlast the 16 minutes.
  const c = td.ipvs.conns;
  const synced = (id: number): boolean =>
    ((c.flags[id] & ConnFlag.SYNCED) !== 0 && c.timeoutMs[id] > 960_000) || c.nControlled[id] > 0;
  stillForwards(
    td,
    () => resolveNeighbours(td),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 41000, dport: 80, flags: SYN }),
    41000,
    synced,
  );
});
