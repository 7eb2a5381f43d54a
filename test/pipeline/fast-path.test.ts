/**
 * The dataplane's fast path (Dataplane.fastNat) must be invisible: for any frame it either
 * makes exactly the general pipeline's decision or declines. Two directors, one with the fast
 * path and one without, get the same frames (a seeded mix of ordinary NAT traffic and of every
 * case the fast path must hand over: SYNs, TIME_WAIT reuse, fragments, VLAN tags, TTL 1, bad
 * checksums, martians, frames for other MACs, unresolved next hops, oversized frames, UDP without
 * checksum, a deleted dest, offload frames), and must send the same bytes and end with the same
 * counters, connection entries and statistics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listConns, listServices } from '../../src/control/listing.js';
import { csumFold, pseudoHeaderSum } from '../../src/packet/checksum.js';
import {
  CLIENT_MAC,
  countGeneralPath,
  DIP,
  EXT_MAC,
  INT_MAC,
  makeDirector,
  RS1,
  RS1_MAC,
  RS2,
  RS2_MAC,
  resolveNeighbours,
  type TestDirector,
  VIP,
} from '../helpers/director.js';
import { ACK, arpFrame, FIN, ICMP, ip, ipFrame, PSH, RST, SYN, TCP, UDP } from '../helpers/frames.js';

/** xorshift32: the same "random" mix on every run. */
function rng(seed: number): () => number {
  let x = seed | 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const OTHER_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x99]);
const ZERO_MAC = new Uint8Array(6);
const CLIENTS = [ip('192.168.222.1'), ip('192.168.222.2'), ip('192.168.222.77'), ip('10.9.8.7')];

