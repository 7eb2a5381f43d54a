/**
 * Per-decision cost of every scheduler at 2, 64 and 1024 dests, and whether schedule() allocates.
 *
 * Run: `node dist/bench/micro/sched.js [decisions]` (default 1e6 per cell). Each scheduler runs
 * in its own child process (`--only <name>`), so one scheduler's JIT feedback (deopts on a
 * polymorphic call site) cannot leak into another's timing.
 *
 * Each cell: a TCP VIP service with random weights 1..100 and random connection counters (fixed
 * seed), one reused FlowKey whose client address and port change per decision (a VIP service: the
 * destination IP is always the VIP), 200k warm-up decisions, then the timed run with
 * process.hrtime.bigint(). Allocation check: young-generation bytes in use before and after the
 * timed run (v8 new_space, where JS objects are born), with GCs inside the run counted through a
 * PerformanceObserver; "alloc B/dec" is that growth per decision, meaningful when the GC column is
 * 0 (1e6 decisions allocating 16 B each would need 16 MB and force scavenges). Prints a markdown
 * table.
 */
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { Dest } from '../../src/ipvs/dest.js';
import { createScheduler, schedulerNames } from '../../src/ipvs/sched/registry.js';
import { xorshift32 } from '../../src/ipvs/sched/twos.js';
import { FlowKey, Service } from '../../src/ipvs/service.js';
import { IPPROTO_TCP } from '../../src/packet/ipv4.js';

const SIZES = [2, 64, 1024];
const WARMUP = 200_000;
const VIP = 0xc000020a | 0;

interface Cell {
  n: number;
  ns: number;
  allocPerDec: number;
  gcs: number;
  hits: number;
}

/** Start times (performance.now() scale) of every GC seen, to count those inside a timed run. */
const gcTimes: number[] = [];
const settle = () => new Promise<void>((r) => setImmediate(r));

const newSpaceUsed = (): number => {
  for (const sp of getHeapSpaceStatistics()) if (sp.space_name === 'new_space') return sp.space_used_size;
  return 0;
};

function build(name: string, n: number): Service {
  const rnd = xorshift32(0x5eed + n);
  const sched = createScheduler(name, { flags: 0 });
  const svc = new Service(IPPROTO_TCP, VIP, 80, sched);
  for (let i = 0; i < n; i++) {
    const d = new Dest((0x0a010000 + i) | 0, 8080);
    d.weight = 1 + (rnd() % 100);
    d.activeConns = rnd() % 1000;
    d.inactConns = rnd() % 1000;
    svc.dests.push(d);
  }
  sched.destsChanged(svc);
  return svc;
}

/** The timed loop: one FlowKey, addresses from a precomputed table, no allocation of its own. */
function run(svc: Service, flow: FlowKey, addrs: Int32Array, count: number, t0: number): number {
  const s = svc.scheduler;
  let hits = 0;
  for (let i = 0; i < count; i++) {
    flow.caddr = addrs[i & 4095];
    flow.cport = 1024 + (i & 0x7fff);
    if (s.schedule(svc, flow, t0 + (i >>> 10)) !== null) hits++;
  }
  return hits;
}

async function measure(name: string, decisions: number): Promise<Cell[]> {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcTimes.push(e.startTime);
  }).observe({ entryTypes: ['gc'] });
  const addrs = new Int32Array(4096);
  const rnd = xorshift32(42);
  for (let i = 0; i < addrs.length; i++) addrs[i] = rnd() | 0;
  const flow = new FlowKey();
  flow.proto = IPPROTO_TCP;
  flow.vaddr = VIP;
  flow.vport = 80;
  const cells: Cell[] = [];
  for (const n of SIZES) {
    const svc = build(name, n);
    // Two warm-up halves 10 minutes apart, so lblc/lblcr's lazy GC replay has run (and been
    // optimised) before the timed run, which again starts 10+ minutes later.
    run(svc, flow, addrs, WARMUP / 2, 1_000_000);
    run(svc, flow, addrs, WARMUP / 2, 1_600_000);
    await settle();
    const before = newSpaceUsed();
    const w0 = performance.now();
    const start = process.hrtime.bigint();
    const hits = run(svc, flow, addrs, decisions, 2_400_000);
    const ns = Number(process.hrtime.bigint() - start) / decisions;
    const w1 = performance.now();
    const after = newSpaceUsed();
    await settle();
    await settle();
    const gcs = gcTimes.filter((t) => t >= w0 && t <= w1).length;
    cells.push({ n, ns, allocPerDec: (after - before) / decisions, gcs, hits });
  }
  return cells;
}

async function main(): Promise<void> {
  const onlyAt = process.argv.indexOf('--only');
  const decisions = Number(process.argv.find((a, i) => i >= 2 && /^[0-9.e+]+$/.test(a)) ?? 1e6);
  if (onlyAt > 0) {
    console.log(JSON.stringify(await measure(process.argv[onlyAt + 1], decisions)));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const head = SIZES.map((n) => `${n}: ns/dec | ${n}: alloc B/dec | ${n}: GCs`).join(' | ');
  console.log(`Scheduler decision cost, ${decisions.toExponential(0)} decisions per cell, Node ${process.version}\n`);
  console.log(`| sched | ${head} |`);
  console.log(`|---|${SIZES.map(() => '---:|---:|---:').join('|')}|`);
  for (const name of schedulerNames()) {
    const r = spawnSync(process.execPath, [...process.execArgv, self, '--only', name, String(decisions)], {
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      console.log(`| ${name} | failed: ${r.stderr.trim()} |`);
      continue;
    }
    const cells = JSON.parse(r.stdout) as Cell[];
    const cols = cells.map((c) => `${c.ns.toFixed(1)} | ${c.gcs === 0 ? c.allocPerDec.toFixed(3) : 'n/a'} | ${c.gcs}`);
    console.log(`| ${name} | ${cols.join(' | ')} |`);
  }
}

void main();
