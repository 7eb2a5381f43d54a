/**
 * An exception in the packet path is a counted, logged event, not lost traffic: the frame that
 * threw ends as the `exception` drop, the fault is reported once with the frame's trace (summary
 * and hex), the batch goes on with the next frame, and status and metrics show the count. The
 * fault is injected with Dataplane.injectFaultForTests (a test-only hook no frame can reach).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMetrics } from '../../src/control/metrics.js';
import { DROP_NAMES, Drop } from '../../src/dataplane/drops.js';
import { FAULT_BURST, type FrameFault } from '../../src/dataplane/frame-faults.js';
import { logFrameFault } from '../../src/process-faults.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  makeDirector,
  RS1,
  RS2,
  resolveNeighbours,
  type TestDirector,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { ipFrame, SYN, TCP } from '../helpers/frames.js';

const BAD_PORT = 40001;

/** A director whose general path throws on TCP frames from BAD_PORT, and the faults it reported. */
function faulty(): { td: TestDirector; faults: FrameFault[] } {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.strictFaults = false;
  const faults: FrameFault[] = [];
  td.dp.faults.reporter = (f) => faults.push(f);
  // Ethernet (14) + IPv4 without options (20): the TCP source port.
  td.dp.injectFaultForTests((u8, off) => u8[off + 23] === TCP && ((u8[off + 34] << 8) | u8[off + 35]) === BAD_PORT);
  return { td, faults };
}

const syn = (sport: number): Buffer =>
  ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport, dport: 80, flags: SYN });

/** Every received frame has exactly one verdict. */
function assertCountersAddUp(td: TestDirector): void {
  for (const p of td.dp.ports) {
    const drops = p.drops.reduce((a, b) => a + b, 0);
    assert.equal(p.rxFrames, p.sentVerdicts + p.consumedVerdicts + drops, `link ${p.name}`);
  }
}

test('a frame whose processing throws is dropped as "exception", reported with its trace, and the next frame of the batch is forwarded', () => {
  const { td, faults } = faulty();
  const bad = syn(BAD_PORT);
  td.send('ext', [bad, syn(40002)]);
  const ext = td.dp.ports[0];
  assert.equal(ext.drops[Drop.Exception], 1);
  assert.equal(DROP_NAMES[Drop.Exception], 'exception');
  assert.equal(td.dp.faults.exceptions, 1);
  assert.equal(td.dp.status().exceptions, 1);
  assertCountersAddUp(td);
  // The next frame went on: DNATed to a real server on the internal link.
  const out = td.int.take();
  assert.equal(out.length, 1, 'the frame after the faulty one is forwarded');
  const daddr = out[0].readInt32BE(14 + 16);
  assert.ok(daddr === RS1 || daddr === RS2, 'to a real server');
  assert.equal(out[0].readUInt16BE(14 + 20), 40002);
  // Reported once, with the frame's summary and its first bytes.
  assert.equal(faults.length, 1);
  const f = faults[0];
  assert.equal(f.link, 'ext');
  assert.equal(f.length, bad.length);
  assert.match(f.frame, /^IP 192\.168\.222\.1\.40001 > 192\.168\.222\.131\.80: Flags \[S\]/);
  assert.equal(f.hex, bad.subarray(0, Math.min(96, bad.length)).toString('hex'));
  assert.match(f.error, /injected fault \(test\)/);
  assert.equal(f.suppressed, 0);
  // The connection of the next SYN exists; none for the faulty one.
  assert.equal(td.ipvs.conns.count, 1);
});

test('the fault log line is one error line naming the link, the frame, its hex and the exception', () => {
  const { td, faults } = faulty();
  td.send('ext', [syn(BAD_PORT)]);
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    lines.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    logFrameFault(faults[0]);
  } finally {
    process.stderr.write = write;
  }
  assert.equal(lines.length, 1);
  const line = lines[0];
  assert.equal(line.split('\n').length, 2, 'one line (the stack is escaped)');
  assert.match(line, / error tapvsd: dataplane exception: frame dropped, forwarding goes on /);
  assert.match(line, / link="ext" /);
  assert.match(line, / frame="IP 192\.168\.222\.1\.40001 > 192\.168\.222\.131\.80: Flags \[S\][^"]*" /);
  assert.match(line, / hex="020000000001525400000001080045/);
  assert.match(line, / error="Error: injected fault \(test\)\\n +at /);
});

test('a storm of faults is counted whole but reported a few times a second, saying how many were left out', () => {
  const { td, faults } = faulty();
  const storm: Buffer[] = [];
  for (let i = 0; i < 60; i++) storm.push(syn(BAD_PORT));
  td.send('ext', storm);
  td.send('ext', storm);
  assert.equal(td.dp.faults.exceptions, 120);
  assert.equal(td.dp.ports[0].drops[Drop.Exception], 120);
  assert.equal(faults.length, FAULT_BURST);
  assertCountersAddUp(td);
  td.now += 1000;
  td.send('ext', [syn(BAD_PORT)]);
  assert.equal(faults.length, FAULT_BURST + 1);
  assert.equal(faults[FAULT_BURST].suppressed, 120 - FAULT_BURST);
  assert.equal(td.dp.faults.suppressed, 120 - FAULT_BURST);
});

test('a strict test director (the default) fails on a fault instead of letting it pass', () => {
  const { td } = faulty();
  td.strictFaults = true;
  assert.throws(
    () => td.send('ext', [syn(BAD_PORT)]),
    /dataplane fault on link ext: IP 192\.168\.222\.1\.40001 > .*\n.*injected fault/s,
  );
});

test('status and metrics show the exceptions: tapvs_dataplane_exceptions_total and the "exception" drop reason', () => {
  const { td } = faulty();
  td.send('ext', [syn(BAD_PORT), syn(BAD_PORT), syn(40003)]);
  const text = renderMetrics(td.ipvs, td.dp);
  assert.match(text, /^# TYPE tapvs_dataplane_exceptions_total counter$/m);
  assert.match(text, /^tapvs_dataplane_exceptions_total 2$/m);
  assert.match(text, /^tapvs_drops_total\{link="ext",reason="exception"\} 2$/m);
  assert.match(text, /^tapvs_uncaught_exceptions_total \d+$/m);
});

test('a fault after the frames (a link whose flush throws) is counted and reported, and processBatch returns', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.strictFaults = false;
  const faults: FrameFault[] = [];
  td.dp.faults.reporter = (f) => faults.push(f);
  const flush = td.int.flush.bind(td.int);
  let once = true;
  td.int.flush = () => {
    if (once) {
      once = false;
      throw new Error('flush bug (test)');
    }
    flush();
  };
  assert.doesNotThrow(() => td.send('ext', [syn(40004)]));
  assert.equal(td.dp.faults.exceptions, 1);
  assert.equal(faults.length, 1);
  assert.equal(faults[0].frame, '');
  assert.match(faults[0].error, /flush bug \(test\)/);
  assertCountersAddUp(td);
  // The link works on: the next batch's frames leave.
  td.send('ext', [syn(40005)]);
  assert.ok(td.int.take().length >= 1);
});
