/**
 * Every forwarding method end to end in the lab (`lab up --method dr|tun|fullnat`): round robin
 * over both real servers, a 50 MiB body intact, an iperf3 stream, and what proves the method:
 *
 * - dr, tun (ipip, gue, gre): a capture on tapvsd's internal TAP holds the client's packets
 *   (tunnelled for tun) and not one reply of a real server; `/peer` shows the client itself.
 * - fullnat: the real servers have no default route, `/peer` shows a local address of tapvsd
 *   (192.168.2.140/.141), and the PROXY protocol services (:8080 v1, :8082 v2) tell the real
 *   server the client's address.
 *
 * ```
 *  client --[br-ext]-- tapvsd --[br-int]-- RS1, RS2            (client's packets, every method)
 *  client <-[br-ext]-- tapvs-dir's kernel (.137) <-[br-int]-- RS (dr/tun replies, never tapvsd)
 * ```
 * Needs root (namespaces, TAPs), curl, iperf3 and tcpdump; tun also needs dist/lab/tunnel-endpoint.js.
 * Each test builds the lab and removes it in t.after, also on failure. Run under
 * `flock /tmp/tapvs-lab.lock` (npm test does).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { blobSha256 } from '../../lab/blob.js';
import {
  LAB,
  type LabMethod,
  type LabTunType,
  labDown,
  labUp,
  METHOD_LAB,
  nsExec,
  nsSpawn,
  run,
  sleep,
  stopPids,
} from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = (): boolean => process.getuid?.() === 0;
const rootSkip = !isRoot() && 'needs root (network namespaces, TAP devices)';

const CURL_MAX_S = '20';

async function get(url: string): Promise<string> {
  const r = await nsExec(LAB.ns.client, 'curl', ['-sS', '--fail', '--max-time', CURL_MAX_S, url], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `curl ${url}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return r.stdout.trim();
}

/** Four requests to the VIP alternate RS1/RS2 (rr, one connection each). */
async function assertAlternation(): Promise<void> {
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await get(`http://${LAB.vip}/`));
  const ids = answers.map((a) => a.split(' ')[0]);
  assert.deepEqual(new Set(ids), new Set([LAB.rsId.rs1, LAB.rsId.rs2]), `answers: ${answers.join(' | ')}`);
  assert.equal(ids[0], ids[2], `alternation: ${answers.join(' | ')}`);
  assert.equal(ids[1], ids[3], `alternation: ${answers.join(' | ')}`);
  assert.notEqual(ids[0], ids[1], `alternation: ${answers.join(' | ')}`);
}

async function assertBlob(): Promise<void> {
  const r = await nsExec(LAB.ns.client, 'curl', ['-sS', '--fail', '--max-time', '60', `http://${LAB.vip}/blob`], {
    timeoutMs: 90_000,
  });
  assert.equal(r.code, 0, `curl /blob: ${r.stderr.trim()}`);
  assert.equal(r.stdoutBuf.length, 52_428_800);
  assert.equal(createHash('sha256').update(r.stdoutBuf).digest('hex'), blobSha256());
}

async function assertIperf(): Promise<void> {
  const r = await nsExec(LAB.ns.client, 'iperf3', ['-c', LAB.vip, '-p', String(LAB.iperfPort), '-t', '5', '-J'], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `iperf3: ${r.stdout.slice(-500)} ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bytes?: number; bits_per_second?: number } } };
  const got = j.end?.sum_received;
  assert.ok((got?.bytes ?? 0) > 1_000_000, `iperf3 moved ${got?.bytes ?? 0} bytes`);
}

/**
 * Captures tapvsd's internal TAP (inside tapvs-dir) while `during` runs; returns tcpdump's text
 * lines (`-nn`, ARP left out). Started and stopped by pid.
 */
async function captureInt(t: TestContext, during: () => Promise<void>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-methods-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pcap = join(dir, 'int.pcap');
  const log = join(dir, 'tcpdump.log');
  const child = nsSpawn(
    LAB.ns.dir,
    'tcpdump',
    ['-nn', '-U', '--immediate-mode', '-i', LAB.tap.int, '-w', pcap, 'not', 'arp'],
    {
      logFile: log,
    },
  );
  const pid = child.pid ?? -1;
  t.after(() => stopPids([pid]));
  for (let i = 0; i < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('listening on')); i++)
    await sleep(50);
  await during();
  await sleep(300);
  await stopPids([pid]);
  const r = await run('tcpdump', ['-nn', '-r', pcap], { timeoutMs: 30_000 });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** dr/tun: the client's packets pass tapvsd's internal side, the real servers' replies never do. */
async function assertRepliesBypass(t: TestContext, method: LabMethod, tunType: LabTunType | null): Promise<void> {
  const lines = await captureInt(t, async () => {
    await get(`http://${LAB.vip}/bytes?n=2000000`);
  });
  const vipPort = `${LAB.vip}.${LAB.httpPort}`;
  const toVip = lines.filter((l) => l.includes(`> ${vipPort}:`));
  const fromVip = lines.filter((l) => l.includes(`${vipPort} > `));
  if (method === 'dr') {
    assert.ok(toVip.length > 0, `no client packet to ${vipPort} on ${LAB.tap.int}:\n${lines.slice(0, 20).join('\n')}`);
  } else {
    // The outer header: DIP → a real server (IPIP and GRE show the inner packet too; GUE is UDP).
    const outer = new RegExp(
      `^\\S+ IP ${LAB.dip.replace(/\./g, '\\.')}(\\.\\d+)? > (${LAB.rs1.replace(/\./g, '\\.')}|${LAB.rs2.replace(/\./g, '\\.')})`,
    );
    const tunnelled = lines.filter((l) => outer.test(l));
    assert.ok(tunnelled.length > 0, `no ${tunType} packet from the DIP:\n${lines.slice(0, 20).join('\n')}`);
    if (tunType === 'gue')
      assert.ok(
        tunnelled.some((l) => l.includes(`.${METHOD_LAB.guePort}: UDP`)),
        `GUE to port ${METHOD_LAB.guePort}`,
      );
  }
  assert.equal(fromVip.length, 0, `replies passed tapvsd:\n${fromVip.slice(0, 10).join('\n')}`);
}

