/**
 * The director attached with its AF_PACKET socket (`--link ...,packet=IFACE`) instead of TAPs, as
 * on a dual-NIC gateway VM: the textbook lab in `attach: 'packet'` mode, on the same veths as the
 * pcap mode (pcap-link.test.ts), with the veths' offloads left on, so TCP crosses them as 64 KB
 * super-frames that tapvsd takes and sends whole (PACKET_VNET_HDR).
 *
 * ```
 *  tapvs-client .1 --[br-ext]-- tvs-pxb=tvs-px ==(tapvsd: VIP .131 | DIP .136, AF_PACKET)== tvs-pi=tvs-pib --[br-int]-- RS1 .129, RS2 .130
 * ```
 * Also, in a namespace pair of its own: what PacketLink receives (its BPF filter), what it sends,
 * and what it refuses (coded errors). Needs root; skipped otherwise. Every test removes what it
 * built in t.after, also on failure. The lab's names are fixed and shared: run this file under
 * `flock /tmp/tapvs-lab.lock`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { blobSha256 } from '../../lab/blob.js';
import { LAB, labDown, labUp, nsExec } from '../../lab/lab-lib.js';
import { ControlClient } from '../../src/control/client.js';
import { fourAnswers, parallelCurls, rulesFile, TEXTBOOK_RULES, VIP } from '../helpers/lab-client.js';
import { checkDaemonLog } from '../helpers/log-check.js';
import { assertKernelStaysOut, assertLinkSpecsRefused } from '../helpers/nic-lab.js';
import { makeNicPair, nodeIn, startChild } from '../helpers/nic-pair.js';

checkDaemonLog(import.meta.url);

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root (network namespaces, packet sockets)';
const PACKET_JS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'link', 'packet.js');
/** What the link's children get: where to import the link class from. */
const CHILD_ENV = { TAPVS_PACKET_JS: PACKET_JS };

interface PortStatus {
  name: string;
  device: string;
  kind: string;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  drops: number[];
}

async function ports(): Promise<PortStatus[]> {
  const c = await ControlClient.connect(LAB.socket);
  try {
    const st = (await c.request({ op: 'status' })) as { ports: PortStatus[] };
    return st.ports;
  } finally {
    c.close();
  }
}

test('packet: four curls to the VIP alternate RS1, RS2, RS1, RS2; status says packet; the kernel of tapvs-dir stays out', {
  skip,
}, async (t) => {
  t.after(() => labDown());
  const info = await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'packet' });
  assert.match(info.tapvsdCommand.join(' '), /packet=tvs-px,addr=192\.168\.222\.131\/24/);
  assert.deepEqual(
    (await ports()).map((p) => `${p.name}=${p.kind}:${p.device}`),
    ['ext=packet:tvs-px', 'int=packet:tvs-pi'],
  );
  assert.deepEqual(await fourAnswers(), ['RS1', 'RS2', 'RS1', 'RS2']);
  await assertKernelStaysOut(true);
});

test('packet: a 50 MB download arrives intact (sha256), as GSO super-frames in and out; ping and a 1400-byte ping to the VIP are answered', {
  skip,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'packet' });
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', `curl -sS --fail --max-time 120 http://${VIP}/blob | sha256sum`], {
    timeoutMs: 150_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(' ')[0], blobSha256());
  const [ext, int] = await ports();
  // The servers' veths hand over 64 KB TSO frames: with PACKET_VNET_HDR they arrive whole on
  // int and leave whole on ext (the kernel segments them on the client's side). Frames of at
  // most 1514 bytes would be >= 35,000 for 50 MB.
  assert.ok(int.rxBytes > 50e6, `int received ${int.rxBytes} bytes`);
  assert.ok(int.rxFrames < 20_000, `int: ${int.rxFrames} frames for ${int.rxBytes} bytes: not super-frames`);
  assert.ok(ext.txBytes > 50e6 && ext.txFrames < 20_000, `ext sent ${ext.txFrames} frames, ${ext.txBytes} bytes`);
  assert.equal(
    int.drops.reduce((a, b) => a + b, 0),
    0,
    `int drops ${JSON.stringify(int.drops)}`,
  );
  for (const size of ['56', '1400']) {
    const p = await nsExec(LAB.ns.client, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-s', size, VIP], {
      timeoutMs: 15_000,
    });
    assert.equal(p.code, 0, `ping -s ${size}: ${p.stdout}${p.stderr}`);
    assert.match(p.stdout, /3 received/);
  }
});

