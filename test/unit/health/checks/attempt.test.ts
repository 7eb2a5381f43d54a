/** The Attempt every probe runs in: one result, cleanups on every path, no exception escapes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runAttempt, seconds } from '../../../../src/health/checks/attempt.js';
import { NEVER } from './fixtures.js';

test('attempt: the first result wins and later ones are ignored', async () => {
  const result = await runAttempt('TCP_CHECK', NEVER, (a) => {
    a.fail('connection refused');
    a.pass('connected');
    a.fail('again');
  });
  assert.deepEqual(result, { ok: false, reason: 'TCP_CHECK: connection refused' });
});

test('attempt: cleanups run once, last first, even when one throws; late ones run at once', async () => {
  const ran: string[] = [];
  let attempt: Parameters<Parameters<typeof runAttempt>[2]>[0] | null = null;
  await runAttempt('X', NEVER, (a) => {
    attempt = a;
    a.defer(() => ran.push('socket'));
    a.defer(() => {
      throw new Error('already closed');
    });
    a.defer(() => ran.push('timer'));
    a.pass('ok');
    a.pass('ok');
  });
  assert.deepEqual(ran, ['timer', 'socket']);
  attempt!.defer(() => ran.push('late'));
  assert.deepEqual(ran, ['timer', 'socket', 'late']);
});

test('attempt: a probe that throws fails with the message instead of rejecting', async () => {
  const result = await runAttempt('DNS_CHECK', NEVER, () => {
    throw new Error('boom');
  });
  assert.deepEqual(result, { ok: false, reason: 'DNS_CHECK: internal error: boom' });
  const late = await runAttempt('DNS_CHECK', NEVER, (a) =>
    a.deadline(1, () => {
      throw new TypeError('late boom');
    }),
  );
  assert.deepEqual(late, { ok: false, reason: 'DNS_CHECK: internal error: late boom' });
});

test('attempt: re-arming the deadline replaces it; settling clears it', async () => {
  const fired: string[] = [];
  const result = await runAttempt('X', NEVER, (a) => {
    a.deadline(5, () => fired.push('first'));
    a.deadline(20, () => {
      fired.push('second');
      a.fail('timeout');
    });
  });
  assert.deepEqual(fired, ['second']);
  assert.deepEqual(result, { ok: false, reason: 'X: timeout' });
  const quick = await runAttempt('X', NEVER, (a) => {
    a.deadline(5, () => fired.push('never'));
    a.pass('done');
  });
  assert.deepEqual(quick, { ok: true, reason: 'done' });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(fired, ['second']);
});

test('attempt: abort settles "aborted", unless the probe takes over the abort to wind down first', async () => {
  const ac = new AbortController();
  const plain = runAttempt('X', ac.signal, () => {});
  ac.abort();
  assert.deepEqual(await plain, { ok: false, reason: 'aborted' });

  const ac2 = new AbortController();
  const steps: string[] = [];
  const windingDown = runAttempt('X', ac2.signal, (a) =>
    a.onAbort(() => {
      steps.push('stopping');
      setTimeout(() => a.settle({ ok: false, reason: 'aborted' }), 5);
    }),
  );
  ac2.abort();
  assert.deepEqual(await windingDown, { ok: false, reason: 'aborted' });
  assert.deepEqual(steps, ['stopping']);
});

test('attempt: exitStatus appears only when given', async () => {
  assert.deepEqual(await runAttempt('MISC_CHECK', NEVER, (a) => a.fail('timed out', null)), {
    ok: false,
    reason: 'MISC_CHECK: timed out',
    exitStatus: null,
  });
  assert.deepEqual(await runAttempt('MISC_CHECK', NEVER, (a) => a.pass('exit status 0', 0)), {
    ok: true,
    reason: 'exit status 0',
    exitStatus: 0,
  });
});

test('attempt: seconds() writes connect_timeout as keepalived users write it', () => {
  assert.equal(seconds(3000), '3 s');
  assert.equal(seconds(1500), '1.5 s');
  assert.equal(seconds(250), '0.25 s');
  assert.equal(seconds(1), '0.001 s');
});
