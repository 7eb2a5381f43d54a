/**
 * The sync wire format against bytes built by hand from the kernel's structs (ip_vs_sync.c:
 * struct ip_vs_sync_mesg, ip_vs_sync_v4, ip_vs_sync_mesg_v0, ip_vs_sync_conn_v0), and every rule
 * of ip_vs_process_message(): size, syncid, version choice, hard errors that drop the rest, soft
 * ones that skip one entry. Hostile input never throws.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type EntrySink,
  MessageDrop,
  MessageWriter,
  readMessage,
  SYNC_V1_MAX_MESSAGE,
  SyncEntry,
  WireFlag,
} from '../../../src/sync/sync-message.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/), (x) => Number.parseInt(x, 16));

/** v1 header: reserved 0, syncid 5, size 44, 1 entry, version 1, spare 0. */
const V1_HEADER = '00 05 00 2c 01 01 00 00';
/**
 * One IPv4 entry: type 0, TCP, ver_size 36, flags 0 (MASQ), state 1 (ESTABLISHED), cport 40000,
 * vport 80, dport 8080, fwmark 0, timeout 900, 10.0.0.1, 192.168.1.100, 192.168.2.10.
 */
const V1_ENTRY = `00 06 00 24 00 00 00 00 00 01 9c 40 00 50 1f 90 00 00 00 00 00 00 03 84
  0a 00 00 01 c0 a8 01 64 c0 a8 02 0a`;
const ip = (a: number, b: number, c: number, d: number): number => (a << 24) | (b << 16) | (c << 8) | d | 0;

