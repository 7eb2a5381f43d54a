/**
 * The micro-benchmarks' part of the report. Alone: each script's output as it printed it. With a
 * baseline tree: for every markdown table a script prints, its figure columns (MicroJob.figures)
 * as the baseline's and our medians over the repetitions (min–max) and the ratio
 * current/baseline, rows matched by their first cell and tables by their header; then every raw
 * output, folded.
 */
import type { MicroResult, MicroRun, TreeName } from './micro.js';
import { stat } from './report.js';

interface Table {
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

function cellsOf(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

/** The markdown tables in a script's output: a header row, a |---| row, then data rows. */
export function parseTables(text: string): Table[] {
  const lines = text.split('\n');
  const tables: Table[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].trim().startsWith('|') || !/^\|[\s:|-]+\|$/.test(lines[i + 1].trim())) continue;
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j].trim().startsWith('|'); j++) rows.push(cellsOf(lines[j]));
    tables.push({ head: cellsOf(lines[i]), rows });
    i = j - 1;
  }
  return tables;
}

/** One figure over the repetitions: its values and the most decimals the script printed. */
interface Figure {
  values: number[];
  decimals: number;
}

/** Table header → row label → column → figure, over all runs of one tree. */
type Figures = Map<string, Map<string, Map<string, Figure>>>;

function collect(runs: readonly MicroRun[], tree: TreeName, figures: RegExp): Figures {
  const out: Figures = new Map();
  for (const run of runs) {
    if (run.tree !== tree || !run.ok) continue;
    for (const t of parseTables(run.output)) {
      const byRow = out.get(t.head.join('|')) ?? new Map<string, Map<string, Figure>>();
      out.set(t.head.join('|'), byRow);
      for (const row of t.rows) {
        const byCol = byRow.get(row[0]) ?? new Map<string, Figure>();
        byRow.set(row[0], byCol);
        t.head.forEach((col, c) => {
          const text = (row[c] ?? '').replace(/,/g, '');
          const v = Number(text);
          if (c === 0 || !figures.test(col) || text === '' || !Number.isFinite(v)) return;
          const f = byCol.get(col) ?? { values: [], decimals: 0 };
          f.values.push(v);
          f.decimals = Math.max(f.decimals, text.split('.')[1]?.length ?? 0);
          byCol.set(col, f);
        });
      }
    }
  }
  return out;
}

function median(f: Figure | undefined): number {
  return f === undefined ? Number.NaN : (stat(f.values)?.median ?? Number.NaN);
}

function figureCell(f: Figure | undefined): string {
  const s = f === undefined ? null : stat(f.values);
  if (f === undefined || s === null) return '—';
  const fx = (x: number): string => x.toFixed(f.decimals);
  return s.n > 1 ? `${fx(s.median)} (${fx(s.min)}–${fx(s.max)})` : fx(s.median);
}

/** Baseline, current and current/baseline for each figure column of each table ours printed. */
function comparison(r: MicroResult): string[] {
  const cur = collect(r.runs, 'current', r.figures);
  const base = collect(r.runs, 'baseline', r.figures);
  const out: string[] = [];
  for (const [head, rows] of cur) {
    const cols = head
      .split('|')
      .slice(1)
      .filter((c) => r.figures.test(c));
    if (cols.length === 0) continue;
    out.push(
      `| ${head.split('|')[0]} | ${cols.map((c) => `${c}: baseline | current | current/baseline`).join(' | ')} |`,
    );
    out.push(`|---|${cols.map(() => '---:|---:|---:').join('|')}|`);
    for (const [label, byCol] of rows) {
      const baseRow = base.get(head)?.get(label);
      out.push(
        `| ${label} | ${cols
          .map((c) => {
            const ratio = median(byCol.get(c)) / median(baseRow?.get(c));
            return `${figureCell(baseRow?.get(c))} | ${figureCell(byCol.get(c))} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '—'}`;
          })
          .join(' | ')} |`,
      );
    }
    out.push('');
  }
  return out;
}

/** The section's body. `baseline` describes the baseline tree, or is null for a run without one. */
export function microMarkdown(
  results: readonly MicroResult[],
  baseline: { git: string; dir: string } | null,
  reps: number,
): string {
  const out: string[] = [];
  if (baseline !== null) {
    out.push(
      `Each script ran from both trees, ${reps} time(s), interleaved (ours first in odd repetitions, the baseline's ` +
        `(${baseline.git}, ${baseline.dir}) first in even ones). Figures are medians (min–max); every figure compared is a cost ` +
        '(ns, bytes), so current/baseline below 1 is better.',
      '',
    );
  }
  for (const r of results) {
    out.push(`### ${r.title}`, '', `\`${r.command}\`${baseline !== null ? ' (in each tree)' : ''}`, '');
    if (baseline === null) {
      out.push(...r.runs.map((run) => run.output), '');
      continue;
    }
    out.push(...comparison(r));
    for (const run of r.runs) {
      out.push(
        `<details><summary>rep ${run.rep}, ${run.tree}${run.ok ? '' : ' (no figures)'}</summary>`,
        '',
        run.output,
        '',
        '</details>',
        '',
      );
    }
  }
  return out.join('\n');
}
