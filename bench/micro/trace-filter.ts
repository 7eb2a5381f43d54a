/**
 * The per-frame cost of a trace's capture filter and clock: what the dataplane pays for every
 * frame while a trace runs (nothing when none runs: Dataplane checks `tracer !== null` first).
 *
 *   node dist/bench/micro/trace-filter.js [frames=2000000]
 *
 * For each expression, on a frame it accepts and one it rejects: the TypeScript interpreter
 * (bpf.ts, what tapvs runs), and libpcap's bpf_filter() in C through the addon (the call
 * included: the alternative the interpreter was chosen over). Then the clock read per frame
 * (performance.now(), the tracer's) against Date.now() (the batch clock). The verdicts of both
 * interpreters are compared before timing.
 */

import { BpfProgram } from '../../src/trace/bpf.js';
import { compileExpression, loadBpfAddon } from '../../src/trace/bpf-compile.js';
import { CaptureFilter } from '../../src/trace/filter.js';

const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 2_000_000);

/** An Ethernet/IPv4/TCP SYN 192.168.222.1:40000 -> 192.168.222.131:80, or UDP to port 53. */
function frame(tcp: boolean): Uint8Array {
  const b = new Uint8Array(tcp ? 54 : 42);
  b.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  b.set([0x45, 0, 0, tcp ? 40 : 28, 0x12, 0x34, 0x40, 0, 64, tcp ? 6 : 17, 0, 0], 14);
  b.set([192, 168, 222, 1, 192, 168, 222, 131], 26);
  b.set([0x9c, 0x40, 0, tcp ? 80 : 53], 34);
  if (tcp) b[47] = 0x02;
  return b;
}

const EXPRS = [
  'tcp port 80',
  'tcp port 80 and not host 10.1.2.3',
  'vlan or (tcp portrange 8000-8090 and not host 10.1.2.3) or net 192.168.222.0 mask 255.255.255.0 and port 80',
];
const FRAMES: Array<[string, Uint8Array]> = [
  ['tcp:80 ', frame(true)],
  ['udp:53 ', frame(false)],
];

function time(fn: () => number): number {
  fn(); // warm-up pass
  const t0 = performance.now();
  const sink = fn();
  const ns = ((performance.now() - t0) * 1e6) / N;
  if (sink === -1) console.log('unreachable');
  return ns;
}

const addon = loadBpfAddon();
const empty = new CaptureFilter('', 262144);
const f0 = FRAMES[0][1];
console.log(`frames per measurement: ${N}`);
console.log(
  `empty expression (CaptureFilter.match, no program): ${time(() => {
    let s = 0;
    for (let i = 0; i < N; i++) if (empty.match(f0, 0, f0.length)) s++;
    return s;
  }).toFixed(1)} ns/frame`,
);
for (const expr of EXPRS) {
  const insns = compileExpression(expr, 262144);
  const prog = new BpfProgram(insns);
  console.log(`\n"${expr}" (${insns.length / 4} instructions)`);
  for (const [name, f] of FRAMES) {
    const ts = prog.run(f, 0, f.length, f.length),
      c = addon.filter(insns, f, f.length, f.length);
    if (ts !== c) throw new Error(`verdicts differ on ${name}: ts ${ts}, C ${c}`);
    const tsNs = time(() => {
      let s = 0;
      for (let i = 0; i < N; i++) s += prog.run(f, 0, f.length, f.length) !== 0 ? 1 : 0;
      return s;
    });
    const cNs = time(() => {
      let s = 0;
      for (let i = 0; i < N; i++) s += addon.filter(insns, f, f.length, f.length) !== 0 ? 1 : 0;
      return s;
    });
    console.log(
      `  ${name} ${ts !== 0 ? 'accept' : 'reject'}: TypeScript ${tsNs.toFixed(1)} ns/frame, C bpf_filter via addon ${cNs.toFixed(1)} ns/frame`,
    );
  }
}
console.log(
  `\nclock: performance.now() ${time(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += performance.now();
    return s;
  }).toFixed(1)} ns/read, Date.now() ${time(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += Date.now();
    return s;
  }).toFixed(1)} ns/read`,
);
