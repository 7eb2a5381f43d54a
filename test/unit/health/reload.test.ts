/**
 * Reloading the health-check engine (keepalived's SIGHUP, ipwrapper.c clear_diff_services() and
 * migrate_checkers()): state kept for what stays, start-up behaviour for what is new, removal of
 * what is gone, one atomic apply, nothing at all when the configuration is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Diagnostic, VirtualServerConfig } from '../../../src/keepalived/lvs-config.js';
import { lvsConfig, realServer, tcpCheck, virtualServer } from '../../helpers/lvs-config.js';
import { harness, SERVICE, VIP } from './harness.js';

const RS1 = '192.168.2.129';
const RS2 = '192.168.2.130';
const RS3 = '192.168.2.131';

/** The textbook service with these real servers, each with one TCP_CHECK every 5 s. */
function web(servers: string[], over: Partial<VirtualServerConfig> = {}, weights: Record<string, number> = {}) {
  return virtualServer(
    VIP,
    80,
    over,
    servers.map((a) =>
      realServer(a, 80, { weight: weights[a] ?? 1, notifyDown: [`/bin/down-${a}`] }, [tcpCheck({ delayLoopMs: 5000 })]),
    ),
  );
}

test('reload of the same configuration sends no command; a down server stays down until it passes', async () => {
  const h = harness();
  h.probes.set(`${RS2}:80`, { ok: false });
  h.engine.start(lvsConfig([web([RS1, RS2])]));
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  h.probes.set(`${RS2}:80`, { ok: true });
  await h.clock.advanceTo(3000);
  assert.deepEqual(h.engine.reload(lvsConfig([web([RS1, RS2])])), { ok: true, diagnostics: [], commands: 0 });
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 }, 'not re-added by the reload');
  assert.equal(h.engine.status().checkers[1].state, 'down');
  // Every checker restarts 1 s (+ warmup) after the reload, not on the old schedule (6 s).
  await h.clock.advanceTo(3999);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  await h.clock.advanceTo(4000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1, [`${RS2}:80`]: 1 });
  assert.equal(h.engine.status().checkers[1].checksRun, 2, 'counters carried over');
});

test('reload: a new server comes in as at start-up, a removed one leaves (notify_down) and is no longer checked', async () => {
  const h = harness();
  h.engine.start(lvsConfig([web([RS1, RS2])]));
  await h.clock.advanceTo(1000);
  h.commands.length = 0;
  const out = h.engine.reload(lvsConfig([web([RS1, RS3])]));
  assert.deepEqual(out, { ok: true, diagnostics: [], commands: 2 });
  assert.deepEqual(h.commands, [`deleteDest ${SERVICE} ${RS2}:80`, `addDest ${SERVICE} ${RS3}:80 w1`]);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1, [`${RS3}:80`]: 1 });
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    [`/bin/down-${RS2}`],
  );
  const before = h.probes.callsTo(`${RS2}:80`).length;
  h.probes.set(`${RS3}:80`, { ok: false });
  await h.clock.advanceTo(30_000);
  assert.equal(h.probes.callsTo(`${RS2}:80`).length, before, 'the removed server is not checked any more');
  assert.equal(h.probes.callsTo(`${RS3}:80`)[0]?.atMs, 2000, 'the new one first at 1 s after the reload');
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 }, 'its first failure is final, as at start-up');
});

test('reload: a weight or scheduler change is an edit, never a delete and add', async () => {
  const h = harness();
  h.engine.start(lvsConfig([web([RS1, RS2])]));
  await h.clock.advanceTo(1000);
  const svc = h.td.ipvs.services[0];
  const dests = [...svc.dests];
  h.commands.length = 0;
  h.engine.reload(lvsConfig([web([RS1, RS2], { scheduler: 'wlc' }, { [RS1]: 5 })]));
  assert.deepEqual(h.commands, [`editService ${SERVICE}`, `editDest ${SERVICE} ${RS1}:80 w5`]);
  assert.equal(h.td.ipvs.services[0], svc, 'the same service object: connections and counters stay');
  assert.ok(
    dests.every((d) => svc.dests.includes(d)),
    'the same dest objects',
  );
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 5, [`${RS2}:80`]: 1 });
});

