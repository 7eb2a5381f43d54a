/**
 * The Linux kernel's end-to-end IPVS test (tools/testing/selftests/net/netfilter/ipvs.sh) with
 * tapvsd as the director instead of kernel IPVS: the same topology, addresses and transfer
 * (32 random bytes sent with socat through the VIP and compared), one fresh topology per case,
 * NAT (`-m`), DR (`-g`) and TUN (`-i`, IPIP).
 *
 * ```
 *   ipvsst-ns0 (client)                 ipvsst-ns1 (director: tapvsd)              ipvsst-ns2 (real server)
 *   br0 10.0.0.2/24 ── veth01 ═══ veth10 ─ [br-ext]─tap tvs-ext ═(tapvsd)═ tap tvs-int─[br-int]─ veth12 ═══ veth21 172.16.0.2/24
 *     │   route 207.175.44.110                      10.0.0.1/24 (gip)   172.16.0.1/24 (dip)
 *     │   via 10.0.0.1                                                                      veth20 10.0.0.3/24
 *     └── veth02 ══════════════════════════════════════════════════════════════════════════════════╝
 * ```
 *
 * The VIP 207.175.44.110 is on no subnet: the client routes it to the director's gateway address,
 * as in ipvs.sh. The kernel of ipvsst-ns1 has no address; tapvsd owns 10.0.0.1 and 172.16.0.1 and
 * (as a service address) the VIP. Per case, as ipvs.sh sets it up:
 * - NAT: the real server loses veth20 and routes by default via 172.16.0.1; its replies come back
 *   through tapvsd.
 * - DR: the real server has the VIP on lo, arp_ignore=1, arp_announce=2, rp_filter=0, and answers
 *   the client directly over veth20.
 * - TUN: as DR, but the frames arrive IPIP-encapsulated: this VM's kernel has no ipip module, so
 *   the real server runs lab/tunnel-endpoint.ts (`--type ipip`) on a TUN device (rp_filter=0 on it)
 *   instead of tunl0.
 *
 * Namespaces are ipvsst-ns0/1/2 (not the lab's tapvs-*: no lab lock needed). Every process is
 * stopped by pid, then whatever is left in the namespaces (`ip netns pids`), then the namespaces
 * are deleted, also when a case fails; stale ones from an interrupted run are removed first.
 * Needs root and socat; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addBridge, nsExec, pidAlive, run, sleep, stopPids } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TAPVSD_JS = join(REPO, 'dist', 'src', 'cli', 'tapvsd.js');
const TAPVSADM_JS = join(REPO, 'dist', 'src', 'cli', 'tapvsadm.js');
const ENDPOINT_JS = join(REPO, 'dist', 'lab', 'tunnel-endpoint.js');

const NS0 = 'ipvsst-ns0';
const NS1 = 'ipvsst-ns1';
const NS2 = 'ipvsst-ns2';
const NAMESPACES = [NS0, NS1, NS2];

// ipvs.sh's addresses.
const PORT = 8080;
const VIP = '207.175.44.110';
const CIP = '10.0.0.2';
const GIP = '10.0.0.1';
const DIP = '172.16.0.1';
const RIP = '172.16.0.2';
const SIP = '10.0.0.3';
const DATALEN = 32;

const CMD_MS = 10_000;
const READY_MS = 15_000;
const POLL_MS = 50;
/** ipvs.sh gives the client 2 s and the server 5 s; a user-space director's first ARP costs a little. */
const CLIENT_MS = 10_000;
const SERVER_MS = 15_000;

function hasSocat(): boolean {
  return ['/usr/bin/socat', '/bin/socat', '/usr/local/bin/socat'].some((p) => existsSync(p));
}
const skip =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces, TAP and TUN devices)'
    : !hasSocat()
      ? 'needs socat (apt-get install socat), as ipvs.sh does'
      : !existsSync(TAPVSD_JS) || !existsSync(ENDPOINT_JS)
        ? 'not built: run npx tsc -p tsconfig.json'
        : false;

type Mode = 'nat' | 'dr' | 'tun';

interface SelftestCase {
  mode: Mode;
  /** tapvsadm's tunnel options after -i (--tun-type ...). */
  tunArgs: readonly string[];
  /** The endpoint's --type (and --port) for the tunnel cases. */
  endpointArgs: readonly string[];
}

