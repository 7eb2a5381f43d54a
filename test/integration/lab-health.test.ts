/**
 * The lab's side of health checks: the kernel of tapvs-dir's check address (the source of
 * tapvsd's probes), the kernel staying out of tapvsd's traffic next to it, the real-server
 * controls (`lab rs stop|start|fail|heal|link|status`) and `lab up --keepalived`.
 *
 * ```
 *  tapvs-client .1 --[br-ext]-- tapvsd (VIP .131 | DIP .136) --[br-int: kernel's check address .137]-- RS1 .129, RS2 .130
 *                                                                 (pcap mode: .137 on tvs-pi instead)
 * ```
 * Needs root (namespaces, TAPs, tcpdump); the pcap tests also ethtool. Each test builds the lab
 * and removes it in t.after (labDown: by recorded pid, by namespace pids, by namespace name), also
 * on failure; tcpdumps are stopped by pid. Every test has a timeout. The lab's names are fixed
 * and shared: run this file under `flock /tmp/tapvs-lab.lock`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  checkDevice,
  LAB,
  type LabInfo,
  labDown,
  labUp,
  listNamespaces,
  macFor,
  nsExec,
  nsSpawn,
  pidAlive,
  REAL_SERVERS,
  type RealServerKey,
  type RealServerStatus,
  rsFail,
  rsHeal,
  rsLink,
  rsStart,
  rsStatus,
  rsStop,
  run,
} from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root (network namespaces, TAP devices, tcpdump)';
const pcapSkip = skip || (spawnSync('ethtool', ['--version']).status !== 0 && 'needs ethtool (Debian package ethtool)');

const TEXTBOOK_RULES = `-A -t ${LAB.vip}:80 -s rr
-a -t ${LAB.vip}:80 -r ${LAB.rs2}:80 -m -w 1
-a -t ${LAB.vip}:80 -r ${LAB.rs1}:80 -m -w 1
`;

function rulesFile(): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-rules-')), 'rules');
  writeFileSync(f, TEXTBOOK_RULES);
  return f;
}

/** `curl` inside `ns`: exit code, body and HTTP status (0 when nothing answered). */
async function curl(
  ns: string,
  url: string,
  extra: string[] = [],
): Promise<{ code: number | null; body: string; status: number }> {
  const r = await nsExec(ns, 'curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...extra, url], {
    timeoutMs: 20_000,
  });
  const cut = r.stdout.lastIndexOf('\n');
  return { code: r.code, body: r.stdout.slice(0, cut), status: Number(r.stdout.slice(cut + 1)) };
}

/** A GET from the kernel of tapvs-dir, from the check address: the path tapvsd's HTTP_GET takes. */
function checkGet(info: LabInfo, key: RealServerKey, path: string): ReturnType<typeof curl> {
  return curl(LAB.ns.dir, `http://${info.addresses[key]}:${LAB.httpPort}${path}`, [
    '--interface',
    info.addresses.check,
  ]);
}

/** ping from the kernel of tapvs-dir, from the check address: PING_CHECK's path. Exit status. */
async function checkPing(info: LabInfo, key: RealServerKey): Promise<number | null> {
  const r = await nsExec(LAB.ns.dir, 'ping', ['-c', '1', '-W', '2', '-I', info.addresses.check, info.addresses[key]], {
    timeoutMs: 10_000,
  });
  return r.code;
}

/** Which real server answered each of `n` GETs to the VIP from the client (through tapvsd). */
async function throughVip(n: number): Promise<string[]> {
  const who: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await curl(LAB.ns.client, `http://${LAB.vip}/`);
    assert.equal(r.status, 200, `GET / through the VIP: ${r.body}`);
    who.push(r.body.split(' ')[0] ?? '');
  }
  return who;
}

/** The kernel counters of tapvs-dir that would move if it took in, sent, forwarded or reset anything. */
const KERNEL_COUNTERS = ['Ip.InReceives', 'Ip.OutRequests', 'Ip.ForwDatagrams', 'Icmp.OutMsgs', 'Tcp.OutRsts'];

