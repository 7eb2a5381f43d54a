/** `[ADDR:]PORT` of --http (and the same grammar as --metrics): loopback unless an address is named. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListenAddr } from '../../../src/control/listen-addr.js';

test('listen-addr: a bare port listens on 127.0.0.1', () => {
  assert.deepEqual(parseListenAddr('8080'), { host: '127.0.0.1', port: 8080 });
});

test('listen-addr: IPv4, bracketed IPv6 and localhost addresses', () => {
  assert.deepEqual(parseListenAddr('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  assert.deepEqual(parseListenAddr('[::1]:9180'), { host: '::1', port: 9180 });
  assert.deepEqual(parseListenAddr('localhost:1'), { host: 'localhost', port: 1 });
});

test('listen-addr: ports outside 1..65535 and other shapes are refused', () => {
  for (const v of ['0', '65536', '', 'x:80', '127.0.0.1:', '::1:80', '1.2.3.4:80:90', '99999'])
    assert.equal(parseListenAddr(v), null, v);
});
