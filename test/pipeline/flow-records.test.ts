/**
 * The fast path's flow records (src/dataplane/flow-cache.ts) must never outlive what they were
 * worked out from. Each test runs the same steps on two directors, one with the fast path and one
 * without, and compares every frame sent: first an established flow so that its records are
 * filled (checked: the general path did not see those frames), then one change a record depends
 * on (the real server's MAC, a route, the dest, the connection id's reuse),
 * then more frames of the flow. A record that survived the change sends the old way and the
 * outputs differ. Frames out are also checked against checksums computed from scratch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csumFold, onesSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import * as lab from '../helpers/director.js';
import { ACK, arpFrame, ip, ipFrame, mac, SYN, TCP, UDP } from '../helpers/frames.js';

const ZERO_MAC = new Uint8Array(6);
const GW = ip('192.168.222.254'),
  GW_MAC = mac('52:54:00:00:00:fe'),
  FAR_CLIENT = ip('10.9.8.7');

interface Twin {
  fast: lab.TestDirector;
  slow: lab.TestDirector;
  /** Frames the general path of `fast` saw. */
  general(): number;
}

function twin(extGateway = 0): Twin {
  const make = (fastPath: boolean) => {
    const td = lab.makeDirector({ fastPath, extGateway });
    lab.resolveNeighbours(td);
    if (extGateway !== 0) {
      td.send('ext', [arpFrame(1, GW_MAC, GW, ZERO_MAC, lab.VIP)]);
      td.ext.take();
    }
    lab.textbookService(td);
    td.run({
      op: 'addService',
      service: { proto: 'udp', addr: '192.168.222.131', port: 53 },
      config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
    });
    td.run({
      op: 'addDest',
      service: { proto: 'udp', addr: '192.168.222.131', port: 53 },
      dest: { addr: '192.168.2.129', port: 53 },
      config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
    });
    return td;
  };
  const fast = make(true),
    slow = make(false);
  return { fast, slow, general: lab.countGeneralPath(fast) };
}

/** Sends `frames` on `link` of both directors; returns what each sent on either link, asserting they agree. */
function both(t: Twin, link: 'ext' | 'int', frames: () => Buffer[], what: string): { ext: Buffer[]; int: Buffer[] } {
  const out = [t.fast, t.slow].map((td) => {
    td.send(link, frames());
    return { ext: td.ext.take(), int: td.int.take() };
  });
  assert.deepEqual(out[0], out[1], `${what}: the fast path sends what the general path sends`);
  for (const f of [...out[0].ext, ...out[0].int]) assertChecksums(f);
  return out[0];
}

/** Every IPv4 / TCP / UDP checksum of an Ethernet frame, computed from scratch. */
function assertChecksums(f: Buffer): void {
  if (f.readUInt16BE(12) !== 0x0800) return;
  const ip = 14,
    ihl = (f[ip] & 0xf) * 4,
    total = f.readUInt16BE(ip + 2);
  assert.equal(csumFold(onesSum(f, ip, ip + ihl, 0)), 0xffff, 'IPv4 header checksum');
  const proto = f[ip + 9],
    l4 = ip + ihl,
    l4Len = total - ihl;
  if (proto !== TCP && proto !== UDP) return;
  if (proto === UDP && f.readUInt16BE(l4 + 6) === 0) return;
  const sum = onesSum(f, l4, l4 + l4Len, pseudoHeaderSum(f.readInt32BE(ip + 12), f.readInt32BE(ip + 16), proto, l4Len));
  assert.equal(csumFold(sum), 0xffff, `${proto === TCP ? 'TCP' : 'UDP'} checksum`);
}

const payload = Buffer.from('established flow payload');
const fromClient = (sport: number, flags = ACK, client = lab.CLIENT, srcMac = lab.CLIENT_MAC) =>
  ipFrame(lab.EXT_MAC, srcMac, client, lab.VIP, { proto: TCP, sport, dport: 80, flags, payload });
const fromServer = (rs: number, sport: number, client = lab.CLIENT) =>
  ipFrame(lab.INT_MAC, rs === lab.RS1 ? lab.RS1_MAC : lab.RS2_MAC, rs, client, {
    proto: TCP,
    sport: 80,
    dport: sport,
    flags: ACK,
    payload,
  });

/** Opens a TCP connection from `client`:`sport` on both; returns the real server it went to. */
function open(t: Twin, sport: number, client = lab.CLIENT, srcMac = lab.CLIENT_MAC): number {
  const { int } = both(t, 'ext', () => [fromClient(sport, SYN, client, srcMac)], 'SYN');
  assert.equal(int.length, 1);
  return int[0].readInt32BE(30);
}

/** Frames of the established flow both ways on both directors; asserts the fast path took them. */
function established(t: Twin, sport: number, rs: number, client = lab.CLIENT, srcMac = lab.CLIENT_MAC): void {
  const g = t.general();
  const a = both(
    t,
    'ext',
    () => [fromClient(sport, ACK, client, srcMac), fromClient(sport, ACK, client, srcMac)],
    'in',
  );
  const b = both(t, 'int', () => [fromServer(rs, sport, client), fromServer(rs, sport, client)], 'out');
  assert.equal(a.int.length + b.ext.length, 4);
  assert.equal(t.general(), g, 'the established flow went the fast way');
}