async function kernelCounters(): Promise<Record<string, number>> {
  const r = await nsExec(LAB.ns.dir, 'cat', ['/proc/net/snmp'], { check: true });
  const lines = r.stdout.trim().split('\n');
  const all = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/);
    for (let j = 1; j < names.length; j++) all.set(`${names[0].replace(/:$/, '')}.${names[j]}`, Number(values[j]));
  }
  return Object.fromEntries(KERNEL_COUNTERS.map((k) => [k, all.get(k) ?? Number.NaN]));
}

function counterDeltas(before: Record<string, number>, after: Record<string, number>, only = KERNEL_COUNTERS) {
  return Object.fromEntries(only.map((k) => [k, (after[k] ?? Number.NaN) - (before[k] ?? Number.NaN)]));
}

async function sysctl(ns: string, key: string): Promise<string> {
  return (await nsExec(ns, 'sysctl', ['-n', key], { check: true })).stdout.trim();
}

async function linkMac(ns: string, dev: string): Promise<string> {
  const r = await run('ip', ['-n', ns, '-o', 'link', 'show', 'dev', dev], { check: true });
  return /link\/ether ([0-9a-f:]{17})/.exec(r.stdout)?.[1] ?? '';
}

/** IPv4 addresses of tapvs-dir as "dev addr/len", loopback left out. */
async function dirAddresses(): Promise<string[]> {
  const r = await run('ip', ['-n', LAB.ns.dir, '-o', '-4', 'addr', 'show'], { check: true });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\d+: lo\s/.test(l))
    .map((l) => {
      const f = l.split(/\s+/);
      return `${f[1]} ${f[3]}`;
    });
}

/** A tcpdump inside tapvs-dir writing `iface`'s frames to a file; stop() ends it by pid and decodes them. */
async function capture(dir: string, iface: string): Promise<{ stop: () => Promise<string[]>; pid: number }> {
  const file = join(dir, `${iface}.pcap`);
  const log = join(dir, `${iface}.log`);
  // --immediate-mode: each frame leaves the capture ring at once, so SIGTERM loses none of them
  // (otherwise a ring block waits for its timeout and dies with the process). -Z root: write the
  // file as root, into our private temporary directory.
  const child = nsSpawn(
    LAB.ns.dir,
    'tcpdump',
    ['-i', iface, '--immediate-mode', '-U', '-Z', 'root', '-nn', '-w', file],
    {
      logFile: log,
    },
  );
  const pid = child.pid ?? -1;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!readFileSync(log, 'utf8').includes('listening on')) {
    assert.ok(pidAlive(pid), `tcpdump -i ${iface} exited: ${readFileSync(log, 'utf8')}`);
    assert.ok(Date.now() < deadline, `tcpdump -i ${iface} did not start listening`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid,
    stop: async () => {
      if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      const r = await run('tcpdump', ['-r', file, '-e', '-nn'], { check: true });
      return r.stdout.split('\n').filter((l) => l.trim() !== '');
    },
  };
}

/** The source MAC of a `tcpdump -e` line. */
function srcMac(line: string): string {
  return /^\S+ ([0-9a-f:]{17}) > /.exec(line)?.[1] ?? '';
}

