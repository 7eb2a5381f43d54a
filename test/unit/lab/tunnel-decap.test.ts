/**
 * The lab tunnel endpoint's decapsulation (lab/tunnel-decap.ts) on hand-built packets: IPIP, GRE
 * with and without checksum, GUE with and without remote checksum, and garbage of every kind,
 * which is dropped and counted under its reason. Also the endpoint's command line.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DECAP_OK,
  Decapsulator,
  DROP_ENCAP,
  DROP_GRE_CSUM,
  DROP_INNER,
  DROP_OUTER,
  DROP_REMCSUM,
  type TunnelType,
} from '../../../lab/tunnel-decap.js';
import { parseEndpointArgs } from '../../../lab/tunnel-endpoint.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../../../src/packet/checksum.js';

const CLIENT = [10, 0, 0, 2];
const VIP = [207, 175, 44, 110];
const DIP = [172, 16, 0, 1];
const RIP = [172, 16, 0, 2];

const u32 = (a: number[]): number => ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0;

/** An IPv4 header (20 bytes, correct checksum) followed by `payload`. */
function ipv4(src: number[], dst: number[], proto: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(20 + payload.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(0x4000, 6); // DF
  b[8] = 64;
  b[9] = proto;
  b.set(src, 12);
  b.set(dst, 16);
  b.writeUInt16BE(checksum(b, 0, 20), 10);
  b.set(payload, 20);
  return b;
}

/** A TCP SYN-ish segment with 12 data bytes; `partial` leaves only the pseudo-header sum in the checksum field. */
function tcpPacket(partial: boolean): Buffer {
  const tcp = Buffer.alloc(32);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(8080, 2);
  tcp.writeUInt32BE(1, 4);
  tcp[12] = 5 << 4;
  tcp[13] = 0x18;
  tcp.writeUInt16BE(64240, 14);
  tcp.write('hello, tapvs', 20);
  const pseudo = pseudoHeaderSum(u32(CLIENT) | 0, u32(VIP) | 0, 6, tcp.length);
  if (partial) {
    // What CHECKSUM_PARTIAL leaves: the folded pseudo-header sum, not complemented.
    tcp.writeUInt16BE(~csumFinish(pseudo) & 0xffff, 16);
  } else {
    tcp.writeUInt16BE(csumFinish(onesSum(tcp, 0, tcp.length, pseudo)), 16);
  }
  return ipv4(CLIENT, VIP, 6, tcp);
}

function udpPacket(partial: boolean): Buffer {
  const udp = Buffer.alloc(8 + 5);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(53, 2);
  udp.writeUInt16BE(udp.length, 4);
  udp.write('query', 8);
  const pseudo = pseudoHeaderSum(u32(CLIENT) | 0, u32(VIP) | 0, 17, udp.length);
  if (partial) udp.writeUInt16BE(~csumFinish(pseudo) & 0xffff, 6);
  else udp.writeUInt16BE(csumFinish(onesSum(udp, 0, udp.length, pseudo)) || 0xffff, 6);
  return ipv4(CLIENT, VIP, 17, udp);
}

/** The L4 checksum of an inner packet verifies (sum including the pseudo header is 0xffff). */
function l4ChecksumOk(inner: Uint8Array): boolean {
  const b = Buffer.from(inner);
  const l4Len = b.readUInt16BE(2) - 20;
  const pseudo = pseudoHeaderSum(b.readInt32BE(12), b.readInt32BE(16), b[9], l4Len);
  return csumFinish(onesSum(b, 20, 20 + l4Len, pseudo)) === 0;
}

function gre(inner: Uint8Array, withCsum: boolean, flags = withCsum ? 0x8000 : 0, proto = 0x0800): Buffer {
  const hlen = withCsum ? 8 : 4;
  const g = Buffer.alloc(hlen + inner.length);
  g.writeUInt16BE(flags, 0);
  g.writeUInt16BE(proto, 2);
  g.set(inner, hlen);
  if (withCsum) g.writeUInt16BE(checksum(g, 0, g.length), 4);
  return ipv4(DIP, RIP, 47, g);
}

/** A GUE payload; with `remcsum`, the private flags and the start/offset fields. */
function gue(inner: Uint8Array, remcsum: { start: number; offset: number } | null): Buffer {
  const hlen = remcsum === null ? 4 : 12;
  const g = Buffer.alloc(hlen + inner.length);
  g[0] = remcsum === null ? 0 : 2;
  g[1] = 4;
  if (remcsum !== null) {
    g.writeUInt16BE(0x0001, 2);
    g.writeUInt32BE(0x80000000, 4);
    g.writeUInt16BE(remcsum.start, 8);
    g.writeUInt16BE(remcsum.offset, 10);
  }
  g.set(inner, hlen);
  return g;
}

function run(type: TunnelType, packet: Buffer): { r: number; inner: Buffer; d: Decapsulator } {
  const d = new Decapsulator();
  const r = d.decap(type, packet, packet.length);
  return { r, inner: packet.subarray(d.innerOff, d.innerOff + d.innerLen), d };
}

test('tunnel decap: IPIP yields the inner packet, and a count of one decapsulated', () => {
  const inner = tcpPacket(false);
  const { r, inner: got, d } = run('ipip', ipv4(DIP, RIP, 4, inner));
  assert.equal(r, DECAP_OK);
  assert.deepEqual(got, inner);
  assert.equal(d.drops[DECAP_OK], 1);
});

test('tunnel decap: trailing bytes after the inner total length are not part of the inner packet', () => {
  const inner = udpPacket(false);
  const padded = Buffer.concat([inner, Buffer.from([0, 0, 0, 0])]);
  const outer = ipv4(DIP, RIP, 4, padded);
  assert.deepEqual(run('ipip', outer).inner, inner);
});

test('tunnel decap: GRE without and with checksum', () => {
  const inner = tcpPacket(false);
  assert.deepEqual(run('gre', gre(inner, false)).inner, inner);
  const withCsum = run('gre', gre(inner, true));
  assert.equal(withCsum.r, DECAP_OK);
  assert.deepEqual(withCsum.inner, inner);
});

test('tunnel decap: GRE with a wrong checksum, other flags, a version or another protocol is dropped', () => {
  const inner = tcpPacket(false);
  const bad = gre(inner, true);
  bad[24] ^= 0x01; // the GRE checksum
  assert.equal(run('gre', bad).r, DROP_GRE_CSUM);
  const corrupt = gre(inner, true);
  corrupt[corrupt.length - 1] ^= 0xff; // payload changed after the checksum
  assert.equal(run('gre', corrupt).r, DROP_GRE_CSUM);
  for (const flags of [0x2000, 0x1000, 0x4000, 0x0001, 0xa000]) {
    assert.equal(run('gre', gre(inner, false, flags)).r, DROP_ENCAP, `flags 0x${flags.toString(16)}`);
  }
  assert.equal(run('gre', gre(inner, false, 0, 0x86dd)).r, DROP_ENCAP);
  assert.equal(run('gre', gre(inner, false, 0, 0x6558)).r, DROP_ENCAP);
  // C set but only 4 bytes of GRE header.
  assert.equal(run('gre', ipv4(DIP, RIP, 47, Buffer.from([0x80, 0, 0x08, 0]))).r, DROP_ENCAP);
});

test('tunnel decap: GUE without remote checksum', () => {
  const inner = udpPacket(false);
  const { r, inner: got } = run('gue', gue(inner, null));
  assert.equal(r, DECAP_OK);
  assert.deepEqual(got, inner);
});

test('tunnel decap: GUE with remote checksum completes the inner TCP and UDP checksums', () => {
  const tcp = tcpPacket(true);
  assert.equal(l4ChecksumOk(tcp), false);
  const t = run('gue', gue(tcp, { start: 20, offset: 20 + 16 }));
  assert.equal(t.r, DECAP_OK);
  assert.ok(l4ChecksumOk(t.inner));
  assert.deepEqual(t.inner, tcpPacket(false));
  assert.equal(t.d.remcsumCompleted, 1);

  const udp = udpPacket(true);
  const u = run('gue', gue(udp, { start: 20, offset: 20 + 6 }));
  assert.equal(u.r, DECAP_OK);
  assert.ok(l4ChecksumOk(u.inner));
  assert.deepEqual(u.inner, udpPacket(false));
});

test('tunnel decap: GUE remote-checksum fields outside the inner packet are dropped', () => {
  const tcp = tcpPacket(true);
  for (const rc of [
    { start: 21, offset: 37 },
    { start: 20, offset: 37 },
    { start: 20, offset: tcp.length - 1 },
    { start: 20, offset: tcp.length },
    { start: 40, offset: 36 },
    { start: 0, offset: 10 },
    { start: 0xfffe, offset: 0xfffe },
  ]) {
    assert.equal(run('gue', gue(tcp, rc)).r, DROP_REMCSUM, JSON.stringify(rc));
  }
});

test('tunnel decap: GUE with another version, C, protocol, hlen or flags is dropped', () => {
  const inner = udpPacket(false);
  const variants: Array<(g: Buffer) => void> = [
    (g) => {
      g[0] = 0x40; // version 1
    },
    (g) => {
      g[0] = 0x20; // C: a control message
    },
    (g) => {
      g[1] = 41; // IPv6 inside
    },
    (g) => {
      g[2] = 0x80; // a flag without extension room
    },
    (g) => {
      g[0] = 1; // hlen 1 without flags
    },
  ];
  for (const [i, change] of variants.entries()) {
    const g = gue(inner, null);
    change(g);
    assert.equal(run('gue', g).r, DROP_ENCAP, `variant ${i}`);
  }
  const noPrivFlag = gue(inner, { start: 20, offset: 26 });
  noPrivFlag.writeUInt16BE(0, 2);
  assert.equal(run('gue', noPrivFlag).r, DROP_ENCAP);
  const otherPriv = gue(inner, { start: 20, offset: 26 });
  otherPriv.writeUInt32BE(0x40000000, 4);
  assert.equal(run('gue', otherPriv).r, DROP_ENCAP);
  // hlen larger than the datagram.
  const long = gue(inner, null);
  long[0] = 31;
  assert.equal(run('gue', long.subarray(0, 40)).r, DROP_ENCAP);
});

test('tunnel decap: bad outer IPv4 headers are dropped as outer', () => {
  const inner = tcpPacket(false);
  const good = ipv4(DIP, RIP, 4, inner);
  const cases: Array<[string, Buffer]> = [];
  const mutate = (name: string, f: (b: Buffer) => void, fixCsum = true): void => {
    const b = Buffer.from(good);
    f(b);
    if (fixCsum) {
      b.writeUInt16BE(0, 10);
      const hl = (b[0] & 0x0f) * 4;
      if (hl >= 20 && hl <= b.length) b.writeUInt16BE(checksum(b, 0, hl), 10);
    }
    cases.push([name, b]);
  };
  mutate('version 6', (b) => {
    b[0] = 0x65;
  });
  mutate('ihl 4', (b) => {
    b[0] = 0x44;
  });
  mutate(
    'ihl 15 past the end',
    (b) => {
      b[0] = 0x4f;
    },
    false,
  );
  mutate('total length too long', (b) => {
    b.writeUInt16BE(b.length + 1, 2);
  });
  mutate('total length shorter than the header', (b) => {
    b.writeUInt16BE(19, 2);
  });
  mutate('GRE protocol on the IPIP socket', (b) => {
    b[9] = 47;
  });
  mutate('more fragments', (b) => {
    b.writeUInt16BE(0x2000, 6);
  });
  mutate('fragment offset', (b) => {
    b.writeUInt16BE(0x0010, 6);
  });
  mutate(
    'bad header checksum',
    (b) => {
      b[10] ^= 0x55;
    },
    false,
  );
  cases.push(['truncated to 19 bytes', good.subarray(0, 19)]);
  cases.push(['empty', Buffer.alloc(0)]);
  for (const [name, b] of cases) assert.equal(run('ipip', b).r, DROP_OUTER, name);
});

test('tunnel decap: bad inner packets are dropped as inner', () => {
  const inner = tcpPacket(false);
  const badCsum = Buffer.from(inner);
  badCsum[10] ^= 1;
  const v6 = Buffer.from(inner);
  v6[0] = 0x60;
  const longer = Buffer.from(inner);
  longer.writeUInt16BE(inner.length + 8, 2);
  longer.writeUInt16BE(0, 10);
  longer.writeUInt16BE(checksum(longer, 0, 20), 10);
  for (const [name, b] of [
    ['bad header checksum', badCsum],
    ['IPv6', v6],
    ['total length past the end', longer],
    ['truncated', inner.subarray(0, 19)],
    ['nothing', Buffer.alloc(0)],
  ] as const) {
    assert.equal(run('ipip', ipv4(DIP, RIP, 4, b)).r, DROP_INNER, `ipip: ${name}`);
    assert.equal(run('gre', gre(b, false)).r, DROP_INNER, `gre: ${name}`);
    assert.equal(run('gre', gre(b, true)).r, DROP_INNER, `gre+csum: ${name}`);
    assert.equal(run('gue', gue(b, null)).r, DROP_INNER, `gue: ${name}`);
  }
});

test('tunnel decap: random garbage never throws, and every packet is counted once', () => {
  // A fixed linear congruential sequence: the same bytes on every run.
  let seed = 12345;
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  const d = new Decapsulator();
  let n = 0;
  for (const type of ['ipip', 'gre', 'gue'] as const) {
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(i % 90);
      for (let j = 0; j < b.length; j++) b[j] = next();
      if (i % 3 === 0 && b.length >= 20) b[0] = 0x45; // get past the version check sometimes
      d.decap(type, b, b.length);
      n++;
    }
  }
  assert.equal(
    d.drops.reduce((a, c) => a + c, 0),
    n,
  );
});