test('flow records: NAT both ways, TCP and UDP, the bytes of the general path with checksums that verify', () => {
  const t = twin();
  const rs = open(t, 31000);
  established(t, 31000, rs);
  const { int } = both(t, 'ext', () => [fromClient(31000)], 'in');
  const d = int[0];
  assert.deepEqual([d.readInt32BE(30), d.readUInt16BE(36), d[22]], [rs, 80, 63], 'DNAT to the real server, TTL - 1');
  assert.deepEqual([...d.subarray(0, 6)], [...(rs === lab.RS1 ? lab.RS1_MAC : lab.RS2_MAC)]);
  const { ext } = both(t, 'int', () => [fromServer(rs, 31000)], 'out');
  assert.deepEqual([ext[0].readInt32BE(26), ext[0].readUInt16BE(34)], [lab.VIP, 80], 'SNAT to the VIP');
  // UDP, with and without a checksum (0 stays 0), many source ports (varied checksums).
  for (let p = 40000; p < 40040; p++) {
    for (const noCsum of [false, true]) {
      const udp = () => [
        ipFrame(lab.EXT_MAC, lab.CLIENT_MAC, lab.CLIENT, lab.VIP, { proto: UDP, sport: p, dport: 53, payload, noCsum }),
      ];
      both(t, 'ext', udp, 'UDP in');
      const g = t.general();
      both(t, 'ext', udp, 'UDP in, established');
      const reply = () => [
        ipFrame(lab.INT_MAC, lab.RS1_MAC, lab.RS1, lab.CLIENT, { proto: UDP, sport: 53, dport: p, payload, noCsum }),
      ];
      both(t, 'int', reply, 'UDP out');
      assert.equal(t.general(), g, 'UDP went the fast way');
    }
  }
  assert.deepEqual(
    t.fast.ipvs.total.inPkts + t.fast.ipvs.total.outPkts,
    t.slow.ipvs.total.inPkts + t.slow.ipvs.total.outPkts,
  );
});

test('flow records: a real server that changes its MAC is followed at once', () => {
  const t = twin();
  const rs = open(t, 31001);
  established(t, 31001, rs);
  const NEW_MAC = mac('52:54:00:00:09:99');
  for (const td of [t.fast, t.slow]) {
    td.send('int', [arpFrame(1, NEW_MAC, rs, ZERO_MAC, lab.DIP)]);
    td.int.take();
  }
  const { int } = both(t, 'ext', () => [fromClient(31001)], 'after the MAC change');
  assert.deepEqual([...int[0].subarray(0, 6)], [...NEW_MAC]);
});

test('flow records: a route change sends replies the new way', () => {
  const t = twin(GW);
  const rs = open(t, 31002, FAR_CLIENT, GW_MAC);
  established(t, 31002, rs, FAR_CLIENT, GW_MAC);
  // A VRRP address on the internal link puts the client's prefix there: its replies leave on int
  // now (and wait for ARP), not through the gateway on ext.
  for (const td of [t.fast, t.slow])
    td.dp.setVirtualAddresses('vi', 1, [{ addr: ip('10.9.8.1'), prefixLen: 24 }], true);
  const { ext, int } = both(t, 'int', () => [fromServer(rs, 31002, FAR_CLIENT)], 'after the route change');
  assert.equal(ext.length, 0);
  assert.equal(int.length, 1, 'an ARP request for the client on int');
  assert.equal(int[0].readUInt16BE(12), 0x0806);
});

test('flow records: a quiescent dest keeps its connections, a deleted one drops them', () => {
  const t = twin();
  const a = open(t, 31003);
  const b = open(t, 31004);
  established(t, 31003, a);
  established(t, 31004, b);
  // Weight 0: established connections go on (the kernel's quiescent dest).
  for (const td of [t.fast, t.slow])
    td.run({
      op: 'editDest',
      service: { proto: 'tcp', addr: '192.168.222.131', port: 80 },
      dest: { addr: a === lab.RS1 ? '192.168.2.129' : '192.168.2.130', port: 80 },
      config: { fwd: 'masq', weight: 0, uThreshold: 0, lThreshold: 0 },
    });
  assert.equal(both(t, 'ext', () => [fromClient(31003)], 'quiescent').int.length, 1);
  // Deleted: its connection's packets are dropped (the dest waits in the trash).
  for (const td of [t.fast, t.slow])
    td.run({
      op: 'deleteDest',
      service: { proto: 'tcp', addr: '192.168.222.131', port: 80 },
      dest: { addr: a === lab.RS1 ? '192.168.2.129' : '192.168.2.130', port: 80 },
    });
  assert.equal(both(t, 'ext', () => [fromClient(31003)], 'deleted dest').int.length, 0);
  assert.equal(both(t, 'ext', () => [fromClient(31004)], 'the other dest').int.length, 1);
});

test('flow records: a connection id reused by a new connection to another real server', () => {
  const t = twin();
  const rs = open(t, 31005);
  established(t, 31005, rs);
  // Reset: the connection goes to CLOSE (10 s); after it expires, the same client port opens a
  // new connection, which rr gives to the other server and which gets the freed entry back.
  both(t, 'ext', () => [fromClient(31005, 0x04)], 'RST');
  for (const td of [t.fast, t.slow]) {
    td.now += 20_000;
    td.dp.tick(td.now);
    assert.equal(td.ipvs.conns.count, 0);
  }
  const rs2 = open(t, 31005);
  assert.notEqual(rs2, rs);
  assert.ok(rs2 === lab.RS1 || rs2 === lab.RS2);
  established(t, 31005, rs2);
  const { int } = both(t, 'ext', () => [fromClient(31005)], 'new connection');
  assert.equal(int[0].readInt32BE(30), rs2);
});
