/**
 * Frames in -> frames out for what two directors need from the dataplane: VRRP virtual addresses
 * that are held (master) or standby (backup: no ARP answer, no accept, no forwarding), multicast
 * packets of the director's protocols queued for the control plane, multicast output, and the
 * sync master's per-packet hook.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Drop } from '../../src/dataplane/drops.js';
import { IPPROTO_UDP } from '../../src/packet/ipv4.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  makeDirector,
  RS1_MAC,
  RS2_MAC,
  resolveNeighbours,
  type TestDirector,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { ACK, arpFrame, decode, ip, ipFrame, SYN, TCP, UDP } from '../helpers/frames.js';

const ZERO = new Uint8Array(6);
/** A VRRP virtual address on the external link, with a service of its own. */
const VVIP = ip('192.168.222.140');
const VRRP_GROUP = ip('224.0.0.18');
const SYNC_GROUP = ip('224.0.0.81');
const VRRP_MAC = new Uint8Array([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
const PEER_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x00, 0x02, 0x22]);
const PEER = ip('192.168.222.133');

function vvipService(td: TestDirector): void {
  const service = { proto: 'tcp' as const, addr: '192.168.222.140', port: 80 };
  td.run({
    op: 'addService',
    service,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({
    op: 'addDest',
    service,
    dest: { addr: '192.168.2.129', port: 80 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
}

function standbyDirector(): TestDirector {
  const td = makeDirector();
  resolveNeighbours(td);
  vvipService(td);
  td.dp.setVirtualAddresses('VI_1', 0, [{ addr: VVIP, prefixLen: 32 }], false);
  return td;
}

test('a standby virtual address is not answered for, not accepted and not forwarded to', () => {
  const td = standbyDirector();
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VVIP)]);
  assert.equal(td.ext.take().length, 0, 'no ARP reply for a standby address');
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VVIP, { proto: TCP, sport: 41000, dport: 80, flags: SYN })]);
  assert.equal(td.int.take().length, 0);
  assert.equal(td.ext.take().length, 0, 'no RST either: the address is not ours');
  assert.equal(td.dp.ports[0].drops[Drop.VrrpBackup], 1);
  assert.equal(td.ipvs.conns.count, 0);
  td.dp.announce();
  const announced = td.ext.take().map(decode);
  assert.ok(!announced.some((d) => d.arpSpa === '192.168.222.140'), 'no gratuitous ARP for a standby VIP');
});

test('a held virtual address is answered for and its service forwards', () => {
  const td = standbyDirector();
  td.dp.setVirtualAddresses('VI_1', 0, [{ addr: VVIP, prefixLen: 32 }], true);
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VVIP)]);
  const [reply] = td.ext.take().map(decode);
  assert.equal(reply.arpOp, 2);
  assert.equal(reply.arpSpa, '192.168.222.140');
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VVIP, { proto: TCP, sport: 41000, dport: 80, flags: SYN })]);
  const [fwd] = td.int.take().map(decode);
  assert.equal(fwd.dst, '192.168.2.129');
  assert.equal(fwd.dstMac, Array.from(RS1_MAC, (x) => x.toString(16).padStart(2, '0')).join(':'));
  // Back to standby: the existing connection's packets are no longer accepted either.
  td.dp.setVirtualAddresses('VI_1', 0, [{ addr: VVIP, prefixLen: 32 }], false);
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VVIP, { proto: TCP, sport: 41000, dport: 80, flags: ACK })]);
  assert.equal(td.int.take().length, 0);
  assert.equal(td.dp.ports[0].drops[Drop.VrrpBackup], 1);
});

test('the link addresses stay owned whatever the virtual addresses do', () => {
  const td = standbyDirector();
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VIP)]);
  assert.equal(decode(td.ext.take()[0]).arpSpa, '192.168.222.131');
  td.dp.dropVirtualAddresses('VI_1');
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VVIP)]);
  const [reply] = td.ext.take().map(decode);
  assert.equal(reply?.arpSpa, '192.168.222.140', 'without VRRP the service VIP is answered for again');
});

function vrrpFrame(ttl = 255): Buffer {
  return ipFrame(
    VRRP_MAC,
    PEER_MAC,
    PEER,
    VRRP_GROUP,
    { proto: 112, payload: new Uint8Array([0x31, 51, 100, 1]) },
    {
      ttl,
      df: false,
    },
  );
}

