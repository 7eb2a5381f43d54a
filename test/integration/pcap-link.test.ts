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
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { blobSha256 } from '../../lab/blob.js';
import { LAB, labDown, labUp, nsExec } from '../../lab/lab-lib.js';
import { ControlClient } from '../../src/control/client.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root (network namespaces, packet capture)';
/** The lab's pcap mode turns offloads off on its veths with ethtool. */
const labSkip = skip || (spawnSync('ethtool', ['--version']).status !== 0 && 'needs ethtool (Debian package ethtool)');
const VIP = '192.168.222.131';
const PCAP_JS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'link', 'pcap.js');

const TEXTBOOK_RULES = `-A -t 192.168.222.131:80 -s rr
-a -t 192.168.222.131:80 -r 192.168.2.130:80 -m -w 1
-a -t 192.168.222.131:80 -r 192.168.2.129:80 -m -w 1
`;

function rulesFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-rules-'));
  const f = join(dir, 'rules');
  writeFileSync(f, text);
  return f;
}

async function curl(url: string, extra: string[] = []): Promise<{ code: number | null; body: string; stderr: string }> {
  const r = await nsExec(LAB.ns.client, 'curl', ['-sS', '--max-time', '20', ...extra, url], {
    timeoutMs: 60_000,
    maxBytes: 64 << 20,
  });
  return { code: r.code, body: r.stdout, stderr: r.stderr };
}

async function fourAnswers(): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await curl(`http://${VIP}/`);
    assert.equal(r.code, 0, r.stderr);
    answers.push(r.body.includes('192.168.2.129') ? 'RS1' : r.body.includes('192.168.2.130') ? 'RS2' : r.body);
  }
  return answers;
}

/** /proc/net/snmp of a namespace as { 'Ip.ForwDatagrams': n, 'Icmp.OutMsgs': n, ... }. */
async function snmp(ns: string): Promise<Map<string, number>> {
  const r = await nsExec(ns, 'cat', ['/proc/net/snmp'], { check: true });
  const lines = r.stdout.trim().split('\n');
  const out = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].split(/\s+/),
      values = lines[i + 1].split(/\s+/);
    const proto = names[0].replace(/:$/, '');
    for (let j = 1; j < names.length; j++) out.set(`${proto}.${names[j]}`, Number(values[j]));
  }
  return out;
}

/**
 * What the kernel of tapvs-dir must not do with the director's traffic (README, "libpcap
 * attachment"): own VIP/DIP, route, or answer. Its IP counters show it sent and forwarded nothing.
 */
async function assertKernelStaysOut(promiscuous: boolean): Promise<void> {
  for (const v of [LAB.pcapVeth.ext, LAB.pcapVeth.int]) {
    // The kernel's one address is the check address on tvs-pi, the health checks' source (lab/README.md).
    const a = await nsExec(LAB.ns.dir, 'ip', ['-o', 'addr', 'show', 'dev', v.name], { check: true });
    const want = v === LAB.pcapVeth.int ? [`inet ${LAB.check}/${LAB.intPrefixLen}`] : [];
    const got = a.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(/\s+/).slice(2, 4).join(' '));
    assert.deepEqual(got, want, `${v.name}: no address but the check address (not even IPv6 link-local)`);
    const l = await nsExec(LAB.ns.dir, 'ip', ['-d', 'link', 'show', 'dev', v.name], { check: true });
    const promisc = Number(/promiscuity (\d+)/.exec(l.stdout)?.[1] ?? 'NaN');
    if (promiscuous) assert.ok(promisc > 0, `${v.name} is promiscuous while tapvsd captures with its own MAC`);
    else assert.equal(promisc, 0, `${v.name} is not promiscuous with mac=nic`);
  }
  const fwd = await nsExec(LAB.ns.dir, 'sysctl', ['-n', 'net.ipv4.ip_forward'], { check: true });
  assert.equal(fwd.stdout.trim(), '0');
  const c = await snmp(LAB.ns.dir);
  assert.equal(c.get('Ip.ForwDatagrams'), 0, 'the kernel of tapvs-dir forwarded nothing');
  assert.equal(c.get('Ip.OutRequests'), 0, 'the kernel of tapvs-dir sent no IP packet');
  assert.equal(c.get('Icmp.OutMsgs'), 0, 'the kernel of tapvs-dir sent no ICMP');
}

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
  const script = `seq 200 | xargs -P 200 -I{} curl -sS --fail --max-time 30 http://${VIP}/ ; echo "rc=$?"`;
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', script], { timeoutMs: 90_000 });
  assert.match(r.stdout, /rc=0/, r.stderr);
  const rs1 = (r.stdout.match(/192\.168\.2\.129/g) ?? []).length;
  const rs2 = (r.stdout.match(/192\.168\.2\.130/g) ?? []).length;
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
  const tapvsd = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'tapvsd.js');
  const cases: Array<[string, RegExp]> = [
    ['name=x,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE is required/],
    ['name=x,tap=t0,pcap=eth1,addr=10.0.0.1/24', /exactly one of tap=DEV, packet=IFACE and pcap=IFACE is required/],
    ['name=x,pcap=eth1,bridge=br0,addr=10.0.0.1/24', /bridge= is for tap= links/],
    ['name=x,pcap=eth1,mtu=1400,addr=10.0.0.1/24', /mtu= is for tap= links/],
    ['name=x,tap=t0,mac=nic,addr=10.0.0.1/24', /mac=nic is for packet= and pcap= links/],
    ['name=x,pcap=averyveryverylongname,addr=10.0.0.1/24', /longer than 15 characters/],
  ];
  for (const [spec, msg] of cases) {
    const r = spawnSync(process.execPath, [tapvsd, '--link', spec, '--socket', '/nonexistent/tapvs.sock'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `${spec}: ${r.stderr}`);
    assert.match(r.stderr, msg, spec);
  }
});