/** `methods`: TCP by full NAT (from 192.168.2.140) and UDP by direct routing, instead of NAT. */
function setup(fastPath: boolean, vnetHdr: boolean, methods = false): TestDirector {
  const td = makeDirector({ fastPath, vnetHdr, mtu: 1500 });
  if (vnetHdr) {
    const z = Buffer.alloc(12);
    td.send('ext', [
      Buffer.concat([z, arpFrame(1, CLIENT_MAC, CLIENTS[0], ZERO_MAC, VIP)]),
      Buffer.concat([z, arpFrame(1, CLIENT_MAC, CLIENTS[1], ZERO_MAC, VIP)]),
    ]);
    td.send('int', [
      Buffer.concat([z, arpFrame(1, RS1_MAC, RS1, ZERO_MAC, DIP)]),
      Buffer.concat([z, arpFrame(1, RS2_MAC, RS2, ZERO_MAC, DIP)]),
    ]);
    td.ext.take();
    td.int.take();
  } else {
    resolveNeighbours(td);
  }
  // 10.9.8.7 is off-link (no gateway): replies to it have no route.
  const tcp = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
  const udp = { proto: 'udp' as const, addr: '192.168.222.131', port: 53 };
  const cfg = { schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false };
  td.run({ op: 'addService', service: tcp, config: { scheduler: 'rr', ...cfg } });
  td.run({ op: 'addService', service: udp, config: { scheduler: 'rr', ...cfg } });
  if (methods) {
    td.run({ op: 'addLaddr', service: tcp, laddr: { addr: '192.168.2.140' } });
    for (const [addr, port] of [
      ['192.168.2.129', 8080],
      ['192.168.2.130', 80],
    ] as const) {
      td.run({
        op: 'addDest',
        service: tcp,
        dest: { addr, port },
        config: { fwd: 'fullnat', weight: 1, uThreshold: 0, lThreshold: 0 },
      });
    }
    for (const addr of ['192.168.2.129', '192.168.2.130']) {
      td.run({
        op: 'addDest',
        service: udp,
        dest: { addr, port: 53 },
        config: { fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
      });
    }
    return td;
  }
  // Port translation on one dest (80 -> 8080), none on the other.
  td.run({
    op: 'addDest',
    service: tcp,
    dest: { addr: '192.168.2.129', port: 8080 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  td.run({
    op: 'addDest',
    service: tcp,
    dest: { addr: '192.168.2.130', port: 80 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  td.run({
    op: 'addDest',
    service: udp,
    dest: { addr: '192.168.2.129', port: 5353 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  td.run({
    op: 'addDest',
    service: udp,
    dest: { addr: '192.168.2.130', port: 53 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  return td;
}

/** A virtio-net header in front of a frame: NEEDS_CSUM with a partial TCP/UDP checksum, maybe GSO. */
function withVnet(frame: Buffer, partial: boolean, gso: boolean): Buffer {
  const h = Buffer.alloc(12);
  const f = Buffer.from(frame);
  const proto = f[23];
  if (partial && (proto === TCP || proto === UDP) && f.readUInt16BE(20) === 0x4000) {
    const l4 = 34,
      l4Len = f.readUInt16BE(16) - 20;
    const field = l4 + (proto === TCP ? 16 : 6);
    f.writeUInt16BE(csumFold(pseudoHeaderSum(f.readInt32BE(26), f.readInt32BE(30), proto, l4Len)), field);
    h[0] = 1;
    h[1] = gso && proto === TCP ? 1 : 0;
    h.writeUInt16LE(gso ? 1448 : 0, 4);
    h.writeUInt16LE(l4, 6);
    h.writeUInt16LE(proto === TCP ? 16 : 6, 8);
  }
  return Buffer.concat([h, f]);
}

interface Flow {
  client: number;
  cport: number;
  /** Where the real server's replies go: the client, or (full NAT) the local address and port. */
  peer: number;
  peerPort: number;
  proto: number;
  rs: number;
  rport: number;
}

/** One batch of frames for each link, drawn from `r`, using what the director told us about flows. */
function makeBatch(r: () => number, flows: Flow[], vnet: boolean): { ext: Buffer[]; int: Buffer[] } {
  const ext: Buffer[] = [],
    int: Buffer[] = [];
  const n = 1 + Math.floor(r() * 24);
  for (let i = 0; i < n; i++) {
    const k = r();
    const payload = Buffer.alloc(Math.floor(r() * 200), 0x41 + i);
    const client = CLIENTS[Math.floor(r() * CLIENTS.length)];
    const cport = 20000 + Math.floor(r() * 12);
    let f: Buffer;
    let toInt = false;
    if (k < 0.12) {
      f = ipFrame(EXT_MAC, CLIENT_MAC, client, VIP, { proto: TCP, sport: cport, dport: 80, flags: SYN });
    } else if (k < 0.45 && flows.length > 0) {
      const fl = flows[Math.floor(r() * flows.length)];
      const flags = [ACK, ACK | PSH, ACK | FIN, RST, ACK | RST, SYN | ACK][Math.floor(r() * 6)];
      const proto = { proto: fl.proto, payload, flags };
      if (r() < 0.5) {
        f = ipFrame(EXT_MAC, CLIENT_MAC, fl.client, VIP, {
          ...proto,
          sport: fl.cport,
          dport: fl.proto === TCP ? 80 : 53,
        });
      } else {
        toInt = true;
        f = ipFrame(INT_MAC, fl.rs === RS1 ? RS1_MAC : RS2_MAC, fl.rs, fl.peer, {
          ...proto,
          sport: fl.rport,
          dport: fl.peerPort,
          noCsum: r() < 0.3,
        });
      }
    } else if (k < 0.6) {
      f = ipFrame(EXT_MAC, CLIENT_MAC, client, VIP, {
        proto: UDP,
        sport: cport,
        dport: 53,
        payload,
        noCsum: r() < 0.3,
      });
    } else if (k < 0.65) {
      f = ipFrame(EXT_MAC, CLIENT_MAC, client, VIP, { proto: ICMP, type: 8, payload });
    } else {
      // Something the fast path must hand over (or, for a few, handle identically).
      const base = ipFrame(
        EXT_MAC,
        CLIENT_MAC,
        client,
        VIP,
        { proto: TCP, sport: cport, dport: 80, flags: ACK, payload },
        { ttl: r() < 0.2 ? 1 : 64, df: r() < 0.5 },
      );
      const m = Math.floor(r() * 8);
      if (m === 0)
        base[24] ^= 0x55; // IP header checksum
      else if (m === 1)
        base.set(OTHER_MAC, 0); // another host's MAC
      else if (m === 2)
        base.writeInt32BE(VIP, 26); // source is the VIP itself: martian
      else if (m === 3)
        base.writeUInt16BE(0x2000, 20); // MF: a fragment
      else if (m === 4)
        base[14] = 0x46; // IHL 6: options claimed
      else if (m === 5) {
        // VLAN tag
        f = Buffer.concat([base.subarray(0, 12), Buffer.from([0x81, 0, 0, 5]), base.subarray(12)]);
        ext.push(vnet ? withVnet(f, false, false) : f);
        continue;
      } else if (m === 6) base.writeUInt16BE(base.readUInt16BE(16) + 40, 16); // total length beyond the frame
      f = base;
    }
    const out = vnet ? withVnet(f, r() < 0.7, r() < 0.3) : f;
    (toInt ? int : ext).push(out);
  }
  return { ext, int };
}

function snapshot(td: TestDirector): unknown {
  const st = td.dp.status();
  return {
    status: st,
    list: listServices(td.ipvs, td.ipvs.services),
    conns: listConns(td.ipvs, td.now),
    total: td.ipvs.total,
  };
}

for (const [vnet, methods] of [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const) {
  const name = `${vnet ? ' (virtio-net headers)' : ''}${methods ? ' (full NAT and direct routing)' : ''}`;
  test(`fast path and general pipeline agree on a mixed stream${name}`, () => {
    const fast = setup(true, vnet, methods),
      slow = setup(false, vnet, methods);
    const r = rng((vnet ? 0x5eed2 : 0x5eed1) + (methods ? 16 : 0));
    let sent = 0;
    for (let round = 0; round < 400; round++) {
      // Flows as the (identical) connection tables know them.
      const flows: Flow[] = listConns(fast.ipvs, fast.now)
        .filter((c) => !c.template)
        .map((c) => ({
          client: ip(c.caddr),
          cport: c.cport,
          peer: ip(c.laddr ?? c.caddr),
          peerPort: c.lport ?? c.cport,
          proto: c.proto === 'tcp' ? TCP : UDP,
          rs: ip(c.daddr),
          rport: c.dport,
        }));
      const b = makeBatch(r, flows, vnet);
      for (const td of [fast, slow]) {
        td.now += 250;
        td.send(
          'ext',
          b.ext.map((x) => Buffer.from(x)),
        );
        td.send(
          'int',
          b.int.map((x) => Buffer.from(x)),
        );
      }
      if (round === 200) {
        // A dest goes away mid-stream: its connections' packets must be dropped the same way.
        for (const td of [fast, slow]) {
          td.run({
            op: 'deleteDest',
            service: { proto: 'tcp', addr: '192.168.222.131', port: 80 },
            dest: { addr: '192.168.2.130', port: 80 },
          });
        }
      }
      if (round % 50 === 49) {
        fast.dp.tick(fast.now);
        slow.dp.tick(slow.now);
      }
      for (const link of ['ext', 'int'] as const) {
        const a = fast[link].take(),
          c = slow[link].take();
        assert.deepEqual(
          a.map((x) => x.toString('hex')),
          c.map((x) => x.toString('hex')),
          `round ${round}: frames sent on ${link}`,
        );
        sent += a.length;
      }
      assert.deepEqual(snapshot(fast), snapshot(slow), `round ${round}: counters and tables`);
    }
    // The mix really exercised NAT both ways (a stream of only drops would prove nothing).
    const st = fast.dp.status();
    assert.ok(
      sent > 2000,
      `frames sent: ${sent}; drops ${JSON.stringify(st.ports.map((p) => p.drops.map((d, i) => [i, d]).filter((x) => x[1] > 0)))}`,
    );
    assert.ok(
      // (DR's replies bypass the director: fewer replies count with methods.)
      fast.ipvs.total.inPkts > 1000 && fast.ipvs.total.outPkts > (methods ? 200 : 500),
      `in ${fast.ipvs.total.inPkts} out ${fast.ipvs.total.outPkts}`,
    );
    assert.ok(st.ports[0].drops.reduce((a, b) => a + b, 0) > 100, 'the mix includes dropped frames');
  });
}

test('the fast path takes ordinary NAT traffic (it is not silently declining everything)', () => {
  const td = setup(true, false);
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENTS[0], VIP, { proto: TCP, sport: 30000, dport: 80, flags: SYN })]);
  td.int.take();
  // Count general-pipeline runs: an established flow's packets must not reach it.
  const general = countGeneralPath(td);
  const frames = [];
  for (let i = 0; i < 20; i++)
    frames.push(
      ipFrame(EXT_MAC, CLIENT_MAC, CLIENTS[0], VIP, {
        proto: TCP,
        sport: 30000,
        dport: 80,
        flags: ACK,
        payload: Buffer.alloc(10),
      }),
    );
  td.send('ext', frames);
  assert.equal(td.int.take().length, 20);
  assert.equal(general(), 0);
});

test('the fast path takes established full NAT traffic both ways and direct-routed packets', () => {
  const td = setup(true, false, true);
  td.send('ext', [
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENTS[0], VIP, { proto: TCP, sport: 30000, dport: 80, flags: SYN }),
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENTS[0], VIP, { proto: UDP, sport: 30001, dport: 53 }),
  ]);
  const [syn] = td.int.take();
  const lport = syn.readUInt16BE(34),
    rs = syn.readInt32BE(30),
    rport = syn.readUInt16BE(36);
  const general = countGeneralPath(td);
  const c = ip('192.168.2.140');
  for (let i = 0; i < 10; i++) {
    td.send('ext', [
      ipFrame(EXT_MAC, CLIENT_MAC, CLIENTS[0], VIP, { proto: TCP, sport: 30000, dport: 80, flags: ACK }),
      ipFrame(EXT_MAC, CLIENT_MAC, CLIENTS[0], VIP, { proto: UDP, sport: 30001, dport: 53 }),
    ]);
    td.send('int', [
      ipFrame(INT_MAC, rs === RS1 ? RS1_MAC : RS2_MAC, rs, c, { proto: TCP, sport: rport, dport: lport, flags: ACK }),
    ]);
  }
  assert.equal(td.int.take().length, 20);
  assert.equal(td.ext.take().length, 10);
  assert.equal(general(), 0);
});
