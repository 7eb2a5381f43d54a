/**
 * One checker's keepalived state machine, attempt by attempt: which attempt changes the verdict
 * and how long until the next one, per checker type (check_tcp.c, check_udp.c, check_dns.c,
 * check_misc.c, check_http.c epilogs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckerState, NONE } from '../../../src/health/checker-state.js';
import type { CheckerSpec } from '../../../src/keepalived/lvs-config.js';
import { dnsCheck, httpCheck, miscCheck, tcpCheck, udpCheck, url } from '../../helpers/lvs-config.js';

/** What one attempt did: the delay to the next one, and the verdict reported ('up'/'down') if any. */
type Step = [delayMs: number, report: 'up' | 'down' | null];

function checker(spec: CheckerSpec, fresh = true) {
  const st = new CheckerState(spec);
  if (fresh) st.startFresh();
  let reweighs = 0;
  const attempt = (ok: boolean, extra: { exitStatus?: number | null; elapsedMs?: number } = {}): Step => {
    let report: 'up' | 'down' | null = null;
    const result = {
      ok,
      reason: ok ? 'passed' : 'failed',
      ...('exitStatus' in extra ? { exitStatus: extra.exitStatus } : {}),
    };
    const delay = st.afterAttempt(result, extra.elapsedMs ?? 0, {
      report: (alive) => {
        report = alive ? 'up' : 'down';
        // What the engine does in update_svr_checker_state().
        st.isUp = alive;
        st.hasRun = true;
      },
      reweigh: () => {
        reweighs++;
      },
    });
    return [delay, report];
  };
  return { st, attempt, reweighs: () => reweighs };
}

const TCP = tcpCheck({ delayLoopMs: 6000 })('10.0.0.1', 80);

test('TCP_CHECK at start-up: the first failure is final (retry counter preset)', () => {
  const { st, attempt } = checker(TCP);
  assert.deepEqual(attempt(false), [6000, 'down']);
  assert.equal(st.isUp, false);
});

test('TCP_CHECK defaults: down after 2 failures 1 s apart; one success brings it back', () => {
  const { attempt } = checker(TCP);
  assert.deepEqual(attempt(true), [6000, 'up'], 'the first verdict is reported even when it confirms');
  assert.deepEqual(attempt(true), [6000, null]);
  assert.deepEqual(attempt(false), [1000, null], 'retry after delay_before_retry');
  assert.deepEqual(attempt(true), [6000, null], 'a success resets the count');
  assert.deepEqual(attempt(false), [1000, null]);
  assert.deepEqual(attempt(false), [6000, 'down'], 'retry + 1 = 2 failures in a row');
  // check_tcp.c counts on while down: delay_before_retry and delay_loop alternate.
  assert.deepEqual(attempt(false), [1000, null]);
  assert.deepEqual(attempt(false), [6000, null]);
  assert.deepEqual(attempt(true), [6000, 'up']);
});

test('TCP_CHECK with retry 3: down after 4 failures', () => {
  const { attempt } = checker(tcpCheck({ retry: 3, delayBeforeRetryMs: 2000, delayLoopMs: 10_000 })('10.0.0.1', 80));
  attempt(true);
  assert.deepEqual(
    [attempt(false), attempt(false), attempt(false), attempt(false)],
    [
      [2000, null],
      [2000, null],
      [2000, null],
      [10_000, 'down'],
    ],
  );
});

test('alpha: the checker starts down and one success brings it up', () => {
  const { st, attempt } = checker(tcpCheck({ alpha: true })('10.0.0.1', 80));
  assert.equal(st.isUp, false);
  assert.deepEqual(attempt(true), [60_000, 'up']);
});

test('alpha: a first failure is reported (keepalived notifies down) and the checker stays down', () => {
  const { st, attempt } = checker(tcpCheck({ alpha: true })('10.0.0.1', 80));
  assert.deepEqual(attempt(false), [60_000, 'down']);
  assert.equal(st.isUp, false);
});

test('DNS_CHECK defaults: 4 attempts delay_loop apart; a down checker polls every delay_loop', () => {
  const { attempt } = checker(dnsCheck({ delayLoopMs: 5000 })('10.0.0.53', 53));
  attempt(true);
  assert.deepEqual(
    [attempt(false), attempt(false), attempt(false), attempt(false)],
    [
      [5000, null],
      [5000, null],
      [5000, null],
      [5000, 'down'],
    ],
  );
  // check_dns.c counts failures only while up.
  assert.deepEqual(attempt(false), [5000, null]);
  assert.deepEqual(attempt(true), [5000, 'up']);
});

