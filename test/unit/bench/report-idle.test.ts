/**
 * The benchmark report's idle CPU: the settled window is what issue 14's table shows against its
 * "< 1%" (median with its range, one decimal), and the CPU table gives both windows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issue14Lines, macroMarkdown, type VariantResult } from '../../../bench/macro/report.js';

const cpu = (directorPct: number) => ({ machinePct: 12.34, directorPct });

function variant(key: string, label: string, ping: number, idle: Array<[number, number]>): VariantResult {
  return {
    key,
    label,
    metrics: { ping: { samples: [{ value: ping, cpu: cpu(5) }], errors: [] } },
    idle: idle.map(([first, settled]) => ({ first: cpu(first), cpu: cpu(settled), checksPerS: null, checks: null })),
    errors: [],
    notes: [],
  } as unknown as VariantResult;
}

const tapvsd = variant('tapvsd', 'tapvsd', 0.3, [
  [1.9, 0.3],
  [2.4, 0.25],
  [0.8, 0.4],
]);
const nft = variant('nft', 'kernel', 0.1, []);

test('bench report: issue 14 lists the settled idle CPU of tapvsd, median and range, one decimal', () => {
  const by = new Map([
    ['tapvsd', tapvsd],
    ['nft', nft],
  ] as const);
  const lines = issue14Lines(by as never);
  const row = lines.find((l) => l.startsWith('| tapvsd idle CPU, settled'));
  assert.equal(row, '| tapvsd idle CPU, settled (% of one core; min–max 0.3–0.4) | 0.3 | | | < 1 |');
});

test('bench report: the CPU table shows the first and the settled idle window', () => {
  const text = macroMarkdown([tapvsd, nft], 3);
  // The CPU table is the one whose rows hold "dir" cells.
  const cpuRows = text.split('\n').filter((l) => l.includes('| dir '));
  const row = cpuRows.find((l) => l.startsWith('| tapvsd |'));
  assert.ok(row?.endsWith('| dir 1.9 / machine 12.3 | dir 0.3 / machine 12.3 |'), row);
  assert.ok(
    text
      .split('\n')
      .find((l) => l.startsWith('| kernel |'))
      ?.endsWith('| — | — |'),
  );
});
