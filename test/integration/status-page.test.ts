/**
 * The status page of `tapvsd --http`, loaded in a real headless browser (Debian's chromium) in
 * the lab: it shows the service, each real server with its weight and health, connection counts
 * after traffic, and plotted rate series; when a real server's health check fails, the page shows
 * it down without being reloaded.
 *
 * ```
 *  tapvs-client --curl--> VIP 192.168.222.131:80 ==( tapvsd --keepalived --http 127.0.0.1:9181 )==> RS1 (w 3), RS2 (w 1)
 *                                  chromium --headless, inside tapvs-dir --> http://127.0.0.1:9181/
 * ```
 * The HTTP server listens on the loopback of the namespace tapvs-dir, so chromium runs there too
 * (ip netns exec); nothing touches the root namespace. Chromium runs in its own process group and
 * is killed by that group's id at its timeout; labDown() then stops anything left in the lab's
 * namespaces. Needs root and chromium; run under `flock /tmp/tapvs-lab.lock`.
 * TAPVS_STATUS_SCREENSHOT=FILE also saves a screenshot of the page (docs/img/status-page.png).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB, labDown, labUp, nsExec, rsFail, sleep } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = process.getuid?.() === 0;
const hasChromium = spawnSync('chromium', ['--version'], { timeout: 30_000 }).status === 0;
const skip =
  (!isRoot && 'needs root (network namespaces, TAP devices)') ||
  (!hasChromium && 'needs chromium (Debian package chromium; scripts/setup.sh installs it)');

const VIP = LAB.vip;
const PORT = 9181;
const URL = `http://127.0.0.1:${PORT}/`;
const RS1 = `${LAB.rs1}:80`;
const RS2 = `${LAB.rs2}:80`;

function realServer(addr: string, weight: number): string {
  return `    real_server ${addr} 80 {
        weight ${weight}
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }`;
}

function keepalivedConf(dir: string): string {
  const file = join(dir, 'keepalived.conf');
  writeFileSync(
    file,
    `virtual_server ${VIP} 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
${realServer(LAB.rs1, 3)}
${realServer(LAB.rs2, 1)}
}
`,
  );
  return file;
}

interface BrowserResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs chromium headless inside tapvs-dir with `args` and `URL` last. Its own process group, so
 * a timeout kills chromium and its helpers by that group's id (never by name).
 */
