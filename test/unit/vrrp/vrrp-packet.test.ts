/**
 * The VRRP codec against real keepalived adverts. The hex below is keepalived v2.2.7's output,
 * captured with test/fixtures/vrrp/capture.sh (keepalived -n -l -D --vrrp alone in a private
 * namespace on a veth end with source 10.9.9.1, tcpdump on that end, link header stripped) from
 * test/fixtures/vrrp/v2-pass.conf and v3.conf: the IPv4 id counts 1, 2 from keepalived's start.
 * keepalived 2.2.7 has no vrrp_v3_checksum_as_v2, so that variant is checked by arithmetic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksum } from '../../../src/packet/checksum.js';
import {
  type AdvertFields,
  type AdvertSpec,
  advertAddressesMatch,
  advertVrid,
  authBytes,
  checkAdvert,
  MAX_ADVERT_LEN,
  writeAdvert,
} from '../../../src/vrrp/vrrp-packet.js';

const SRC = 0x0a090901;
/** v2-pass.conf: vrid 51, priority 255, advert_int 1, PASS secret12, two VIPs; IPv4 id 1. */
const V2_PASS = '45c0002c00010000ff70c7840a090901e00000122133ff02010132f0c0a8de83c0a8de847365637265743132';
/** The next advert of the same run: IPv4 id 2. */
const V2_PASS_2 = '45c0002c00020000ff70c7830a090901e00000122133ff02010132f0c0a8de83c0a8de847365637265743132';
/** v3.conf: vrid 52, priority 255, advert_int 0.5 (50 centiseconds), one VIP; IPv4 id 1. */
const V3 = '45c0002000010000ff70c7900a090901e00000123134ff01003218cec0a80288';

const v2Spec: AdvertSpec = {
  version: 2,
  vrid: 51,
  advertIntMs: 1000,
  authPass: 'secret12',
  v3ChecksumAsV2: false,
  addresses: [0xc0a8de83 | 0, 0xc0a8de84 | 0],
};
const v3Spec: AdvertSpec = {
  version: 3,
  vrid: 52,
  advertIntMs: 500,
  authPass: null,
  v3ChecksumAsV2: false,
  addresses: [0xc0a80288 | 0],
};

function hex(b: Uint8Array, len: number): string {
  return Buffer.from(b.subarray(0, len)).toString('hex');
}

function fields(): AdvertFields {
  return { src: 0, vrid: 0, priority: 0, advertIntMs: 0, count: 0, addrOff: 0 };
}

function check(h: string | Uint8Array, spec: AdvertSpec, pass = spec.authPass): [string | null, AdvertFields] {
  const p = typeof h === 'string' ? Buffer.from(h, 'hex') : h;
  const out = fields();
  return [checkAdvert(p, 0, p.length, spec, authBytes(pass), out), out];
}

test('v2 PASS and v3 adverts are built byte for byte as keepalived sends them', () => {
  const buf = new Uint8Array(MAX_ADVERT_LEN);
  assert.equal(hex(buf, writeAdvert(buf, v2Spec, 255, SRC, 1)), V2_PASS);
  assert.equal(hex(buf, writeAdvert(buf, v2Spec, 255, SRC, 2)), V2_PASS_2);
  assert.equal(hex(buf, writeAdvert(buf, v3Spec, 255, SRC, 1)), V3);
});

test('v3 with checksum as v2 leaves the pseudo-header out of the VRRP checksum', () => {
  const buf = new Uint8Array(MAX_ADVERT_LEN);
  const len = writeAdvert(buf, { ...v3Spec, v3ChecksumAsV2: true }, 255, SRC, 1);
  assert.equal(checksum(buf, 20, len), 0);
  assert.notEqual(hex(buf, len), V3);
  assert.equal(hex(buf, len).slice(0, 52), V3.slice(0, 52));
  assert.equal(check(buf.subarray(0, len), { ...v3Spec, v3ChecksumAsV2: true })[0], null);
  assert.equal(check(buf.subarray(0, len), v3Spec)[0], 'checksum');
});

