/**
 * The director attached with libpcap (`--link ...,pcap=IFACE`) instead of TAPs, as on a dual-NIC
 * gateway VM: the textbook lab in `attach: 'pcap'` mode, where the lab makes a veth pair per side
 * in tapvs-dir and tapvsd captures and injects on `tvs-px` / `tvs-pi`.
 *
 * ```
 *  tapvs-client .1 --[br-ext]-- tvs-pxb=tvs-px ==(tapvsd: VIP .131 | DIP .136, libpcap)== tvs-pi=tvs-pib --[br-int]-- RS1 .129, RS2 .130
 * ```
 * Also, in a namespace pair of its own: what PcapLink captures (its filter) and what it refuses
 * (LINK_CONFIG errors). Needs root; skipped otherwise. Every test removes what it built in
 * t.after, also on failure. The lab's names are fixed and shared: run this file under
 * `flock /tmp/tapvs-lab.lock` when other lab users may be around.
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
const skip = !isRoot && 'needs root (network namespaces, packet capture)';
/** The lab's pcap mode turns offloads off on its veths with ethtool. */
const labSkip = skip || (spawnSync('ethtool', ['--version']).status !== 0 && 'needs ethtool (Debian package ethtool)');
const PCAP_JS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'link', 'pcap.js');
/** What the link's children get: where to import the link class from. */
const CHILD_ENV = { TAPVS_PCAP_JS: PCAP_JS };

async function portNames(): Promise<string[]> {
  const c = await ControlClient.connect(LAB.socket);
  try {
    const st = (await c.request({ op: 'status' })) as { ports: Array<{ name: string; device: string }> };
    return st.ports.map((p) => `${p.name}=${p.device}`);
  } finally {
    c.close();
  }
}

test('pcap: four curls to the VIP alternate RS1, RS2, RS1, RS2; the kernel of tapvs-dir stays out', {
  skip: labSkip,
}, async (t) => {
  t.after(() => labDown());
  const info = await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'pcap' });
  assert.match(info.tapvsdCommand.join(' '), /pcap=tvs-px,addr=192\.168\.222\.131\/24/);
  assert.deepEqual(await portNames(), ['ext=tvs-px', 'int=tvs-pi']);
  assert.deepEqual(await fourAnswers(), ['RS1', 'RS2', 'RS1', 'RS2']);
  await assertKernelStaysOut(true);
});

test('pcap: a 50 MB download through the VIP arrives intact (sha256)', { skip: labSkip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'pcap' });
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', `curl -sS --fail --max-time 120 http://${VIP}/blob | sha256sum`], {
    timeoutMs: 150_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(' ')[0], blobSha256());
});

test('pcap: 200 parallel curls all succeed and rr spreads them evenly', { skip: labSkip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'pcap' });
  const { rs1, rs2 } = await parallelCurls(200);
  assert.equal(rs1 + rs2, 200);
  assert.equal(rs1, 100);
  assert.equal(rs2, 100);
});

test("pcap with mac=nic: the director speaks with the veths' MACs, no promiscuous mode; the kernel still stays out", {
  skip: labSkip,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), attach: 'pcap', pcapMac: 'nic' });
  assert.deepEqual(await fourAnswers(), ['RS1', 'RS2', 'RS1', 'RS2']);
  // The client learned the VIP at the veth's own MAC.
  const n = await nsExec(LAB.ns.client, 'ip', ['neigh', 'show', VIP], { check: true });
  assert.match(n.stdout, new RegExp(`lladdr ${LAB.pcapVeth.ext.mac}`));
  await assertKernelStaysOut(false);
});