test('multicast for a subscribed group is queued whole for the control plane, other multicast is not', () => {
  const td = makeDirector();
  td.send('ext', [vrrpFrame()]);
  assert.equal(td.dp.ports[0].drops[Drop.NotForUs], 1, 'no subscription: the group MAC is not ours');
  td.dp.inbox.subscribe(0, VRRP_GROUP, 112, 0);
  let signalled = 0;
  td.dp.onControlPackets = () => signalled++;
  const frame = vrrpFrame();
  td.send('ext', [frame]);
  assert.equal(signalled, 1);
  const got: Array<{ link: number; bytes: Buffer }> = [];
  td.dp.drainControl((link, buf, off, len) => got.push({ link, bytes: Buffer.from(buf.subarray(off, off + len)) }));
  assert.equal(got.length, 1);
  assert.equal(got[0].link, 0);
  assert.deepEqual(got[0].bytes, frame.subarray(14));
  assert.equal(td.dp.inbox.pending, 0);
  // The same frame on the other link, and a UDP datagram to a port nobody listens on: dropped.
  td.send('int', [vrrpFrame()]);
  assert.equal(td.dp.ports[1].drops[Drop.NotForUs], 1);
  const udp = ipFrame(VRRP_MAC, PEER_MAC, PEER, VRRP_GROUP, { proto: UDP, sport: 1000, dport: 8848 }, { df: false });
  td.send('ext', [udp]);
  assert.equal(td.dp.ports[0].drops[Drop.Broadcast], 1);
});

test('sync messages are taken by UDP port, and a full queue drops and counts', () => {
  const td = makeDirector();
  td.dp.inbox.subscribe(1, SYNC_GROUP, IPPROTO_UDP, 8848);
  const mac = new Uint8Array([0x01, 0x00, 0x5e, 0x00, 0x00, 0x51]);
  const msg = (dport: number) =>
    ipFrame(
      mac,
      RS2_MAC,
      ip('192.168.2.133'),
      SYNC_GROUP,
      { proto: UDP, sport: 5000, dport, payload: new Uint8Array(1400) },
      {
        ttl: 1,
        df: false,
      },
    );
  td.send('int', [msg(8848), msg(8849)]);
  assert.equal(td.dp.inbox.pending, 1);
  assert.equal(td.dp.ports[1].drops[Drop.Broadcast], 1);
  const many = Array.from({ length: 1600 }, () => msg(8848));
  for (let i = 0; i < many.length; i += 200) td.send('int', many.slice(i, i + 200));
  assert.ok(td.dp.ports[1].drops[Drop.ControlQueueFull] > 0, 'the arena is bounded');
  assert.equal(td.dp.inbox.overflows, td.dp.ports[1].drops[Drop.ControlQueueFull]);
  let n = 0;
  td.dp.drainControl(() => n++);
  assert.equal(n + td.dp.inbox.overflows, 1601);
  td.dp.inbox.unsubscribe(1, SYNC_GROUP, IPPROTO_UDP, 8848);
  td.send('int', [msg(8848)]);
  assert.equal(td.dp.inbox.pending, 0);
});

test('multicast UDP output: group MAC, no DF, valid checksums, fragments above the MTU', () => {
  const td = makeDirector({ mtu: 1500 });
  const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
  assert.ok(td.dp.sendMulticastUdp(1, ip('192.168.2.136'), 40123, SYNC_GROUP, 8848, 1, payload, payload.length));
  const [f] = td.int.take();
  const d = decode(f);
  assert.equal(d.dstMac, '01:00:5e:00:00:51');
  assert.equal(d.dst, '224.0.0.81');
  assert.equal(d.src, '192.168.2.136');
  assert.equal(d.ttl, 1);
  assert.equal(d.sport, 40123);
  assert.equal(d.dport, 8848);
  assert.ok(d.ipCsumOk && d.l4CsumOk);
  assert.equal(f.readUInt16BE(14 + 6) & 0x4000, 0, 'DF clear');
  assert.deepEqual(new Uint8Array(d.payload!), payload);
  const big = new Uint8Array(4000).fill(7);
  assert.ok(td.dp.sendMulticastUdp(1, ip('192.168.2.136'), 40123, SYNC_GROUP, 8848, 1, big, big.length));
  const frags = td.int.take();
  assert.equal(frags.length, 3);
  for (const fr of frags) {
    assert.equal(decode(fr).dstMac, '01:00:5e:00:00:51');
    assert.ok(fr.length - 14 <= 1500);
  }
});

test('the sync master hears of every client -> VIP packet of a connection, on both paths', () => {
  for (const fastPath of [true, false]) {
    const td = makeDirector({ fastPath });
    resolveNeighbours(td);
    textbookService(td);
    const seen: number[] = [];
    td.dp.setSyncMaster({ afterInbound: (id) => seen.push(id) });
    td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 42000, dport: 80, flags: SYN })]);
    const [toRs] = td.int.take().map(decode);
    const reply = ipFrame(
      new Uint8Array([0x02, 0, 0, 0, 0, 2]),
      toRs.dst === '192.168.2.129' ? RS1_MAC : RS2_MAC,
      ip(toRs.dst!),
      CLIENT,
      { proto: TCP, sport: 80, dport: 42000, flags: SYN | ACK },
    );
    td.send('int', [reply]);
    td.send('ext', [
      ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 42000, dport: 80, flags: ACK }),
      ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 42000, dport: 80, flags: ACK }),
    ]);
    assert.equal(seen.length, 3, `fastPath=${fastPath}: inbound packets only, replies not`);
    assert.ok(seen.every((id) => id === seen[0]));
    td.dp.setSyncMaster(null);
    td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 42000, dport: 80, flags: ACK })]);
    assert.equal(seen.length, 3);
  }
});
