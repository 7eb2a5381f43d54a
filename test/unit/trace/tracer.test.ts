/**
 * The Tracer as the dataplane uses it: filter first, then record or hold/release; the pcapng it
 * writes read back by tshark (interfaces per link and direction, comments in causal order), the
 * live lines, the limits that end a trace, and the comment helpers.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isTapvsError } from '../../../src/errors.js';
import { readSavedTrace } from '../../../src/trace/pcapng-reader.js';
import {
  destLoad,
  dropComment,
  formatAddrPort,
  formatTime,
  forwardComment,
  natComment,
  protoName,
  TRACE_RX,
  TRACE_TX,
  Tracer,
} from '../../../src/trace/tracer.js';
import { arpFrame, ip, ipFrame, mac, SYN, TCP, UDP } from '../../helpers/frames.js';

const hasTshark = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;
const needsTshark = { skip: !hasTshark && 'needs tshark' };

const CLIENT = ip('192.168.222.1'),
  VIP = ip('192.168.222.131'),
  RS1 = ip('192.168.2.129');
const CLIENT_MAC = mac('02:00:00:00:00:01'),
  EXT_MAC = mac('02:00:00:00:00:02');
const INT_MAC = mac('02:00:00:00:01:02'),
  RS1_MAC = mac('02:00:00:00:01:81');
const LINKS = [{ name: 'ext' }, { name: 'int' }];
const EXT = 0,
  INT = 1;
const T0 = new Date(2026, 10, 24, 18, 53, 26).getTime() + 123.456;
const TIME = /^\d\d:\d\d:\d\d\.\d{6} /;

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapvs-tracer-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function tsharkFields(file: string, fields: string[]): string[][] {
  const args = ['-r', file, '-T', 'fields'];
  for (const f of fields) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

const syn = (): Buffer =>
  ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN });
const IN_COMMENT = natComment('in', 6, CLIENT, 40000, VIP, 80, RS1, 80, 'SYN_RECV', {
  name: 'rr',
  reason: destLoad(1, 0, 0),
});

/** What the dataplane does with a SYN to the VIP: hold it, rewrite it in place, send it, release. */
function natInOnce(tr: Tracer, rx: Buffer, nowMs: number): void {
  if (tr.active && tr.matches(rx, 0, rx.length)) tr.hold(EXT, TRACE_RX, rx, 0, rx.length, nowMs);
  // DNAT in place, as natIn does on the RX buffer; then the frame is copied to int's TX ring.
  const tx = Buffer.from(rx);
  tx.set(RS1_MAC, 0);
  tx.set(INT_MAC, 6);
  tx.writeInt32BE(RS1, 14 + 16);
  rx.writeInt32BE(RS1, 14 + 16);
  if (tr.active && (tr.holding || tr.matches(tx, 0, tx.length)))
    tr.record(INT, TRACE_TX, tx, 0, tx.length, null, nowMs + 0.001);
  if (tr.holding) tr.release(IN_COMMENT);
}

test('tracer: one interface per link and direction; held frames keep their bytes and come first', needsTshark, (t) => {
  const file = path.join(tmpDir(t), 'trace.pcapng');
  const lines: string[] = [];
  const tr = new Tracer({
    links: LINKS,
    file,
    live: (l) => lines.push(l),
    filter: 'host 192.168.222.131',
    clock: 'caller',
  });
  natInOnce(tr, syn(), T0);
  const reply = ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags: SYN | 0x10 });
  // The reply does not match the filter (no VIP in it yet): not recorded.
  if (tr.matches(reply, 0, reply.length)) tr.record(INT, TRACE_RX, reply, 0, reply.length, 'x', T0 + 1);
  const arp = arpFrame(2, EXT_MAC, VIP, CLIENT_MAC, CLIENT);
  assert.ok(tr.matches(arp, 0, arp.length));
  tr.record(EXT, TRACE_TX, arp, 0, arp.length, 'ARP reply for VIP 192.168.222.131', T0 + 2);
  const summary = tr.stop();
  assert.deepEqual(summary, { packets: 3, bytes: fs.statSync(file).size, file });
  assert.equal(tr.active, false);
  assert.deepEqual(tsharkFields(file, ['frame.interface_name', 'frame.comment', 'ip.src', 'ip.dst']), [
    ['ext rx', IN_COMMENT, '192.168.222.1', '192.168.222.131'],
    ['int tx', '', '192.168.222.1', '192.168.2.129'],
    ['ext tx', 'ARP reply for VIP 192.168.222.131', '', ''],
  ]);
  assert.deepEqual(
    tsharkFields(file, ['frame.interface_id']).map((r) => r[0]),
    ['0', '3', '1'],
  );
  // epb_flags: inbound for rx, outbound for tx, as Wireshark reads them.
  assert.deepEqual(
    tsharkFields(file, ['frame.packet_flags_direction']).map((r) => Number(r[0])),
    [1, 2, 2],
  );
  assert.deepEqual(
    lines.map((l) => l.replace(TIME, '')),
    [
      `ext rx IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0 | ${IN_COMMENT}`,
      'int tx IP 192.168.222.1.40000 > 192.168.2.129.80: Flags [S], seq 1000, win 64240, length 0',
      'ext tx ARP, Reply 192.168.222.131 is-at 02:00:00:00:00:02, length 28 | ARP reply for VIP 192.168.222.131',
    ],
  );
  assert.equal(lines[0].slice(0, 16), '18:53:26.123456 ');
});

