/**
 * Two directors, measured (`npm run bench -- --ha`, or under the lab lock
 * `node dist/bench/ha/main.js [--runs N] [--conns N]`), on the lab's `up --ha` topology:
 *
 * 1. Failover time, N runs (default 10): a UDP flow client -> VIP:9000 -> RS1, one datagram every
 *    2 ms; director 1 (the master) is SIGKILLed; the failover time is from the kill to the first
 *    datagram RS1 receives after it through the backup. Director 1 is started again and takes
 *    mastership back (preempt) before the next run.
 * 2. Connection sync: short HTTP connections (wrk, Connection: close) through the master until
 *    --conns connections (default 100,000) were made; the master's sync counters (entries,
 *    messages, bytes), both directors' CPU during the load, and how long after the load the
 *    backup has read everything the master sent (its lag).
 *
 * Prints a markdown report and saves it under bench/results/ (unless --no-save).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIRECTORS, directorKill, directorPid, directorStart, haUp, whichMaster } from '../../lab/ha-lab.js';
import { LAB, labDown, nsExec, nsSpawn } from '../../lab/lab-lib.js';
import { ControlClient } from '../../src/control/client.js';
import { cpuSample } from '../macro/sys.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('--runs', 10);
const CONNS = opt('--conns', 100_000);
const FLOW_JS = join(LAB.repoRoot, 'dist', 'bench', 'ha', 'udp-flow.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitMaster(n: 1 | 2, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while ((await whichMaster()) !== n) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`director ${n} not master after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** One failover: returns ms from the kill to the first datagram forwarded by the backup. */
async function failoverOnce(run: number): Promise<number> {
  const file = `/tmp/tapvs-ha-flow-${run}.txt`;
  rmSync(file, { force: true });
  const recv = nsSpawn(LAB.ns.rs1, process.execPath, [FLOW_JS, 'recv', '9000', file]);
  await sleep(300);
  const send = nsSpawn(LAB.ns.client, process.execPath, [FLOW_JS, 'send', LAB.vip, '9000', '2', '4000']);
  await sleep(2000);
  const killedAt = Date.now();
  await directorKill(1);
  await new Promise((r) => send.once('exit', r));
  recv.kill('SIGTERM');
  await new Promise((r) => recv.once('exit', r));
  const arrivals = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(l.split(' ')[1]))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
  rmSync(file, { force: true });
  // The first datagram after the largest gap that starts after the kill.
  let best = -1,
    gap = 0;
  for (let i = 1; i < arrivals.length; i++) {
    if (arrivals[i - 1] < killedAt - 50) continue;
    if (arrivals[i] - arrivals[i - 1] > gap) {
      gap = arrivals[i] - arrivals[i - 1];
      best = arrivals[i];
    }
  }
  if (best < 0) throw new Error(`run ${run}: no datagram after the kill (${arrivals.length} received)`);
  await directorStart(1);
  await waitMaster(1, 10_000);
  await sleep(500);
  return best - killedAt;
}

async function syncStatus(n: 1 | 2): Promise<Record<string, Record<string, number> | null>> {
  const c = await ControlClient.connect(DIRECTORS[n].socket);
  try {
    return ((await c.request({ op: 'status' })) as { sync: Record<string, Record<string, number> | null> }).sync;
  } finally {
    c.close();
  }
}

interface SyncResult {
  conns: number;
  seconds: number;
  masterEntries: number;
  messages: number;
  bytes: number;
  dropped: number;
  backupInstalled: number;
  backupUpdated: number;
  backupMessages: number;
  lagMs: number;
  masterCpu: number;
  backupCpu: number;
}

