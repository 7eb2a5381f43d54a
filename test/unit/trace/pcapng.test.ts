/**
 * The pcapng writer against two oracles: a block walker written from the spec's layouts (lengths
 * at both ends, 32-bit padding, options), and tshark, which must read every packet, interface
 * name and comment back, including from files a limit cut short.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isTapvsError } from '../../../src/errors.js';
import { PCAPNG_EPB, PCAPNG_IDB, PCAPNG_SHB, PcapngWriter } from '../../../src/trace/pcapng.js';
import { arpFrame, ICMP, ip, ipFrame, mac, SYN, TCP, UDP } from '../../helpers/frames.js';

const hasTshark = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;
const needsTshark = { skip: !hasTshark && 'needs tshark' };

const CLIENT = ip('192.168.222.1'),
  VIP = ip('192.168.222.131'),
  RS1 = ip('192.168.2.129'),
  DIP = ip('192.168.2.1');
const CLIENT_MAC = mac('02:00:00:00:00:01'),
  EXT_MAC = mac('02:00:00:00:00:02');
const INT_MAC = mac('02:00:00:00:01:02'),
  RS1_MAC = mac('02:00:00:00:01:81');
const IFACES = [
  { name: 'ext rx' },
  { name: 'ext tx' },
  { name: 'int rx', description: 'internal, received' },
  { name: 'int tx' },
];

function tmpFile(t: { after: (fn: () => void) => void }, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapvs-trace-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
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

/** tshark's verdict on the whole file: exit status and stderr without the run-as-root warning. */
function tsharkRead(file: string): { status: number | null; stderr: string } {
  const r = spawnSync('tshark', ['-r', file], { encoding: 'utf8' });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l.length > 0 && !/Running as user "root"/.test(l))
    .join('\n');
  return { status: r.status, stderr };
}

interface Block {
  type: number;
  body: Buffer;
}

/** Walks the blocks, checking what every block must satisfy (draft-ietf-opsawg-pcapng §3.1). */
function walk(file: string): Block[] {
  const b = fs.readFileSync(file);
  const blocks: Block[] = [];
  let o = 0;
  while (o < b.length) {
    assert.ok(o + 12 <= b.length, `block at ${o} fits`);
    const type = b.readUInt32LE(o),
      len = b.readUInt32LE(o + 4);
    assert.equal(len % 4, 0, `block at ${o}: length ${len} is a multiple of 4`);
    assert.ok(o + len <= b.length, `block at ${o} ends inside the file`);
    assert.equal(b.readUInt32LE(o + len - 4), len, `block at ${o}: trailing length`);
    blocks.push({ type, body: b.subarray(o + 8, o + len - 4) });
    o += len;
  }
  assert.equal(o, b.length);
  return blocks;
}

/** Options from `at` in a block body: code -> values (UTF-8), checking padding. */
function options(body: Buffer, at: number): Map<number, string[]> {
  const m = new Map<number, string[]>();
  let o = at;
  while (o < body.length) {
    const code = body.readUInt16LE(o),
      len = body.readUInt16LE(o + 2);
    if (code === 0) {
      assert.equal(len, 0);
      assert.equal(o + 4, body.length, 'opt_endofopt is last');
      break;
    }
    const v = body.subarray(o + 4, o + 4 + len);
    m.set(code, [...(m.get(code) ?? []), v.toString('utf8')]);
    o += 4 + ((len + 3) & ~3);
  }
  return m;
}

function sampleFrames(): Array<{ itf: number; frame: Buffer; comment: string | null }> {
  return [
    {
      itf: 0,
      frame: ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN }),
      comment: 'NAT in: dst 192.168.222.131:80 -> 192.168.2.129:80; conn TCP 192.168.222.1:40000 state SYN_RECV',
    },
    {
      itf: 3,
      frame: ipFrame(RS1_MAC, INT_MAC, CLIENT, RS1, { proto: TCP, sport: 40000, dport: 80, flags: SYN }),
      comment: null,
    },
    {
      itf: 2,
      frame: ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, {
        proto: UDP,
        sport: 53,
        dport: 40001,
        payload: new Uint8Array(5),
      }),
      comment: 'héllo, wörld ✓',
    },
    { itf: 1, frame: arpFrame(2, EXT_MAC, VIP, CLIENT_MAC, CLIENT), comment: 'ARP reply for a VIP' },
    { itf: 2, frame: ipFrame(INT_MAC, RS1_MAC, RS1, DIP, { proto: ICMP, payload: new Uint8Array(56) }), comment: 'x' },
  ];
}

