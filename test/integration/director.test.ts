/**
 * The walking director end to end: tapvsd in the textbook lab with real clients.
 *
 * ```
 *  tapvs-client 192.168.222.1 --[br-ext]-- tapvs-ext ==(tapvsd: VIP .131 | DIP .136)== tapvs-int --[br-int]-- RS1 .129, RS2 .130
 * ```
 * Needs root (namespaces, TAP devices); skipped otherwise. Each test builds the lab and removes it
 * in t.after, also on failure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blobSha256 } from '../../lab/blob.js';
import { LAB, labDown, labUp, nsExec, tapvsadm } from '../../lab/lab-lib.js';
import { ControlClient } from '../../src/control/client.js';
import { Drop } from '../../src/dataplane/drops.js';
import { curl, fourAnswers, rulesFile, TEXTBOOK_RULES, VIP } from '../helpers/lab-client.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
/** Which real server answered GET url: "RS1" or "RS2"; a failed request fails the test. */
async function servedBy(url: string): Promise<string> {
  const r = await curl(url, ['--fail']);
  assert.equal(r.code, 0, `curl ${url}: ${r.stderr}`);
  const id = /^(RS[12]) /.exec(r.body)?.[1];
  assert.ok(id !== undefined, `not a real server's answer: ${JSON.stringify(r.body.slice(0, 80))}`);
  return id;
}

async function status(): Promise<{ ports: Array<{ name: string; drops: number[]; rxFrames: number }>; conns: number }> {
  const c = await ControlClient.connect(LAB.socket);
  try {
    return (await c.request({ op: 'status' })) as {
      ports: Array<{ name: string; drops: number[]; rxFrames: number }>;
      conns: number;
    };
  } finally {
    c.close();
  }
}

test('textbook: four curls to the VIP alternate RS1, RS2, RS1, RS2', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  const answers = await fourAnswers();
  assert.deepEqual(answers, ['RS1', 'RS2', 'RS1', 'RS2']);
});

test('a 50 MB download through the VIP arrives intact (sha256)', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', `curl -sS --fail --max-time 120 http://${VIP}/blob | sha256sum`], {
    timeoutMs: 150_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(' ')[0], blobSha256());
});

test('200 parallel curls all succeed and rr spreads them evenly; counters match', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  // xargs -P runs 200 curls at once from the client namespace; each prints the server's answer.
  const script = `seq 200 | xargs -P 200 -I{} curl -sS --fail --max-time 30 http://${VIP}/ ; echo "rc=$?"`;
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', script], { timeoutMs: 90_000 });
  assert.match(r.stdout, /rc=0/, r.stderr);
  const rs1 = (r.stdout.match(/192\.168\.2\.129/g) ?? []).length;
  const rs2 = (r.stdout.match(/192\.168\.2\.130/g) ?? []).length;
  assert.equal(rs1 + rs2, 200);
  assert.equal(rs1, 100);
  assert.equal(rs2, 100);
  await new Promise((res) => setTimeout(res, 2200)); // the listed counters advance every 2 s, as IPVS's
  const c = await ControlClient.connect(LAB.socket);
  const list = (await c.request({ op: 'list', service: null })) as {
    services: Array<{ stats: { conns: number }; dests: Array<{ stats: { conns: number } }> }>;
  };
  c.close();
  assert.equal(list.services[0].stats.conns, 200);
  assert.deepEqual(
    list.services[0].dests.map((d) => d.stats.conns),
    [100, 100],
  );
});

test('ping answers from the VIP (client) and from the DIP (real server)', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  const a = await nsExec(LAB.ns.client, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', VIP], { timeoutMs: 20_000 });
  assert.equal(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /3 received/);
  const b = await nsExec(LAB.ns.rs1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '192.168.2.136'], {
    timeoutMs: 20_000,
  });
  assert.equal(b.code, 0, b.stdout + b.stderr);
});

