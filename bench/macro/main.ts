/**
 * The one-run benchmark: in-process micro-benchmarks, then every director variant on the lab
 * topology (tapvsd with and without offloads, kernel nftables DNAT, HAProxy, plain routing, the C TAP copy
 * loop with and without vnet_hdr), repetitions interleaved (rep 1 of every variant, then rep 2, …)
 * so slow drift of the machine spreads over all of them. Prints a markdown report and saves it
 * under bench/results/.
 *
 * Started by bench/run.mjs (which takes /tmp/tapvs-lab.lock, builds, compiles bench/c); by hand:
 *
 *   flock /tmp/tapvs-lab.lock node dist/bench/macro/main.js --tapcopy BIN --udpblast BIN [options]
 *
 * Options: see options.ts. With --baseline DIR, the micro-benchmarks and tapvsd also run from
 * that other built checkout, interleaved with ours, and the report gives current/baseline ratios.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB, labDown } from '../../lab/lab-lib.js';
import { type BaselineTree, openBaseline } from './baseline-tree.js';
import { checksCostMarkdown } from './checks-report.js';
import { IDLE_FIRST_SECONDS, IDLE_SECONDS, IDLE_SETTLE_SECONDS, idleCpu } from './idle-cpu.js';
import {
  type Durations,
  download50,
  iperfTcp,
  type MeasureContext,
  type MetricKey,
  pingRtt,
  type Sample,
  type Targets,
  udpRate,
  wrkConns,
} from './measure.js';
import { type MicroResult, microJobs, runMicros } from './micro.js';
import { microMarkdown } from './micro-report.js';
import { type Options, parseArgs } from './options.js';
import { type MetricResult, macroMarkdown, notesMarkdown, type VariantResult } from './report.js';
import { CommandLog, describeMachine, killAllStarted, load1, type Machine } from './sys.js';
import { BASELINE_VARIANTS, checkPath, HAPROXY_THREADS, setupVariant, VARIANTS } from './variants.js';

const REPO = LAB.repoRoot;
/** Hard ceiling for the whole run; every single load has its own, much shorter, bound too. */
const RUN_DEADLINE_MS = 40 * 60_000;

// ---------------------------------------------------------------------------------------------
// Macro: the variants

async function measureAll(
  ctx: MeasureContext,
  t: Targets,
  d: Durations,
  res: VariantResult,
  say: (s: string) => void,
): Promise<void> {
  const take = async (key: MetricKey, f: () => Promise<Sample>): Promise<void> => {
    res.metrics[key] ??= { samples: [], errors: [] };
    const m: MetricResult = res.metrics[key];
    try {
      const s = await f();
      m.samples.push(s);
      say(
        `    ${key}: ${s.value.toFixed(key === 'ping' || key === 'pingRouted' ? 3 : 2)}${s.note !== undefined ? `  (${s.note})` : ''}`,
      );
    } catch (e) {
      m.errors.push((e as Error).message.split('\n')[0]);
      say(`    ${key}: FAILED ${(e as Error).message.split('\n')[0]}`);
      await new Promise((r) => setTimeout(r, 1000)); // let an iperf3 server return to listening
    }
  };
  await take('tcp1', () => iperfTcp(ctx, t, d, 'tcp1'));
  await take('tcp4', () => iperfTcp(ctx, t, d, 'tcp4'));
  await take('tcpR', () => iperfTcp(ctx, t, d, 'tcpR'));
  await take('conns', () => wrkConns(ctx, t, d));
  await take('ping', () => pingRtt(ctx, t.ping, t.directorPid, d));
  if (t.udp !== null) await take('udp', () => udpRate(ctx, t, d));
  else {
    res.metrics.udp ??= { samples: [], errors: [] };
    res.metrics.udp.na = 'n/a (TCP only)';
  }
  if (t.pingRouted !== null) await take('pingRouted', () => pingRtt(ctx, t.pingRouted as string, t.directorPid, d));
  await take('dl50', () => download50(ctx, t));
}

/** Short loads of every kind before the timed ones: JIT warm-up, ARP, bridge learning. */
async function warmUp(ctx: MeasureContext, t: Targets): Promise<void> {
  const quiet: MeasureContext = { udpblast: ctx.udpblast, log: new CommandLog() };
  const d: Durations = { seconds: 1, pingCount: 10 };
  await iperfTcp(quiet, t, d, 'tcp1').catch(() => undefined);
  await wrkConns(quiet, t, d).catch(() => undefined);
  if (t.udp !== null) await udpRate(quiet, t, d).catch(() => undefined);
}

/**
 * The selected variants in run order, each baseline variant right after its current twin.
 */