test('tracer: the count limit ends a live trace', () => {
  const lines: string[] = [];
  const tr = new Tracer({ links: LINKS, live: (l) => lines.push(l), maxPackets: 2 });
  const f = syn();
  for (let i = 0; i < 5; i++) tr.record(EXT, TRACE_RX, f, 0, f.length, dropComment('no_route'), T0);
  assert.equal(lines.length, 2);
  assert.match(lines[1], / \| drop: no_route$/);
  assert.equal(tr.active, false);
  assert.deepEqual(tr.stop(), { packets: 2, bytes: 2 * f.length, stopped: 'count-limit' });
});

test('tracer: the size limit ends a file trace and tshark still reads it', needsTshark, (t) => {
  const file = path.join(tmpDir(t), 'size.pcapng');
  const tr = new Tracer({ links: LINKS, file, maxBytes: 2000 });
  const f = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, payload: new Uint8Array(300) });
  let n = 0;
  while (tr.active && n < 100) {
    tr.record(n & 1, TRACE_RX, f, 0, f.length, `n=${n}`, T0);
    n++;
  }
  const s = tr.status();
  assert.equal(s.active, false);
  assert.equal(s.stopped, 'size-limit');
  assert.ok(s.bytes <= 2000 && s.packets > 0 && s.packets < n, JSON.stringify(s));
  assert.equal(fs.statSync(file).size, s.bytes);
  const rows = tsharkFields(file, ['frame.interface_name', 'frame.comment']);
  assert.equal(rows.length, s.packets);
  assert.deepEqual(rows[1], ['int rx', 'n=1']);
});

test('tracer: frames recorded while one is held are written after it; overflow is written at once', () => {
  const lines: string[] = [];
  const tr = new Tracer({ links: LINKS, live: (l) => lines.push(l.replace(TIME, '')) });
  const f = syn();
  tr.hold(EXT, TRACE_RX, f, 0, f.length, T0);
  assert.equal(tr.holding, true);
  for (let i = 0; i < 40; i++) tr.record(INT, TRACE_TX, f, 0, f.length, `tx ${i}`, T0);
  assert.equal(lines.length, 8, 'staging holds 32 frames; the rest go at once');
  tr.release('held');
  assert.equal(tr.holding, false);
  assert.equal(lines.length, 41);
  assert.match(lines[8], /^ext rx .* \| held$/);
  assert.match(lines[9], /\| tx 0$/);
  // A second hold releases the first without a comment; stop() releases the last.
  tr.hold(EXT, TRACE_RX, f, 0, f.length, T0);
  tr.hold(INT, TRACE_RX, f, 0, f.length, T0);
  tr.release(null);
  tr.release('nothing held: ignored');
  tr.hold(EXT, TRACE_TX, f, 0, f.length, T0);
  assert.equal(tr.stop().packets, 44);
  assert.deepEqual(
    lines.slice(41).map((l) => l.split(' IP ')[0]),
    ['ext rx', 'int rx', 'ext tx'],
  );
  assert.ok(!lines.slice(41).some((l) => l.includes('|')));
  tr.record(EXT, TRACE_RX, f, 0, f.length, null, T0);
  tr.hold(EXT, TRACE_RX, f, 0, f.length, T0);
  assert.equal(tr.stop().packets, 44, 'a stopped tracer records nothing');
});

test('tracer: a throwing live output ends the trace instead of the dataplane', () => {
  const tr = new Tracer({
    links: LINKS,
    live: () => {
      throw new Error('EPIPE');
    },
  });
  const f = syn();
  tr.record(EXT, TRACE_RX, f, 0, f.length, null, T0);
  tr.record(EXT, TRACE_RX, f, 0, f.length, null, T0);
  assert.equal(tr.active, false);
  assert.equal(tr.status().stopped, 'live-error');
});