test('a TCP connection to a VIP port with no service is refused at once (RST)', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  const r = await curl(`http://${VIP}:81/`, ['--connect-timeout', '5']);
  // 7 = couldn't connect; a RST makes it fail within milliseconds (a drop would run into the 5 s timeout, exit 28).
  assert.equal(r.code, 7, `curl exit ${r.code}: ${r.stderr}`);
  const ms = Number(/after (\d+) ms/.exec(r.stderr)?.[1] ?? 'NaN');
  assert.ok(ms < 1000, r.stderr);
});

test('SIGTERM removes the TAP devices; a second tapvsd on the same TAP names fails clearly', { skip }, async (t) => {
  t.after(() => labDown());
  const info = await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  const links = async (): Promise<string> => (await nsExec(LAB.ns.dir, 'ip', ['-o', 'link', 'show'])).stdout;
  assert.match(await links(), /tapvs-ext/);
  // Second daemon, same TAPs, another socket: must fail with the TAP's name in the message.
  const second = await nsExec(
    LAB.ns.dir,
    process.execPath,
    [LAB.tapvsdJs, '--link', 'name=ext,tap=tapvs-ext,addr=192.168.222.131/24', '--socket', '/run/tapvs/second.sock'],
    { timeoutMs: 20_000 },
  );
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /tapvs-ext is in use by another process/);
  // The first keeps working.
  assert.equal((await curl(`http://${VIP}/`)).code, 0);
  const pid = info.pids.tapvsd;
  assert.ok(typeof pid === 'number' && pid > 0);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && /tapvs-ext|tapvs-int/.test(await links()); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.doesNotMatch(await links(), /tapvs-ext|tapvs-int/);
});

test('hostile: thousands of random and truncated frames on both links; the director keeps serving and counts them', {
  skip,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES) });
  // A raw AF_PACKET sender (python3) in the client and RS1 namespaces: 3000 frames each, to the
  // broadcast MAC and to the director's MAC (learned via ARP), random lengths 0..1514.
  const sender = `
import os, random, socket, struct, subprocess, sys
random.seed(int(sys.argv[2]))
dev = sys.argv[1]
subprocess.run(['ping', '-c', '1', '-W', '1', sys.argv[3]], stdout=subprocess.DEVNULL)
neigh = subprocess.run(['ip', 'neigh', 'show', sys.argv[3]], capture_output=True, text=True).stdout.split()
mac = bytes.fromhex(neigh[neigh.index('lladdr') + 1].replace(':', '')) if 'lladdr' in neigh else b'\\xff' * 6
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
src = bytes.fromhex('020000000bad')
sent = 0
for i in range(3000):
    kind = i % 4
    body = os.urandom(random.randint(0, 1500))
    if kind == 0:   # random EtherType and payload
        f = mac + src + body
    elif kind == 1: # IPv4 with garbage
        f = mac + src + b'\\x08\\x00' + body
    elif kind == 2: # truncated IPv4/TCP header to the VIP
        hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, 1, 0, 64, 6, 0, socket.inet_aton('192.168.222.1'), socket.inet_aton('192.168.222.131'))
        f = mac + src + b'\\x08\\x00' + hdr[:random.randint(0, 20)]
    else:           # ARP garbage
        f = b'\\xff' * 6 + src + b'\\x08\\x06' + body[:random.randint(0, 40)]
    if len(f) < 14:
        f = f + b'\\x00' * (14 - len(f))
    try:
        s.send(f[:1514]); sent += 1
    except OSError:
        pass
print(sent)
`;
  const before = await status();
  const a = await nsExec(LAB.ns.client, 'python3', ['-c', sender, LAB.veth.client.name, '1', VIP], {
    timeoutMs: 60_000,
  });
  const b = await nsExec(LAB.ns.rs1, 'python3', ['-c', sender, LAB.veth.rs1.name, '2', '192.168.2.136'], {
    timeoutMs: 60_000,
  });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(Number(a.stdout) > 2900 && Number(b.stdout) > 2900);
  // Still serving.
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await servedBy(`http://${VIP}/`));
  assert.deepEqual(answers.sort(), ['RS1', 'RS1', 'RS2', 'RS2']);
  const after = await status();
  const dropped = (p: { drops: number[] }): number => p.drops.reduce((x, y) => x + y, 0);
  for (let i = 0; i < 2; i++)
    assert.ok(dropped(after.ports[i]) - dropped(before.ports[i]) >= 1000, `port ${after.ports[i].name} counted drops`);
  assert.ok(
    after.ports[0].drops[Drop.Truncated] +
      after.ports[0].drops[Drop.BadHeader] +
      after.ports[0].drops[Drop.UnknownEtherType] >
      0,
  );
});

