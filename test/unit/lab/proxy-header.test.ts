/** rs-server's PROXY protocol reader (lab/proxy-header.ts): v1 and v2 headers, partial input, refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyHeader } from '../../../lab/proxy-header.js';

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([V2_SIG, Buffer.from([0x20 | cmd, fam]), len, body]);
}

test('proxy header: v1 TCP4 gives the client and the header length', () => {
  const line = 'PROXY TCP4 192.168.222.1 192.168.222.131 40312 8080\r\n';
  const r = parseProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n`));
  assert.deepEqual(r, { kind: 'ok', version: 1, client: '192.168.222.1:40312', length: line.length });
});

test('proxy header: v1 UNKNOWN is a local connection', () => {
  const r = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'));
  assert.deepEqual(r, { kind: 'ok', version: 1, client: null, length: 15 });
});

test('proxy header: v2 PROXY over TCP/IPv4 gives the client; v2 LOCAL none', () => {
  const addrs = Buffer.from([192, 168, 222, 1, 192, 168, 222, 131, 0x9d, 0x78, 0x1f, 0x90]);
  const h = v2(1, 0x11, addrs);
  assert.deepEqual(parseProxyHeader(Buffer.concat([h, Buffer.from('GET')])), {
    kind: 'ok',
    version: 2,
    client: '192.168.222.1:40312',
    length: 28,
  });
  assert.deepEqual(parseProxyHeader(v2(0, 0, Buffer.alloc(0))), { kind: 'ok', version: 2, client: null, length: 16 });
});

test('proxy header: a prefix of either header asks for more', () => {
  assert.deepEqual(parseProxyHeader(Buffer.from('PRO')), { kind: 'need-more' });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')), { kind: 'need-more' });
  assert.deepEqual(parseProxyHeader(V2_SIG.subarray(0, 7)), { kind: 'need-more' });
  const addrs = Buffer.alloc(12);
  assert.deepEqual(parseProxyHeader(v2(1, 0x11, addrs).subarray(0, 20)), { kind: 'need-more' });
});

test('proxy header: plain HTTP, a bad v1 line, an endless v1 line and a wrong v2 version are refused', () => {
  assert.equal(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'bad');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4\r\n')).kind, 'bad');
  assert.equal(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`)).kind, 'bad');
  const h = v2(1, 0x11, Buffer.alloc(12));
  h[12] = 0x11;
  assert.equal(parseProxyHeader(h).kind, 'bad');
});