test('TAP mode: the check address on tapvs-br-int reaches the real servers, and the kernel stays out of tapvsd', {
  skip,
  timeout: 180_000,
}, async (t) => {
  t.after(() => labDown());
  const info = await labUp({ rules: rulesFile() });
  const a = info.addresses;
  assert.equal(info.checkDevice, LAB.bridge.int);
  const bridgeMac = macFor(a.check);

  await t.test('the kernel of tapvs-dir has the check address only, on the bridge with its fixed MAC', async () => {
    assert.deepEqual(await dirAddresses(), [`${LAB.bridge.int} ${a.check}/${a.intPrefixLen}`]);
    assert.equal(await linkMac(LAB.ns.dir, LAB.bridge.int), bridgeMac);
    assert.equal(await sysctl(LAB.ns.dir, 'net.ipv4.ip_forward'), '0');
    assert.equal(await sysctl(LAB.ns.dir, `net.ipv4.conf.${LAB.bridge.int}.arp_ignore`), '1');
    assert.equal(await sysctl(LAB.ns.dir, `net.ipv4.conf.${LAB.bridge.int}.arp_announce`), '2');
    assert.equal(await sysctl(LAB.ns.dir, `net.ipv4.conf.${LAB.bridge.int}.rp_filter`), '1');
    for (const key of REAL_SERVERS) {
      const r = await run('ip', ['-n', LAB.ns[key], 'route', 'show', 'default'], { check: true });
      assert.match(
        r.stdout,
        new RegExp(`^default via ${a.dip.replaceAll('.', '\\.')} `),
        `${key} still routes via the DIP`,
      );
    }
  });

  await t.test('clients through the VIP: no IP packet of tapvsd reaches the kernel, which sends nothing', async () => {
    await throughVip(2); // ARP resolved everywhere
    const before = await kernelCounters();
    const who = await throughVip(4);
    assert.deepEqual([...who].sort(), ['RS1', 'RS1', 'RS2', 'RS2']);
    assert.deepEqual(
      counterDeltas(before, await kernelCounters()),
      Object.fromEntries(KERNEL_COUNTERS.map((k) => [k, 0])),
    );
    // tapvsd's MAC (the DIP's, as RS1 learned it) is switched to the TAP port, not a local entry of the bridge.
    const n = await run('ip', ['-n', LAB.ns.rs1, 'neigh', 'show', a.dip], { check: true });
    const tapvsdMac = /lladdr ([0-9a-f:]{17})/.exec(n.stdout)?.[1] ?? '';
    assert.notEqual(tapvsdMac, '', `RS1 knows the DIP's MAC: ${n.stdout}`);
    assert.notEqual(tapvsdMac, bridgeMac);
    const fdb = await run('bridge', ['-n', LAB.ns.dir, 'fdb', 'show', 'br', LAB.bridge.int], { check: true });
    const entries = fdb.stdout.split('\n').filter((l) => l.startsWith(`${tapvsdMac} `));
    assert.ok(entries.length > 0, `the bridge learned ${tapvsdMac}:\n${fdb.stdout}`);
    for (const e of entries) {
      assert.match(e, new RegExp(` dev ${LAB.tap.int} `), `${tapvsdMac} sits behind the TAP`);
      assert.doesNotMatch(e, /\bpermanent\b/, `${tapvsdMac} is not one of the bridge's own addresses`);
    }
  });

  await t.test(
    "captured on both bridges (promiscuous), with cold ARP caches: no kernel frame, no RST, no ARP answer for DIP or VIP but tapvsd's",
    async (tt) => {
      const dir = mkdtempSync(join(tmpdir(), 'tapvs-health-cap-'));
      const extMac = await linkMac(LAB.ns.dir, LAB.bridge.ext);
      const caps = [await capture(dir, LAB.bridge.int), await capture(dir, LAB.bridge.ext)];
      tt.after(() => {
        for (const c of caps) if (pidAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      });
      for (const ns of [LAB.ns.client, LAB.ns.rs1, LAB.ns.rs2])
        await nsExec(ns, 'ip', ['neigh', 'flush', 'all'], { check: true });
      const before = await kernelCounters();
      const who = await throughVip(4);
      assert.deepEqual([...who].sort(), ['RS1', 'RS1', 'RS2', 'RS2']);
      const deltas = counterDeltas(before, await kernelCounters());
      const lines = [...(await caps[0].stop()), ...(await caps[1].stop())];

      assert.deepEqual(
        deltas,
        Object.fromEntries(KERNEL_COUNTERS.map((k) => [k, 0])),
        'the kernel took in and sent nothing',
      );
      // The capture saw the traffic (not an empty file): the client's SYNs, DNATed towards the real servers.
      const synsToRs = lines.filter(
        (l) => /\.80: Flags \[S\]/.test(l) && (l.includes(`> ${a.rs1}.80`) || l.includes(`> ${a.rs2}.80`)),
      );
      assert.ok(
        synsToRs.length >= 4,
        `4 SYNs to the real servers captured, got ${synsToRs.length}:\n${lines.join('\n')}`,
      );
      const fromKernel = lines.filter((l) => srcMac(l) === bridgeMac || srcMac(l) === extMac);
      assert.deepEqual(fromKernel, [], 'no frame from a bridge (the kernel of tapvs-dir)');
      assert.deepEqual(
        lines.filter((l) => /Flags \[R/.test(l)),
        [],
        'no RST',
      );
      for (const ip of [a.dip, a.vip]) {
        const answers = lines.filter((l) => l.includes(`Reply ${ip} is-at `));
        assert.ok(answers.length > 0, `the cold caches made someone ask for ${ip} and tapvsd answer`);
        for (const l of answers) {
          const mac = /is-at ([0-9a-f:]{17})/.exec(l)?.[1];
          assert.ok(mac !== bridgeMac && mac !== extMac && srcMac(l) !== bridgeMac && srcMac(l) !== extMac, l);
        }
      }
    },
  );

  await t.test(
    'from the kernel of tapvs-dir, the check address gets GET /health and ping answers from both real servers',
    async () => {
      for (const key of REAL_SERVERS) {
        const r = await checkGet(info, key, '/health');
        assert.equal(r.code, 0);
        assert.equal(r.status, 200);
        assert.equal(r.body, `OK ${LAB.rsId[key]}\n`);
        assert.equal(await checkPing(info, key), 0, `ping ${key} from ${a.check}`);
        // The answers came on-link, to the bridge's MAC, not through tapvsd.
        const n = await run('ip', ['-n', LAB.ns[key], 'neigh', 'show', a.check], { check: true });
        assert.match(n.stdout, new RegExp(`lladdr ${bridgeMac}`), `${key} reached ${a.check} on-link`);
      }
      // The DIP is tapvsd's: the kernel cannot even bind it.
      const dip = await curl(LAB.ns.dir, `http://${a.rs1}/health`, ['--interface', a.dip]);
      assert.notEqual(dip.code, 0, 'no kernel socket can use the DIP as source');
    },
  );
});

/** pcap mode: the check address on tvs-pi, checks working, the kernel sending nothing for tapvsd. */
async function pcapModeChecks(t: TestContext, pcapMac: 'own' | 'nic'): Promise<void> {
  t.after(() => labDown());
  const info = await labUp({ rules: rulesFile(), attach: 'pcap', pcapMac });
  const a = info.addresses;
  assert.equal(info.checkDevice, LAB.pcapVeth.int.name);
  assert.equal(checkDevice('pcap'), LAB.pcapVeth.int.name);
  assert.deepEqual(await dirAddresses(), [`${LAB.pcapVeth.int.name} ${a.check}/${a.intPrefixLen}`], 'only on tvs-pi');
  assert.equal(await sysctl(LAB.ns.dir, `net.ipv4.conf.${LAB.pcapVeth.int.name}.arp_ignore`), '1');
  assert.equal(await sysctl(LAB.ns.dir, `net.ipv4.conf.${LAB.pcapVeth.ext.name}.arp_ignore`), '8');
  assert.equal(await sysctl(LAB.ns.dir, 'net.ipv4.ip_forward'), '0');
  for (const key of REAL_SERVERS) {
    const r = await checkGet(info, key, '/health');
    assert.equal(r.body, `OK ${LAB.rsId[key]}\n`, `GET /health on ${key} from ${a.check}`);
    assert.equal(await checkPing(info, key), 0, `ping ${key} from ${a.check}`);
  }
  await throughVip(2);
  const before = await kernelCounters();
  const who = await throughVip(4);
  assert.deepEqual([...who].sort(), ['RS1', 'RS1', 'RS2', 'RS2']);
  // With its own MAC tapvsd's frames are "for another host" to the kernel: not even taken in. With
  // the NIC's MAC the kernel takes them in (same MAC) and drops them: it must still send nothing.
  const sent = ['Ip.OutRequests', 'Ip.ForwDatagrams', 'Icmp.OutMsgs', 'Tcp.OutRsts'];
  const watched = pcapMac === 'own' ? KERNEL_COUNTERS : sent;
  assert.deepEqual(
    counterDeltas(before, await kernelCounters(), watched),
    Object.fromEntries(watched.map((k) => [k, 0])),
  );
  // And the checks still work next to tapvsd's traffic.
  assert.equal((await checkGet(info, 'rs1', '/health')).status, 200);
}

test(
  'pcap mode: the check address on tvs-pi reaches the real servers; the kernel takes in nothing of tapvsd',
  {
    skip: pcapSkip,
    timeout: 120_000,
  },
  (t) => pcapModeChecks(t, 'own'),
);

test(
  'pcap mode, NIC MAC: the checks work beside tapvsd on the same MAC, and the kernel sends nothing for it',
  {
    skip: pcapSkip,
    timeout: 120_000,
  },
  (t) => pcapModeChecks(t, 'nic'),
);

/** What must not change when a command acts on `key`: the other server, tapvsd, the other links. */
async function bystanders(info: LabInfo, key: RealServerKey): Promise<unknown> {
  const other = (await rsStatus()).filter((s) => s.server !== key);
  const dirLinks = await run('ip', ['-n', LAB.ns.dir, '-br', 'link'], { check: true });
  return {
    other,
    tapvsd: pidAlive(info.pids.tapvsd ?? -1) ? info.pids.tapvsd : 'gone',
    dirLinks: dirLinks.stdout
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(LAB.veth[key].peer))
      .sort(),
  };
}

function statusOf(all: readonly RealServerStatus[], key: RealServerKey): RealServerStatus {
  const s = all.find((x) => x.server === key);
  assert.ok(s !== undefined);
  return s;
}

async function listening(key: RealServerKey): Promise<string[]> {
  const r = await nsExec(LAB.ns[key], 'ss', ['-Htln'], { check: true });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/)[3] ?? '')
    .sort();
}

