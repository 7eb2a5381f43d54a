/**
 * Two directors in the lab (`lab up --ha`): VRRP moves the VIP and the DIP, connection sync keeps
 * established connections across a failover, and a real keepalived is a valid VRRP peer.
 *
 * ```
 *  client --[br-ext]-- tapvsd 1 (.132, prio 200) / tapvsd 2 (.133, prio 180) --[br-int]-- RS1, RS2
 *                      VIP .131 and DIP .136 held by the VRRP master; sync over br-int
 * ```
 * Needs root (namespaces, TAPs), curl, iperf3, keepalived and tshark. Each test builds the lab and
 * removes it in t.after (labDown also removes tapvs-dir2 and tapvs-ka), also on failure. Run under
 * `flock /tmp/tapvs-lab.lock` (npm test does).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { blobSha256 } from '../../lab/blob.js';
import {
  directorKill,
  directorStart,
  directorStatus,
  directorStop,
  haUp,
  peerDown,
  peerState,
  peerUp,
  whichMaster,
} from '../../lab/ha-lab.js';
import { LAB, labDown, nsExec, nsSpawn, run } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = process.getuid?.() === 0;
const missing = ['keepalived', 'iperf3', 'tshark'].filter((t) => spawnSync('which', [t]).status !== 0);
const skip = !isRoot
  ? 'needs root (network namespaces, TAP devices)'
  : missing.length > 0
    ? `needs ${missing.join(', ')}`
    : false;
const BLOB = '/tmp/tapvs-failover-blob';

async function withLab(t: TestContext, opts: Parameters<typeof haUp>[0] = {}): Promise<void> {
  t.after(async () => {
    await labDown();
  });
  await haUp(opts);
  await waitMaster(1, 8000);
}

async function waitMaster(n: 1 | 2 | null, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const m = await whichMaster();
    if (m === n) return Date.now() - start;
    if (Date.now() - start > timeoutMs) assert.fail(`director ${n} not master after ${timeoutMs} ms (master: ${m})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function curlVip(path = '/'): Promise<{ code: number; body: string }> {
  const r = await nsExec(LAB.ns.client, 'curl', ['-s', '-m', '3', `http://${LAB.vip}${path}`], { timeoutMs: 5000 });
  return { code: r.code ?? -1, body: r.stdout };
}

test('the higher priority is master; a SIGKILLed master loses no download: sha256 intact, backup takes over', {
  skip,
  timeout: 120_000,
}, async (t) => {
  await withLab(t);
  const s2 = await directorStatus(2);
  assert.deepEqual(
    s2.vrrp.map((v) => [v.name, v.state, v.masterAddress]),
    [
      ['VI_EXT', 'BACKUP', '192.168.222.132'],
      ['VI_INT', 'BACKUP', '192.168.2.132'],
    ],
  );
  assert.match((await curlVip()).body, /^RS[12] /);
  rmSync(BLOB, { force: true });
  // 50 MB at 5 MB/s: about 10 s; the master dies 3 s in.
  const dl = nsExec(
    LAB.ns.client,
    'curl',
    [
      '-s',
      '-m',
      '60',
      '--limit-rate',
      '5M',
      '-o',
      BLOB,
      '-w',
      '%{http_code} %{size_download}',
      `http://${LAB.vip}/blob`,
    ],
    {
      timeoutMs: 70_000,
    },
  );
  await new Promise((r) => setTimeout(r, 3000));
  await directorKill(1);
  const took = await waitMaster(2, 6000);
  assert.ok(took < 4500, `backup master ${took} ms after the kill`);
  const r = await dl;
  assert.equal(r.code, 0, `curl: ${r.stdout} ${r.stderr}`);
  assert.equal(r.stdout, '200 52428800');
  assert.equal(createHash('sha256').update(readFileSync(BLOB)).digest('hex'), blobSha256());
  rmSync(BLOB, { force: true });
  // New connections on the backup, to both real servers.
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await curlVip()).body.split(' ')[0]);
  assert.deepEqual([...bodies].sort(), ['RS1', 'RS2']);
  // The old master comes back and, with preempt, takes over again.
  await directorStart(1);
  await waitMaster(1, 8000);
  assert.match((await curlVip()).body, /^RS[12] /);
});

/*
 * A TCP sender that lost its path backs off (RTO 0.2, 0.4, 0.8, 1.6, 3.2 s): after a takeover at
 * about 3.3 s its next retransmission comes at about 6.2 s after the kill, whatever the director
 * does. The stall is therefore bounded by the takeover plus that backoff step, and the stream
 * must run again on the backup.
 */
test('an iperf3 stream crosses the failover: it stalls only until TCP retransmits, then runs on the backup', {
  skip,
  timeout: 90_000,
}, async (t) => {
  await withLab(t);
  const stream = nsExec(LAB.ns.client, 'iperf3', ['-c', LAB.vip, '-t', '15', '-i', '0.5', '-J', '-b', '200M'], {
    timeoutMs: 40_000,
  });
  await new Promise((r) => setTimeout(r, 3000));
  await directorKill(1);
  const r = await stream;
  const out = r.stdout;
  assert.equal(r.code, 0, `iperf3 failed: ${out.slice(-500)} ${r.stderr}`);
  const intervals = (JSON.parse(out) as { intervals: Array<{ sum: { bytes: number; seconds: number } }> }).intervals;
  let zeroRun = 0,
    worst = 0;
  for (const i of intervals) {
    zeroRun = i.sum.bytes === 0 ? zeroRun + i.sum.seconds : 0;
    worst = Math.max(worst, zeroRun);
  }
  assert.ok(worst > 0 && worst <= 8, `longest stall ${worst} s`);
  let lastZero = -1;
  intervals.forEach((i, k) => {
    if (i.sum.bytes === 0) lastZero = k;
  });
  const after = intervals.slice(lastZero + 1);
  assert.ok(
    after.length >= 4 && after.every((i) => i.sum.bytes > 0),
    'the stream runs again on the backup, to the end',
  );
});