function selectVariants(o: Options, baseline: BaselineTree | null): VariantResult[] {
  const results: VariantResult[] = [];
  const fresh = (key: VariantResult['key'], label: string, what: string): VariantResult => ({
    key,
    label,
    what,
    errors: [],
    notes: [],
    metrics: {},
    idle: [],
    commands: [],
  });
  for (const v of VARIANTS) {
    if (o.only !== null && !o.only.includes(v.key)) continue;
    results.push(fresh(v.key, v.label, v.what));
    const twin = BASELINE_VARIANTS.find((b) => b.of === v.key);
    if (baseline !== null && twin !== undefined) {
      results.push(
        fresh(
          twin.key,
          `${v.label}, baseline`,
          `the baseline tree's tapvsd (${baseline.git}, ${baseline.dir}) started by its own lab up, same rules and flags`,
        ),
      );
    }
  }
  return results;
}

/**
 * One repetition's order: as selected in odd repetitions; in even ones each baseline variant goes
 * before its twin, so neither tree always follows the same neighbour.
 */
function repOrder(results: readonly VariantResult[], rep: number): VariantResult[] {
  const order = [...results];
  if (rep % 2 === 1) return order;
  for (let i = 0; i + 1 < order.length; i++) {
    if (BASELINE_VARIANTS.some((b) => b.key === order[i + 1].key && b.of === order[i].key)) {
      [order[i], order[i + 1]] = [order[i + 1], order[i]];
      i++;
    }
  }
  return order;
}