/** `npm run lab -- ARGS` (the compiled CLI): exit status and output. */
function labCli(args: string[]) {
  return run(process.execPath, [LAB.labJs, ...args], { timeoutMs: 60_000 });
}

test('lab rs: stop, start, fail, heal and link act on one real server and touch nothing else', {
  skip,
  timeout: 180_000,
}, async (t) => {
  t.after(() => labDown());
  const info = await labUp({ rules: rulesFile() });
  const first = await rsStatus();
  for (const s of first) {
    assert.deepEqual(
      { link: s.link, health: s.health, running: s.processes.map((p) => p.running) },
      { link: 'up', health: 200, running: [true, true] },
      `${s.server} starts up and healthy`,
    );
  }
  const rs1Pids = statusOf(first, 'rs1').processes.map((p) => p.pid);
  const others = await bystanders(info, 'rs1');

  await t.test('rs stop rs1 stops its HTTP server and iperf3 by pid and forgets them; again is no error', async () => {
    const r = await rsStop('rs1');
    assert.deepEqual([...r.stopped].sort(), [...rs1Pids].sort());
    for (const pid of rs1Pids) assert.ok(!pidAlive(pid ?? -1), `pid ${pid} is gone`);
    for (const name of ['rs1-http', 'rs1-iperf3']) assert.ok(!existsSync(join(LAB.runDir, 'pids', name)));
    const s = statusOf(await rsStatus(), 'rs1');
    assert.deepEqual(
      s.processes.map((p) => p.pid),
      [null, null],
    );
    assert.equal(s.health, null);
    assert.deepEqual(await listening('rs1'), []);
    assert.deepEqual(await bystanders(info, 'rs1'), others);
    assert.deepEqual((await rsStop('rs1')).stopped, []);
  });

  await t.test('rs start rs1 starts both again inside tapvs-rs1, healthy; again starts nothing', async () => {
    const r = await rsStart('rs1');
    const pids = Object.values(r.started);
    assert.deepEqual(Object.keys(r.started).sort(), ['rs1-http', 'rs1-iperf3']);
    const inNs = (await run('ip', ['netns', 'pids', LAB.ns.rs1], { check: true })).stdout.split(/\s+/).map(Number);
    for (const pid of pids) {
      assert.ok(pidAlive(pid) && !rs1Pids.includes(pid), `new pid ${pid} runs`);
      assert.ok(inNs.includes(pid), `pid ${pid} is in ${LAB.ns.rs1}`);
    }
    const ports = await listening('rs1');
    assert.deepEqual(ports.map((l) => l.slice(l.lastIndexOf(':') + 1)).sort(), ['5201', '80', '8080', '8081']);
    assert.ok(ports.includes(`127.0.0.1:${LAB.rsAdminPort}`), `the admin port is on loopback only: ${ports.join(' ')}`);
    assert.equal((await checkGet(info, 'rs1', '/')).body, `${LAB.rsId.rs1} ${info.addresses.rs1}\n`);
    assert.equal(statusOf(await rsStatus(), 'rs1').health, 200);
    assert.deepEqual((await rsStart('rs1')).started, {});
    assert.deepEqual(await bystanders(info, 'rs1'), others);
  });

  await t.test(
    'lab rs fail rs1: / and /health answer 503 to the checker, the rest of rs1 and rs2 are unchanged',
    async () => {
      const before = statusOf(await rsStatus(), 'rs1').processes;
      const cli = await labCli(['rs', 'fail', 'rs1']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /rs1 failing/);
      for (const path of ['/health', '/']) {
        const r = await checkGet(info, 'rs1', path);
        assert.deepEqual([r.status, r.body], [503, `FAILING ${LAB.rsId.rs1}\n`], `GET ${path}`);
      }
      assert.equal((await checkGet(info, 'rs1', '/bytes?n=5')).status, 200, '/bytes is not part of failing mode');
      assert.equal((await checkGet(info, 'rs2', '/health')).status, 200, 'rs2 stays healthy');
      assert.deepEqual(
        statusOf(await rsStatus(), 'rs1').processes,
        before,
        'the same processes: switched, not restarted',
      );
      const st = await labCli(['rs', 'status', 'rs1']);
      assert.match(
        st.stdout,
        new RegExp(`^rs1 ${info.addresses.rs1.replaceAll('.', '\\.')} \\(tapvs-rs1\\): link up, GET /health 503$`, 'm'),
      );
      assert.doesNotMatch(st.stdout, /^rs2 /m, 'rs status rs1 reports rs1 only');
      // The switch listens on rs1's loopback only: the checker's namespace cannot reach it.
      const admin = await curl(LAB.ns.dir, `http://${info.addresses.rs1}:${LAB.rsAdminPort}/heal`, ['-X', 'POST']);
      assert.equal(admin.code, 7, 'connection refused from outside the namespace');
      assert.deepEqual(await bystanders(info, 'rs1'), others);
    },
  );

  await t.test('rs heal rs1: GET /health answers 200 again', async () => {
    await rsHeal('rs1');
    const r = await checkGet(info, 'rs1', '/health');
    assert.deepEqual([r.status, r.body], [200, `OK ${LAB.rsId.rs1}\n`]);
    await rsHeal('rs1'); // healing a healthy server is no error
    assert.deepEqual(await bystanders(info, 'rs1'), others);
  });

  await t.test(
    'rs link down rs1: nothing reaches rs1 (ping from the check address fails), rs2 still answers',
    async () => {
      const before = statusOf(await rsStatus(), 'rs1').processes;
      await rsLink('rs1', 'down');
      const s = statusOf(await rsStatus(), 'rs1');
      assert.equal(s.link, 'down');
      assert.deepEqual(s.processes, before, 'its processes keep running');
      assert.notEqual(await checkPing(info, 'rs1'), 0, 'ping rs1 fails');
      assert.notEqual((await checkGet(info, 'rs1', '/health')).code, 0, 'GET /health on rs1 fails');
      assert.equal(await checkPing(info, 'rs2'), 0, 'ping rs2 works');
      const peer = await run('ip', ['-n', LAB.ns.dir, '-o', 'link', 'show', 'dev', LAB.veth.rs1.peer], { check: true });
      assert.match(peer.stdout, /NO-CARRIER|LOWERLAYERDOWN/, 'the bridge port lost its carrier');
      assert.deepEqual(await bystanders(info, 'rs1'), others);
    },
  );

  await t.test(
    'rs link up rs1: reachable again, its default route via the DIP is back, the VIP reaches both',
    async () => {
      await rsLink('rs1', 'up');
      assert.equal(statusOf(await rsStatus(), 'rs1').link, 'up');
      const r = await run('ip', ['-n', LAB.ns.rs1, 'route', 'show', 'default'], { check: true });
      assert.match(
        r.stdout,
        new RegExp(`^default via ${info.addresses.dip.replaceAll('.', '\\.')} dev ${LAB.veth.rs1.name}`),
      );
      assert.equal(await checkPing(info, 'rs1'), 0);
      assert.deepEqual([...new Set(await throughVip(4))].sort(), ['RS1', 'RS2']);
      assert.deepEqual(await bystanders(info, 'rs1'), others);
    },
  );

  await t.test('rs commands without a lab say so', async () => {
    await labDown();
    await assert.rejects(rsStop('rs1'), /no lab is up/);
    const cli = await labCli(['rs', 'status']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /no lab is up/);
  });
});