test('tapvsadm: the textbook session verbatim (clear, add, list, stats, save) with curls', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp();
  const adm = async (...args: string[]): Promise<string> => {
    const r = await tapvsadm(args);
    assert.equal(r.code, 0, `tapvsadm ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await adm('-C');
  await adm('-A', '-t', `${VIP}:80`, '-s', 'rr');
  await adm('-a', '-t', `${VIP}:80`, '-r', '192.168.2.130', '-m');
  await adm('-a', '-t', `${VIP}:80`, '-r', '192.168.2.129', '-m');
  const list = await adm('-L', '-n');
  assert.equal(
    list.split('\n').slice(1).join('\n'),
    [
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.222.131:80 rr',
      '  -> 192.168.2.129:80             Masq    1      0          0         ',
      '  -> 192.168.2.130:80             Masq    1      0          0         ',
      '',
    ].join('\n'),
  );
  for (let i = 0; i < 6; i++) assert.equal((await curl(`http://${VIP}/`)).code, 0);
  await new Promise((r) => setTimeout(r, 2200));
  const stats = await adm('-L', '-n', '--stats');
  assert.match(stats, /TCP {2}192\.168\.222\.131:80 +6 /);
  const save = await adm('-S', '-n');
  assert.equal(
    save,
    '-A -t 192.168.222.131:80 -s rr\n-a -t 192.168.222.131:80 -r 192.168.2.129:80 -m -w 1\n-a -t 192.168.222.131:80 -r 192.168.2.130:80 -m -w 1\n',
  );
});

test('without offloads (--no-offload): alternation and a 50 MB download intact', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rulesFile(TEXTBOOK_RULES), tapvsdArgs: ['--no-offload'] });
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await servedBy(`http://${VIP}/`));
  assert.deepEqual(answers, ['RS1', 'RS2', 'RS1', 'RS2']);
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', `curl -sS --fail --max-time 120 http://${VIP}/blob | sha256sum`], {
    timeoutMs: 150_000,
  });
  assert.equal(r.stdout.split(' ')[0], blobSha256());
});

test('offloads (default): iperf3 through the VIP, both directions, 4 streams', { skip, timeout: 60_000 }, async (t) => {
  t.after(() => labDown());
  await labUp({
    rules: rulesFile(
      `${TEXTBOOK_RULES}-A -t ${VIP}:5201 -s sh\n-a -t ${VIP}:5201 -r 192.168.2.129:5201 -m\n-a -t ${VIP}:5201 -r 192.168.2.130:5201 -m\n`,
    ),
  });
  for (const extra of [[], ['-R'], ['-P', '4']]) {
    const r = await nsExec(LAB.ns.client, 'iperf3', ['-c', VIP, '-t', '2', '-J', ...extra], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(0, 300));
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } } };
    assert.ok(
      j.end.sum_received.bytes > 10_000_000,
      `iperf3 ${extra.join(' ')} moved ${j.end.sum_received.bytes} bytes`,
    );
  }
  const st = await status();
  for (const p of st.ports) {
    const bad = p.drops.reduce((a, b) => a + b, 0);
    assert.ok(bad < 50, `drops on ${p.name}: ${p.drops.join(',')}`);
  }
});
