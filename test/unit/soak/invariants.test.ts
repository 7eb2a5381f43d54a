import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connSumGap, rssFlat, verdictGap } from '../../../soak/invariants.js';

test('verdictGap: frames add up to sent + consumed + drops; a frame without a verdict shows', () => {
  const p = { name: 'ext', rxFrames: 100, sentVerdicts: 90, consumedVerdicts: 4, drops: [1, 0, 5] };
  assert.equal(verdictGap(p), 0);
  assert.equal(verdictGap({ ...p, rxFrames: 101 }), 1);
  assert.equal(verdictGap({ ...p, drops: [1, 1, 5] }), -1);
});

test('connSumGap: active + inactive + persistent over every listed real server', () => {
  const services = [
    { dests: [{ activeConns: 3, inactConns: 2, persistConns: 1 }] },
    {
      dests: [
        { activeConns: 0, inactConns: 10, persistConns: 0 },
        { activeConns: 1, inactConns: 0, persistConns: 0 },
      ],
    },
  ];
  assert.equal(connSumGap(17, services), 0);
  assert.equal(connSumGap(18, services), 1);
  assert.equal(connSumGap(0, []), 0);
});

test('rssFlat: anchored after warm-up, judged on the last samples, too few samples never pass', () => {
  const MiB = 1048576;
  const flat = [0, 10, 20, 30, 40, 50, 60, 70].map((s, i) => ({ atMs: s * 1000, rss: (i < 2 ? 50 : 100) * MiB }));
  const v = rssFlat(flat, 20_000);
  assert.equal(v.flat, true);
  assert.equal(v.afterWarmup, 100 * MiB);
  assert.ok(Math.abs(v.limit - 126 * MiB) < 1, `limit ${v.limit}`);
  const growing = flat.map((s, i) => ({ ...s, rss: (100 + i * 10) * MiB }));
  assert.equal(rssFlat(growing, 20_000).flat, false);
  assert.equal(rssFlat(flat.slice(0, 6), 20_000).flat, false, 'four samples after warm-up are not enough');
  // One spike at the end does not decide alone (median of the last three).
  const spike = flat.map((s, i) => (i === flat.length - 1 ? { ...s, rss: 500 * MiB } : s));
  assert.equal(rssFlat(spike, 20_000).flat, true);
});