const methodsWithTun: { method: LabMethod; tunType: LabTunType | null }[] = [
  { method: 'dr', tunType: null },
  { method: 'tun', tunType: 'ipip' },
  { method: 'tun', tunType: 'gue' },
  { method: 'tun', tunType: 'gre' },
];

for (const { method, tunType } of methodsWithTun) {
  const name = tunType === null ? method : `${method} (${tunType})`;
  const skip =
    rootSkip ||
    (method === 'tun' &&
      !existsSync(LAB.tunnelEndpointJs) &&
      `${LAB.tunnelEndpointJs} is not built (lab/tunnel-endpoint.ts)`);
  test(`method ${name}: RS1/RS2 answer the client directly, the replies bypass tapvsd`, { skip }, async (t) => {
    t.after(() => labDown());
    await labUp({ method, ...(tunType !== null ? { tunType } : {}) });

    await t.test(
      "the real servers hold the VIP on lo and route via tapvs-dir's kernel, which does not own the VIP",
      async () => {
        for (const key of ['rs1', 'rs2'] as const) {
          const a = await run('ip', ['-n', LAB.ns[key], '-4', '-o', 'addr', 'show', 'dev', 'lo'], { check: true });
          assert.match(a.stdout, new RegExp(`${LAB.vip.replace(/\./g, '\\.')}/32`));
          const r = await run('ip', ['-n', LAB.ns[key], 'route', 'show', 'default'], { check: true });
          assert.match(r.stdout, new RegExp(`via ${LAB.check.replace(/\./g, '\\.')}`));
        }
        const d = await run('ip', ['-n', LAB.ns.dir, '-4', '-o', 'addr'], { check: true });
        assert.doesNotMatch(d.stdout, new RegExp(`${LAB.vip.replace(/\./g, '\\.')}/`));
        assert.match(d.stdout, new RegExp(`${METHOD_LAB.routerExt.replace(/\./g, '\\.')}/`));
      },
    );
    await t.test('four requests alternate RS1/RS2', assertAlternation);
    await t.test('/peer: the real server sees the client itself', async () => {
      assert.match(await get(`http://${LAB.vip}/peer`), new RegExp(`peer=${LAB.client.replace(/\./g, '\\.')}:\\d+$`));
    });
    await t.test('the 50 MiB blob arrives intact', assertBlob);
    await t.test('an iperf3 stream (5 s) through VIP:5201', assertIperf);
    await t.test("tapvsd's internal TAP carries the client's packets and no reply", (tt) =>
      assertRepliesBypass(tt, method, tunType),
    );
  });
}

test('method fullnat: replies come back to a local address, PROXY protocol tells the client', {
  skip: rootSkip,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ method: 'fullnat' });

  await t.test('the real servers have no default route', async () => {
    for (const key of ['rs1', 'rs2'] as const) {
      const r = await run('ip', ['-n', LAB.ns[key], 'route', 'show', 'default'], { check: true });
      assert.equal(r.stdout.trim(), '', `${key}: ${r.stdout}`);
    }
  });
  await t.test('four requests alternate RS1/RS2', assertAlternation);
  await t.test('/peer: the real server sees a local address of tapvsd', async () => {
    const peer = await get(`http://${LAB.vip}/peer`);
    const m = /peer=(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(peer);
    assert.ok(m !== null, peer);
    assert.ok(METHOD_LAB.laddrs.includes(m[1] ?? ''), `peer ${peer} is not one of ${METHOD_LAB.laddrs.join(', ')}`);
  });
  await t.test("PROXY protocol v1 (:8080) and v2 (:8082) carry the client's address", async () => {
    for (const [port, v] of [
      [METHOD_LAB.proxyV1Port, 'v1'],
      [METHOD_LAB.proxyV2Port, 'v2'],
    ] as const) {
      const answer = await get(`http://${LAB.vip}:${port}/`);
      assert.match(
        answer,
        new RegExp(`^RS[12] \\S+ client=${LAB.client.replace(/\./g, '\\.')}:\\d+ via=proxy-${v}$`),
        `:${port}`,
      );
    }
  });
  await t.test('the 50 MiB blob arrives intact', assertBlob);
  await t.test('an iperf3 stream (5 s) through VIP:5201', assertIperf);
});