test('packet with the TPACKET_V3 ring (TAPVS_PACKET_RX=ring): a 50 MB download arrives intact, as super-frames; ping is answered', {
  skip,
}, async (t) => {
  process.env.TAPVS_PACKET_RX = 'ring'; // tapvsd, started by labUp, inherits it
  t.after(async () => {
    delete process.env.TAPVS_PACKET_RX;
    await labDown();
  });
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'packet' });
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', `curl -sS --fail --max-time 120 http://${VIP}/blob | sha256sum`], {
    timeoutMs: 150_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(' ')[0], blobSha256());
  const [, int] = await ports();
  assert.ok(int.rxBytes > 50e6 && int.rxFrames < 20_000, `int: ${int.rxFrames} frames, ${int.rxBytes} bytes`);
  const p = await nsExec(LAB.ns.client, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', VIP], { timeoutMs: 15_000 });
  assert.match(p.stdout, /3 received/, p.stdout + p.stderr);
});

test('packet: 200 parallel curls all succeed and rr spreads them evenly', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'packet' });
  const { rs1, rs2 } = await parallelCurls(200);
  assert.equal(rs1, 100);
  assert.equal(rs2, 100);
});

test("packet with mac=nic: the director speaks with the veths' MACs, no promiscuous mode; the kernel still stays out", {
  skip,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'packet', pcapMac: 'nic' });
  assert.deepEqual(await fourAnswers(), ['RS1', 'RS2', 'RS1', 'RS2']);
  const n = await nsExec(LAB.ns.client, 'ip', ['neigh', 'show', VIP], { check: true });
  assert.match(n.stdout, new RegExp(`lladdr ${LAB.pcapVeth.ext.mac}`));
  await assertKernelStaysOut(false);
});

