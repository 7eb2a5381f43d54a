/**
 * The dataplane's behaviour as a table: every fixture in test/pipeline/fixtures/<group>.ts runs on
 * a fresh director in each mode (general pipeline, fast path, copying TX) and must
 * - give each input frame the verdict the fixture states,
 * - move exactly the counters it states,
 * - send exactly the golden bytes of <group>.json, identical in every mode (the summary lines
 *   there are for readers and failure messages; they are not compared),
 * - send only frames whose checksums are valid by full recomputation (unless it says why not).
 *
 * Goldens come from the current code, on request only:
 *   TAPVS_FIXTURES_UPDATE=1 node --test dist/test/pipeline/fixtures.test.js
 * rewrites the JSON files from the general pipeline's output, still checking verdicts, counters,
 * checksums and the agreement of the modes: a group's file is written only when all its fixtures
 * pass. Review the diff of the summary lines before committing it.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { checksumProblems } from '../helpers/frame-checksums.js';
import { VNET_HDR_LEN } from '../helpers/frame-summary.js';
import type { Fixture } from './fixtures/fixture.js';
import { fixtures as forward } from './fixtures/forward.js';
import { fixtures as fragments } from './fixtures/fragments.js';
import { type Golden, type GoldenFile, readGoldens, writeGoldens } from './fixtures/golden.js';
import { fixtures as host } from './fixtures/host.js';
import { fixtures as nat } from './fixtures/nat.js';
import { fixtures as offload } from './fixtures/offload.js';
import { type Mode, type RunRecord, runFixture } from './fixtures/run.js';

const GROUPS: Record<string, Fixture[]> = { host, nat, forward, fragments, offload };
const UPDATE = process.env.TAPVS_FIXTURES_UPDATE === '1';

const GENERAL: Mode = { name: 'general pipeline', fastPath: false, zeroCopy: true };
const FAST: Mode = { name: 'fast path', fastPath: true, zeroCopy: true };
/** TX by copy (links that cannot point TX slots at RX memory). Offload frames leave differently there. */
const COPY: Mode = { name: 'copying TX', fastPath: false, zeroCopy: false };

function modesFor(fx: Fixture): Mode[] {
  return fx.setup.director?.vnetHdr === true ? [GENERAL, FAST] : [GENERAL, FAST, COPY];
}

function goldenOf(fx: Fixture, r: RunRecord): Golden {
  return { description: fx.description, steps: r.steps };
}

/** The frames of a run, one line per frame, readable in an assertion diff. */
function lines(steps: Golden['steps']): string[] {
  return steps.flatMap((s, i) => [
    `[${i}] ${s.in} => ${s.verdict ?? '-'}`,
    ...s.out.map((o) => `    ${o.link}: ${o.summary}`),
  ]);
}

/** What must match: per step the verdict and each frame's link and bytes (summaries only explain). */
function bytesOf(g: Golden): Array<{ verdict: string | null; out: string[] }> {
  return g.steps.map((s) => ({ verdict: s.verdict ?? null, out: s.out.map((o) => `${o.link} ${o.hex}`) }));
}

function assertSameOutput(actual: Golden, expected: Golden, what: string): void {
  if (isDeepStrictEqual(bytesOf(actual), bytesOf(expected))) return;
  assert.deepEqual(lines(actual.steps), lines(expected.steps), `${what}: frames differ (summaries)`);
  assert.deepEqual(bytesOf(actual), bytesOf(expected), `${what}: frames differ (bytes)`);
}

function assertChecksums(fx: Fixture, g: Golden): void {
  if (fx.badChecksumsBecause !== undefined) return;
  const vnetLen = fx.setup.director?.vnetHdr === true ? VNET_HDR_LEN : 0;
  g.steps.forEach((s, i) => {
    for (const link of ['ext', 'int'] as const) {
      const frames = s.out.filter((o) => o.link === link).map((o) => Buffer.from(o.hex, 'hex'));
      assert.deepEqual(
        checksumProblems(frames, vnetLen),
        [],
        `step ${i} (${s.in}): checksums of the frames sent on ${link}`,
      );
    }
  });
}

for (const [group, table] of Object.entries(GROUPS)) {
  describe(`fixtures: ${group}`, () => {
    const goldens = readGoldens(group);
    const fresh: GoldenFile = {};

    for (const fx of table) {
      test(`${fx.name}: ${fx.description}`, () => {
        const [ref, ...others] = modesFor(fx).map((m) => ({ mode: m, run: runFixture(fx, m) }));
        const produced = goldenOf(fx, ref.run);
        for (const { mode, run } of [ref, ...others]) {
          assert.deepEqual(run.verdictErrors, [], `${mode.name}: verdicts`);
          assert.deepEqual(run.counters, fx.counters, `${mode.name}: counters that moved`);
        }
        for (const { mode, run } of others)
          assertSameOutput(goldenOf(fx, run), produced, `${mode.name} vs ${ref.mode.name}`);
        const expected = UPDATE ? produced : goldens[fx.name];
        assert.ok(
          expected !== undefined,
          `no golden for ${fx.name} in ${group}.json: run with TAPVS_FIXTURES_UPDATE=1`,
        );
        assertSameOutput(produced, expected, 'golden');
        assertChecksums(fx, expected);
        if (UPDATE) fresh[fx.name] = produced;
      });
    }

    test(`${group}.json holds goldens for exactly the fixtures of the table`, () => {
      const names = table.map((f) => f.name);
      assert.equal(new Set(names).size, names.length, 'fixture names are unique');
      if (!UPDATE) assert.deepEqual(Object.keys(goldens).sort(), [...names].sort());
    });

    after(() => {
      if (UPDATE && Object.keys(fresh).length === table.length) writeGoldens(group, fresh);
    });
  });
}