test('reload: changed timing keeps a checker down; a changed probe starts fresh and brings its server back', async () => {
  const h = harness();
  h.probes.set(`${RS1}:80`, { ok: false });
  h.engine.start(lvsConfig([web([RS1])]));
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), {});
  const slower = virtualServer(VIP, 80, {}, [realServer(RS1, 80, {}, [tcpCheck({ delayLoopMs: 9000, retry: 3 })])]);
  assert.equal(h.engine.reload(lvsConfig([slower])).commands, 0);
  assert.deepEqual(h.dests(), {}, 'same probe, other timing: state kept');
  const otherPort = virtualServer(VIP, 80, {}, [
    realServer(RS1, 80, { notifyUp: ['/bin/up'] }, [tcpCheck({ connectPort: 8080 })]),
  ]);
  assert.equal(h.engine.reload(lvsConfig([otherPort])).commands, 1);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 }, 'no checker is down any more: the server is up');
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    [`/bin/down-${RS1}`, '/bin/up'],
  );
});

test('reload: a removed virtual server loses its service; its alive servers get notify_down, then quorum_down', async () => {
  const h = harness();
  const other = virtualServer('192.168.222.132', 80, { quorumDown: ['/bin/qdown'] }, [
    realServer(RS3, 80, { notifyDown: ['/bin/down3'] }, [tcpCheck()]),
  ]);
  h.engine.start(lvsConfig([web([RS1]), other]));
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.engine.reload(lvsConfig([web([RS1])])).commands, 1);
  assert.equal(h.dests('tcp 192.168.222.132:80'), null);
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    ['/bin/down3', '/bin/qdown'],
  );
});

test('reload: quorum state and an unchanged sorry server stay; a changed sorry server is swapped', async () => {
  const h = harness();
  h.probes.set(`${RS1}:80`, { ok: false });
  const sorry = (port: number) => ({ sorryServer: { addr: '192.168.2.200', port } });
  h.engine.start(lvsConfig([web([RS1], sorry(80))]));
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { '192.168.2.200:80': 1 });
  assert.equal(h.engine.reload(lvsConfig([web([RS1], sorry(80))])).commands, 0);
  h.commands.length = 0;
  h.engine.reload(lvsConfig([web([RS1], sorry(8080))]));
  assert.deepEqual(h.dests(), { '192.168.2.200:8080': 1 });
  assert.deepEqual(h.commands, [`deleteDest ${SERVICE} 192.168.2.200:80`, `addDest ${SERVICE} 192.168.2.200:8080 w1`]);
});

test('reload with an error diagnostic changes nothing: same rules, same checks, diagnostics returned', async () => {
  const h = harness();
  h.engine.start(lvsConfig([web([RS1])]));
  await h.clock.advanceTo(1000);
  const bad: Diagnostic = { file: 'keepalived.conf', line: 7, severity: 'error', message: 'unknown lb_algo' };
  const out = h.engine.reload(lvsConfig([web([RS2])], [bad]));
  assert.deepEqual(out, { ok: false, diagnostics: [bad], commands: 0 });
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  await h.clock.advanceTo(6000);
  assert.deepEqual(
    h.probes.calls.map((c) => [c.atMs, c.target]),
    [
      [1000, `${RS1}:80`],
      [6000, `${RS1}:80`],
    ],
    'the old checks go on, on their old schedule',
  );
});

test('reload refused by the control plane changes nothing and names the virtual server', async () => {
  const h = harness();
  h.engine.start(lvsConfig([web([RS1])]));
  await h.clock.advanceTo(1000);
  const vs = web([RS1, RS2], { scheduler: 'nope' });
  const out = h.engine.reload(lvsConfig([vs]));
  assert.equal(out.ok, false);
  assert.deepEqual(out.diagnostics, [
    {
      file: vs.at.file,
      line: vs.at.line,
      severity: 'error',
      message: `editService ${SERVICE}: Scheduler or persistence engine not found: nope`,
    },
  ]);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  await h.clock.advanceTo(6000);
  assert.equal(h.probes.callsTo(`${RS2}:80`).length, 0);
  assert.equal(h.probes.callsTo(`${RS1}:80`).length, 2);
});

test('start with errors, or with two virtual servers for one service, applies nothing and runs no check', async () => {
  const h = harness();
  const bad: Diagnostic = { file: 'keepalived.conf', line: 3, severity: 'error', message: 'bad' };
  const warning: Diagnostic = { ...bad, severity: 'warning', message: 'ha_suspend is ignored' };
  assert.deepEqual(h.engine.start(lvsConfig([web([RS1])], [warning, bad])).diagnostics, [bad]);
  const twice = [web([RS1]), web([RS2])];
  const out = h.engine.start(lvsConfig(twice));
  assert.equal(out.ok, false);
  assert.match(out.diagnostics[0]?.message ?? '', /virtual server tcp 192\.168\.222\.131:80 is also defined at/);
  assert.equal(h.dests(), null);
  await h.clock.advance(60_000);
  assert.equal(h.probes.calls.length, 0);
});