interface Read {
  entries: Array<Omit<SyncEntry, never>>;
  skips: string[];
  drop: MessageDrop | null;
}
function read(b: Uint8Array, syncid = 0, len = b.length): Read {
  const out: Read = { entries: [], skips: [], drop: null };
  const sink: EntrySink = { entry: (e) => out.entries.push({ ...e }), skip: (r) => out.skips.push(r) };
  out.drop = readMessage(b, 0, len, syncid, sink, new SyncEntry());
  return out;
}
/** A v1 message of the given entries (hex), header filled in. */
function v1(syncid: number, ...entries: string[]): Uint8Array {
  const body = entries.map(hex);
  const padded = body.map((e, i) => (i < body.length - 1 ? (e.length + 3) & ~3 : e.length));
  const size = 8 + padded.reduce((a, b) => a + b, 0);
  const m = new Uint8Array(size);
  m.set([0, syncid, size >> 8, size & 0xff, entries.length, 1, 0, 0]);
  let p = 8;
  body.forEach((e, i) => {
    m.set(e, p);
    p += padded[i];
  });
  return m;
}
/** The hand-built entry with its ver_size and trailing options replaced. */
function withOptions(opts: string, type = 0): string {
  const o = opts.trim() === '' ? [] : hex(opts);
  const e = hex(V1_ENTRY);
  const size = 36 + o.length;
  e[0] = type;
  e[2] = size >> 8;
  e[3] = size & 0xff;
  return [...e, ...o].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

test('sync message: the writer produces the kernel layout byte for byte', () => {
  const w = new MessageWriter(new Uint8Array(1472), 1472);
  w.begin(5);
  assert.ok(w.add(6, 0, 1, 40000, 80, 8080, 900, ip(10, 0, 0, 1), ip(192, 168, 1, 100), ip(192, 168, 2, 10)));
  const len = w.finish();
  assert.equal(len, 44);
  assert.deepEqual(w.buf.subarray(0, len), hex(`${V1_HEADER} ${V1_ENTRY}`));
});

test('sync message: the reader takes the hand-built message field by field', () => {
  const r = read(hex(`${V1_HEADER} ${V1_ENTRY}`));
  assert.equal(r.drop, null);
  assert.deepEqual(r.skips, []);
  assert.equal(r.entries.length, 1);
  const e = r.entries[0];
  assert.equal(e.v0, false);
  assert.equal(e.protocol, 6);
  assert.equal(e.flags, 0);
  assert.equal(e.state, 1);
  assert.equal(e.cport, 40000);
  assert.equal(e.vport, 80);
  assert.equal(e.dport, 8080);
  assert.equal(e.fwmark, 0);
  assert.equal(e.timeoutS, 900);
  assert.equal(e.caddr, ip(10, 0, 0, 1));
  assert.equal(e.vaddr, ip(192, 168, 1, 100));
  assert.equal(e.daddr, ip(192, 168, 2, 10));
});

test('sync message: round trip of many entries, flags and the 255-entry and maxlen limits', () => {
  const w = new MessageWriter(new Uint8Array(SYNC_V1_MAX_MESSAGE + 100), SYNC_V1_MAX_MESSAGE + 100);
  w.begin(0);
  let n = 0;
  while (
    w.add(
      17,
      n % 2 ? WireFlag.INACTIVE : WireFlag.TEMPLATE,
      0,
      n,
      53,
      5353,
      n * 7,
      ip(10, 0, n >> 8, n & 255),
      -1,
      0x7f000001,
    )
  )
    n++;
  assert.equal(n, 255, 'nr_conns is one byte');
  assert.equal(w.finish(), SYNC_V1_MAX_MESSAGE);
  const r = read(w.buf.subarray(0, SYNC_V1_MAX_MESSAGE));
  assert.equal(r.drop, null);
  assert.equal(r.entries.length, 255);
  for (let i = 0; i < 255; i++) {
    const e = r.entries[i];
    assert.equal(e.flags, i % 2 ? WireFlag.INACTIVE : WireFlag.TEMPLATE);
    assert.deepEqual(
      [e.cport, e.timeoutS, e.caddr, e.vaddr, e.daddr],
      [i, i * 7, ip(10, 0, i >> 8, i & 255), -1, 0x7f000001],
    );
  }
  const small = new MessageWriter(new Uint8Array(100), 100);
  small.begin(1);
  assert.ok(small.add(6, 0, 1, 1, 2, 3, 4, 5, 6, 7));
  assert.ok(small.add(6, 0, 1, 1, 2, 3, 4, 5, 6, 7));
  assert.equal(small.add(6, 0, 1, 1, 2, 3, 4, 5, 6, 7), false, '8 + 3 x 36 > 100');
  assert.equal(small.finish(), 80);
});

test('sync message: a length other than size, or under 4 bytes, drops the message', () => {
  const m = hex(`${V1_HEADER} ${V1_ENTRY}`);
  assert.equal(read(m, 0, 43).drop, MessageDrop.SizeMismatch);
  const longer = new Uint8Array(48);
  longer.set(m);
  assert.equal(read(longer).drop, MessageDrop.SizeMismatch);
  assert.equal(read(m, 0, 3).drop, MessageDrop.Short);
  assert.equal(read(m, 0, 3).entries.length, 0);
});

test('sync message: a backup with syncid 0 takes every syncid, another only its own', () => {
  const m = hex(`${V1_HEADER} ${V1_ENTRY}`);
  assert.equal(read(m, 0).entries.length, 1);
  assert.equal(read(m, 5).entries.length, 1);
  const r = read(m, 6);
  assert.equal(r.drop, MessageDrop.SyncidMismatch);
  assert.equal(r.entries.length, 0);
});

test('sync message: version 0 (one 24-byte DR entry, then one with 24 bytes of sequence data)', () => {
  // nr_conns 2, syncid 5, size 4 + 24 + 48 = 76.
  const m = hex(`02 05 00 4c
    00 06 9c 40 00 50 00 50 0a 00 00 01 c0 a8 01 64 c0 a8 02 0a 00 83 00 01
    00 11 00 35 00 35 00 35 0a 00 00 02 c0 a8 01 64 c0 a8 02 0b 06 00 00 00
    ${'ff '.repeat(24)}`);
  const r = read(m);
  assert.equal(r.drop, null);
  assert.equal(r.entries.length, 2);
  const [a, b] = r.entries;
  assert.equal(a.v0, true);
  assert.deepEqual(
    [a.protocol, a.cport, a.vport, a.dport, a.caddr, a.vaddr, a.daddr, a.flags, a.state, a.timeoutS],
    [6, 40000, 80, 80, ip(10, 0, 0, 1), ip(192, 168, 1, 100), ip(192, 168, 2, 10), 0x83, 1, 0],
  );
  assert.deepEqual([b.protocol, b.cport, b.daddr, b.flags], [17, 53, ip(192, 168, 2, 11), 0x0600]);
  // A v0 entry cut short ends the message.
  const cut = m.slice(0, 60);
  cut[3] = 60;
  const rc = read(cut);
  assert.equal(rc.drop, MessageDrop.BadEntry);
  assert.equal(rc.entries.length, 1);
});

test('sync message: v1 only when version is 1 and reserved and spare are 0; else it is read as v0', () => {
  for (const [at, value] of [
    [0, 1],
    [5, 2],
    [7, 1],
  ]) {
    const m = hex(`${V1_HEADER} ${V1_ENTRY}`);
    m[at] = value;
    const r = read(m);
    assert.ok(
      r.entries.every((e) => e.v0),
      `byte ${at} = ${value}: v0`,
    );
  }
  // A v1 message's reserved byte is v0's nr_conns: a v0 reader sees no entries.
  const asV0 = hex(`${V1_HEADER} ${V1_ENTRY}`);
  asV0[6] = 1;
  assert.deepEqual(read(asV0).entries, []);
});

test('sync message: hard errors drop the rest of the message, entries before them stand', () => {
  const good = V1_ENTRY;
  const cases: Array<[string, string]> = [
    ['type 2', withOptions('', 2)],
    [
      'entry version 1',
      (() => {
        const e = hex(V1_ENTRY);
        e[2] = 0x10;
        return [...e].map((x) => x.toString(16)).join(' ');
      })(),
    ],
    ['zero-length option', withOptions('41 00 00 00')],
    ['option past the entry', withOptions('41 09 00 00')],
    ['option header cut', withOptions('41')],
    ['seq data of 20 bytes', withOptions(`01 14 ${'00 '.repeat(20)}`)],
    ['seq data twice', withOptions(`01 18 ${'00 '.repeat(24)} 01 18 ${'00 '.repeat(24)}`)],
  ];
  for (const [what, bad] of cases) {
    const r = read(v1(0, good, bad, good));
    assert.equal(r.drop, MessageDrop.BadEntry, what);
    assert.equal(r.entries.length, 1, `${what}: the first entry was read`);
  }
  // nr_conns says 2, one is there.
  const m = v1(0, good);
  m[4] = 2;
  assert.equal(read(m).drop, MessageDrop.BadEntry);
  // An entry whose size runs past the message.
  const long = v1(0, good, withOptions(''));
  long[8 + 36 + 3] = 40;
  assert.equal(read(long).drop, MessageDrop.BadEntry);
});

test('sync message: soft errors skip one entry; optional options and seq data are passed over', () => {
  const udpState1 = (() => {
    const e = hex(V1_ENTRY);
    e[1] = 17;
    return [...e].map((x) => x.toString(16)).join(' ');
  })();
  const icmp = (() => {
    const e = hex(V1_ENTRY);
    e[1] = 1;
    return [...e].map((x) => x.toString(16)).join(' ');
  })();
  const ipv6 = withOptions(`${'00 '.repeat(36)}`, 1); // 72-byte IPv6 fixed part, no options
  const r = read(
    v1(
      0,
      withOptions('09 02 00 00'), // unknown mandatory option
      withOptions('49 03 01 02 03'), // unknown optional option (0x40): read, then padding
      withOptions('02 04 01 02 03 04 03 03 73 69 70'), // persistence-engine data and name
      withOptions(`01 18 ${'00 '.repeat(24)}`), // seq data: read
      udpState1, // UDP has state 0 only
      icmp,
      ipv6,
      V1_ENTRY,
    ),
  );
  assert.equal(r.drop, null);
  assert.deepEqual(r.skips, [
    'unknown option',
    'persistence engine data',
    'state out of range',
    'unsupported protocol',
    'ipv6',
  ]);
  assert.equal(r.entries.length, 3);
  assert.ok(r.entries.every((e) => e.cport === 40000 && e.daddr === ip(192, 168, 2, 10)));
});

test('sync message: a template is taken whatever its protocol and state', () => {
  const e = hex(V1_ENTRY);
  e[1] = 0;
  e[6] = 0x10; // TEMPLATE
  e[9] = 7;
  const r = read(v1(0, [...e].map((x) => x.toString(16)).join(' ')));
  assert.equal(r.entries.length, 1);
  assert.equal(r.entries[0].flags, WireFlag.TEMPLATE);
});

test('sync message: random, truncated and corrupted input never throws', () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 16;
  };
  const base = v1(0, V1_ENTRY, withOptions(`01 18 ${'00 '.repeat(24)}`), V1_ENTRY);
  const sink: EntrySink = { entry: () => {}, skip: () => {} };
  const e = new SyncEntry();
  for (let i = 0; i < 20_000; i++) {
    const len = rnd() % 300;
    const b = new Uint8Array(len);
    if (i % 2) for (let j = 0; j < len; j++) b[j] = rnd() & 255;
    else {
      b.set(base.subarray(0, Math.min(len, base.length)));
      b[rnd() % Math.max(1, len)] = rnd() & 255;
      if (len >= 4) {
        b[2] = len >> 8;
        b[3] = len & 255;
      }
    }
    readMessage(b, 0, len, rnd() % 3, sink, e);
  }
});
