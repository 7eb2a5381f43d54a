import assert from 'node:assert/strict';
import test from 'node:test';
import { TapvsError } from '../../../../src/errors.js';
import { createScheduler, DEFAULT_SCHEDULER, schedulerNames } from '../../../../src/ipvs/sched/registry.js';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../../../../src/ipvs/service.js';

const ALL = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];

test('registry: all 14 schedulers exist under their -s names', () => {
  assert.deepEqual(schedulerNames(), ALL);
  for (const name of ALL) assert.equal(createScheduler(name).name, name);
  const a = createScheduler('wlc'),
    b = createScheduler('wlc');
  assert.notEqual(a, b); // one instance per service
});

test("registry: ipvsadm's default scheduler is one of them", () => {
  assert.equal(DEFAULT_SCHEDULER, 'wlc');
  assert.equal(createScheduler(DEFAULT_SCHEDULER).name, 'wlc');
});

test('registry: an unknown name is SCHED_NOT_FOUND, and "toString" is no scheduler', () => {
  for (const name of ['bogus', 'toString', 'none', '', 'WLC']) {
    assert.throws(
      () => createScheduler(name),
      (e: unknown) =>
        e instanceof TapvsError &&
        e.code === 'SCHED_NOT_FOUND' &&
        e.message === `Scheduler or persistence engine not found: ${name}`,
    );
  }
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
