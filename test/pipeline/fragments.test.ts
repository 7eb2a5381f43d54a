/**
 * IPv4 fragments through the director: reassembled before IPVS looks at ports (the kernel's
 * defrag before IPVS), NATed, and fragmented again on the way out; oversized datagrams without
 * DF are fragmented to the egress MTU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksum } from '../../src/packet/checksum.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  resolveNeighbours,
  type TestDirector,
  VIP,
} from '../helpers/director.js';
import { decode, ipFrame, UDP } from '../helpers/frames.js';

const udpSvc = { proto: 'udp' as const, addr: '192.168.222.131', port: 53 };

function udpService(td: TestDirector): void {
  td.run({
    op: 'addService',
    service: udpSvc,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({
    op: 'addDest',
    service: udpSvc,
    dest: { addr: '192.168.2.129', port: 5353 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
}

/** Splits a frame's IP datagram into fragments with `size` bytes of payload each (multiple of 8). */
function fragment(frame: Buffer, size: number): Buffer[] {
  const ip = frame.subarray(14);
  const hl = (ip[0] & 15) * 4;
  const payload = ip.subarray(hl, ip.readUInt16BE(2));
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, Math.min(off + size, payload.length));
    const h = Buffer.from(ip.subarray(0, hl));
    h.writeUInt16BE(hl + part.length, 2);
    h.writeUInt16BE((off + size < payload.length ? 0x2000 : 0) | (off >> 3), 6);
    h.writeUInt16BE(0, 10);
    h.writeUInt16BE(checksum(h, 0, hl), 10);
    out.push(Buffer.concat([frame.subarray(0, 14), h, part]));
  }
  return out;
}

/** Reassembles fragments the director sent (any order) and returns the datagram. */
function reassemble(frames: Buffer[]): Buffer {
  const parts = frames
    .map((f) => {
      const ip = f.subarray(14);
      const hl = (ip[0] & 15) * 4;
      assert.equal(checksum(ip, 0, hl), 0, 'fragment header checksum');
      return {
        off: (ip.readUInt16BE(6) & 0x1fff) * 8,
        mf: (ip.readUInt16BE(6) & 0x2000) !== 0,
        hdr: ip.subarray(0, hl),
        data: ip.subarray(hl, ip.readUInt16BE(2)),
      };
    })
    .sort((a, b) => a.off - b.off);
  const data = Buffer.concat(parts.map((p) => p.data));
  const h = Buffer.from(parts[0].hdr);
  h.writeUInt16BE(h.length + data.length, 2);
  h.writeUInt16BE(0, 6);
  h.writeUInt16BE(0, 10);
  h.writeUInt16BE(checksum(h, 0, h.length), 10);
  return Buffer.concat([frames[0].subarray(0, 14), h, data]);
}

test('a fragmented UDP query (out of order) is reassembled, DNATed and fragmented again to the same size', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  udpService(td);
  const payload = Buffer.alloc(3000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const whole = ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    { proto: UDP, sport: 5000, dport: 53, payload },
    { df: false, id: 0x4242 },
  );
  const frags = fragment(whole, 1000);
  assert.equal(frags.length, 4);
  td.send('ext', [frags[2], frags[0], frags[3]]);
  assert.equal(td.int.take().length, 0, 'nothing leaves before the datagram is complete');
  td.send('ext', [frags[1]]);
  const out = td.int.take();
  assert.ok(out.length >= 4, `fragments sent: ${out.length}`);
  for (const f of out) assert.ok(f.length - 14 <= 1000 + 20 + 8, 'no fragment larger than the largest received');
  const d = decode(reassemble(out));
  assert.equal(d.dst, '192.168.2.129');
  assert.equal(d.dport, 5353);
  assert.ok(d.l4CsumOk, 'UDP checksum over the whole reassembled datagram');
  assert.deepEqual(d.payload, payload);
  assert.equal(td.ipvs.services[0].stats.inPkts, 1, 'one datagram counted');
});

test('a datagram without DF larger than the egress MTU is fragmented; with DF it gets fragmentation needed', () => {
  const td = makeDirector({ mtu: 1000 });
  resolveNeighbours(td);
  udpService(td);
  const big = ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    { proto: UDP, sport: 5000, dport: 53, payload: Buffer.alloc(1400, 3) },
    { df: false },
  );
  td.send('ext', [big]);
  const out = td.int.take();
  assert.equal(out.length, 2);
  const d = decode(reassemble(out));
  assert.ok(d.l4CsumOk);
  assert.equal(d.payload!.length, 1400);
  const df = ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    { proto: UDP, sport: 5001, dport: 53, payload: Buffer.alloc(1400, 3) },
    { df: true },
  );
  td.send('ext', [df]);
  assert.equal(td.int.take().length, 0);
  const e = decode(td.ext.take()[0]);
  assert.equal(e.icmpType, 3);
  assert.equal(e.icmpCode, 4);
});

test('a fragment that never completes times out and counts; the sender hears ICMP time exceeded (reassembly)', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  udpService(td);
  const whole = ipFrame(
    EXT_MAC,
    CLIENT_MAC,
    CLIENT,
    VIP,
    { proto: UDP, sport: 5000, dport: 53, payload: Buffer.alloc(2000, 1) },
    { df: false },
  );
  const frags = fragment(whole, 1000);
  td.send('ext', [frags[0]]);
  td.dp.tick(td.now);
  td.now += 31_000;
  td.dp.tick(td.now);
  const [icmp] = td.ext.take().map(decode);
  assert.equal(icmp.icmpType, 11);
  assert.equal(icmp.icmpCode, 1);
  assert.equal(icmp.dst, '192.168.222.1');
  assert.equal(td.dp.reasm.counters.timedOut, 1);
  void INT_MAC;
  void RS1;
  void RS1_MAC;
});
