/** ipvsadm's -b words and the IP_VS_SVC_F_SCHED* bits, both ways (control/sched-flags.ts). */

import assert from 'node:assert/strict';
import test from 'node:test';
import { schedFlagBits, schedFlagsFromWords, schedFlagWords } from '../../../src/control/sched-flags.js';
import { TapvsError } from '../../../src/errors.js';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from '../../../src/ipvs/service.js';

const bad = (message: string) => (e: unknown) =>
  e instanceof TapvsError && e.code === 'BAD_ARGUMENT' && e.message === message;

test('-b: generic flags work with any scheduler', () => {
  assert.equal(schedFlagsFromWords('rr', ['flag-1']), SCHED_FLAG_1);
  assert.equal(schedFlagsFromWords('wlc', ['flag-1', 'flag-2', 'flag-3']), 0x38);
  assert.equal(schedFlagsFromWords('sh', ['flag-3']), SCHED_FLAG_3);
  assert.equal(schedFlagsFromWords('sh', ['sh-fallback', 'sh-port']), SCHED_FLAG_1 | SCHED_FLAG_2);
  assert.equal(schedFlagsFromWords('mh', ['mh-port']), SCHED_FLAG_2);
  assert.equal(schedFlagsFromWords('mh', ['mh-fallback,mh-port']), 0x18); // one comma list
  assert.equal(schedFlagsFromWords('sh', ['', 'sh-port', '']), SCHED_FLAG_2); // strtok skips empties
  assert.equal(schedFlagsFromWords('wlc', []), 0);
});

test("-b: sh-* needs sh and mh-* needs mh, with ipvsadm's message", () => {
  assert.throws(() => schedFlagsFromWords('rr', ['sh-port']), bad("incompatible scheduler flag `sh-port'"));
  assert.throws(() => schedFlagsFromWords('mh', ['sh-fallback']), bad("incompatible scheduler flag `sh-fallback'"));
  assert.throws(() => schedFlagsFromWords('sh', ['mh-port']), bad("incompatible scheduler flag `mh-port'"));
  // no -s: checked against the default wlc
  assert.throws(() => schedFlagsFromWords('', ['mh-fallback']), bad("incompatible scheduler flag `mh-fallback'"));
});

test('-b: an unknown word is invalid; the first bad word left to right is reported', () => {
  assert.throws(() => schedFlagsFromWords('sh', ['bogus']), bad("invalid scheduler flag `bogus'"));
  assert.throws(() => schedFlagsFromWords('sh', ['sh-port', 'Flag-1']), bad("invalid scheduler flag `Flag-1'"));
  assert.throws(() => schedFlagsFromWords('rr', ['bogus', 'sh-port']), bad("invalid scheduler flag `bogus'"));
  assert.throws(() => schedFlagsFromWords('rr', ['sh-port', 'bogus']), bad("incompatible scheduler flag `sh-port'"));
});

test('listing: sh and mh name their flags and keep flag-3, other schedulers show flag-N (ipvsadm.c, print_sched_flags())', () => {
  assert.deepEqual(schedFlagWords('sh', 0x18), ['sh-fallback', 'sh-port']);
  assert.deepEqual(schedFlagWords('mh', SCHED_FLAG_2), ['mh-port']);
  assert.deepEqual(schedFlagWords('sh', SCHED_FLAG_3), ['flag-3']);
  assert.deepEqual(schedFlagWords('mh', 0x38), ['mh-fallback', 'mh-port', 'flag-3']);
  assert.deepEqual(schedFlagWords('wrr', 0x38), ['flag-1', 'flag-2', 'flag-3']);
  assert.deepEqual(schedFlagWords('wlc', 0), []);
});

test('listing words back to bits: every word counts, unknown ones count for nothing', () => {
  assert.equal(schedFlagBits(['sh-fallback', 'sh-port']), SCHED_FLAG_1 | SCHED_FLAG_2);
  assert.equal(schedFlagBits(['flag-3', 'mh-port']), SCHED_FLAG_3 | SCHED_FLAG_2);
  assert.equal(schedFlagBits(['bogus', 'toString']), 0);
  assert.equal(schedFlagBits([]), 0);
  for (const [sched, bits] of [
    ['sh', 0x18],
    ['sh', 0x38],
    ['mh', 0x08],
    ['mh', 0x20],
    ['rr', 0x38],
    ['wlc', 0x10],
  ] as const) {
    assert.equal(schedFlagBits(schedFlagWords(sched, bits)), bits, sched);
  }
});
