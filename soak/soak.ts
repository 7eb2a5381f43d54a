#!/usr/bin/env node
/**
 * `npm run soak -- --minutes N [--out FILE.md]`: a bounded soak of tapvsd in the lab, every load at
 * once for N minutes (root; it builds the lab and removes it, also on failure or Ctrl-C):
 *
 * - HTTP: GET / at 100 requests/s, half on new connections, half keep-alive (http-load.ts);
 * - iperf3: 15 s TCP streams capped at 200 Mbit/s, one after another;
 * - UDP: 30 queries/s, each from a new source port, to echo servers on both real servers;
 * - a SYN flood: 20,000 spoofed SYNs every 60 s (half-open entries that must expire);
 * - malformed frames: 300/s of random bytes, truncated and corrupted headers, stray fragments,
 *   random TCP flags, ICMP errors quoting random flows (raw-frames.py);
 * - rule changes every second through tapvsadm: weights, the scheduler (all 14 in turn), an
 *   extra service added and deleted, counters zeroed, listings (`-L -n -c` of the whole table);
 * - a real server flapping: rs2's link down for 8 s every 45 s.
 *
 * Every 10 s it samples tapvsd's status and listing. It passes when, at the end: tapvsd is the same
 * process and answers, its log has no error line, each link's frames add up to its verdicts
 * (invariants.ts), the table's count equals the listed ActiveConn+InActConn+PersistConn at every
 * sample, RSS is flat after warm-up, and every rule change was accepted. Client failures while rs2
 * is down are expected and reported, not judged: the director has no health check in this run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB, labDown, labUp, nsExec, nsSpawn, pidAlive, rsLink, sleep, stopPids, tapvsadm } from '../lab/lab-lib.js';
import { ControlClient } from '../src/control/client.js';
import type { ListResult } from '../src/control/protocol.js';
import { DROP_NAMES } from '../src/dataplane/drops.js';
import { connSumGap, type PortCounters, type RssSample, rssFlat, verdictGap } from './invariants.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const RAW_FRAMES = join(LAB.repoRoot, 'soak', 'raw-frames.py');
const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const SAMPLE_MS = 10_000;

interface Args {
  minutes: number;
  out: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { minutes: 5, out: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--minutes' && v !== undefined && Number(v) > 0 && Number(v) <= 24 * 60) {
      a.minutes = Number(v);
      i++;
    } else if (argv[i] === '--out' && v !== undefined) {
      a.out = v;
      i++;
    } else {
      console.error('usage: npm run soak -- [--minutes N (1..1440, default 5)] [--out FILE.md]');
      process.exit(2);
    }
  }
  return a;
}

interface Sample {
  atMs: number;
  rss: number;
  conns: number;
  connGap: number;
  verdictGaps: number[];
  cpuS: number;
  drops: Record<string, number>;
}

interface StatusReply {
  pid: number;
  conns: number;
  memory: { rss: number };
  tableFull: number;
  ports: Array<PortCounters & { rxFrames: number; txFrames: number }>;
}

/** tapvsd's CPU seconds so far (utime + stime from /proc, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function sample(socket: string, pid: number, t0: number): Promise<{ s: Sample; st: StatusReply }> {
  const c = await ControlClient.connect(socket);
  try {
    const st = (await c.request({ op: 'status' })) as StatusReply;
    const list = (await c.request({ op: 'list', service: null })) as ListResult;
    const drops: Record<string, number> = {};
    for (const p of st.ports)
      p.drops.forEach((n, i) => {
        if (n > 0) drops[`${p.name}.${DROP_NAMES[i]}`] = n;
      });
    return {
      st,
      s: {
        atMs: Date.now() - t0,
        rss: st.memory.rss,
        conns: st.conns,
        // The listing carries the table's count of the same instant; status is read a moment apart.
        connGap: connSumGap(list.conns, list.services),
        verdictGaps: st.ports.map(verdictGap),
        cpuS: cpuSeconds(pid),
        drops,
      },
    };
  } finally {
    c.close();
  }
}

const mib = (b: number): string => (b / 1048576).toFixed(1);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error('soak: needs root (network namespaces, TAP devices)');
    return 2;
  }
  const durationMs = args.minutes * 60_000;
  const warmupMs = Math.max(120_000, durationMs * 0.2);
  const { vip, rs1, rs2 } = LAB;
  const rulesFile = join(mkdtempSync(join(tmpdir(), 'tapvs-soak-')), 'rules');
  writeFileSync(
    rulesFile,
    [
      `-A -t ${vip}:80 -s wrr`,
      `-a -t ${vip}:80 -r ${rs1}:80 -m -w 2`,
      `-a -t ${vip}:80 -r ${rs2}:80 -m -w 1`,
      `-A -t ${vip}:5201 -s rr`,
      `-a -t ${vip}:5201 -r ${rs1}:5201 -m -w 1`,
      `-A -u ${vip}:53 -s rr`,
      `-a -u ${vip}:53 -r ${rs1}:53 -m -w 1`,
      `-a -u ${vip}:53 -r ${rs2}:53 -m -w 1`,
      '',
    ].join('\n'),
  );
  const failures: string[] = [];
  const helpers: number[] = [];
  let stopping = false;
  const onSignal = (): void => {
    stopping = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    console.log(`soak: building the lab (${args.minutes} min run, warm-up ${warmupMs / 1000} s)`);
    const lab = await labUp({ rules: rulesFile });
    const tapvsdPid = lab.pids.tapvsd;
    if (tapvsdPid === undefined) throw new Error('the lab started no tapvsd');
    for (const key of ['rs1', 'rs2'] as const) {
      const child = nsSpawn(LAB.ns[key], process.execPath, [join(HERE, 'udp-load.js'), 'echo', LAB.rsId[key], '53']);
      if (child.pid !== undefined) helpers.push(child.pid);
    }
    await sleep(500);
    const t0 = Date.now();
    const deadline = t0 + durationMs;
    const remainingS = (): number => Math.max(0, (deadline - Date.now()) / 1000);
    const running = (): boolean => !stopping && Date.now() < deadline;

    const http = nsExec(
      LAB.ns.client,
      process.execPath,
      [join(HERE, 'http-load.js'), vip, '100', String(durationMs / 1000)],
      { timeoutMs: durationMs + 60_000 },
    );
    const udp = nsExec(
      LAB.ns.client,
      process.execPath,
      [join(HERE, 'udp-load.js'), 'client', vip, '53', '30', String(durationMs / 1000)],
      { timeoutMs: durationMs + 60_000 },
    );
    const junk = nsExec(
      LAB.ns.client,
      'python3',
      [RAW_FRAMES, 'junk', LAB.veth.client.name, vip, '300', String(durationMs / 1000)],
      { timeoutMs: durationMs + 60_000 },
    );

    const iperf = { runs: 0, failed: 0, gbits: [] as number[] };
    const iperfLoop = (async () => {
      while (running() && remainingS() > 20) {
        const r = await nsExec(
          LAB.ns.client,
          'iperf3',
          ['-c', vip, '-t', '15', '-b', '200M', '-J', '--connect-timeout', '3000'],
          { timeoutMs: 40_000 },
        );
        iperf.runs++;
        try {
          const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second: number } } };
          const bps = j.end?.sum_received?.bits_per_second;
          if (r.code === 0 && bps !== undefined) iperf.gbits.push(bps / 1e9);
          else iperf.failed++;
        } catch {
          iperf.failed++;
        }
        await sleep(5000);
      }
    })();

    const flood = { bursts: 0, sent: 0 };
    const floodLoop = (async () => {
      while (running()) {
        const r = await nsExec(LAB.ns.client, 'python3', [RAW_FRAMES, 'syn', LAB.veth.client.name, vip, '20000'], {
          timeoutMs: 60_000,
        });
        if (r.code !== 0) failures.push(`SYN flood burst failed: ${r.stderr.trim()}`);
        flood.bursts++;
        flood.sent += Number(r.stdout.trim()) || 0;
        for (let i = 0; i < 60 && running(); i++) await sleep(1000);
      }
    })();

    const churn = { changes: 0 };
    const churnLoop = (async () => {
      for (let step = 0; running(); step++) {
        const cmd = ((): string[] => {
          switch (step % 6) {
            case 0:
              return ['-e', '-t', `${vip}:80`, '-r', `${rs1}:80`, '-m', '-w', String(1 + (step % 3))];
            case 1:
              return ['-e', '-t', `${vip}:80`, '-r', `${rs2}:80`, '-m', '-w', String(step % 4)];
            case 2:
              return ['-E', '-t', `${vip}:80`, '-s', SCHEDULERS[Math.floor(step / 6) % SCHEDULERS.length] ?? 'wrr'];
            case 3:
              return step % 12 === 3 ? ['-A', '-t', `${vip}:8088`, '-s', 'rr'] : ['-D', '-t', `${vip}:8088`];
            case 4:
              return step % 12 === 4 ? ['-a', '-t', `${vip}:8088`, '-r', `${rs2}:80`, '-m'] : ['-Z', '-t', `${vip}:80`];
            default:
              return step % 12 === 5 ? ['-L', '-n', '--stats'] : ['-L', '-n', '-c'];
          }
        })();
        const r = await tapvsadm(cmd, { timeoutMs: 10_000 });
        if (r.code !== 0) failures.push(`tapvsadm ${cmd.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
        churn.changes++;
        await sleep(1000);
      }
    })();

    const flaps = { count: 0 };
    const flapLoop = (async () => {
      while (running()) {
        for (let i = 0; i < 37 && running(); i++) await sleep(1000);
        if (!running()) break;
        await rsLink('rs2', 'down');
        flaps.count++;
        await sleep(8000);
        await rsLink('rs2', 'up');
      }
    })();

    const samples: Sample[] = [];
    let last: StatusReply | null = null;
    while (running()) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, deadline - Date.now())));
      if (!pidAlive(tapvsdPid)) {
        failures.push('tapvsd exited during the soak');
        break;
      }
      try {
        const { s, st } = await sample(lab.socket, tapvsdPid, t0);
        samples.push(s);
        last = st;
        if (s.connGap !== 0) failures.push(`at ${s.atMs} ms: table ${s.conns} vs listed conns gap ${s.connGap}`);
        if (s.verdictGaps.some((g) => g !== 0))
          failures.push(`at ${s.atMs} ms: frames without a verdict ${s.verdictGaps.join(',')}`);
        console.log(
          `soak: ${Math.round(s.atMs / 1000)} s rss ${mib(s.rss)} MiB conns ${s.conns} cpu ${s.cpuS.toFixed(1)} s`,
        );
      } catch (e) {
        failures.push(`at ${Date.now() - t0} ms: status failed: ${(e as Error).message}`);
      }
    }
    stopping = true;
    const [httpR, udpR, junkR] = await Promise.all([http, udp, junk]);
    await Promise.all([iperfLoop, floodLoop, churnLoop, flapLoop]);
    await rsLink('rs2', 'up');

    const httpRes = JSON.parse(httpR.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>;
    const udpRes = JSON.parse(udpR.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>;
    if (httpR.code !== 0) failures.push(`HTTP load exited ${httpR.code}: ${httpR.stderr.trim()}`);
    if (udpR.code !== 0) failures.push(`UDP load exited ${udpR.code}: ${udpR.stderr.trim()}`);
    if (junkR.code !== 0) failures.push(`malformed frames exited ${junkR.code}: ${junkR.stderr.trim()}`);
    if (!pidAlive(tapvsdPid)) failures.push('tapvsd is not running at the end');
    const errorLines = readFileSync(LAB.log, 'utf8')
      .split('\n')
      .filter((l) => / error /.test(l));
    if (errorLines.length > 0) failures.push(`${errorLines.length} error line(s) in ${LAB.log}: ${errorLines[0]}`);
    const rss = rssFlat(
      samples.map((s): RssSample => ({ atMs: s.atMs, rss: s.rss })),
      warmupMs,
    );
    if (!rss.flat)
      failures.push(
        `RSS not flat: ${mib(rss.atEnd)} MiB at the end vs ${mib(rss.afterWarmup)} MiB after warm-up (limit ${mib(rss.limit)})`,
      );
    if (churn.changes < args.minutes * 30) failures.push(`only ${churn.changes} rule changes`);

    const report = renderReport({
      args,
      samples,
      last,
      rss,
      httpRes,
      udpRes,
      junkSent: Number(junkR.stdout.trim()) || 0,
      iperf,
      flood,
      churn,
      flaps,
      failures,
      warmupMs,
    });
    console.log(report);
    if (args.out !== null) writeFileSync(args.out, report);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await stopPids(helpers);
    await labDown();
  }
}

interface ReportInput {
  args: Args;
  samples: Sample[];
  last: StatusReply | null;
  rss: ReturnType<typeof rssFlat>;
  httpRes: Record<string, unknown>;
  udpRes: Record<string, unknown>;
  junkSent: number;
  iperf: { runs: number; failed: number; gbits: number[] };
  flood: { bursts: number; sent: number };
  churn: { changes: number };
  flaps: { count: number };
  failures: string[];
  warmupMs: number;
}

function renderReport(r: ReportInput): string {
  const lines: string[] = [];
  const first = r.samples[0];
  const end = r.samples[r.samples.length - 1];
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  lines.push(`# tapvsd soak: ${r.args.minutes} minutes, ${new Date().toISOString()}`, '');
  lines.push(`Command: \`npm run soak -- --minutes ${r.args.minutes}\``, '');
  lines.push(`**${r.failures.length === 0 ? 'PASS' : 'FAIL'}**`, '');
  for (const f of r.failures) lines.push(`- ${f}`);
  lines.push('', '| load | result |', '|---|---|');
  lines.push(`| HTTP (100/s) | ${JSON.stringify(r.httpRes)} |`);
  lines.push(`| UDP (30/s, new port each) | ${JSON.stringify(r.udpRes)} |`);
  lines.push(
    `| iperf3 (15 s at 200 Mbit/s) | ${r.iperf.runs} runs, ${r.iperf.failed} failed, median ${med(r.iperf.gbits).toFixed(3)} Gbit/s |`,
  );
  lines.push(`| SYN flood | ${r.flood.bursts} bursts, ${r.flood.sent} SYNs |`);
  lines.push(`| malformed frames (300/s) | ${r.junkSent} sent |`);
  lines.push(`| rule changes (1/s) | ${r.churn.changes} |`);
  lines.push(`| rs2 link flaps (8 s down every 45 s) | ${r.flaps.count} |`);
  lines.push('', '| check | value |', '|---|---|');
  lines.push(
    `| RSS after warm-up (${r.warmupMs / 1000} s) / at the end / limit | ${mib(r.rss.afterWarmup)} / ${mib(r.rss.atEnd)} / ${mib(r.rss.limit)} MiB |`,
  );
  lines.push(`| samples | ${r.samples.length}, every ${SAMPLE_MS / 1000} s |`);
  lines.push(`| max table count | ${Math.max(0, ...r.samples.map((s) => s.conns))} |`);
  lines.push(
    `| table count vs listed conns, every sample | ${r.samples.every((s) => s.connGap === 0) ? 'equal' : 'DIFFERENT'} |`,
  );
  lines.push(
    `| frames = verdicts, every sample | ${r.samples.every((s) => s.verdictGaps.every((g) => g === 0)) ? 'yes' : 'NO'} |`,
  );
  if (first !== undefined && end !== undefined)
    lines.push(
      `| tapvsd CPU | ${(end.cpuS - first.cpuS).toFixed(1)} s over ${((end.atMs - first.atMs) / 1000).toFixed(0)} s (${((100 * (end.cpuS - first.cpuS)) / Math.max(1, (end.atMs - first.atMs) / 1000)).toFixed(1)}% of a core) |`,
    );
  if (r.last !== null) {
    lines.push('', 'Frames and drops by reason at the end:', '');
    for (const p of r.last.ports) lines.push(`- ${p.name}: rx ${p.rxFrames}, tx ${p.txFrames}`);
    for (const [k, v] of Object.entries(end?.drops ?? {})) lines.push(`- ${k}: ${v}`);
  }
  lines.push('', 'RSS and table over time:', '', '| s | RSS MiB | conns |', '|---|---|---|');
  for (const s of r.samples) lines.push(`| ${Math.round(s.atMs / 1000)} | ${mib(s.rss)} | ${s.conns} |`);
  return `${lines.join('\n')}\n`;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`soak: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
