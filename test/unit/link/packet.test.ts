/**
 * PacketLink's checks before any socket exists (no root needed): names, missing and non-Ethernet
 * interfaces. What needs a socket (filter, send, errors from the kernel) is in
 * test/integration/packet-link.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TapvsError } from '../../../src/errors.js';
import { PacketLink } from '../../../src/link/packet.js';

const refused = (iface: string, code: string, message: RegExp): void => {
  assert.throws(
    () => new PacketLink({ iface }),
    (e: unknown) => e instanceof TapvsError && e.code === code && message.test(e.message),
    iface,
  );
};

test('PacketLink: a bad interface name is LINK_CONFIG, before anything is opened', () => {
  refused('bad/name', 'LINK_CONFIG', /packet: interface name 'bad\/name' is not a valid name of 1\.\.15 bytes/);
  refused('', 'LINK_CONFIG', /not a valid name/);
  refused('..', 'LINK_CONFIG', /not a valid name/);
  refused('a-name-of-16-byt', 'LINK_CONFIG', /not a valid name/);
});

test('PacketLink: a missing interface is TAP_NO_DEVICE and the loopback is not Ethernet', () => {
  refused('tvs-nosuch0', 'TAP_NO_DEVICE', /packet tvs-nosuch0: no such interface \(see ip link\)/);
  refused('lo', 'LINK_CONFIG', /packet lo: not an Ethernet interface/);
});