test('real adverts parse to their fields', () => {
  const [drop2, f2] = check(V2_PASS, v2Spec);
  assert.equal(drop2, null);
  assert.deepEqual(f2, { src: SRC, vrid: 51, priority: 255, advertIntMs: 1000, count: 2, addrOff: 28 });
  assert.ok(advertAddressesMatch(Buffer.from(V2_PASS, 'hex'), f2, v2Spec.addresses));
  assert.ok(!advertAddressesMatch(Buffer.from(V2_PASS, 'hex'), f2, v2Spec.addresses.slice(1)));
  const [drop3, f3] = check(V3, v3Spec);
  assert.equal(drop3, null);
  assert.equal(f3.advertIntMs, 500);
  assert.equal(f3.vrid, 52);
  assert.equal(advertVrid(Buffer.from(V3, 'hex'), 0, 32), 52);
  assert.equal(advertVrid(Buffer.from(V3, 'hex'), 0, 20), -1);
});

test('Ethernet padding after the advert is tolerated, a short packet is not', () => {
  const padded = Buffer.concat([Buffer.from(V3, 'hex'), Buffer.alloc(14)]);
  assert.equal(check(padded, v3Spec)[0], null);
  const p = Buffer.from(V2_PASS, 'hex');
  for (let len = 0; len < p.length; len++) {
    const out = fields();
    assert.notEqual(checkAdvert(p, 0, len, v2Spec, authBytes('secret12'), out), null, `len ${len}`);
  }
});

/** The real v2 advert with one byte changed (checksums left stale unless `fix`). */
function mutate(h: string, at: number, value: number): Buffer {
  const p = Buffer.from(h, 'hex');
  p[at] = value;
  return p;
}

test('drops in keepalived order: TTL, version, auth type, password, interval, type, length, checksum', () => {
  assert.equal(check(mutate(V2_PASS, 8, 254), v2Spec)[0], 'ttl');
  assert.equal(check(V2_PASS, v3Spec)[0], 'version');
  assert.equal(check(V2_PASS, { ...v2Spec, authPass: null })[0], 'auth-type');
  assert.equal(check(V2_PASS, v2Spec, 'secret13')[0], 'auth-pass');
  // Only the first 8 bytes of a password count.
  assert.equal(check(V2_PASS, { ...v2Spec, authPass: 'secret12andmore' })[0], null);
  assert.equal(check(V2_PASS, { ...v2Spec, advertIntMs: 2000 })[0], 'interval');
  assert.equal(check(mutate(V2_PASS, 20, 0x22), v2Spec)[0], 'type');
  assert.equal(check(mutate(V2_PASS, 3, 0x20), v2Spec)[0], 'length');
  assert.equal(check(mutate(V2_PASS, 22, 100), v2Spec)[0], 'checksum');
  // v3: another interval is accepted (the backup adopts it), a bad checksum is not.
  assert.equal(check(V3, { ...v3Spec, advertIntMs: 1000 })[0], null);
  assert.equal(check(mutate(V3, 31, 0x89), v3Spec)[0], 'checksum');
  // The count says more addresses than the packet holds.
  assert.equal(check(mutate(V2_PASS, 23, 3), v2Spec)[0], 'length');
});

test('checking never throws on arbitrary bytes', () => {
  const out = fields();
  let seed = 7;
  const p = new Uint8Array(64);
  for (let i = 0; i < 2000; i++) {
    for (let j = 0; j < p.length; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      p[j] = seed >>> 24;
    }
    const len = seed % 65;
    const r = checkAdvert(p, 0, len, i % 2 === 0 ? v2Spec : v3Spec, authBytes('secret12'), out);
    assert.ok(r === null || typeof r === 'string');
  }
});