test('pcapng: blocks are well formed: SHB, one IDB per interface with its name, padded EPBs with comments', (t) => {
  const file = tmpFile(t, 'a.pcapng');
  const w = new PcapngWriter(file, { interfaces: IFACES, snaplen: 65535 });
  const frames = sampleFrames();
  const ts = 1_700_000_000_123.456;
  for (const f of frames) assert.ok(w.writePacket(f.itf, f.frame, 0, f.frame.length, ts, f.comment));
  w.close();
  const blocks = walk(file);
  assert.equal(blocks.length, 1 + IFACES.length + frames.length);
  const shb = blocks[0];
  assert.equal(shb.type, PCAPNG_SHB);
  assert.equal(shb.body.readUInt32LE(0), 0x1a2b3c4d);
  assert.equal(shb.body.readUInt16LE(4), 1);
  assert.equal(shb.body.readUInt16LE(6), 0);
  assert.equal(shb.body.readBigInt64LE(8), -1n);
  assert.deepEqual(options(shb.body, 16).get(4), ['tapvs']);
  for (let i = 0; i < IFACES.length; i++) {
    const idb = blocks[1 + i];
    assert.equal(idb.type, PCAPNG_IDB);
    assert.equal(idb.body.readUInt16LE(0), 1, 'LINKTYPE_ETHERNET');
    assert.equal(idb.body.readUInt32LE(4), 65535, 'snaplen');
    const o = options(idb.body, 8);
    assert.deepEqual(o.get(2), [IFACES[i].name]);
    assert.deepEqual(o.get(3), IFACES[i].description === undefined ? undefined : [IFACES[i].description]);
  }
  const us = BigInt(Math.round(ts * 1000));
  for (let i = 0; i < frames.length; i++) {
    const e = blocks[1 + IFACES.length + i],
      f = frames[i];
    assert.equal(e.type, PCAPNG_EPB);
    assert.equal(e.body.readUInt32LE(0), f.itf);
    assert.equal((BigInt(e.body.readUInt32LE(4)) << 32n) | BigInt(e.body.readUInt32LE(8)), us);
    assert.equal(e.body.readUInt32LE(12), f.frame.length, 'captured length');
    assert.equal(e.body.readUInt32LE(16), f.frame.length, 'original length');
    assert.deepEqual(e.body.subarray(20, 20 + f.frame.length), f.frame);
    const o = options(e.body, 20 + ((f.frame.length + 3) & ~3));
    assert.deepEqual(o.get(1), f.comment === null ? undefined : [f.comment]);
  }
  assert.equal(w.packets, frames.length);
  assert.equal(w.bytes, fs.statSync(file).size);
});

test('pcapng: tshark reads every packet with its interface name, comment and addresses', needsTshark, (t) => {
  const file = tmpFile(t, 'b.pcapng');
  const w = new PcapngWriter(file, { interfaces: IFACES });
  const frames = sampleFrames();
  for (const f of frames) w.writePacket(f.itf, f.frame, 0, f.frame.length, Date.now(), f.comment);
  w.close();
  assert.deepEqual(tsharkRead(file), { status: 0, stderr: '' });
  const rows = tsharkFields(file, [
    'frame.interface_id',
    'frame.interface_name',
    'frame.comment',
    'ip.src',
    'ip.dst',
    'frame.len',
  ]);
  assert.deepEqual(rows, [
    ['0', 'ext rx', frames[0].comment, '192.168.222.1', '192.168.222.131', '54'],
    ['3', 'int tx', '', '192.168.222.1', '192.168.2.129', '54'],
    ['2', 'int rx', 'héllo, wörld ✓', '192.168.2.129', '192.168.222.1', '47'],
    ['1', 'ext tx', 'ARP reply for a VIP', '', '', '60'],
    ['2', 'int rx', 'x', '192.168.2.129', '192.168.2.1', '98'],
  ]);
  assert.deepEqual(
    tsharkFields(file, ['frame.number', 'frame.interface_description']).map((r) => r[1]),
    ['', '', 'internal, received', '', 'internal, received'],
  );
});

test('pcapng: frames longer than the snaplen keep their original length', needsTshark, (t) => {
  const file = tmpFile(t, 'snap.pcapng');
  const w = new PcapngWriter(file, { interfaces: [{ name: 'ext rx' }], snaplen: 64 });
  const f = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, payload: new Uint8Array(1000) });
  w.writePacket(0, f, 0, f.length, Date.now(), 'cut');
  w.close();
  assert.deepEqual(tsharkFields(file, ['frame.cap_len', 'frame.len', 'frame.comment']), [
    ['64', String(f.length), 'cut'],
  ]);
});

