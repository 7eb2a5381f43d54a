/**
 * The benchmark report's cost table: director CPU seconds per GB and per 1,000 connections, from
 * each sample's CPU share and rate, against the C copy loop.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { costLines, type VariantResult } from '../../../bench/macro/report.js';

function variant(key: string, label: string, gbps: number, connsPerS: number, dirPct: number): VariantResult {
  const sample = (value: number) => ({ value, cpu: { machinePct: 50, directorPct: dirPct } });
  return {
    key,
    label,
    metrics: {
      tcp1: { samples: [sample(gbps)], errors: [] },
      conns: { samples: [sample(connsPerS)], errors: [] },
    },
    idle: [],
    errors: [],
    notes: [],
  } as unknown as VariantResult;
}

test('bench report: CPU seconds per GB and per 1,000 connections, and the ratio to the copy loop', () => {
  const lines = costLines([
    // 8 Gbit/s = 1 GB/s at 80% of a core: 0.8 CPU s per GB; 8,000 conn/s at 80%: 0.1 s per 1,000.
    variant('tapvsd', 'tapvsd', 8, 8000, 80),
    // The copy loop: 16 Gbit/s = 2 GB/s at 40%: 0.2 s per GB; 10,000 conn/s at 40%: 0.04.
    variant('tapcopy-vnet', 'C TAP copy loop + vnet_hdr', 16, 10_000, 40),
    // A kernel variant has no director process: no row.
    variant('nft', 'kernel', 16, 10_000, Number.NaN),
  ]);
  const row = lines.find((l) => l.startsWith('| tapvsd |'));
  assert.equal(row, '| tapvsd | 0.800 (4.00x) | — | 0.100 (2.50x) |');
  assert.ok(lines.some((l) => l.startsWith('| C TAP copy loop + vnet_hdr | 0.200 (1.00x)')));
  assert.ok(!lines.some((l) => l.startsWith('| kernel |')));
});
