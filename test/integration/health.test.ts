/**
 * Health checks and keepalived.conf in the lab, end to end: tapvsd --keepalived FILE checks the
 * real servers from the director namespace's check address and drives its own IPVS table as
 * keepalived drives the kernel's. Each test writes its keepalived.conf, builds the lab with it,
 * breaks a real server with the lab's `rs` controls and watches `tapvsadm -L -n`, requests
 * through the VIP and `tapvsd status`. Times in the files are short (delay_loop 1 s) so the
 * detection bound of the issue, delay_loop + (retry+1) x connect_timeout + retry x
 * delay_before_retry, stays a few seconds. Needs root; the lab's names are shared: the runner
 * runs integration files one at a time (wrap by hand in `flock /tmp/tapvs-lab.lock`).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobSha256 } from '../../lab/blob.js';
import {
  LAB,
  labDown,
  labUp,
  nsExec,
  nsSpawn,
  rsFail,
  rsHeal,
  rsLink,
  rsStart,
  rsStop,
  run,
  tapvsadm,
} from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root (network namespaces, TAP devices)';
const VIP = LAB.vip;
const TAPVSD = join(process.cwd(), 'dist', 'src', 'cli', 'tapvsd.js');

function confFile(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-ka-')), 'keepalived.conf');
  writeFileSync(f, text);
  return f;
}

/** A virtual_server for the textbook VIP with `body` inside and one real_server block per `rs`. */
function conf(vsBody: string, rs: Array<{ addr: string; port?: number; body: string }>): string {
  const servers = rs.map((r) => `    real_server ${r.addr} ${r.port ?? 80} {\n${r.body}\n    }`).join('\n');
  return `virtual_server ${VIP} 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n${vsBody}\n${servers}\n}\n`;
}

const HTTP_HEALTH = `        weight 1
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }`;
/** delay_loop 1 + (retry 1 + 1) x connect_timeout 1 + retry 1 x delay_before_retry 1, in ms. */
const DETECT_MS = 4_000;
/** What a test waits beyond a bound before calling it missed (the lab shares 2 cores). */
const SLACK_MS = 3_000;

interface Dest {
  addr: string;
  weight: number;
}

/** The dests of the VIP's service in `tapvsadm -L -n`, as listed. */
async function dests(): Promise<Dest[]> {
  const r = await tapvsadm(['-L', '-n']);
  assert.equal(r.code, 0, r.stderr);
  const out: Dest[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s+->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+\S+\s+(\d+)/.exec(line);
    if (m !== null) out.push({ addr: m[1] ?? '', weight: Number(m[2]) });
  }
  return out;
}

/** Polls `cond` every 250 ms until it holds or `ms` pass; returns how long it took, or -1. */
async function waitFor(ms: number, cond: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 <= ms) {
    if (await cond()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 250));
  }
  return -1;
}

/** One GET / through the VIP from the client: the first word of the body ("RS1"), or "" on failure. */
async function who(path = '/'): Promise<string> {
  const r = await nsExec(LAB.ns.client, 'curl', ['-sS', '--fail', '--max-time', '3', `http://${VIP}${path}`], {
    timeoutMs: 10_000,
  });
  return r.code === 0 ? (r.stdout.split(/\s/)[0] ?? '') : '';
}

