/**
 * `tapvsd trace -r`: a pcapng written by the Tracer read back as the live lines, decisions and
 * directions included, filtered by an expression and cut by -c; a classic pcap (tcpdump -w)
 * read too; a damaged file fails after the packets before the damage.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isTapvsError } from '../../../src/errors.js';
import { printSavedTrace } from '../../../src/trace/read-trace.js';
import { dropComment, TRACE_RX, TRACE_TX, Tracer } from '../../../src/trace/tracer.js';
import { ICMP, ip, ipFrame, mac, SYN, TCP } from '../../helpers/frames.js';

const hasTcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;
const A = mac('02:00:00:00:00:01'),
  B = mac('02:00:00:00:00:02');
const C = ip('192.168.222.1'),
  V = ip('192.168.222.131');
const T0 = new Date(2026, 10, 24, 18, 53, 26).getTime() + 123.456;

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapvs-read-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeTrace(file: string): void {
  const tr = new Tracer({ links: [{ name: 'ext' }, { name: 'int' }], file, clock: 'caller' });
  const syn = ipFrame(B, A, C, V, { proto: TCP, sport: 40000, dport: 80, flags: SYN });
  const ping = ipFrame(B, A, C, V, { proto: ICMP });
  tr.record(0, TRACE_RX, syn, 0, syn.length, 'NAT in: dst 192.168.222.131:80 -> 192.168.2.129:80', T0);
  tr.record(1, TRACE_TX, syn, 0, syn.length, null, T0 + 0.25);
  tr.record(0, TRACE_RX, ping, 0, ping.length, dropComment('no_route'), T0 + 1);
  tr.stop();
}

test('trace -r: the live lines with the recorded decisions, a filter and -c', (t) => {
  const file = path.join(tmp(t), 'saved.pcapng');
  writeTrace(file);
  const lines: string[] = [];
  assert.equal(
    printSavedTrace(file, {}, (l) => lines.push(l)),
    3,
  );
  assert.deepEqual(lines, [
    '18:53:26.123456 ext rx IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0 | NAT in: dst 192.168.222.131:80 -> 192.168.2.129:80',
    '18:53:26.123706 int tx IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0',
    '18:53:26.124456 ext rx IP 192.168.222.1 > 192.168.222.131: ICMP echo request, id 1, seq 1, length 8 | drop: no_route',
  ]);
  const icmp: string[] = [];
  printSavedTrace(file, { filter: 'icmp or udp' }, (l) => icmp.push(l));
  assert.deepEqual(icmp, [lines[2]]);
  const first: string[] = [];
  assert.equal(
    printSavedTrace(file, { count: 1 }, (l) => first.push(l)),
    1,
  );
  assert.deepEqual(first, [lines[0]]);
  assert.throws(
    () => printSavedTrace(file, { filter: 'tcp port' }, () => {}),
    (e: unknown) => isTapvsError(e) && /syntax error/.test(e.message),
  );
});

test('trace -r: a cut file fails after the packets it could read', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'saved.pcapng');
  writeTrace(file);
  const cut = path.join(dir, 'cut.pcapng');
  const b = fs.readFileSync(file);
  fs.writeFileSync(cut, b.subarray(0, b.length - 10));
  const lines: string[] = [];
  assert.throws(
    () => printSavedTrace(cut, {}, (l) => lines.push(l)),
    (e: unknown) => isTapvsError(e) && /truncated/.test(e.message),
  );
  assert.equal(lines.length, 2);
  assert.throws(() => printSavedTrace(path.join(dir, 'none'), {}, () => {}), /cannot read/);
});

test('trace -r: a classic pcap from tcpdump -w reads too (direction unknown: "-")', {
  skip: !hasTcpdump && 'needs tcpdump to convert the file',
}, (t) => {
  const dir = tmp(t);
  const ng = path.join(dir, 'saved.pcapng');
  writeTrace(ng);
  const pcap = path.join(dir, 'saved.pcap');
  execFileSync('tcpdump', ['-r', ng, '-w', pcap, 'tcp'], { stdio: 'ignore' });
  const lines: string[] = [];
  printSavedTrace(pcap, {}, (l) => lines.push(l));
  assert.deepEqual(lines, [
    '18:53:26.123456 if0 - IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0',
    '18:53:26.123706 if0 - IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0',
  ]);
});