test('tunnel endpoint args: dev, type and the GUE port', () => {
  assert.deepEqual(parseEndpointArgs(['--dev', 'tvs-tun0', '--type', 'ipip']), {
    dev: 'tvs-tun0',
    type: 'ipip',
    port: 6080,
  });
  assert.deepEqual(parseEndpointArgs(['--dev', 't', '--type', 'gue', '--port', '5555']), {
    dev: 't',
    type: 'gue',
    port: 5555,
  });
  for (const argv of [
    ['--type', 'ipip'],
    ['--dev', 'x', '--type', 'vxlan'],
    ['--dev', 'a-very-long-device-name', '--type', 'gre'],
    ['--dev', 'x', '--type', 'gre', '--port', '1'],
    ['--dev', 'x', '--type', 'gue', '--port', '0'],
    ['--dev', 'x', '--type', 'gue', '--port', '6080x'],
    ['--dev', 'x', '--type', 'gue', '--bogus'],
  ]) {
    assert.throws(() => parseEndpointArgs(argv), Error, argv.join(' '));
  }
});

test('the addon refuses a TUN device with TAP-only options before it opens anything', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
  const addon = createRequire(import.meta.url)(join(root, 'build', 'Release', 'tapvs_tap.node')) as {
    TapDevice: new (name: string, opts: object) => unknown;
  };
  for (const opts of [
    { tun: true, vnetHdr: true },
    { tun: true, multiQueue: true },
  ]) {
    assert.throws(
      () => new addon.TapDevice('tvs-tun-x', opts),
      (e: unknown) => (e as { code?: string }).code === 'LINK_CONFIG' && /TAP devices only/.test(String(e)),
      JSON.stringify(opts),
    );
  }
});