async function sh(ns: string | null, cmd: string, args: readonly string[]): Promise<void> {
  const r =
    ns === null ? await run(cmd, args, { timeoutMs: CMD_MS }) : await nsExec(ns, cmd, args, { timeoutMs: CMD_MS });
  if (r.code !== 0) throw new Error(`${ns ?? ''} ${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
}

/** One ipvs.sh topology with tapvsd; `teardown()` removes everything it made. */
class Topology {
  readonly dir = mkdtempSync(join(tmpdir(), 'ipvsst-'));
  readonly socket = join(this.dir, 'tapvsd.sock');
  private readonly pids: number[] = [];
  private readonly logs = new Map<string, string>();
  private endpoint: ChildProcess | null = null;

  async setup(): Promise<void> {
    await removeNamespaces();
    for (const ns of NAMESPACES) {
      await sh(null, 'ip', ['netns', 'add', ns]);
      await sh(ns, 'ip', ['link', 'set', 'lo', 'up']);
      // Only the traffic the test makes: no IPv6 router solicitations or DAD.
      await sh(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    // Both ends of each veth are created in the namespaces: nothing in the root namespace.
    await sh(null, 'ip', [
      'link',
      'add',
      'veth01',
      'netns',
      NS0,
      'type',
      'veth',
      'peer',
      'name',
      'veth10',
      'netns',
      NS1,
    ]);
    await sh(null, 'ip', [
      'link',
      'add',
      'veth02',
      'netns',
      NS0,
      'type',
      'veth',
      'peer',
      'name',
      'veth20',
      'netns',
      NS2,
    ]);
    await sh(null, 'ip', [
      'link',
      'add',
      'veth12',
      'netns',
      NS1,
      'type',
      'veth',
      'peer',
      'name',
      'veth21',
      'netns',
      NS2,
    ]);

    await addBridge(NS0, 'br0');
    for (const v of ['veth01', 'veth02']) {
      await sh(NS0, 'ip', ['link', 'set', v, 'master', 'br0']);
      await sh(NS0, 'ip', ['link', 'set', v, 'up']);
    }
    await sh(NS0, 'ip', ['addr', 'add', `${CIP}/24`, 'dev', 'br0']);

    // The director's kernel only bridges: tapvsd's TAPs join veth10 and veth12.
    for (const [br, v] of [
      ['br-ext', 'veth10'],
      ['br-int', 'veth12'],
    ] as const) {
      await addBridge(NS1, br);
      await sh(NS1, 'ip', ['link', 'set', v, 'master', br]);
      await sh(NS1, 'ip', ['link', 'set', v, 'up']);
    }

    await sh(NS2, 'ip', ['link', 'set', 'veth21', 'up']);
    await sh(NS2, 'ip', ['addr', 'add', `${RIP}/24`, 'dev', 'veth21']);
    await sh(NS2, 'ip', ['link', 'set', 'veth20', 'up']);
    await sh(NS2, 'ip', ['addr', 'add', `${SIP}/24`, 'dev', 'veth20']);

    await this.startTapvsd();
  }

  private spawnIn(name: string, ns: string, cmd: string, args: readonly string[]): ChildProcess {
    const log = join(this.dir, `${name}.log`);
    this.logs.set(name, log);
    const fd = openSync(log, 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', fd, fd] });
      child.on('error', () => {
        /* seen through the readiness wait and the log */
      });
      if (child.pid !== undefined) this.pids.push(child.pid);
      return child;
    } finally {
      closeSync(fd);
    }
  }

  private async startTapvsd(): Promise<void> {
    const child = this.spawnIn('tapvsd', NS1, process.execPath, [
      TAPVSD_JS,
      '--link',
      `name=ext,tap=tvs-ext,bridge=br-ext,addr=${GIP}/24`,
      '--link',
      `name=int,tap=tvs-int,bridge=br-int,addr=${DIP}/24`,
      '--socket',
      this.socket,
      '--pidfile',
      join(this.dir, 'tapvsd.pid'),
    ]);
    await this.waitForLine(child, 'tapvsd', 'tapvsd: ready');
  }

  /** Waits (bounded) for `line` in the process's log; fails with the log if it exits first. */
  private async waitForLine(child: ChildProcess, name: string, line: string): Promise<void> {
    const deadline = Date.now() + READY_MS;
    while (Date.now() < deadline) {
      if (this.log(name).includes(line)) return;
      if (child.exitCode !== null || child.signalCode !== null) break;
      await sleep(POLL_MS);
    }
    throw new Error(`${name} is not ready (no "${line}"):\n${this.log(name)}`);
  }

  log(name: string): string {
    const f = this.logs.get(name);
    try {
      return f === undefined ? '' : readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  }

  async tapvsadm(args: readonly string[]): Promise<string> {
    const r = await run(process.execPath, [TAPVSADM_JS, ...args], {
      timeoutMs: CMD_MS,
      env: { ...process.env, TAPVS_SOCKET: this.socket },
    });
    if (r.code !== 0) throw new Error(`tapvsadm ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** ipvs.sh's test_nat / test_dr / test_tun set-up, with tapvsadm in place of ipvsadm. */
  async configure(c: SelftestCase): Promise<void> {
    await sh(NS0, 'ip', ['route', 'add', VIP, 'via', GIP, 'dev', 'br0']);
    await this.tapvsadm(['-A', '-t', `${VIP}:${PORT}`, '-s', 'rr']);
    const method = c.mode === 'nat' ? '-m' : c.mode === 'dr' ? '-g' : '-i';
    await this.tapvsadm(['-a', method, ...c.tunArgs, '-t', `${VIP}:${PORT}`, '-r', `${RIP}:${PORT}`]);
    if (c.mode === 'nat') {
      await sh(NS2, 'ip', ['link', 'del', 'veth20']);
      await sh(NS2, 'ip', ['route', 'add', 'default', 'via', DIP, 'dev', 'veth21']);
      return;
    }
    const sysctls = [
      'net.ipv4.conf.all.arp_ignore=1',
      'net.ipv4.conf.all.arp_announce=2',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.veth21.rp_filter=0',
    ];
    if (c.mode === 'tun') {
      this.endpoint = this.spawnIn('tunnel-endpoint', NS2, process.execPath, [
        ENDPOINT_JS,
        '--dev',
        'tun0',
        ...c.endpointArgs,
      ]);
      await this.waitForLine(this.endpoint, 'tunnel-endpoint', 'tunnel-endpoint: ready');
      sysctls.push('net.ipv4.conf.tun0.rp_filter=0');
    }
    await sh(NS2, 'sysctl', ['-qw', ...sysctls]);
    await sh(NS2, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
  }

  /**
   * The tunnel endpoint's counters (SIGUSR1 prints them), so a tunnel case proves the bytes came
   * through it: `decapsulated`, `written`, `drop-*`.
   */
  async endpointCounters(): Promise<Record<string, number>> {
    const pid = this.endpoint?.pid;
    if (pid === undefined) throw new Error('no tunnel endpoint');
    const before = this.log('tunnel-endpoint').length;
    process.kill(pid, 'SIGUSR1');
    const deadline = Date.now() + READY_MS;
    while (Date.now() < deadline) {
      const line = this.log('tunnel-endpoint')
        .slice(before)
        .split('\n')
        .find((l) => l.includes('decapsulated='));
      if (line !== undefined) {
        const out: Record<string, number> = {};
        for (const m of line.matchAll(/([a-z-]+)=(\d+)/g)) out[m[1] ?? ''] = Number(m[2]);
        return out;
      }
      await sleep(POLL_MS);
    }
    throw new Error(`the tunnel endpoint printed no counters:\n${this.log('tunnel-endpoint')}`);
  }

  /** test_service: socat listens in ns2, the client sends the file to the VIP, the bytes must match. */
  async transfer(data: Buffer): Promise<Buffer> {
    const server = spawn('ip', ['netns', 'exec', NS2, 'socat', '-u', '-4', `TCP-LISTEN:${PORT},reuseaddr`, 'STDOUT'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (server.pid !== undefined) this.pids.push(server.pid);
    const chunks: Buffer[] = [];
    server.stdout?.on('data', (b: Buffer) => chunks.push(b));
    const done = new Promise<void>((resolve) => server.once('close', () => resolve()));
    await this.waitListening();
    const client = await nsExec(NS0, 'socat', ['-u', '-4', 'STDIN', `TCP:${VIP}:${PORT}`], {
      input: data,
      timeoutMs: CLIENT_MS,
    });
    if (client.code !== 0) {
      throw new Error(
        `client socat: ${client.timedOut ? 'timed out' : `exit ${client.code}`}: ${client.stderr.trim()}`,
      );
    }
    const timer = setTimeout(() => server.kill('SIGKILL'), SERVER_MS);
    await done;
    clearTimeout(timer);
    return Buffer.concat(chunks);
  }

  private async waitListening(): Promise<void> {
    const deadline = Date.now() + READY_MS;
    while (Date.now() < deadline) {
      const r = await nsExec(NS2, 'ss', ['-Hltn', `sport = :${PORT}`], { timeoutMs: CMD_MS });
      if (r.stdout.includes(`:${PORT}`)) return;
      await sleep(POLL_MS);
    }
    throw new Error(`socat in ${NS2} is not listening on ${PORT}`);
  }

  /** What to show when a case fails: tapvsd's view and the logs. */
  async diagnostics(): Promise<string> {
    let table = '';
    try {
      table = await this.tapvsadm(['-L', '-n', '--stats']);
      table += await this.tapvsadm(['-L', '-n', '-c']);
    } catch (err) {
      table = `(tapvsadm: ${(err as Error).message})`;
    }
    const logs = [...this.logs.keys()].map((n) => `--- ${n} log:\n${this.log(n)}`).join('\n');
    return `${table}\n${logs}`;
  }

  async teardown(): Promise<void> {
    await stopPids(this.pids);
    await removeNamespaces();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops every process in our namespaces (by pid) and deletes them; quiet when absent. */
async function removeNamespaces(): Promise<void> {
  for (const ns of NAMESPACES) {
    const r = await run('ip', ['netns', 'pids', ns], { timeoutMs: CMD_MS });
    if (r.code === 0) {
      const pids = r.stdout
        .split(/\s+/)
        .filter((s) => /^\d+$/.test(s))
        .map(Number)
        .filter((p) => p !== process.pid && pidAlive(p));
      await stopPids(pids);
    }
    await run('ip', ['netns', 'del', ns], { timeoutMs: CMD_MS });
  }
}

async function selftestCase(c: SelftestCase, t: TestContext): Promise<void> {
  const topo = new Topology();
  try {
    await topo.setup();
    await topo.configure(c);
    const infile = randomBytes(DATALEN);
    let outfile: Buffer;
    try {
      outfile = await topo.transfer(infile);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await topo.diagnostics()}`);
    }
    if (!outfile.equals(infile)) {
      assert.fail(
        `received ${outfile.length} bytes (${outfile.toString('hex')}), sent ${infile.length} (${infile.toString('hex')})\n` +
          (await topo.diagnostics()),
      );
    }
    if (c.mode === 'tun') {
      // The client's SYN, data, FIN and ACKs all came through the tunnel, and nothing was malformed.
      const n = await topo.endpointCounters();
      assert.ok((n.decapsulated ?? 0) >= 3 && n.written === n.decapsulated, JSON.stringify(n));
      for (const [k, v] of Object.entries(n))
        if (k.startsWith('drop-')) assert.equal(v, 0, `${k}: ${JSON.stringify(n)}`);
      t.diagnostic(`tunnel endpoint: ${JSON.stringify(n)}`);
    }
  } finally {
    await topo.teardown();
  }
  const left = (await run('ip', ['netns', 'list'], { timeoutMs: CMD_MS })).stdout;
  assert.ok(!NAMESPACES.some((ns) => left.includes(ns)), `namespaces left behind: ${left}`);
}

const IPIP = ['--type', 'ipip'];
test('ipvs.sh with tapvsd: NAT mode (-m)', { skip }, (t) =>
  selftestCase({ mode: 'nat', tunArgs: [], endpointArgs: [] }, t),
);
test('ipvs.sh with tapvsd: DR mode (-g)', { skip }, (t) =>
  selftestCase({ mode: 'dr', tunArgs: [], endpointArgs: [] }, t),
);
test('ipvs.sh with tapvsd: tunnel mode (-i, IPIP to a user-space endpoint)', { skip }, (t) =>
  selftestCase({ mode: 'tun', tunArgs: [], endpointArgs: IPIP }, t),
);

// Beyond ipvs.sh: the other encapsulations ipvsadm offers (--tun-type, --tun-port, --tun-*csum),
// each into the same endpoint.
const GUE_PORT = '6080';
for (const [name, tunArgs, endpointArgs] of [
  ['GUE', ['--tun-type', 'gue', '--tun-port', GUE_PORT], ['--type', 'gue', '--port', GUE_PORT]],
  [
    'GUE with UDP checksum',
    ['--tun-type', 'gue', '--tun-port', GUE_PORT, '--tun-csum'],
    ['--type', 'gue', '--port', GUE_PORT],
  ],
  [
    'GUE with --tun-remcsum (tapvs completes inner checksums, so plain GUE with a UDP checksum)',
    ['--tun-type', 'gue', '--tun-port', GUE_PORT, '--tun-remcsum'],
    ['--type', 'gue', '--port', GUE_PORT],
  ],
  ['GRE', ['--tun-type', 'gre'], ['--type', 'gre']],
  ['GRE with checksum', ['--tun-type', 'gre', '--tun-csum'], ['--type', 'gre']],
] as const) {
  test(`ipvs.sh with tapvsd, beyond it: tunnel mode, ${name}`, { skip }, (t) =>
    selftestCase({ mode: 'tun', tunArgs, endpointArgs }, t),
  );
}
