/**
 * Capture filters in tcpdump's language: each expression is compiled by libpcap and run by our
 * BPF interpreter over a set of frames, and the verdicts are compared with tcpdump's own on the
 * same frames written to a pcap file (`tcpdump -n -tt -r FILE EXPR`): tcpdump is the oracle.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isTapvsError } from '../../../src/errors.js';
import { CaptureFilter } from '../../../src/trace/filter.js';
import { arpFrame, ICMP, ip, ipFrame, mac, SYN, TCP, UDP } from '../../helpers/frames.js';

const hasTcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;

const CLIENT = ip('192.168.222.1'),
  VIP = ip('192.168.222.131'),
  RS1 = ip('192.168.2.129'),
  OTHER = ip('10.1.2.3');
const A = mac('02:00:00:00:00:01'),
  B = mac('02:00:00:00:00:02');

/** The same frame with an 802.1Q tag (VLAN `id`) after the MAC addresses. */
function vlan(f: Buffer, id = 100, tpid = 0x8100): Buffer {
  const out = Buffer.alloc(f.length + 4);
  f.copy(out, 0, 0, 12);
  out.writeUInt16BE(tpid, 12);
  out.writeUInt16BE(id, 14);
  f.copy(out, 16, 12);
  return out;
}

interface Frame {
  data: Buffer;
  /** Captured bytes (default all): fewer tests loads past the capture. */
  cap?: number;
}

const FRAMES: Frame[] = [
  { data: ipFrame(B, A, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN }) },
  { data: ipFrame(A, B, RS1, CLIENT, { proto: TCP, sport: 8080, dport: 40000, flags: SYN | 0x10 }) },
  { data: ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53 }) },
  { data: ipFrame(B, A, CLIENT, VIP, { proto: ICMP }) },
  { data: arpFrame(1, A, CLIENT, new Uint8Array(6), VIP) },
  // A later fragment: no ports.
  { data: ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53 }, { fragWord: 0x2000 | 10 }) },
  { data: vlan(ipFrame(B, A, CLIENT, VIP, { proto: TCP, sport: 40001, dport: 80 })) },
  { data: vlan(ipFrame(B, A, RS1, OTHER, { proto: UDP, sport: 53, dport: 5353 }), 7) },
  { data: ipFrame(B, A, OTHER, RS1, { proto: TCP, sport: 8000, dport: 8091, payload: new Uint8Array(400) }) },
  { data: ipFrame(A, B, RS1, OTHER, { proto: TCP, sport: 8090, dport: 7999 }) },
  // Cut short: the TCP header is not captured.
  { data: ipFrame(B, A, CLIENT, VIP, { proto: TCP, sport: 40002, dport: 80 }), cap: 36 },
  { data: ipFrame(B, A, CLIENT, VIP, { proto: TCP, sport: 40003, dport: 80 }), cap: 10 },
];

/** The first frame's time (s since the epoch). */
const T0 = 1_800_000_000;

const EXPRESSIONS = [
  'tcp port 80',
  'tcp port 80 or udp port 53',
  'not icmp',
  'not (tcp or udp)',
  '(tcp or udp) and not port 53',
  'port 53',
  'portrange 8000-8090',
  'tcp portrange 7990-8000 and not src port 8090',
  'vlan',
  'vlan 100 and tcp',
  'vlan and udp port 53',
  'vlan 7 or arp',
  'ether host 02:00:00:00:00:01',
  'ether src 02:00:00:00:00:02 and ip',
  'ether broadcast',
  'net 192.168.2.0 mask 255.255.255.0',
  'src net 192.168.222.0 mask 255.255.255.0 and not arp',
  'net 10.0.0.0/8 or host 192.168.222.131',
  'arp or icmp',
  'ip[6:2] & 0x1fff != 0',
  'tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0',
  'greater 100',
  'less 60',
  'ip proto 17',
  'ip and len > 54',
];

/** Writes FRAMES to a classic pcap (LINKTYPE_ETHERNET, µs). */
function writePcap(file: string): void {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(262144, 16);
  h.writeUInt32LE(1, 20);
  parts.push(h);
  FRAMES.forEach((f, i) => {
    const cap = f.cap ?? f.data.length;
    const r = Buffer.alloc(16);
    r.writeUInt32LE(T0 + i, 0);
    r.writeUInt32LE(cap, 8);
    r.writeUInt32LE(f.data.length, 12);
    parts.push(r, f.data.subarray(0, cap));
  });
  fs.writeFileSync(file, Buffer.concat(parts));
}

/** Frame numbers (1-based) tcpdump prints for `expr` on the file: frame i is stamped T0 + i - 1 s. */
function tcpdumpMatches(file: string, expr: string): number[] {
  const out = execFileSync('tcpdump', ['-n', '-q', '-tt', '-r', file, expr], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out
    .split('\n')
    .filter((l) => /^\d+\.\d{6} /.test(l))
    .map((l) => Number.parseInt(l, 10) - T0 + 1);
}

function ourMatches(expr: string): number[] {
  const f = new CaptureFilter(expr, 262144);
  const got: number[] = [];
  FRAMES.forEach((fr, i) => {
    if (f.match(fr.data, 0, fr.cap ?? fr.data.length, fr.data.length)) got.push(i + 1);
  });
  return got;
}

test('filter: every expression selects the same frames as tcpdump -r does', {
  skip: !hasTcpdump && 'needs tcpdump (the oracle)',
}, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapvs-filter-'));
  if (process.env.TAPVS_KEEP === undefined) t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'frames.pcap');
  writePcap(file);
  let nonTrivial = 0;
  for (const expr of EXPRESSIONS) {
    const want = tcpdumpMatches(file, expr);
    if (want.length > 0 && want.length < FRAMES.length) nonTrivial++;
    assert.deepEqual(ourMatches(expr), want, expr);
  }
  // The frame set is rich enough that the expressions discriminate.
  assert.ok(nonTrivial >= EXPRESSIONS.length - 1, `${nonTrivial} discriminating expressions`);
});

test('filter: the empty expression accepts every frame without a program', () => {
  const f = new CaptureFilter('   ', 262144);
  assert.equal(f.matchesAll, true);
  assert.equal(f.text, '');
  assert.equal(f.match(new Uint8Array(0), 0, 0), true);
});

test("filter: the expression is normalised; a bad one fails with libpcap's message", () => {
  assert.equal(new CaptureFilter('  tcp   port 80 ', 262144).text, 'tcp port 80');
  for (const [expr, msg] of [
    ['tcp port', /syntax error/],
    ['host 1.2.3.4.5', /syntax error|illegal|unknown/i],
    ['portrange 90-', /syntax error/],
    ['frobnicate', /syntax error|unknown/],
  ] as const) {
    assert.throws(
      () => new CaptureFilter(expr, 262144),
      (e: unknown) => isTapvsError(e) && e.code === 'BAD_ARGUMENT' && msg.test(e.message),
      expr,
    );
  }
});