function chromium(profile: string, args: readonly string[], timeoutMs = 60_000): Promise<BrowserResult> {
  const argv = [
    'netns',
    'exec',
    LAB.ns.dir,
    'chromium',
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-extensions',
    '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`,
    ...args,
    URL,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ip', argv, { detached: true, env: { ...process.env, HOME: profile } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* the group is gone */
      }
    };
    const timer = setTimeout(killGroup, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup(); // helpers that outlived the browser process
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** The rendered DOM after the page ran for `budgetMs` of virtual time (fetches pause that clock). */
async function renderedDom(profile: string, budgetMs = 3000): Promise<string> {
  const r = await chromium(profile, [`--virtual-time-budget=${budgetMs}`, '--dump-dom']);
  assert.equal(r.code, 0, `chromium failed: ${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /<\/html>\s*$/, 'a whole document was dumped');
  return r.stdout;
}

/** The text of the cell of class `cls` in the row of real server `rs`. */
function cell(dom: string, rs: string, cls: string): string {
  const row = new RegExp(`<tr class="rs[^"]*" data-rs="${rs.replace(/\./g, '\\.')}">([\\s\\S]*?)</tr>`).exec(dom);
  assert.ok(row !== null, `no row for real server ${rs} in the page`);
  const c = new RegExp(`<td class="${cls}[^"]*">([^<]*)</td>`).exec(row[1]);
  assert.ok(c !== null, `no ${cls} cell for ${rs}`);
  return c[1];
}

/** The polylines of the page: series name, the point count it claims and its points. */
function polylines(dom: string): Array<{ series: string; claimed: number; points: Array<[number, number]> }> {
  const out = [];
  for (const m of dom.matchAll(/<polyline ([^>]*)>/g)) {
    const attr = (n: string): string => new RegExp(`${n}="([^"]*)"`).exec(m[1])?.[1] ?? '';
    const points = attr('points')
      .split(' ')
      .filter((p) => p !== '')
      .map((p) => p.split(',').map(Number) as [number, number]);
    out.push({ series: attr('data-series'), claimed: Number(attr('data-points')), points });
  }
  return out;
}

test('status page: chromium shows the service, real servers with weight and health, connections and plotted rates', {
  skip,
  timeout: 240_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-status-page-'));
  t.after(async () => {
    await labDown();
    rmSync(dir, { recursive: true, force: true });
  });
  await labUp({ keepalived: keepalivedConf(dir), tapvsdArgs: ['--http', `127.0.0.1:${PORT}`] });

  // Traffic spread over a few 1 s samples, so the rate series has points above zero.
  const c = await nsExec(
    LAB.ns.client,
    'sh',
    ['-c', `for i in $(seq 40); do curl -sS --fail --max-time 3 http://${VIP}/ >/dev/null || exit 1; sleep 0.1; done`],
    { timeoutMs: 90_000 },
  );
  assert.equal(c.code, 0, c.stderr);
  await sleep(2300); // the 2 s counters of tapvsadm --stats, which the page's "Conns" column shows

  const dom = await renderedDom(join(dir, 'profile'));
  assert.match(dom, /<body[^>]* data-updates="[1-9]\d*"/, 'the page fetched /api/status and rendered it');
  assert.match(dom, /<span id="state" class="live">/);
  assert.match(dom, /data-service="TCP 192\.168\.222\.131:80"/);
  assert.match(dom, /<span class="name">TCP 192\.168\.222\.131:80<\/span>/);
  assert.equal(cell(dom, RS1, 'weight'), '3');
  assert.equal(cell(dom, RS2, 'weight'), '1');
  assert.equal(cell(dom, RS1, 'health'), 'up');
  assert.equal(cell(dom, RS2, 'health'), 'up');
  const conns = [RS1, RS2].map((rs) => Number(cell(dom, rs, 'conns')));
  assert.equal(conns[0] + conns[1], 40, `40 connections made, the page shows ${conns}`);
  assert.ok(conns[0] > conns[1] && conns[1] > 0, `wrr 3:1 sends most to RS1: ${conns}`);
  // Closed connections wait in TIME_WAIT (inactive) for minutes: the gauges count them.
  const gauges = [RS1, RS2].map((rs) => Number(cell(dom, rs, 'active')) + Number(cell(dom, rs, 'inactive')));
  assert.ok(gauges[0] > 0 && gauges[1] > 0, `active + inactive per real server: ${gauges}`);

  const lines = polylines(dom);
  for (const s of ['cps', 'inpps', 'outpps', 'inbps', 'outbps'])
    assert.ok(
      lines.some((l) => l.series === s),
      `a ${s} line is plotted`,
    );
  for (const l of lines) assert.equal(l.points.length, l.claimed, `${l.series}: data-points matches the points`);
  const cps = lines.find((l) => l.series === 'cps');
  assert.ok(cps !== undefined && cps.points.length >= 3, `the connections/s line has points: ${cps?.points.length}`);
  const ys = new Set(cps.points.map(([, y]) => y));
  assert.ok(ys.size >= 2, 'the connections/s line is not flat: the traffic shows');
  assert.ok(
    cps.points.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
    'every point is a number',
  );

  // Health from the checks: RS2 answers 503, keepalived's way takes it out; the page says so.
  await rsFail('rs2');
  for (let i = 0; i < 20; i++) {
    const j = await nsExec(LAB.ns.dir, 'curl', ['-sS', '--fail', `${URL}api/status`], { timeoutMs: 10_000 });
    if (
      j.code === 0 &&
      (JSON.parse(j.stdout) as { services: Array<{ dests: Array<{ health: string }> }> }).services[0].dests.some(
        (d) => d.health === 'down',
      )
    )
      break;
    await sleep(500);
  }
  const after = await renderedDom(join(dir, 'profile'));
  assert.match(cell(after, RS2, 'health'), /^down/);
  assert.equal(cell(after, RS1, 'health'), 'up');

  const shot = process.env.TAPVS_STATUS_SCREENSHOT;
  if (shot !== undefined && shot !== '') {
    const r = await chromium(join(dir, 'profile'), [
      '--hide-scrollbars',
      '--window-size=1280,900',
      '--virtual-time-budget=3000',
      `--screenshot=${shot}`,
    ]);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
  }
});
