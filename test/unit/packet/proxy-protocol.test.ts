/**
 * The PROXY protocol writers byte for byte against HAProxy's doc/proxy-protocol.txt, and the
 * parser: round trips, then every way a header can be malformed or not all there yet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PROXY_V1_MAX_LEN,
  PROXY_V1_TCP4_MAX_LEN,
  PROXY_V2_IPV4_LEN,
  parseProxyHeader,
  writeProxyHeader,
  writeProxyV1,
  writeProxyV2,
} from '../../../src/packet/proxy-protocol.js';

const ip = (a: number, b: number, c: number, d: number) => (a << 24) | (b << 16) | (c << 8) | d | 0;
const CLIENT = ip(192, 168, 222, 1),
  VIP = ip(192, 168, 222, 131);
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('v1: the documented TCP4 line, byte for byte, written at an offset', () => {
  const b = new Uint8Array(100).fill(0xee);
  const n = writeProxyV1(b, 7, CLIENT, VIP, 40000, 80);
  const want = 'PROXY TCP4 192.168.222.1 192.168.222.131 40000 80\r\n';
  assert.equal(n, want.length);
  assert.deepEqual(b.subarray(7, 7 + n), ascii(want));
  assert.equal(b[6], 0xee, 'nothing written before off');
  assert.equal(b[7 + n], 0xee, 'nothing written after the line');
});

test('v1: shortest and longest lines, every digit count', () => {
  const b = new Uint8Array(100);
  let n = writeProxyV1(b, 0, 0, 0, 0, 0);
  assert.equal(String.fromCharCode(...b.subarray(0, n)), 'PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n');
  n = writeProxyV1(b, 0, -1, ip(10, 99, 100, 9), 65535, 1000);
  assert.equal(String.fromCharCode(...b.subarray(0, n)), 'PROXY TCP4 255.255.255.255 10.99.100.9 65535 1000\r\n');
  n = writeProxyV1(b, 0, -1, -1, 65535, 65535);
  assert.equal(n, PROXY_V1_TCP4_MAX_LEN);
  for (const p of [1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 12345]) {
    n = writeProxyV1(b, 0, 0, 0, p, p);
    assert.equal(String.fromCharCode(...b.subarray(0, n)), `PROXY TCP4 0.0.0.0 0.0.0.0 ${p} ${p}\r\n`);
  }
});

test('v2: signature, 0x21, 0x11, length 12, addresses and ports big endian', () => {
  const b = new Uint8Array(40).fill(0xee);
  const n = writeProxyV2(b, 3, CLIENT, VIP, 40000, 80);
  assert.equal(n, PROXY_V2_IPV4_LEN);
  // prettier-ignore
  const want = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192, 168, 222, 1,
    192, 168, 222, 131, 0x9c, 0x40, 0x00, 0x50,
  ];
  assert.deepEqual([...b.subarray(3, 3 + n)], want);
  assert.equal(b[2], 0xee);
  assert.equal(b[3 + n], 0xee);
  assert.equal(writeProxyHeader(2, b, 0, CLIENT, VIP, 40000, 80), 28);
  assert.equal(writeProxyHeader(1, b, 0, CLIENT, VIP, 40000, 80), 51);
});

test('parser: round trips of both versions, trailing payload ignored', () => {
  const b = new Uint8Array(120);
  for (const v of [1, 2]) {
    const n = writeProxyHeader(v, b, 5, CLIENT, VIP, 40000, 80);
    b.set(ascii('GET / HTTP/1.0\r\n'), 5 + n);
    const r = parseProxyHeader(b, 5, 5 + n + 16);
    assert.ok(r.ok, `v${v}`);
    assert.deepEqual(r.header, { version: v, length: n, local: false, src: CLIENT, dst: VIP, sport: 40000, dport: 80 });
  }
});

test('parser: v1 UNKNOWN and v2 LOCAL carry no addresses; v2 TLVs are counted in the length', () => {
  let r = parseProxyHeader(ascii('PROXY UNKNOWN\r\n'), 0, 15);
  assert.ok(r.ok && r.header.local && r.header.version === 1 && r.header.length === 15);
  const local = new Uint8Array(16);
  writeProxyV2(local, 0, 0, 0, 0, 0);
  local[12] = 0x20;
  local[13] = 0;
  local[15] = 0;
  r = parseProxyHeader(local, 0, 16);
  assert.ok(r.ok && r.header.local && r.header.version === 2 && r.header.length === 16);
  const tlv = new Uint8Array(28 + 4);
  writeProxyV2(tlv, 0, CLIENT, VIP, 1, 2);
  tlv[15] = 16;
  tlv.set([0x04, 0x00, 0x01, 0xaa], 28); // PP2_TYPE_NOOP, length 1
  r = parseProxyHeader(tlv, 0, tlv.length);
  assert.ok(r.ok && r.header.length === 32 && r.header.sport === 1 && r.header.dport === 2);
});

test('parser: every prefix of a valid header is incomplete, never invalid', () => {
  const b = new Uint8Array(64);
  for (const v of [1, 2]) {
    const n = writeProxyHeader(v, b, 0, CLIENT, VIP, 40000, 80);
    for (let k = 0; k < n; k++) {
      const r = parseProxyHeader(b, 0, k);
      assert.ok(!r.ok && r.incomplete, `v${v} prefix ${k}: ${r.ok ? 'ok' : r.reason}`);
    }
  }
});

test('parser: malformed v1 lines are refused for good', () => {
  const bad = [
    'PROXI TCP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n',
    'PROXY TCP6 ::1 ::1 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
    'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n',
    'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n',
    `PROXY TCP4 1.2.3.4 5.6.7.8 1 2${' '.repeat(80)}\r\n`,
    'GET / HTTP/1.1\r\n',
  ];
  for (const s of bad) {
    const r = parseProxyHeader(ascii(s), 0, s.length);
    assert.ok(!r.ok && !r.incomplete, JSON.stringify(s));
  }
  const noLf = ascii(`PROXY TCP4 ${'1'.repeat(PROXY_V1_MAX_LEN)}`);
  const r = parseProxyHeader(noLf, 0, noLf.length);
  assert.ok(!r.ok && !r.incomplete, 'no LF within 107 bytes');
  const nul = ascii('PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n');
  assert.ok(!parseProxyHeader(nul, 0, nul.length).ok);
});

test('parser: malformed v2 headers are refused for good', () => {
  const good = new Uint8Array(28);
  writeProxyV2(good, 0, CLIENT, VIP, 40000, 80);
  const mutate = (i: number, v: number) => {
    const b = good.slice();
    b[i] = v;
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ['signature', mutate(11, 0x0b)],
    ['version 1 nibble', mutate(12, 0x11)],
    ['command 2', mutate(12, 0x22)],
    ['TCP over IPv6', mutate(13, 0x21)],
    ['UDP over IPv4', mutate(13, 0x12)],
    ['length 11', mutate(15, 11)],
  ];
  for (const [what, b] of cases) {
    const r = parseProxyHeader(b, 0, b.length);
    assert.ok(!r.ok && !r.incomplete, what);
  }
  assert.ok(!parseProxyHeader(good, 0, 0).ok);
  assert.ok(!parseProxyHeader(good, 5, 3).ok, 'end before off');
});