test('tapvsd: a --link takes exactly one of tap= and pcap=; bridge=, mtu= and mac=nic are refused where they do not apply', () => {
  const cases: Array<[string, RegExp]> = [
    ['name=x,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE is required/],
    ['name=x,tap=t0,pcap=eth1,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE is required/],
    ['name=x,pcap=eth1,bridge=br0,addr=10.0.0.1/24', /bridge= is for tap= links/],
    ['name=x,pcap=eth1,mtu=1400,addr=10.0.0.1/24', /mtu= is for tap= links/],
    ['name=x,tap=t0,mac=nic,addr=10.0.0.1/24', /mac=nic is for packet= and pcap= links/],
    ['name=x,pcap=averyveryverylongname,addr=10.0.0.1/24', /longer than 15 characters/],
  ];
  assertLinkSpecsRefused(cases);
});

// ---------------------------------------------------------------------------------------------
// PcapLink on its own, in a namespace pair this file creates (not the lab).

const OPEN_CHILD = `
const { PcapLink } = await import(process.env.TAPVS_PCAP_JS);
try {
  const l = new PcapLink({ iface: process.env.IFACE });
  console.log(JSON.stringify({ ok: true, mtu: l.mtu }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message }));
}
process.exit(0); // an opened capture holds the event loop until libpcap sees its next frame
`;

test('PcapLink: a missing, down or non-Ethernet interface and a missing permission are LINK_CONFIG errors', {
  skip,
}, (t) => {
  const { a } = makeNicPair(t, 'pcap');
  const open = (iface: string, wrap: string[] = []): Record<string, unknown> =>
    nodeIn(a, `process.env.IFACE = ${JSON.stringify(iface)};\n${OPEN_CHILD}`, CHILD_ENV, wrap);
  const cases: Array<[string, RegExp, string[]]> = [
    ['nosuch0', /pcap nosuch0: no such interface/, []],
    ['pd1', /pcap pd1: the interface is down \(ip link set pd1 up\)/, []],
    ['lo', /pcap lo: not an Ethernet interface/, []],
    ['bad/name', /not a valid name/, []],
  ];
  if (spawnSync('setpriv', ['--version']).status === 0) {
    cases.push([
      'pd0',
      /pcap pd0: no permission to capture \(needs CAP_NET_RAW/,
      ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
    ]);
  }
  for (const [iface, msg, wrap] of cases) {
    const r = open(iface, wrap);
    assert.equal(r.ok, false, `${iface}: ${JSON.stringify(r)}`);
    assert.equal(r.name, 'TapvsError');
    assert.equal(r.code, 'LINK_CONFIG');
    assert.match(r.message as string, msg);
  }
  const ok = open('pd0');
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(ok.mtu, 1500);
});

test("PcapLink: captures frames to its MAC and broadcast only, from neither its MAC nor the NIC's, and injects", {
  skip,
}, async (t) => {
  const { a, b } = makeNicPair(t, 'pcap');
  // The link under test: records every delivered frame, answers the first unicast with one
  // broadcast frame of EtherType 0x88b5 (what it must not capture back), reports after 2 s.
  const linkChild = `
const { PcapLink } = await import(process.env.TAPVS_PCAP_JS);
const l = new PcapLink({ iface: 'pa', mac: Uint8Array.from([2, 0x74, 0, 0, 0, 1]) });
const seen = [];
let answered = false, batches = 0;
l.start((n) => {
  batches++;
  for (let i = 0; i < n; i++) {
    const f = l.rx.buf.subarray(l.rx.offsets[i], l.rx.offsets[i] + l.rx.lengths[i]);
    seen.push(f.subarray(0, 14).toString('hex') + ':' + f.subarray(14, 30).toString());
    if (!answered && f[0] === 2 && f[1] === 0x74) {
      answered = true;
      const o = l.tx.offsets[l.tx.count];
      l.tx.buf.fill(0, o, o + 60);
      l.tx.buf.write('ffffffffffff0274000000' + '0188b5', o, 'hex');
      l.tx.buf.write('tapvs-pcap-hello', o + 14);
      l.tx.lengths[l.tx.count++] = 60; // flushed by the link right after this handler
    }
  }
});
console.log('ready');
setTimeout(() => {
  console.log(JSON.stringify({ seen, batches, rx: l.rxFrames, tx: l.txFrames, txDropped: l.txDropped, filter: l.filter }));
  process.exit(0);
}, 2500);
`;
  const child = await startChild(t, a, linkChild, CHILD_ENV);

  // From b: five frames (to the link's MAC, broadcast, to another MAC, from the link's MAC, from
  // pa's own MAC: what the kernel would send), then listen for the link's broadcast answer.
  const sender = `
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind(('pb', 0))
src = bytes.fromhex('0200000000b0')
def frame(dst, src, tag):
    return bytes.fromhex(dst) + src + b'\\x88\\xb6' + tag.ljust(46, b'\\x00')
s.send(frame('027400000001', src, b'to-link'))
s.send(frame('ffffffffffff', src, b'broadcast'))
s.send(frame('020000000099', src, b'to-other'))
s.send(frame('ffffffffffff', bytes.fromhex('027400000001'), b'spoofed-src'))
s.send(frame('ffffffffffff', bytes.fromhex('02000000a001'), b'nic-src'))
s.settimeout(2.0)
got = b''
try:
    while b'tapvs-pcap-hello' not in got:
        got = s.recv(2048)
except socket.timeout:
    pass
print('hello' if b'tapvs-pcap-hello' in got else 'nothing')
`;
  const py = await nsExec(b, 'python3', ['-c', sender], { timeoutMs: 15_000 });
  assert.equal(py.code, 0, py.stderr);
  await child.exited;
  assert.equal(py.stdout.trim(), 'hello', `the link's injected broadcast reached the peer; link child: ${child.out()}`);
  const r = JSON.parse(child.out().trim().split('\n').pop() ?? '{}') as {
    seen: string[];
    rx: number;
    tx: number;
    txDropped: number;
    batches: number;
  };
  const tags = r.seen.map((s) => s.slice(s.indexOf(':') + 1).replace(/\0+$/, ''));
  assert.deepEqual(tags, ['to-link', 'broadcast'], `captured: ${JSON.stringify(r.seen)}`);
  assert.equal(r.rx, 2);
  assert.equal(r.tx, 1);
  assert.equal(r.txDropped, 0);
  assert.ok(r.batches >= 1 && r.batches <= 2);
});

test('PcapLink: an interface deleted while started is reported once, as TAP_GONE', { skip }, async (t) => {
  const { a } = makeNicPair(t, 'pcap');
  const code = `
const { PcapLink } = await import(process.env.TAPVS_PCAP_JS);
const l = new PcapLink({ iface: 'pd0' });
const errors = [];
l.start(() => {}, (e) => errors.push({ code: e.code, message: e.message }));
console.log('ready');
setTimeout(() => { console.log(JSON.stringify({ errors })); process.exit(0); }, 2000);
`;
  const child = await startChild(t, a, code, CHILD_ENV);
  const del = spawnSync('ip', ['-n', a, 'link', 'del', 'pd0'], { encoding: 'utf8' });
  assert.equal(del.status, 0, del.stderr);
  await child.exited;
  const r = JSON.parse(child.out().trim().split('\n').pop() ?? '{}') as {
    errors: Array<{ code: string; message: string }>;
  };
  assert.deepEqual(r.errors, [{ code: 'TAP_GONE', message: 'pcap pd0: the interface disappeared' }]);
});