test('tapvsd: a --link takes exactly one of tap=, packet= and pcap=; bridge=, mtu= and mac=nic are refused where they do not apply', () => {
  const cases: Array<[string, RegExp]> = [
    ['name=x,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE is required/],
    ['name=x,tap=t0,packet=eth1,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE/],
    ['name=x,pcap=eth1,packet=eth1,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE/],
    ['name=x,packet=eth1,bridge=br0,addr=10.0.0.1/24', /bridge= is for tap= links/],
    ['name=x,packet=eth1,mtu=1400,addr=10.0.0.1/24', /mtu= is for tap= links/],
    ['name=x,tap=t0,mac=nic,addr=10.0.0.1/24', /mac=nic is for packet= and pcap= links/],
    ['name=x,packet=averyveryverylongname,addr=10.0.0.1/24', /longer than 15 characters/],
  ];
  assertLinkSpecsRefused(cases);
});

// ---------------------------------------------------------------------------------------------
// PacketLink on its own, in a namespace pair this file creates (not the lab).

const OPEN_CHILD = `
const { PacketLink } = await import(process.env.TAPVS_PACKET_JS);
try {
  const l = new PacketLink({ iface: process.env.IFACE, vnetHdr: true });
  console.log(JSON.stringify({ ok: true, mtu: l.mtu, vnetHdrLen: l.vnetHdrLen, fanout: l.fanoutGroup, ...l.features }));
  l.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message }));
}
`;

test('PacketLink: a missing, down or non-Ethernet interface and a missing permission are coded errors', {
  skip,
}, (t) => {
  const { a } = makeNicPair(t, 'pkt');
  const open = (iface: string, wrap: string[] = []): Record<string, unknown> =>
    nodeIn(a, `process.env.IFACE = ${JSON.stringify(iface)};\n${OPEN_CHILD}`, CHILD_ENV, wrap);
  const cases: Array<[string, string, RegExp, string[]]> = [
    ['nosuch0', 'TAP_NO_DEVICE', /packet nosuch0: no such interface/, []],
    ['pd1', 'LINK_CONFIG', /packet pd1: the interface is down \(ip link set pd1 up\)/, []],
    ['lo', 'LINK_CONFIG', /packet lo: not an Ethernet interface/, []],
    ['bad/name', 'LINK_CONFIG', /not a valid name/, []],
  ];
  if (spawnSync('setpriv', ['--version']).status === 0) {
    cases.push([
      'pd0',
      'TAP_PERMISSION',
      /packet pd0: cannot open a packet socket: needs CAP_NET_RAW/,
      ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
    ]);
  }
  for (const [iface, code, msg, wrap] of cases) {
    const r = open(iface, wrap);
    assert.equal(r.ok, false, `${iface}: ${JSON.stringify(r)}`);
    assert.equal(r.name, 'TapvsError');
    assert.equal(r.code, code, `${iface}: ${JSON.stringify(r)}`);
    assert.match(r.message as string, msg);
  }
  const ok = open('pd0');
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(ok.mtu, 1500);
  assert.equal(ok.vnetHdrLen, 12);
  assert.equal(ok.ignoreOutgoing, true);
  assert.equal(ok.qdiscBypass, true);
  assert.ok((ok.fanout as number) >= 0, 'joined a fanout group of its own');
});

for (const rxRing of [false, true]) {
  test(`PacketLink (${rxRing ? 'TPACKET_V3 ring' : 'recvmmsg'}): receives frames to its MAC, broadcast and multicast only, from neither its MAC nor the NIC's, and sends`, {
    skip,
  }, async (t) => {
    const { a, b } = makeNicPair(t, 'pkt');
    // The link under test records every delivered frame and answers the first unicast with one
    // broadcast frame of EtherType 0x88b5 (which PACKET_IGNORE_OUTGOING keeps out of its ring).
    const child = await startChild(
      t,
      a,
      `
const { PacketLink } = await import(process.env.TAPVS_PACKET_JS);
const l = new PacketLink({ iface: 'pa', mac: Uint8Array.from([2, 0x74, 0, 0, 0, 1]), rxRing: ${rxRing} });
const seen = [];
let answered = false, batches = 0;
l.start((n) => {
  batches++;
  for (let i = 0; i < n; i++) {
    const f = l.rx.buf.subarray(l.rx.offsets[i], l.rx.offsets[i] + l.rx.lengths[i]);
    if (f[12] !== 0x88 || f[13] !== 0xb6) continue; // the kernel's own chatter (none expected)
    seen.push(f.subarray(14, 30).toString());
    if (!answered && f[0] === 2 && f[1] === 0x74) {
      answered = true;
      const o = l.tx.offsets[l.tx.count];
      l.tx.buf.fill(0, o, o + 60);
      l.tx.buf.write('ffffffffffff0274000000' + '0188b5', o, 'hex');
      l.tx.buf.write('tapvs-pkt-hello', o + 14);
      l.tx.lengths[l.tx.count++] = 60; // sent by the addon right after this handler
    }
  }
});
console.log('ready');
setTimeout(() => {
  console.log(JSON.stringify({ seen, batches, rx: l.rxFrames, tx: l.txFrames, txDropped: l.txDropped, truncated: l.rxTruncated }));
  process.exit(0);
}, 2500);
`,
      CHILD_ENV,
    );
    const sender = `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind(('pb', 0))
src = bytes.fromhex('0200000000b0')
def frame(dst, src, tag):
    return bytes.fromhex(dst) + src + b'\\x88\\xb6' + tag.ljust(46, b'\\x00')
for f in [frame('027400000001', src, b'to-link'), frame('ffffffffffff', src, b'broadcast'),
          frame('01005e000012', src, b'multicast'), frame('020000000099', src, b'to-other'),
          frame('ffffffffffff', bytes.fromhex('027400000001'), b'spoofed-src'),
          frame('ffffffffffff', bytes.fromhex('02000000a001'), b'nic-src')]:
    s.send(f)
s.settimeout(2.0)
got = b''
try:
    while b'tapvs-pkt-hello' not in got:
        got = s.recv(2048)
except socket.timeout:
    pass
print('hello' if b'tapvs-pkt-hello' in got else 'nothing')
`;
    const py = await nsExec(b, 'python3', ['-c', sender], { timeoutMs: 15_000 });
    assert.equal(py.code, 0, py.stderr);
    await child.exited;
    assert.equal(py.stdout.trim(), 'hello', `the link's broadcast reached the peer; link child: ${child.out()}`);
    const r = JSON.parse(
      child
        .out()
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop() ?? '{}',
    ) as {
      seen: string[];
      tx: number;
      txDropped: number;
      truncated: number;
    };
    const tags = r.seen.map((s) => s.replace(/\0+$/, ''));
    assert.deepEqual(tags, ['to-link', 'broadcast', 'multicast'], `received: ${JSON.stringify(r.seen)}`);
    assert.equal(r.tx, 1);
    assert.equal(r.txDropped, 0);
    assert.equal(r.truncated, 0);
  });
}

test("PacketLink: a second socket joins the first one's fanout group and the flows are shared between them", {
  skip,
}, async (t) => {
  const { a, b } = makeNicPair(t, 'pkt');
  const child = await startChild(
    t,
    a,
    `
const { PacketLink } = await import(process.env.TAPVS_PACKET_JS);
const mac = Uint8Array.from([2, 0x74, 0, 0, 0, 1]);
const one = new PacketLink({ iface: 'pa', mac });
const two = new PacketLink({ iface: 'pa', mac, fanout: one.fanoutGroup });
const udp = [0, 0];
const count = (i, l) => (n) => {
  for (let k = 0; k < n; k++) if (l.rx.buf[l.rx.offsets[k] + 23] === 17) udp[i]++;
};
one.start(count(0, one));
two.start(count(1, two));
console.log('ready');
setTimeout(() => {
  console.log(JSON.stringify({ udp, groups: [one.fanoutGroup, two.fanoutGroup] }));
  process.exit(0);
}, 2500);
`,
    CHILD_ENV,
  );
  // 64 UDP flows (source ports 10000..10063) from b to the links' MAC: hash fanout spreads them.
  const sender = `
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('pb', 0))
for port in range(10000, 10064):
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1]))
    u = struct.pack('!HHHH', port, 9000, 8, 0)
    s.send(bytes.fromhex('027400000001' + '0200000000b0' + '0800') + ip + u + bytes(18))
print('sent')
`;
  const py = await nsExec(b, 'python3', ['-c', sender], { timeoutMs: 15_000 });
  assert.equal(py.code, 0, py.stderr);
  await child.exited;
  const r = JSON.parse(
    child
      .out()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop() ?? '{}',
  ) as {
    udp: [number, number];
    groups: [number, number];
  };
  assert.equal(r.groups[0], r.groups[1], 'one group');
  assert.equal(r.udp[0] + r.udp[1], 64, `each frame to exactly one socket: ${JSON.stringify(r)}`);
  assert.ok(r.udp[0] > 0 && r.udp[1] > 0, `both sockets got flows: ${JSON.stringify(r)}`);
});

test('PacketLink: an interface that goes down and up keeps the link; one deleted is reported once, as TAP_GONE', {
  skip,
}, async (t) => {
  const { a } = makeNicPair(t, 'pkt');
  const child = await startChild(
    t,
    a,
    `
const { PacketLink } = await import(process.env.TAPVS_PACKET_JS);
const l = new PacketLink({ iface: 'pd0' });
const errors = [];
l.start(() => {}, (e) => errors.push({ code: e.code, message: e.message }));
console.log('ready');
setTimeout(() => { console.log(JSON.stringify({ errors, downEvents: l.downEvents })); process.exit(0); }, 2500);
`,
    CHILD_ENV,
  );
  const run = (...args: string[]): void => {
    const r = spawnSync('ip', ['-n', a, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  run('link', 'set', 'pd0', 'down');
  await new Promise((r) => setTimeout(r, 200));
  run('link', 'set', 'pd0', 'up');
  await new Promise((r) => setTimeout(r, 200));
  run('link', 'del', 'pd0');
  await child.exited;
  const r = JSON.parse(
    child
      .out()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop() ?? '{}',
  ) as {
    errors: Array<{ code: string; message: string }>;
    downEvents: number;
  };
  assert.ok(r.downEvents >= 1, `down events: ${r.downEvents}`);
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
  assert.equal(r.errors[0].code, 'TAP_GONE');
  assert.match(r.errors[0].message, /packet pd0: the interface disappeared/);
});
