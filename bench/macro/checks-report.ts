/**
 * The report's section on what health checks cost: `tapvsd-checks` (the same tapvsd and services
 * plus CHECKED_SERVERS checks per second, checks-config.ts) next to `tapvsd`, every measurement
 * with its spread and the ratio checks / no checks, and tapvsd's CPU with no traffic with and
 * without the checks: the difference is the CPU the checks take.
 *
 * "Within the run's noise" is read as: the two variants' min–max ranges overlap. With three
 * repetitions that is a coarse test; the ranges themselves are shown so a reader can judge.
 */
import { CHECK_INTERVAL_S, CHECKED_SERVERS } from './checks-config.js';
import { IDLE_SECONDS, IDLE_SETTLE_SECONDS } from './idle-cpu.js';
import { METRICS, medianOf, ratioCell, type Stat, stat, statText, type VariantResult } from './report.js';

function overlap(a: Stat | null, b: Stat | null): string {
  if (a === null || b === null) return '—';
  if (a.n < 2 || b.n < 2) return 'one sample: no spread';
  return a.min <= b.max && b.min <= a.max ? 'yes' : '**no**';
}

function text(s: Stat | null, digits: number): string {
  return s === null ? '—' : statText(s, digits);
}

/** The markdown section, or '' when the run has no `tapvsd-checks` with a `tapvsd` to compare. */
export function checksCostMarkdown(results: readonly VariantResult[], reps: number): string {
  const without = results.find((r) => r.key === 'tapvsd');
  const checked = results.find((r) => r.key === 'tapvsd-checks');
  if (without === undefined || checked === undefined) return '';
  const rate = `${CHECKED_SERVERS.toLocaleString('en-US')} checks/${CHECK_INTERVAL_S === 1 ? 's' : `${CHECK_INTERVAL_S} s`}`;
  const out: string[] = [];
  out.push(
    `### Health checks' cost: ${checked.label} against ${without.label} (median of ${reps}, min–max)`,
    '',
    `| measurement | ${without.label} | ${checked.label} | with / without checks | ranges overlap |`,
    '|---|---:|---:|---:|---|',
  );
  for (const m of METRICS) {
    const a = stat(without.metrics[m.key]?.samples.map((x) => x.value) ?? []);
    const b = stat(checked.metrics[m.key]?.samples.map((x) => x.value) ?? []);
    out.push(
      `| ${m.head} (${m.unit}) | ${text(a, m.digits)} | ${text(b, m.digits)} | ${ratioCell(medianOf(checked, m.key) / medianOf(without, m.key))} | ${overlap(a, b)} |`,
    );
  }

  const idleDir = (r: VariantResult): Stat | null => stat(r.idle.map((x) => x.cpu.directorPct));
  const idleMachine = (r: VariantResult): Stat | null => stat(r.idle.map((x) => x.cpu.machinePct));
  const perS = stat(checked.idle.map((x) => x.checksPerS ?? Number.NaN));
  out.push(
    '',
    `tapvsd with no traffic (${IDLE_SECONDS} s from ${IDLE_SETTLE_SECONDS} s after the warm-up on, before the timed loads; % of one core for tapvsd, % of all cores for the machine):`,
    '',
    '| variant | tapvsd CPU | machine busy | checks/s measured |',
    '|---|---:|---:|---:|',
    `| ${without.label} | ${text(idleDir(without), 1)} | ${text(idleMachine(without), 1)} | — |`,
    `| ${checked.label} | ${text(idleDir(checked), 1)} | ${text(idleMachine(checked), 1)} | ${text(perS, 0)} |`,
  );
  const dirCost = (idleDir(checked)?.median ?? Number.NaN) - (idleDir(without)?.median ?? Number.NaN);
  const machineCost = (idleMachine(checked)?.median ?? Number.NaN) - (idleMachine(without)?.median ?? Number.NaN);
  const connsRatio = medianOf(checked, 'conns') / medianOf(without, 'conns');
  out.push(
    '',
    `**CPU for ${rate}**: ${Number.isFinite(dirCost) ? `${dirCost.toFixed(1)}%` : '?'} of one core in tapvsd ` +
      `(idle medians, with minus without checks; ${text(perS, 0)} checks/s measured); the whole machine ` +
      `${Number.isFinite(machineCost) ? `${machineCost.toFixed(1)} points` : '?'} busier (also the real servers accepting the connections). ` +
      `New conn/s with the checks: ${ratioCell(connsRatio)} of without; ranges overlap: ` +
      `${overlap(stat(without.metrics.conns?.samples.map((x) => x.value) ?? []), stat(checked.metrics.conns?.samples.map((x) => x.value) ?? []))}.`,
  );
  return out.join('\n');
}