async function syncRun(): Promise<SyncResult> {
  const m0 = (await syncStatus(1)).master ?? {};
  const b0 = (await syncStatus(2)).backup ?? {};
  const cpu1 = cpuSample(directorPid(1));
  const cpu2 = cpuSample(directorPid(2));
  const t0 = Date.now();
  let conns = 0;
  for (let round = 0; round < 12 && conns < CONNS; round++) {
    const r = await nsExec(
      LAB.ns.client,
      'wrk',
      ['-t1', '-c25', '-d10s', '--timeout', '2s', '-H', 'Connection: close', `http://${LAB.vip}/`],
      { timeoutMs: 30_000 },
    );
    const m = /(\d+) requests in/.exec(r.stdout);
    if (m === null) throw new Error(`wrk: ${r.stdout} ${r.stderr}`);
    conns += Number(m[1]);
  }
  const loadEnd = Date.now();
  const c1 = cpu1();
  const c2 = cpu2();
  // The master sends its last, partly filled message after at most 2 s.
  let m = (await syncStatus(1)).master ?? {};
  let b = (await syncStatus(2)).backup ?? {};
  let caughtUp = -1;
  for (let i = 0; i < 100; i++) {
    m = (await syncStatus(1)).master ?? {};
    b = (await syncStatus(2)).backup ?? {};
    if (
      m.queued === 0 &&
      b.messages - (b0.messages ?? 0) >= m.messages - (m0.messages ?? 0) &&
      Date.now() - loadEnd > 2100
    ) {
      caughtUp = Date.now();
      break;
    }
    await sleep(100);
  }
  return {
    conns,
    seconds: (loadEnd - t0) / 1000,
    masterEntries: m.entries - (m0.entries ?? 0),
    messages: m.messages - (m0.messages ?? 0),
    bytes: m.bytes - (m0.bytes ?? 0),
    dropped: m.dropped - (m0.dropped ?? 0),
    backupInstalled: b.installed - (b0.installed ?? 0),
    backupUpdated: b.updated - (b0.updated ?? 0),
    backupMessages: b.messages - (b0.messages ?? 0),
    lagMs: caughtUp < 0 ? Number.NaN : caughtUp - loadEnd,
    masterCpu: c1.directorPct,
    backupCpu: c2.directorPct,
  };
}

async function main(): Promise<void> {
  const say = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  say(`bench ha: ${RUNS} failovers, ${CONNS} synced connections`);
  await haUp({ log: say });
  try {
    await waitMaster(1, 10_000);
    const times: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      const ms = await failoverOnce(i);
      times.push(ms);
      say(`  failover ${i}: ${ms} ms`);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median =
      sorted.length % 2 === 1
        ? sorted[(sorted.length - 1) / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    say('  sync load...');
    const s = await syncRun();
    const report = [
      `# Two directors: failover and connection sync (${new Date().toISOString()})`,
      '',
      'Lab `up --ha`: priorities 200 (director 1) and 180 (director 2), advert_int 1, VRRPv2;',
      "the backup's master-down interval is 3 x 1 s + (256 - 180)/256 s = 3.297 s.",
      '',
      '## Failover time (SIGKILL of the master to the first datagram forwarded by the backup)',
      '',
      `runs ${times.length}: ${times.join(', ')} ms`,
      '',
      `median ${median} ms, worst ${sorted[sorted.length - 1]} ms, best ${sorted[0]} ms`,
      '',
      '## Connection sync',
      '',
      '| figure | value |',
      '|---|---|',
      `| connections through the master (wrk, Connection: close) | ${s.conns} in ${s.seconds.toFixed(1)} s |`,
      `| entries sent by the master | ${s.masterEntries} (${(s.masterEntries / s.conns).toFixed(2)} per connection) |`,
      `| sync messages / bytes | ${s.messages} / ${s.bytes} (${(s.bytes / s.conns).toFixed(1)} bytes per connection) |`,
      `| entries dropped by the master (pool full) | ${s.dropped} |`,
      `| backup: messages read, entries installed, updated | ${s.backupMessages}, ${s.backupInstalled}, ${s.backupUpdated} |`,
      `| backup lag after the load (all messages read) | ${Number.isNaN(s.lagMs) ? 'did not catch up in 10 s' : `${s.lagMs} ms`} |`,
      `| CPU during the load, master tapvsd | ${s.masterCpu.toFixed(1)}% of a core |`,
      `| CPU during the load, backup tapvsd | ${s.backupCpu.toFixed(1)}% of a core |`,
      '',
    ].join('\n');
    say('');
    say(report);
    if (!args.includes('--no-save')) {
      mkdirSync(join(LAB.repoRoot, 'bench', 'results'), { recursive: true });
      const f = join(LAB.repoRoot, 'bench', 'results', `${new Date().toISOString().slice(0, 10)}-ha.md`);
      writeFileSync(f, report);
      say(`saved ${f}`);
    }
  } finally {
    await labDown();
  }
}

main().catch(async (e: unknown) => {
  process.stderr.write(`bench ha: ${(e as Error).stack ?? String(e)}\n`);
  await labDown().catch(() => undefined);
  process.exit(1);
});