test('UDP_CHECK: while down a failure waits delay_loop (no retry spacing)', () => {
  const { attempt } = checker(udpCheck({ delayLoopMs: 4000 })('10.0.0.1', 53));
  attempt(true);
  assert.deepEqual(attempt(false), [1000, null]);
  assert.deepEqual(attempt(false), [4000, 'down']);
  assert.deepEqual(attempt(false), [4000, null]);
});

test('MISC_CHECK defaults: retry 0, one failure is final; the next run is timed from the last start', () => {
  const { attempt } = checker(miscCheck(['/bin/check'], { delayLoopMs: 5000 })('10.0.0.1', 80));
  assert.deepEqual(attempt(true, { exitStatus: 0, elapsedMs: 2000 }), [3000, 'up']);
  assert.deepEqual(attempt(false, { exitStatus: 1, elapsedMs: 1500 }), [3500, 'down']);
  assert.deepEqual(attempt(false, { exitStatus: 1, elapsedMs: 7000 }), [0, null], 'overran delay_loop: at once');
  assert.deepEqual(attempt(true, { exitStatus: 0 }), [5000, 'up']);
});

test('MISC_CHECK: the exit status decides, not the probe flag; 2..255 fail without misc_dynamic', () => {
  const { attempt } = checker(miscCheck(['/bin/check'])('10.0.0.1', 80));
  assert.deepEqual(attempt(true, { exitStatus: 7 }), [60_000, 'down']);
  assert.deepEqual(attempt(false, { exitStatus: 0 }), [60_000, 'up']);
  assert.deepEqual(attempt(false, { exitStatus: null }), [60_000, 'down'], 'killed: a failure');
});

test('MISC_CHECK misc_dynamic: exit 2..255 passes and sets the weight to status - 2; exit 0 restores it', () => {
  const { st, attempt, reweighs } = checker(miscCheck(['/bin/w'], { dynamic: true })('10.0.0.1', 80));
  assert.deepEqual(attempt(true, { exitStatus: 12 }), [60_000, 'up']);
  assert.equal(st.dynamicWeight, 10);
  attempt(true, { exitStatus: 12 });
  assert.equal(reweighs(), 1, 'the same status does not re-weigh');
  attempt(true, { exitStatus: 2 });
  assert.equal(st.dynamicWeight, 0);
  attempt(true, { exitStatus: 0 });
  assert.equal(st.dynamicWeight, NONE);
  assert.equal(reweighs(), 3);
  attempt(true, { exitStatus: 9 });
  assert.deepEqual(attempt(false, { exitStatus: 1 }), [60_000, 'down']);
  assert.equal(st.dynamicWeight, NONE, 'a failed checker no longer sets the weight');
});

test('HTTP_GET: one url per delay_loop, cycling; a failing url is retried after delay_before_retry', () => {
  const { st, attempt } = checker(httpCheck([url('/a'), url('/b'), url('/c')], { delayLoopMs: 6000 })('10.0.0.1', 80));
  const urls: number[] = [];
  const step = (ok: boolean): Step => {
    urls.push(st.urlIndex);
    return attempt(ok);
  };
  assert.deepEqual(
    [step(true), step(true), step(true)],
    [
      [6000, null],
      [6000, null],
      [6000, 'up'],
    ],
  );
  assert.deepEqual(step(true), [6000, null]);
  assert.deepEqual(step(false), [3000, null], '/b failed once: retried');
  assert.deepEqual(step(false), [6000, 'down'], '/b failed twice: down, polled every max(3 s, 6 s)');
  assert.equal(st.failedUrl, 1);
  assert.deepEqual(step(false), [6000, null]);
  assert.deepEqual(step(true), [6000, null], 'the failed url passes: the list is walked again');
  assert.deepEqual(
    [step(true), step(true)],
    [
      [6000, null],
      [6000, null],
    ],
  );
  assert.deepEqual(step(true), [6000, 'up'], 'up only when every url has passed');
  assert.deepEqual(urls, [0, 1, 2, 0, 1, 1, 1, 1, 0, 1, 2]);
});

test('HTTP_GET at start-up: the first failing url is final; fast_recovery walks the list at once', () => {
  const { st, attempt } = checker(
    httpCheck([url('/a'), url('/b')], { fastRecovery: true, delayBeforeRetryMs: 2000, delayLoopMs: 5000 })(
      '10.0.0.1',
      80,
    ),
  );
  assert.deepEqual(attempt(true), [0, null], 'no verdict yet: fast_recovery goes on at once');
  assert.deepEqual(attempt(false), [5000, 'down']);
  assert.equal(st.failedUrl, 1);
  assert.deepEqual(attempt(true), [0, null], 'the failed url passed: re-walk without waiting');
  assert.deepEqual(attempt(true), [0, null]);
  assert.deepEqual(attempt(true), [5000, 'up']);
});
