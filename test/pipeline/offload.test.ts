/**
 * Offloads (virtio-net headers): GSO super-frames are NATed whole, the virtio header passes
 * through, and a NEEDS_CSUM frame's partial (pseudo-header) checksum follows the address
 * rewrite while port rewrites leave it alone — so that the kernel, finishing the checksum,
 * gets a valid one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csumFinish, csumFold, onesSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { ACK, arpFrame, decode, ipFrame, SYN, TCP } from '../helpers/frames.js';

const NEEDS_CSUM = 1,
  GSO_TCPV4 = 1;

/** A virtio_net_hdr (12 bytes, little-endian) + frame, with the TCP checksum made partial. */
function vnet(frame: Buffer, gsoSize: number): Buffer {
  const h = Buffer.alloc(12);
  const ipOff = 14,
    l4 = ipOff + 20;
  const src = frame.readInt32BE(ipOff + 12),
    dst = frame.readInt32BE(ipOff + 16);
  const l4Len = frame.readUInt16BE(ipOff + 2) - 20;
  const f = Buffer.from(frame);
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented.
  f.writeUInt16BE(csumFold(pseudoHeaderSum(src, dst, TCP, l4Len)), l4 + 16);
  h[0] = NEEDS_CSUM;
  h[1] = gsoSize > 0 ? GSO_TCPV4 : 0;
  h.writeUInt16LE(54, 2); // hdr_len
  h.writeUInt16LE(gsoSize, 4); // gso_size
  h.writeUInt16LE(l4, 6); // csum_start
  h.writeUInt16LE(16, 8); // csum_offset
  return Buffer.concat([h, f]);
}

/** What the kernel does with NEEDS_CSUM: sum from csum_start with the partial in place, store ~sum. */
function finishPartial(f: Buffer): boolean {
  const b = f.subarray(12);
  const l4 = 34;
  const end = 14 + b.readUInt16BE(16);
  const full = csumFinish(onesSum(b, l4, end, 0));
  const c = Buffer.from(b);
  c.writeUInt16BE(full, l4 + 16);
  const src = c.readInt32BE(26),
    dst = c.readInt32BE(30);
  return csumFinish(onesSum(c, l4, end, pseudoHeaderSum(src, dst, TCP, end - l4))) === 0;
}

test('NEEDS_CSUM frames: DNAT in and SNAT out keep the virtio header and a partial checksum that completes', () => {
  const td = makeDirector({ vnetHdr: true });
  const z = new Uint8Array(6);
  td.send('ext', [Buffer.concat([Buffer.alloc(12), arpFrame(1, CLIENT_MAC, CLIENT, z, VIP)])]);
  td.send('int', [Buffer.concat([Buffer.alloc(12), arpFrame(1, RS1_MAC, RS1, z, 0xc0a80288 | 0)])]);
  td.ext.take();
  td.int.take();
  textbookService(td);
  const syn = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, {
    proto: TCP,
    sport: 40000,
    dport: 80,
    flags: SYN,
    payload: Buffer.alloc(100, 1),
  });
  td.send('ext', [vnet(syn, 0)]);
  const [out] = td.int.take();
  assert.equal(out.length, 12 + syn.length);
  assert.equal(out[0], NEEDS_CSUM, 'virtio flags pass through');
  assert.equal(out.readUInt16LE(6), 34, 'csum_start unchanged');
  const d = decode(out.subarray(12));
  assert.equal(d.dst, '192.168.2.129');
  assert.ok(d.ipCsumOk);
  assert.ok(finishPartial(out), 'the kernel completes a valid TCP checksum after DNAT');
  // Reply with a large GSO frame from RS1 (fits the 2048-byte test ring: 1900 bytes, gso_size 900).
  const reply = ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, {
    proto: TCP,
    sport: 80,
    dport: 40000,
    flags: ACK,
    payload: Buffer.alloc(1900, 9),
  });
  td.send('int', [vnet(reply, 900)]);
  const [back] = td.ext.take();
  assert.equal(back[1], GSO_TCPV4);
  assert.equal(back.readUInt16LE(4), 900, 'gso_size passes through');
  const e = decode(back.subarray(12));
  assert.equal(e.src, '192.168.222.131');
  assert.equal(e.sport, 80);
  assert.ok(finishPartial(back), 'partial checksum completes after SNAT');
  assert.equal(
    td.dp.ports[1].drops.reduce((a, b) => a + b, 0),
    0,
    'a GSO frame above the MTU is not dropped',
  );
});

test('a NEEDS_CSUM frame parked for ARP leaves with its checksum completed (the parked copy has no virtio header)', () => {
  const td = makeDirector({ vnetHdr: true });
  const z = new Uint8Array(6);
  td.send('ext', [Buffer.concat([Buffer.alloc(12), arpFrame(1, CLIENT_MAC, CLIENT, z, VIP)])]);
  td.ext.take();
  textbookService(td);
  const syn = ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN });
  td.send('ext', [vnet(syn, 0)]);
  const [req] = td.int.take();
  assert.equal(decode(req.subarray(12)).arpOp, 1, 'ARP request for the real server');
  td.send('int', [Buffer.concat([Buffer.alloc(12), arpFrame(2, RS1_MAC, RS1, INT_MAC, 0xc0a80288 | 0)])]);
  const [out] = td.int.take();
  assert.equal(out[0], 0, 'no NEEDS_CSUM on the parked copy');
  const d = decode(out.subarray(12));
  assert.equal(d.dst, '192.168.2.129');
  assert.ok(d.l4CsumOk, 'full TCP checksum');
});
