import test from 'node:test';
import assert from 'node:assert/strict';
import {
  createScheduler, schedFlagWords, schedFlagsFromWords, schedulerNames,
} from '../../../../src/ipvs/sched/registry.js';
import { TapvsError } from '../../../../src/errors.js';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from '../../../../src/ipvs/service.js';

const ALL = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];

test('registry: all 14 schedulers exist under their -s names', () => {
  assert.deepEqual(schedulerNames(), ALL);
  for (const name of ALL) assert.equal(createScheduler(name).name, name);
  const a = createScheduler('wlc'), b = createScheduler('wlc');
  assert.notEqual(a, b); // one instance per service
});

test('registry: an unknown name is SCHED_NOT_FOUND, and "toString" is no scheduler', () => {
  for (const name of ['bogus', 'toString', 'none', '', 'WLC']) {
    assert.throws(() => createScheduler(name), (e: unknown) =>
      e instanceof TapvsError && e.code === 'SCHED_NOT_FOUND'
      && e.message === `Scheduler or persistence engine not found: ${name}`);
  }
});

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

test('-b: sh-* needs sh and mh-* needs mh, with ipvsadm\'s message', () => {
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

test('listing: sh and mh name their flags, other schedulers show flag-N', () => {
  assert.deepEqual(schedFlagWords('sh', 0x18), ['sh-fallback', 'sh-port']);
  assert.deepEqual(schedFlagWords('mh', SCHED_FLAG_2), ['mh-port']);
  assert.deepEqual(schedFlagWords('sh', SCHED_FLAG_3), []);
  assert.deepEqual(schedFlagWords('wrr', 0x38), ['flag-1', 'flag-2', 'flag-3']);
  assert.deepEqual(schedFlagWords('wlc', 0), []);
});

test('registry: sh and mh take their flags from the options', () => {
  // sh-port: the source port changes the bucket; sh without it ignores the port
  const on = createScheduler('sh', { flags: SCHED_FLAG_2 });
  const off = createScheduler('sh', { flags: 0 });
  assert.equal((on as unknown as { usePort: boolean }).usePort, true);
  assert.equal((off as unknown as { usePort: boolean }).usePort, false);
  const mh = createScheduler('mh', { flags: SCHED_FLAG_1 });
  assert.equal((mh as unknown as { fallback: boolean }).fallback, true);
});
