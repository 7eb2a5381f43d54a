/**
 * ICMP errors that quote a packet of a connection are translated both ways (ip_vs_core.c,
 * ip_vs_in_icmp() and ip_vs_out_icmp(); docs/ipvs-behaviour.md#icmp-errors-related-to-connections):
 * outer and quoted addresses/ports rewritten, checksums valid, counted on the connection.
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
  textbookService,
  VIP,
} from '../helpers/director.js';
import { decode, ICMP, ipFrame, SYN, TCP } from '../helpers/frames.js';

/** The IP datagram (header + 8 bytes of L4) of frame f, as an ICMP error would quote it. */
function quote(f: Buffer): Buffer {
  return Buffer.from(f.subarray(14, 14 + 28));
}

function setup(): ReturnType<typeof makeDirector> {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN })]);
  return td;
}

test("a real server's ICMP error about the client's packet leaves from the VIP, quoting VIP:80", () => {
  const td = setup();
  const [fwd] = td.int.take(); // what RS1 received: client -> RS1:80
  td.send('int', [
    ipFrame(INT_MAC, RS1_MAC, RS1, CLIENT, { proto: ICMP, type: 3, code: 4, rest: 1400, payload: quote(fwd) }),
  ]);
  const [out] = td.ext.take();
  const d = decode(out);
  assert.equal(d.src, '192.168.222.131');
  assert.equal(d.dst, '192.168.222.1');
  assert.equal(d.icmpType, 3);
  assert.equal(d.icmpCode, 4);
  assert.equal(d.icmpRest! & 0xffff, 1400, 'the MTU passes unchanged');
  assert.ok(d.ipCsumOk && d.l4CsumOk);
  const q = d.payload!;
  assert.equal(q.readInt32BE(12), CLIENT);
  assert.equal(q.readInt32BE(16), VIP, 'quoted destination is the VIP');
  assert.equal(q.readUInt16BE(22), 80);
  assert.equal(checksum(q, 0, 20), 0, 'quoted IP header checksum valid');
  const svc = td.ipvs.services[0];
  assert.equal(svc.stats.outPkts, 1);
});

test("the client's ICMP error about the VIP's reply reaches the real server, quoting RIP:rport", () => {
  const td = setup();
  td.int.take();
  // The client quotes a reply it got: VIP:80 -> client:40000.
  const reply = ipFrame(CLIENT_MAC, EXT_MAC, VIP, CLIENT, { proto: TCP, sport: 80, dport: 40000, flags: SYN | 0x10 });
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: ICMP, type: 3, code: 3, rest: 0, payload: quote(reply) }),
  ]);
  const [out] = td.int.take();
  const d = decode(out);
  assert.equal(d.dst, '192.168.2.129');
  assert.equal(d.src, '192.168.222.1');
  assert.ok(d.ipCsumOk && d.l4CsumOk);
  const q = d.payload!;
  assert.equal(q.readInt32BE(12), RS1, 'quoted source is the real server');
  assert.equal(q.readUInt16BE(20), 80);
  assert.equal(checksum(q, 0, 20), 0);
  assert.equal(td.ipvs.services[0].stats.inPkts, 2);
});

test('an ICMP error quoting no connection is not translated (to the VIP: dropped as icmp_ignored)', () => {
  const td = setup();
  td.int.take();
  const other = ipFrame(CLIENT_MAC, EXT_MAC, VIP, CLIENT, { proto: TCP, sport: 80, dport: 41111, flags: SYN });
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: ICMP, type: 3, code: 3, rest: 0, payload: quote(other) }),
  ]);
  assert.equal(td.int.take().length, 0);
});