async function macro(
  o: Options,
  baseline: BaselineTree | null,
  say: (s: string) => void,
  deadline: number,
): Promise<VariantResult[]> {
  const results = selectVariants(o, baseline);
  const logs = new Map(results.map((v) => [v.key, new CommandLog()]));
  const tmp = mkdtempSync(join(tmpdir(), 'tapvs-bench-'));
  const d: Durations = { seconds: o.seconds, pingCount: o.pingCount };
  try {
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const res of repOrder(results, rep)) {
        if (res.na !== undefined) continue;
        if (Date.now() > deadline) {
          res.errors.push(`rep ${rep} skipped: the run's ${RUN_DEADLINE_MS / 60000} min deadline passed`);
          continue;
        }
        const log = logs.get(res.key) as CommandLog;
        say(`rep ${rep}/${o.reps}: ${res.label}`);
        try {
          const v = await setupVariant(res.key, { tmp, tapcopy: o.tapcopy, log, say, baseline });
          if ('na' in v) {
            res.na = v.na;
            say(`  ${v.na}`);
            continue;
          }
          let finished = false;
          try {
            await checkPath(v.targets);
            await warmUp({ udpblast: o.udpblast, log }, v.targets);
            if (v.idle !== undefined) {
              const idle = await idleCpu(v.targets.directorPid, v.idle.readChecks);
              res.idle.push(idle);
              say(
                `    idle: first ${IDLE_FIRST_SECONDS} s director ${idle.first.directorPct.toFixed(1)}% of a core; ` +
                  `${IDLE_SECONDS} s from ${IDLE_SETTLE_SECONDS} s on: director ${idle.cpu.directorPct.toFixed(1)}%, machine ${idle.cpu.machinePct.toFixed(1)}%` +
                  (idle.checksPerS !== null ? `, ${idle.checksPerS.toFixed(0)} checks/s` : ''),
              );
            }
            await measureAll({ udpblast: o.udpblast, log }, v.targets, d, res, say);
            const notes = await v.finish();
            finished = true;
            for (const n of notes) res.notes.push(`rep ${rep}: ${n}`);
          } finally {
            if (!finished) await v.finish().catch(() => []);
          }
        } catch (e) {
          res.errors.push(`rep ${rep}: ${(e as Error).message.split('\n').slice(0, 4).join(' ')}`);
          say(`  FAILED: ${(e as Error).message}`);
        } finally {
          log.freeze();
          await labDown();
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const r of results) r.commands.push(...(logs.get(r.key)?.all ?? []));
  return results;
}

// ---------------------------------------------------------------------------------------------
// The report

function machineMarkdown(m: Machine, baseline: BaselineTree | null): string {
  return [
    '| | |',
    '|---|---|',
    `| CPU | ${m.cpuModel} |`,
    `| nproc | ${m.nproc} |`,
    `| memory | ${m.memory} |`,
    `| kernel | ${m.kernel} |`,
    `| Node | ${m.node} |`,
    `| git | ${m.git}${baseline !== null ? ` (current tree, ${REPO})` : ''} |`,
    ...(baseline !== null ? [`| git, baseline | ${baseline.git} (${baseline.dir}) |`] : []),
    `| load average (1 min) | ${m.loadStart.toFixed(2)} at the start, ${load1().toFixed(2)} at the end |`,
    ...Object.entries(m.tools).map(([k, v]) => `| ${k} | ${v} |`),
  ].join('\n');
}

function report(
  o: Options,
  m: Machine,
  baseline: BaselineTree | null,
  started: Date,
  secs: number,
  micros: MicroResult[],
  results: VariantResult[],
): string {
  const out: string[] = [];
  const trees = baseline !== null ? `${m.git} vs baseline ${baseline.git}` : m.git;
  out.push(
    `# tapvs benchmark ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (${trees})${o.quick ? ' — quick' : ''}`,
    '',
  );
  out.push(
    `Command: \`${o.commandLine}\` — ${o.reps} repetition(s), loads of ${o.seconds} s, ping -c ${o.pingCount}; took ${Math.round(secs)} s.`,
    '',
  );
  out.push(machineMarkdown(m, baseline), '');
  if (results.length > 0) {
    out.push('## Lab (textbook LVS-NAT topology, everything in namespaces on this machine)', '');
    out.push(
      'Every variant gets a freshly built lab (client, tapvs-dir with the two bridges, RS1, RS2); repetitions are interleaved across variants.',
      '',
    );
    out.push('| variant | what |', '|---|---|', ...results.map((r) => `| ${r.label} | ${r.what} |`), '');
    out.push(
      [
        'Measurements (from tapvs-client): iperf3 to :5201 (`-t S -J`, `-P 4`, `-R`; receiver-side Gbit/s);',
        'new connections/s = two `wrk -t1 -c25 -dSs --timeout 2s -H "Connection: close"` side by side, requests/s summed',
        '(to the VIP twice, or to RS1 and RS2 for the variants without NAT); `ping -c N -i 0.01 -q` to the VIP (answered by the',
        'director: tapvsd itself, or the kernel of tapvs-dir) or to RS1 (no-NAT variants); small UDP frames = `bench/c/udpblast`',
        '(sendmmsg, 18-byte payload = 60-byte Ethernet frames) from the client to :9000 for S s, datagrams counted at both real',
        'servers / S; "ping RS1 routed" = ping RS1 through the director acting as a router (client route via the VIP, no NAT).',
      ].join('\n'),
      '',
    );
    out.push(macroMarkdown(results, o.reps), '');
    const checks = checksCostMarkdown(results, o.reps);
    if (checks !== '') out.push(checks, '');
    const notes = notesMarkdown(results);
    if (notes !== '') out.push(notes, '');
  }
  if (micros.length > 0) {
    out.push('## In-process micro-benchmarks', '', microMarkdown(micros, baseline, o.reps), '');
  }
  if (results.length > 0) {
    out.push('## Exact commands (first repetition of each variant)', '');
    out.push(
      `HAProxy runs with nbthread ${HAPROXY_THREADS}. Addresses: client ${LAB.client}, VIP ${LAB.vip}, DIP ${LAB.dip}, RS1 ${LAB.rs1}, RS2 ${LAB.rs2}.`,
      '',
    );
    for (const r of results) {
      if (r.commands.length === 0) continue;
      out.push(`<details><summary>${r.label}</summary>`, '', '```sh', ...r.commands, '```', '', '</details>', '');
    }
  }
  return out.join('\n');
}

function resultPath(o: Options, m: Machine, baseline: BaselineTree | null, started: Date): string {
  const vs = baseline !== null ? `-vs-${baseline.git.replace('-dirty', '')}` : '';
  const base = `${started.toISOString().slice(0, 10)}-${m.git.replace('-dirty', '')}${vs}${o.quick ? '-quick' : ''}`;
  let p = join(o.out, `${base}.md`);
  for (let i = 2; existsSync(p); i++) p = join(o.out, `${base}-${i}.md`);
  return p;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2), REPO);
  if (o.macro && process.getuid?.() !== 0)
    throw new Error('the lab benchmarks need root (network namespaces, TAP devices); --skip-macro runs the rest');
  for (const bin of [o.tapcopy, o.udpblast])
    if (o.macro && !existsSync(bin)) throw new Error(`${bin} is missing (bench/run.mjs compiles bench/c/*.c)`);
  const baseline = o.baseline !== null ? await openBaseline(o.baseline, o.macro) : null;
  const say = (s: string): void => {
    process.stderr.write(`${s}\n`);
  };
  const started = new Date();
  const deadline = Date.now() + RUN_DEADLINE_MS;
  const m = await describeMachine(REPO);

  let aborting = false;
  const onSignal = (sig: string): void => {
    if (aborting) return;
    aborting = true;
    say(`bench: ${sig}: stopping, cleaning up the lab`);
    killAllStarted();
    if (!o.macro) process.exit(130);
    void labDown().finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const watchdog = setTimeout(() => onSignal('deadline'), RUN_DEADLINE_MS + 5 * 60_000);
  watchdog.unref();

  try {
    const micros = o.micro ? await runMicros(microJobs(o.quick), REPO, baseline?.dir ?? null, o.reps, say) : [];
    const results = o.macro ? await macro(o, baseline, say, deadline) : [];
    const secs = (Date.now() - started.getTime()) / 1000;
    const md = report(o, m, baseline, started, secs, micros, results);
    process.stdout.write(`${md}\n`);
    if (o.json !== null)
      writeFileSync(o.json, JSON.stringify({ machine: m, baseline, options: o, micros, results }, null, 2));
    if (o.save) {
      mkdirSync(o.out, { recursive: true });
      const p = resultPath(o, m, baseline, started);
      writeFileSync(p, `${md}\n`);
      say(`bench: saved ${p}`);
    }
  } finally {
    killAllStarted();
    // Only when this run used the lab: a micro-only run leaves any lab alone.
    if (o.macro) await labDown().catch((e: unknown) => say(`bench: lab down: ${(e as Error).message}`));
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
