import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packetFilter, runPacketFilter } from '../../../src/link/packet-filter.js';
import { loadBpfAddon } from '../../../src/trace/bpf-compile.js';

const OWN = Uint8Array.from([0x02, 0x74, 0x12, 0x34, 0x56, 0x78]);
const NIC = Uint8Array.from([0x02, 0x00, 0x00, 0x00, 0xa0, 0x01]);
const PEER = Uint8Array.from([0x02, 0x00, 0x00, 0x00, 0xb0, 0x01]);
const BCAST = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const VRRP_GROUP = Uint8Array.from([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
/** 192.168.2.137 and 10.0.0.1, as uint32. */
const KERNEL_ADDR = 0xc0a80289;
const OTHER_ADDR = 0x0a000001;

/** An Ethernet frame (IPv4 with `dstIp` when given, else EtherType 0x88b6) padded to 60 bytes. */
function frame(dst: Uint8Array, src: Uint8Array, dstIp?: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  if (dstIp === undefined) {
    f[12] = 0x88;
    f[13] = 0xb6;
  } else {
    f[12] = 0x08;
    f[14] = 0x45;
    new DataView(f.buffer).setUint32(30, dstIp);
  }
  return f;
}

const accepts = (prog: Uint32Array, f: Uint8Array): boolean => runPacketFilter(prog, f) !== 0;

test('packet filter: frames to the own MAC, broadcast and multicast pass whole; to another MAC, no', () => {
  const p = packetFilter(OWN, NIC);
  assert.equal(runPacketFilter(p, frame(OWN, PEER)), 0xffffffff, 'the snap length is the whole frame');
  assert.ok(accepts(p, frame(BCAST, PEER)));
  assert.ok(accepts(p, frame(VRRP_GROUP, PEER)));
  assert.ok(!accepts(p, frame(NIC, PEER)), "the NIC's own MAC is the kernel's when the director has its own");
  assert.ok(!accepts(p, frame(PEER, NIC)));
});

test('packet filter: frames from the own MAC or the NIC MAC never pass (loops, MAC clashes, the kernel)', () => {
  const p = packetFilter(OWN, NIC);
  assert.ok(!accepts(p, frame(BCAST, OWN)));
  assert.ok(!accepts(p, frame(BCAST, NIC)));
  assert.ok(!accepts(p, frame(OWN, OWN)));
  // Same first four bytes as OWN, other last two: not OWN.
  assert.ok(accepts(p, frame(BCAST, Uint8Array.from([0x02, 0x74, 0x12, 0x34, 0x00, 0x00]))));
});

test('packet filter with mac=nic: IPv4 to the kernel addresses is left to the kernel, the rest passes', () => {
  const p = packetFilter(NIC, NIC, [KERNEL_ADDR]);
  assert.ok(!accepts(p, frame(NIC, PEER, KERNEL_ADDR)));
  assert.ok(accepts(p, frame(NIC, PEER, OTHER_ADDR)));
  assert.ok(accepts(p, frame(NIC, PEER)), 'not IPv4: passes');
  assert.ok(!accepts(p, frame(BCAST, NIC)), 'from the NIC MAC: never');
  // One MAC tested once: the program is shorter than with two.
  assert.ok(p.length < packetFilter(OWN, NIC, [KERNEL_ADDR]).length);
});

test('packet filter: a frame too short to read is dropped, as the kernel drops on an out-of-range load', () => {
  const p = packetFilter(OWN, NIC);
  assert.equal(runPacketFilter(p, new Uint8Array(8)), 0);
});

test("packet filter: libpcap's interpreter agrees with ours, and with libpcap's own program for the same tcpdump expression", () => {
  const bpf = loadBpfAddon();
  const own = '02:74:12:34:56:78',
    nic = '02:00:00:00:a0:01';
  const cases: Array<[Uint32Array, string]> = [
    [packetFilter(OWN, NIC), `not ether src ${own} and not ether src ${nic} and (ether dst ${own} or ether multicast)`],
    [
      packetFilter(NIC, NIC, [KERNEL_ADDR, OTHER_ADDR]),
      `not ether src ${nic} and (ether dst ${nic} or ether multicast) and not ip dst host 192.168.2.137 and not ip dst host 10.0.0.1`,
    ],
  ];
  const macs = [OWN, NIC, PEER, BCAST, VRRP_GROUP];
  for (const [ours, expr] of cases) {
    const theirs = bpf.compile(expr, 262144);
    let n = 0;
    for (const dst of macs)
      for (const src of macs)
        for (const ip of [undefined, KERNEL_ADDR, OTHER_ADDR]) {
          const f = frame(dst, src, ip);
          const want = bpf.filter(theirs, f, f.length, f.length) !== 0;
          assert.equal(bpf.filter(ours, f, f.length, f.length) !== 0, want, `libpcap on ours: ${expr}`);
          assert.equal(
            accepts(ours, f),
            want,
            `ours: ${expr}, frame ${Buffer.from(f.subarray(0, 14)).toString('hex')}`,
          );
          n++;
        }
    assert.equal(n, 75);
  }
});
