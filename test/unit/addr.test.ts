/** User-facing address parsing (ip-address): good input becomes int32, bad input a clear error. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress, parsePrefix } from '../../src/addr.js';
import { TapvsError } from '../../src/errors.js';

test('addresses and prefixes parse to int32 host order', () => {
  assert.equal(parseAddress('192.168.222.131', 'x'), 0xc0a8de83 | 0);
  assert.equal(parseAddress('0.0.0.1', 'x'), 1);
  assert.deepEqual(parsePrefix('192.168.2.136/24', 'x'), { addr: 0xc0a80288 | 0, prefixLen: 24 });
  assert.deepEqual(parsePrefix('10.0.0.1/32', 'x'), { addr: 0x0a000001, prefixLen: 32 });
});

test('bad addresses and prefixes are refused with the option named', () => {
  for (const bad of ['192.168.2', '192.168.2.300', 'a.b.c.d', '', '1.2.3.4/24', '::1']) {
    assert.throws(
      () => parseAddress(bad, '--link gw'),
      (e: unknown) => e instanceof TapvsError && e.code === 'BAD_ARGUMENT' && e.message.startsWith('--link gw:'),
      bad,
    );
  }
  for (const bad of ['192.168.2.136', '192.168.2.136/33', '192.168.2.136/0', '192.168.2.136/x', '1.2.3/24']) {
    assert.throws(
      () => parsePrefix(bad, '--link addr'),
      (e: unknown) => e instanceof TapvsError && e.message.startsWith('--link addr:'),
      bad,
    );
  }
});