test('tracer: status reports the configuration; bad options throw before any file exists', (t) => {
  const dir = tmpDir(t);
  const tr = new Tracer({ links: LINKS, live: () => {}, filter: ' tcp  port 80', snaplen: 128 });
  assert.deepEqual(tr.status(), {
    packets: 0,
    bytes: 0,
    active: true,
    filter: 'tcp port 80',
    links: ['ext', 'int'],
    maxBytes: 100_000_000,
    maxPackets: 1_000_000,
    snaplen: 128,
    live: true,
  });
  const f = syn();
  assert.equal(tr.matches(f, 0, f.length), true);
  assert.equal(tr.matches(f, 0, 20), false);
  tr.stop();
  const file = path.join(dir, 'never.pcapng');
  const bad = (opts: ConstructorParameters<typeof Tracer>[0], re: RegExp): void => {
    assert.throws(
      () => new Tracer(opts),
      (e) => isTapvsError(e) && e.code === 'BAD_ARGUMENT' && re.test(e.message),
    );
  };
  bad({ links: LINKS, file, filter: 'TCP port 80' }, /can't parse filter expression: syntax error/);
  bad({ links: LINKS, file, link: 2 }, /no link 2/);
  bad({ links: LINKS, file, maxPackets: -1 }, /maxPackets/);
  bad({ links: LINKS, file, snaplen: 1 << 24 }, /snaplen/);
  bad({ links: [], file }, /at least one link/);
  bad({ links: LINKS }, /needs a pcapng file, a live output or both/);
  assert.equal(fs.existsSync(file), false);
});

test('tracer: comment helpers format int32 addresses the IPVS way', () => {
  assert.equal(
    IN_COMMENT,
    'NAT in: dst 192.168.222.131:80 -> 192.168.2.129:80; conn TCP 192.168.222.1:40000 state SYN_RECV; ' +
      'new flow scheduled by rr -> 192.168.2.129:80 (weight 1, active 0, inactive 0)',
  );
  assert.equal(
    natComment('out', 17, CLIENT, 5353, VIP, 53, RS1, 5300, 'UDP'),
    'NAT out: src 192.168.2.129:5300 -> 192.168.222.131:53; conn UDP 192.168.222.1:5353 state UDP',
  );
  assert.equal(dropComment('bad_checksum'), 'drop: bad_checksum');
  assert.equal(
    dropComment('no_destination', 'no dest available for TCP 192.168.222.131:80'),
    'drop: no_destination (no dest available for TCP 192.168.222.131:80)',
  );
  assert.equal(forwardComment(ip('192.168.2.254'), 'int'), 'forward: via 192.168.2.254 on int');
  assert.equal(formatAddrPort(ip('255.255.255.255'), 65535), '255.255.255.255:65535');
  assert.equal(protoName(6) + protoName(17) + protoName(1) + protoName(47), 'TCPUDPICMPproto 47');
  assert.equal(formatTime(T0), '18:53:26.123456');
  assert.equal(formatTime(new Date(2026, 0, 1, 0, 0, 0).getTime() + 999.9996), '00:00:01.000000');
});

test('tracer: per-frame timestamps to the microsecond, strictly increasing within a batch', (t) => {
  const file = path.join(tmpDir(t), 'clock.pcapng');
  const tr = new Tracer({ links: LINKS, file });
  const f = syn();
  // One batch: the dataplane passes the same (here stale) nowMs to every frame; hold/release stages some.
  const batchMs = Date.now() - 5000;
  for (let i = 0; i < 50; i++) {
    if (i % 10 === 0) tr.hold(EXT, TRACE_RX, f, 0, f.length, batchMs);
    tr.record(INT, TRACE_TX, f, 0, f.length, null, batchMs);
    if (i % 10 === 5) tr.release('held');
  }
  // The clock moves between frames of a batch: wait until it advanced 2 ms, then one more frame.
  const until = performance.now() + 2;
  while (performance.now() < until);
  tr.record(INT, TRACE_TX, f, 0, f.length, null, batchMs);
  tr.stop();
  const ms: number[] = [];
  readSavedTrace(file, (p) => {
    ms.push(p.ms);
    return true;
  });
  assert.equal(ms.length, 56);
  for (let i = 1; i < ms.length; i++) assert.ok(ms[i] > ms[i - 1], `frame ${i}: ${ms[i]} after ${ms[i - 1]}`);
  // The per-frame clock, not the batch's: within a second of now, and it moved with time.
  assert.ok(Math.abs(ms[0] - Date.now()) < 1000, `${ms[0]} is now, not the batch's ${batchMs}`);
  assert.ok(ms[55] - ms[54] >= 2, `${ms[55] - ms[54]} ms between the last two frames`);
});

test('tracer: -i records one link only, held frames included', () => {
  const lines: string[] = [];
  const tr = new Tracer({ links: LINKS, live: (l) => lines.push(l), link: INT });
  natInOnce(tr, syn(), T0);
  assert.equal(tr.status().links.join(), 'int');
  assert.equal(lines.length, 1);
  assert.match(lines[0], / int tx IP 192\.168\.222\.1\.40000 > 192\.168\.2\.129\.80/);
});