test('pcapng: the count limit stops writing and the file stays valid', needsTshark, (t) => {
  const file = tmpFile(t, 'count.pcapng');
  const w = new PcapngWriter(file, { interfaces: IFACES, maxPackets: 3 });
  const f = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, flags: SYN });
  const written: boolean[] = [];
  for (let i = 0; i < 5; i++) written.push(w.writePacket(i & 3, f, 0, f.length, Date.now(), `packet ${i}`));
  assert.deepEqual(written, [true, true, true, false, false]);
  assert.equal(w.stopped, 'count-limit');
  assert.equal(w.open, false, 'the file is closed at the limit');
  w.close();
  assert.deepEqual(tsharkRead(file), { status: 0, stderr: '' });
  assert.deepEqual(
    tsharkFields(file, ['frame.comment']).map((r) => r[0]),
    ['packet 0', 'packet 1', 'packet 2'],
  );
});

test('pcapng: the size limit is never exceeded and the file stays valid', needsTshark, (t) => {
  const file = tmpFile(t, 'size.pcapng');
  const maxBytes = 4000;
  // A small buffer forces several flushes before the limit.
  const w = new PcapngWriter(file, { interfaces: IFACES, maxBytes, bufferBytes: 1, snaplen: 2000 });
  const f = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: UDP, payload: new Uint8Array(200) });
  let n = 0;
  for (let i = 0; i < 100; i++) if (w.writePacket(0, f, 0, f.length, Date.now(), 'some comment')) n++;
  assert.equal(w.stopped, 'size-limit');
  assert.ok(n > 5 && n < 100, `wrote ${n} packets`);
  const size = fs.statSync(file).size;
  assert.ok(size <= maxBytes, `file is ${size} bytes`);
  assert.equal(size, w.bytes);
  assert.equal(walk(file).length, 1 + IFACES.length + n);
  assert.deepEqual(tsharkRead(file), { status: 0, stderr: '' });
  assert.equal(tsharkFields(file, ['frame.number']).length, n);
});

test('pcapng: long comments are cut at a character boundary; bad interface ids write nothing', (t) => {
  const file = tmpFile(t, 'long.pcapng');
  const w = new PcapngWriter(file, { interfaces: [{ name: 'a' }] });
  const f = arpFrame(1, CLIENT_MAC, CLIENT, new Uint8Array(6), VIP);
  assert.ok(w.writePacket(0, f, 0, f.length, 0, '✓'.repeat(5000)));
  assert.equal(w.writePacket(1, f, 0, f.length, 0, null), false);
  assert.equal(w.writePacket(-1, f, 0, f.length, 0, null), false);
  w.close();
  assert.equal(w.writePacket(0, f, 0, f.length, 0, null), false, 'closed');
  const blocks = walk(file);
  assert.equal(blocks.length, 3);
  const c = options(blocks[2].body, 20 + 60).get(1);
  assert.ok(c !== undefined);
  assert.equal(c[0], '✓'.repeat(1365), '4095 bytes of 3-byte characters');
});

test('pcapng: a file with no packets is a valid capture', needsTshark, (t) => {
  const file = tmpFile(t, 'empty.pcapng');
  new PcapngWriter(file, { interfaces: IFACES }).close();
  assert.deepEqual(tsharkRead(file), { status: 0, stderr: '' });
});

test('pcapng: bad options and unusable paths are BAD_ARGUMENT errors', (t) => {
  const file = tmpFile(t, 'x.pcapng');
  const bad = (fn: () => unknown, re: RegExp): void => {
    assert.throws(fn, (e) => isTapvsError(e) && e.code === 'BAD_ARGUMENT' && re.test(e.message));
  };
  bad(() => new PcapngWriter(file, { interfaces: [] }), /at least one interface/);
  bad(() => new PcapngWriter(file, { interfaces: IFACES, maxBytes: 0 }), /maxBytes must be a positive integer/);
  bad(() => new PcapngWriter(file, { interfaces: IFACES, maxPackets: 1.5 }), /maxPackets/);
  bad(() => new PcapngWriter(file, { interfaces: IFACES, snaplen: 0 }), /snaplen/);
  bad(
    () => new PcapngWriter(path.join(file, 'no', 'such', 'dir.pcapng'), { interfaces: IFACES }),
    /cannot create trace file/,
  );
  const w = new PcapngWriter(file, { interfaces: IFACES, maxBytes: Infinity, maxPackets: Infinity });
  assert.equal(w.maxBytes, Infinity);
  w.close();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});