// ---------------------------------------------------------------------------------------------
// PcapLink on its own, in a namespace pair this file creates (not the lab).

/** Two namespaces joined by a veth: `a` holds `pa` (PcapLink's), `b` holds `pb`; a also holds pd0 (up) and pd1 (down). */
function makePair(t: { after: (fn: () => void) => void }): { a: string; b: string } {
  const a = `tvs-pcap-a-${process.pid}`,
    b = `tvs-pcap-b-${process.pid}`;
  const cleanup = (): void => {
    for (const ns of [a, b]) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      spawnSync('ip', ['netns', 'del', ns]);
    }
  };
  cleanup();
  t.after(cleanup);
  const ip = (...args: string[]): void => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  for (const ns of [a, b]) {
    ip('netns', 'add', ns);
    const r = spawnSync('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    assert.equal(r.status, 0);
  }
  ip(
    '-n',
    a,
    'link',
    'add',
    'pa',
    'address',
    '02:00:00:00:a0:01',
    'type',
    'veth',
    'peer',
    'name',
    'pb',
    'address',
    '02:00:00:00:b0:01',
    'netns',
    b,
  );
  ip('-n', a, 'link', 'set', 'pa', 'up');
  ip('-n', b, 'link', 'set', 'pb', 'up');
  // Two more Ethernet interfaces in a (veth pairs: not every kernel has the dummy driver).
  ip('-n', a, 'link', 'add', 'pd0', 'type', 'veth', 'peer', 'name', 'pd0p');
  ip('-n', a, 'link', 'set', 'pd0', 'up');
  ip('-n', a, 'link', 'add', 'pd1', 'type', 'veth', 'peer', 'name', 'pd1p'); // stays down
  return { a, b };
}

/** Runs an ES module snippet under node inside `ns` (optionally wrapped); returns its last JSON line. */
function nodeIn(ns: string, code: string, wrap: string[] = []): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, TAPVS_PCAP_JS: PCAP_JS };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync('ip', ['netns', 'exec', ns, ...wrap, process.execPath, '--input-type=module', '-e', code], {
    env,
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  assert.equal(r.status, 0, `child failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

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
  const { a } = makePair(t);
  const open = (iface: string, wrap: string[] = []): Record<string, unknown> =>
    nodeIn(a, `process.env.IFACE = ${JSON.stringify(iface)};\n${OPEN_CHILD}`, wrap);
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
  const { a, b } = makePair(t);
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
  const env: NodeJS.ProcessEnv = { ...process.env, TAPVS_PCAP_JS: PCAP_JS };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn('ip', ['netns', 'exec', a, process.execPath, '--input-type=module', '-e', linkChild], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  t.after(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  let out = '',
    err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes('ready'), `link child did not start: ${err}`);

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
  await exited;
  assert.equal(py.stdout.trim(), 'hello', `the link's injected broadcast reached the peer; link child: ${out} ${err}`);
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
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
  const { a } = makePair(t);
  const code = `
const { PcapLink } = await import(process.env.TAPVS_PCAP_JS);
const l = new PcapLink({ iface: 'pd0' });
const errors = [];
l.start(() => {}, (e) => errors.push({ code: e.code, message: e.message }));
console.log('ready');
setTimeout(() => { console.log(JSON.stringify({ errors })); process.exit(0); }, 2000);
`;
  const env: NodeJS.ProcessEnv = { ...process.env, TAPVS_PCAP_JS: PCAP_JS };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn('ip', ['netns', 'exec', a, process.execPath, '--input-type=module', '-e', code], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  t.after(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  let out = '',
    err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes('ready'), `child did not start: ${err}`);
  const del = spawnSync('ip', ['-n', a, 'link', 'del', 'pd0'], { encoding: 'utf8' });
  assert.equal(del.status, 0, del.stderr);
  await exited;
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { errors: Array<{ code: string; message: string }> };
  assert.deepEqual(r.errors, [{ code: 'TAP_GONE', message: 'pcap pd0: the interface disappeared' }]);
});
