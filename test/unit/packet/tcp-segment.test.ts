/**
 * Software TCP segmentation (tunnels cannot pass GSO super-frames on): segment sizes, sequence
 * numbers, IP IDs, flags on the first/last segment and complete checksums, checked against a
 * from-scratch computation; bad input is refused, not half-cut.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FragmentBuffer } from '../../../src/dataplane/fragment.js';
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../../../src/packet/checksum.js';
import { segmentTcp } from '../../../src/packet/tcp-segment.js';

function superFrame(payload: number, flags: number): Buffer {
  const b = Buffer.alloc(40 + payload);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(0xfffe, 4);
  b.writeUInt16BE(0x4000, 6);
  b[8] = 63;
  b[9] = 6;
  b.writeInt32BE(0xc0a8de01 | 0, 12);
  b.writeInt32BE(0xc0a8de83 | 0, 16);
  b.writeUInt16BE(40000, 20);
  b.writeUInt16BE(80, 22);
  b.writeUInt32BE(0xffffff00, 24); // wraps within the frame
  b.writeUInt32BE(77, 28);
  b[32] = 5 << 4;
  b[33] = flags;
  for (let i = 0; i < payload; i++) b[40 + i] = i & 0xff;
  return b;
}

test('segmentTcp: MSS-sized segments with their own seq, IP ID, flags and checksums', () => {
  const src = superFrame(2500, 0x80 | 0x10 | 0x08 | 0x01); // CWR ACK PSH FIN
  const sink = new FragmentBuffer(8192, 8);
  const n = segmentTcp(src, 0, src.length, 1000, sink, 20);
  assert.equal(n, 3);
  const got: Buffer[] = [];
  for (let i = 0; i < sink.count; i++) {
    assert.equal(sink.lengths[i] - 20, i < 2 ? 1040 : 540);
    got.push(Buffer.from(sink.buf.subarray(sink.offsets[i] + 20, sink.offsets[i] + sink.lengths[i])));
  }
  let payload = Buffer.alloc(0);
  got.forEach((s, i) => {
    assert.equal(s.readUInt16BE(2), s.length);
    assert.equal(s.readUInt16BE(4), (0xfffe + i) & 0xffff, 'IP ID + 1 per segment');
    assert.equal(checksum(s, 0, 20), 0, 'IP checksum');
    assert.equal(s.readUInt32BE(24), (0xffffff00 + i * 1000) >>> 0, 'sequence number');
    const flags = s[33];
    assert.equal((flags & 0x80) !== 0, i === 0, 'CWR on the first only');
    assert.equal((flags & 0x09) !== 0, i === 2, 'FIN and PSH on the last only');
    assert.equal(flags & 0x10, 0x10, 'ACK on all');
    const sum = csumFinish(
      onesSum(s, 20, s.length, pseudoHeaderSum(s.readInt32BE(12), s.readInt32BE(16), 6, s.length - 20)),
    );
    assert.equal(sum, 0, 'TCP checksum verifies');
    payload = Buffer.concat([payload, s.subarray(40)]);
  });
  assert.deepEqual(payload, src.subarray(40), 'the payload, in order, whole');
});

test('segmentTcp: not TCP, a bad data offset or no room -> -1', () => {
  const sink = new FragmentBuffer(8192, 8);
  const udp = superFrame(100, 0x10);
  udp[9] = 17;
  assert.equal(segmentTcp(udp, 0, udp.length, 50, sink, 0), -1);
  const bad = superFrame(10, 0x10);
  bad[32] = 15 << 4;
  assert.equal(segmentTcp(bad, 0, bad.length, 50, sink, 0), -1);
  const big = superFrame(5000, 0x10);
  assert.equal(segmentTcp(big, 0, big.length, 100, new FragmentBuffer(2048, 4), 0), -1);
});