test('lab up --keepalived: tapvsd gets the file; a tapvsd without the option fails clearly and the lab is gone', {
  skip,
  timeout: 180_000,
}, async (t) => {
  t.after(() => labDown());
  const help = await run(process.execPath, [LAB.tapvsdJs, '--help'], { timeoutMs: 20_000 });
  if (!help.stdout.includes('--keepalived')) {
    const r = await labCli(['up', '--keepalived', LAB.keepalivedConf]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stderr,
      /^lab up failed: tapvsd exited with status 2 before it was ready: tapvsd: unknown option '--keepalived'/m,
    );
    assert.ok(r.stderr.includes(`--keepalived ${LAB.keepalivedConf}`), 'the log shows the command line passed through');
    const left = new Set(await listNamespaces());
    assert.deepEqual(
      ['tapvs-client', 'tapvs-dir', 'tapvs-rs1', 'tapvs-rs2'].filter((ns) => left.has(ns)),
      [],
      'the failed lab was torn down',
    );
    return;
  }
  // tapvsd loads keepalived.conf: the HTTP_GET checks (from the check address) follow rs fail/heal.
  const info = await labUp({ keepalived: LAB.keepalivedConf });
  assert.ok(info.tapvsdCommand.join(' ').includes(`--keepalived ${LAB.keepalivedConf}`));
  const listed = async (): Promise<string> =>
    (
      await run(process.execPath, [LAB.tapvsadmJs, '-L', '-n'], {
        timeoutMs: 20_000,
        env: { ...process.env, TAPVS_SOCKET: info.socket },
      })
    ).stdout;
  const until = async (what: string, ok: (listing: string) => boolean): Promise<void> => {
    const deadline = Date.now() + 60_000;
    let last = '';
    while (Date.now() < deadline) {
      last = await listed();
      if (ok(last)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`${what}; last listing:\n${last}`);
  };
  const rs1 = `${info.addresses.rs1}:80`;
  const rs2 = `${info.addresses.rs2}:80`;
  await until('both real servers in the service', (l) => l.includes(rs1) && l.includes(rs2));
  await rsFail('rs1');
  await until('RS1 out of the service after rs fail', (l) => !l.includes(rs1) && l.includes(rs2));
  assert.deepEqual(await throughVip(3), ['RS2', 'RS2', 'RS2']);
  await rsHeal('rs1');
  await until('RS1 back after rs heal', (l) => l.includes(rs1) && l.includes(rs2));
});