test('nopreempt: the old master comes back as backup; SIGTERM hands over at once (priority 0)', {
  skip,
  timeout: 90_000,
}, async (t) => {
  await withLab(t, { nopreempt: true });
  await directorKill(1);
  await waitMaster(2, 6000);
  await directorStart(1);
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(await whichMaster(), 2, 'director 1 does not preempt');
  const stoppedAt = Date.now();
  await directorStop(2);
  const took = await waitMaster(1, 3000);
  assert.ok(Date.now() - stoppedAt < 2000, `handover after a graceful stop took ${took} ms`);
});

test('a real keepalived is a VRRP peer in both roles', { skip, timeout: 90_000 }, async (t) => {
  await withLab(t);
  await directorStop(2);
  // Higher priority: keepalived preempts, tapvsd's VI_EXT (and with it VI_INT) goes backup.
  await peerUp({ priority: 250 });
  await waitFor(() => peerState() === 'MASTER', 8000, 'keepalived master');
  await waitMaster(null, 3000);
  const s = await directorStatus(1);
  assert.deepEqual(
    s.vrrp.map((v) => v.state),
    ['BACKUP', 'BACKUP'],
  );
  assert.equal(s.vrrp[0].masterAddress, '192.168.222.134');
  // The VIP answers from keepalived's namespace now: ARP resolves to its MAC.
  await nsExec(LAB.ns.client, 'ping', ['-c', '1', '-W', '1', LAB.vip], { timeoutMs: 3000 });
  const neigh = await nsExec(LAB.ns.client, 'ip', ['neigh', 'show', LAB.vip], { timeoutMs: 3000 });
  assert.match(neigh.stdout, /02:00:c0:a8:de:86/);
  await peerDown(); // keepalived resigns: tapvsd takes over
  await waitMaster(1, 3000);
  // Lower priority: keepalived stays backup beside tapvsd's master.
  await peerUp({ priority: 100 });
  await waitFor(() => peerState() === 'BACKUP', 8000, 'keepalived backup');
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(peerState(), 'BACKUP');
  assert.equal(await whichMaster(), 1);
  assert.match((await curlVip()).body, /^RS[12] /);
});

test('VRRPv3: a real keepalived and tapvsd elect each other both ways', { skip, timeout: 90_000 }, async (t) => {
  await withLab(t, { vrrpVersion: 3 });
  await directorStop(2);
  await peerUp({ priority: 250, version: 3 });
  await waitFor(() => peerState() === 'MASTER', 8000, 'keepalived master');
  await waitMaster(null, 3000);
  const s = await directorStatus(1);
  assert.deepEqual(
    s.vrrp.map((v) => v.state),
    ['BACKUP', 'BACKUP'],
  );
  assert.equal(s.vrrp[0].masterAddress, '192.168.222.134', "keepalived's v3 adverts pass our checks");
  await peerDown();
  await waitMaster(1, 3000);
  await peerUp({ priority: 100, version: 3 });
  await waitFor(() => peerState() === 'BACKUP', 8000, 'keepalived backup');
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(peerState(), 'BACKUP', "our v3 adverts pass keepalived's checks");
  assert.equal(await whichMaster(), 1);
});

test('tshark decodes the VRRP adverts and the version 1 sync messages', {
  skip,
  timeout: 60_000,
}, async (t) => {
  await withLab(t);
  const pcap = '/tmp/tapvs-ha.pcap';
  const cap = nsSpawn(LAB.ns.dir, 'tcpdump', ['-i', LAB.bridge.int, '-w', pcap, '-U', 'ip proto 112 or udp port 8848']);
  t.after(() => {
    if (cap.exitCode === null) cap.kill('SIGKILL');
    rmSync(pcap, { force: true });
  });
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < 10; i++) await curlVip();
  await new Promise((r) => setTimeout(r, 3000)); // the open sync message leaves after 2 s
  cap.kill('SIGTERM');
  await new Promise((r) => cap.once('exit', r));
  const vrrp = await run(
    'tshark',
    ['-r', pcap, '-Y', 'vrrp', '-T', 'fields', '-e', 'vrrp.virt_rtr_id', '-e', 'vrrp.prio', '-e', 'vrrp.ip_addr'],
    {
      timeoutMs: 20_000,
    },
  );
  const lines = vrrp.stdout.trim().split('\n');
  assert.ok(lines.length >= 2, `VRRP adverts decoded: ${vrrp.stdout} ${vrrp.stderr}`);
  assert.deepEqual(lines[0].split('\t'), ['52', '200', '192.168.2.136']);
  const sync = await run(
    'tshark',
    ['-r', pcap, '-Y', 'udp.dstport == 8848', '-T', 'fields', '-e', 'ip.dst', '-e', 'udp.length'],
    {
      timeoutMs: 20_000,
    },
  );
  assert.match(sync.stdout, /^224\.0\.0\.81\t\d+/m, 'sync messages captured');
  // Wireshark's ipvs dissector decodes version 1: the header and each IPv4 entry.
  const decoded = await run('tshark', ['-r', pcap, '-Y', 'udp.dstport == 8848', '-V'], { timeoutMs: 20_000 });
  assert.match(decoded.stdout, /IP Virtual Services Sync Daemon/);
  assert.match(decoded.stdout, /Synchronization ID: 51/);
  assert.match(decoded.stdout, /Version: 1/);
  assert.match(decoded.stdout, /Virtual Address: 192\.168\.222\.131/);
});

async function waitFor(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