async function status(): Promise<{ health?: { checkers: Array<Record<string, unknown>> } }> {
  const r = await run(process.execPath, [TAPVSD, 'status', '--json', '--socket', LAB.socket], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { health?: { checkers: Array<Record<string, unknown>> } };
}

const RS1 = `${LAB.rs1}:80`;
const RS2 = `${LAB.rs2}:80`;

test('HTTP_GET: RS1 stopped during a request loop leaves the table within the detection bound; every request then succeeds on RS2; RS1 started again rejoins', {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  await labUp({
    keepalived: confFile(
      conf('    delay_loop 1', [
        { addr: LAB.rs1, body: HTTP_HEALTH },
        { addr: LAB.rs2, body: HTTP_HEALTH },
      ]),
    ),
  });
  const healthy = await waitFor(10_000, async () => (await dests()).length === 2);
  assert.ok(healthy >= 0, 'both real servers in the table at start');
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(await who());
  assert.deepEqual([...seen].sort(), ['RS1', 'RS2']);

  await rsStop('rs1');
  const stoppedAt = Date.now();
  const gone = await waitFor(DETECT_MS + SLACK_MS, async () => !(await dests()).some((d) => d.addr === RS1));
  assert.ok(gone >= 0, `RS1 still listed ${DETECT_MS + SLACK_MS} ms after its HTTP server stopped`);
  const elapsed = Date.now() - stoppedAt;
  // From here on every request succeeds, on RS2.
  const answers: string[] = [];
  for (let i = 0; i < 20; i++) answers.push(await who());
  assert.deepEqual(new Set(answers), new Set(['RS2']), `answers after detection (${elapsed} ms): ${answers.join(',')}`);
  const st = await status();
  const rs1Checker = st.health?.checkers.find((c) => String(c.realServer) === RS1);
  assert.ok(rs1Checker !== undefined, `tapvsd status lists RS1's checker: ${JSON.stringify(st.health)}`);
  assert.equal(rs1Checker.state, 'down');
  assert.match(String(rs1Checker.lastReason), /HTTP_GET/);

  await rsStart('rs1');
  const back = await waitFor(DETECT_MS + SLACK_MS, async () => (await dests()).some((d) => d.addr === RS1));
  assert.ok(back >= 0, 'RS1 rejoins once its HTTP server answers again');
  const again = new Set<string>();
  for (let i = 0; i < 4; i++) again.add(await who());
  assert.deepEqual([...again].sort(), ['RS1', 'RS2']);
});

test('inhibit_on_failure: a failing server stays listed at weight 0 and gets its weight back when healed', {
  skip,
  timeout: 90_000,
}, async (t) => {
  t.after(() => labDown());
  const rs = (addr: string) => ({ addr, body: `        inhibit_on_failure\n${HTTP_HEALTH}` });
  await labUp({ keepalived: confFile(conf('    delay_loop 1', [rs(LAB.rs1), rs(LAB.rs2)])) });
  assert.ok((await waitFor(10_000, async () => (await dests()).length === 2)) >= 0);
  await rsFail('rs1');
  const zero = await waitFor(DETECT_MS + SLACK_MS, async () =>
    (await dests()).some((d) => d.addr === RS1 && d.weight === 0),
  );
  assert.ok(zero >= 0, `RS1 at weight 0: ${JSON.stringify(await dests())}`);
  for (let i = 0; i < 6; i++) assert.equal(await who(), 'RS2');
  await rsHeal('rs1');
  const one = await waitFor(DETECT_MS + SLACK_MS, async () =>
    (await dests()).some((d) => d.addr === RS1 && d.weight === 1),
  );
  assert.ok(one >= 0, 'RS1 back at weight 1');
});

test('sorry_server: with both real servers failing everything goes to the sorry server; it leaves when one heals', {
  skip,
  timeout: 90_000,
}, async (t) => {
  let sorry: ReturnType<typeof nsSpawn> | null = null;
  t.after(async () => {
    if (sorry?.pid !== undefined) {
      try {
        process.kill(sorry.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await labDown();
  });
  await labUp({
    keepalived: confFile(
      conf(`    delay_loop 1\n    sorry_server ${LAB.rs2} 8090`, [
        { addr: LAB.rs1, body: HTTP_HEALTH },
        { addr: LAB.rs2, body: HTTP_HEALTH },
      ]),
    ),
  });
  assert.ok((await waitFor(10_000, async () => (await dests()).length === 2)) >= 0);
  // The sorry server: a tiny HTTP server on RS2's port 8090 (8080 is rs-server's PROXY port) answering "SORRY" (killed by pid after).
  sorry = nsSpawn(LAB.ns.rs2, process.execPath, [
    '-e',
    "require('http').createServer((q,s)=>s.end('SORRY\\n')).listen(8090)",
  ]);
  const listening = await waitFor(5_000, async () => {
    const r = await nsExec(LAB.ns.rs2, 'curl', ['-sS', `http://${LAB.rs2}:8090/`], { timeoutMs: 5_000 });
    return r.stdout === 'SORRY\n';
  });
  assert.ok(listening >= 0, 'the sorry server answers');
  await rsFail('rs1');
  await rsFail('rs2');
  const sorryIn = await waitFor(DETECT_MS + SLACK_MS, async () => {
    const d = await dests();
    return d.length === 1 && d[0]?.addr === `${LAB.rs2}:8090`;
  });
  assert.ok(sorryIn >= 0, `only the sorry server listed: ${JSON.stringify(await dests())}`);
  for (let i = 0; i < 4; i++) assert.equal(await who(), 'SORRY');
  await rsHeal('rs1');
  const sorryOut = await waitFor(DETECT_MS + SLACK_MS, async () => {
    const d = await dests();
    return d.length === 1 && d[0]?.addr === RS1;
  });
  assert.ok(sorryOut >= 0, `RS1 back, sorry server gone: ${JSON.stringify(await dests())}`);
  assert.equal(await who(), 'RS1');
});

test('MISC_CHECK misc_dynamic: the exit status minus 2 becomes the weight listed by tapvsadm -L', {
  skip,
  timeout: 90_000,
}, async (t) => {
  t.after(() => labDown());
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-misc-'));
  const status = join(dir, 'status');
  const script = join(dir, 'check.sh');
  writeFileSync(status, '5\n');
  writeFileSync(script, `#!/bin/sh\nexit $(cat ${status})\n`, { mode: 0o755 });
  const misc = `        weight 1
        MISC_CHECK {
            misc_path "${script}"
            misc_timeout 2
            misc_dynamic
        }`;
  await labUp({
    keepalived: confFile(
      conf('    delay_loop 1', [
        { addr: LAB.rs1, body: misc },
        { addr: LAB.rs2, body: '        weight 1' },
      ]),
    ),
  });
  const w3 = await waitFor(10_000, async () => (await dests()).some((d) => d.addr === RS1 && d.weight === 3));
  assert.ok(w3 >= 0, `exit 5 -> weight 3: ${JSON.stringify(await dests())}`);
  writeFileSync(status, '9\n');
  const w7 = await waitFor(5_000, async () => (await dests()).some((d) => d.addr === RS1 && d.weight === 7));
  assert.ok(w7 >= 0, `exit 9 -> weight 7: ${JSON.stringify(await dests())}`);
  writeFileSync(status, '1\n');
  const gone = await waitFor(5_000, async () => !(await dests()).some((d) => d.addr === RS1));
  assert.ok(gone >= 0, 'exit 1 -> failed (MISC_CHECK retries 0 by default)');
});

test('PING_CHECK: a real server whose link goes down leaves the table, and comes back with its link', {
  skip,
  timeout: 90_000,
}, async (t) => {
  t.after(async () => {
    await rsLink('rs1', 'up').catch(() => undefined);
    await labDown();
  });
  const ping = `        weight 1
        PING_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }`;
  await labUp({
    keepalived: confFile(
      conf('    delay_loop 1', [
        { addr: LAB.rs1, body: ping },
        { addr: LAB.rs2, body: ping },
      ]),
    ),
  });
  assert.ok((await waitFor(10_000, async () => (await dests()).length === 2)) >= 0);
  await rsLink('rs1', 'down');
  const gone = await waitFor(DETECT_MS + SLACK_MS, async () => !(await dests()).some((d) => d.addr === RS1));
  assert.ok(gone >= 0, 'RS1 removed after its link went down');
  await rsLink('rs1', 'up');
  const back = await waitFor(DETECT_MS + SLACK_MS, async () => (await dests()).some((d) => d.addr === RS1));
  assert.ok(back >= 0, 'RS1 back with its link');
});

test('HTTP_GET status_code ranges and digest against the lab pages: the right digest passes, a wrong one fails', {
  skip,
  timeout: 90_000,
}, async (t) => {
  t.after(() => labDown());
  // rs-server answers GET / with "RS1 192.168.2.129\n" (lab/rs-server.ts): the digest is the MD5
  // of that body (keepalived's genhash); checked against the page itself once the lab is up.
  const body = `RS1 ${LAB.rs1}\n`;
  const digest = createHash('md5').update(body).digest('hex');
  const http = (d: string) => `        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200-299 304
                digest ${d}
            }
            connect_timeout 1
            retry 0
        }`;
  await labUp({
    keepalived: confFile(
      conf('    delay_loop 1', [
        { addr: LAB.rs1, body: http(digest) },
        { addr: LAB.rs2, body: http('0123456789abcdef0123456789abcdef') },
      ]),
    ),
  });
  const page = await nsExec(LAB.ns.rs1, 'curl', ['-sS', `http://${LAB.rs1}/`], { timeoutMs: 10_000 });
  assert.equal(page.stdout, body, 'the page the digest was computed for');
  const settled = await waitFor(10_000, async () => {
    const d = await dests();
    return d.length === 1 && d[0]?.addr === RS1;
  });
  assert.ok(settled >= 0, `only RS1 (right digest) listed: ${JSON.stringify(await dests())}`);
  const rs2 = (await status()).health?.checkers.find((c) => String(c.realServer) === RS2);
  assert.match(String(rs2?.lastReason), /digest/);
});

test('SIGHUP reload during a 50 MB download: the transfer stays intact; the new file takes effect; a broken file changes nothing', {
  skip,
  timeout: 120_000,
}, async (t) => {
  t.after(() => labDown());
  const file = confFile(
    conf('    delay_loop 1', [
      { addr: LAB.rs1, body: HTTP_HEALTH },
      { addr: LAB.rs2, body: HTTP_HEALTH },
    ]),
  );
  const info = await labUp({ keepalived: file });
  assert.ok((await waitFor(10_000, async () => (await dests()).length === 2)) >= 0);
  const pid = info.pids.tapvsd ?? -1;
  // A slow download (rate-limited so the reload lands in the middle), checked by sha256.
  const dl = nsExec(LAB.ns.client, 'sh', ['-c', `curl -sS --fail --limit-rate 20M http://${VIP}/blob | sha256sum`], {
    timeoutMs: 60_000,
  });
  await new Promise((r) => setTimeout(r, 800));
  // Reload: RS2's weight changes (an edit, not a delete and add).
  writeFileSync(
    file,
    conf('    delay_loop 1', [
      { addr: LAB.rs1, body: HTTP_HEALTH },
      { addr: LAB.rs2, body: HTTP_HEALTH.replace('weight 1', 'weight 3') },
    ]),
  );
  process.kill(pid, 'SIGHUP');
  const edited = await waitFor(5_000, async () => (await dests()).some((d) => d.addr === RS2 && d.weight === 3));
  assert.ok(edited >= 0, `RS2 at weight 3 after the reload: ${JSON.stringify(await dests())}`);
  // A broken file: nothing changes.
  writeFileSync(file, 'virtual_server 192.168.222.131 80 {\n    lb_algo nonsense\n');
  process.kill(pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual((await dests()).map((d) => `${d.addr}/${d.weight}`).sort(), [`${RS1}/1`, `${RS2}/3`]);
  const r = await dl;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(/\s/)[0], blobSha256(), 'the 50 MB body is intact across both reloads');
});

test('tapvsd --keepalived FILE --config-test: problems with file:line, exit 1; a good file exits 0; nothing is created', {
  skip,
  timeout: 30_000,
}, async () => {
  const good = confFile(conf('    delay_loop 1', [{ addr: LAB.rs1, body: HTTP_HEALTH }]));
  const ok = await run(process.execPath, [TAPVSD, '--keepalived', good, '--config-test'], { timeoutMs: 10_000 });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const bad = confFile(
    'virtual_server 192.168.222.131 80 {\n    lb_algo rr\n    lb_kind FNAT\n    protocol TCP\n    real_server 192.168.2.129 80 {\n    }\n}\n',
  );
  const no = await run(process.execPath, [TAPVSD, '--keepalived', bad, '--config-test'], { timeoutMs: 10_000 });
  assert.equal(no.code, 1);
  assert.match(no.stdout + no.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: error`));
});
