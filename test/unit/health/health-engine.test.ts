/**
 * The health-check engine against the real IPVS model, in virtual time: start-up, exact fall and
 * rise timings per checker type, the detection-time bound, inhibit_on_failure, alpha, HTTP url
 * cycling, misc_dynamic, quorum with hysteresis and the sorry server, stop and status.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMetrics } from '../../../src/control/metrics.js';
import { CLIENT, CLIENT_MAC, EXT_MAC, resolveNeighbours } from '../../helpers/director.js';
import { ACK, decode, ip, ipFrame, SYN, TCP } from '../../helpers/frames.js';
import {
  dnsCheck,
  httpCheck,
  lvsConfig,
  miscCheck,
  realServer,
  tcpCheck,
  url,
  virtualServer,
} from '../../helpers/lvs-config.js';
import { harness, SERVICE, VIP } from './harness.js';

const RS1 = '192.168.2.129';
const RS2 = '192.168.2.130';

test('start: servers are in before any check; the first failure (at 1 s) takes a server out at once', async () => {
  const h = harness();
  const cfg = lvsConfig([
    virtualServer(VIP, 80, {}, [
      realServer(RS1, 80, {}, [tcpCheck({ delayLoopMs: 6000 })]),
      realServer(RS2, 80, {}, [tcpCheck({ delayLoopMs: 6000 })]),
    ]),
  ]);
  assert.deepEqual(h.engine.start(cfg), { ok: true, diagnostics: [], commands: 3 });
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1, [`${RS2}:80`]: 1 });
  h.probes.set(`${RS2}:80`, { ok: false, reason: 'TCP_CHECK: connection refused' });
  await h.clock.advance(999);
  assert.equal(h.probes.calls.length, 0, 'keepalived waits BOOTSTRAP_DELAY (1 s) + random warmup');
  await h.clock.advance(1);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  assert.ok(
    h.logs.includes(`warn real server ${RS2}:80 of ${SERVICE} down: TCP_CHECK: connection refused`),
    h.logs.join('\n'),
  );
});

test('TCP_CHECK: detection within delay_loop + (retry+1) x connect_timeout + retry x delay_before_retry', async () => {
  const h = harness();
  const check = tcpCheck({ delayLoopMs: 6000, connectTimeoutMs: 3000 }); // retry 1, 1 s apart
  h.engine.start(lvsConfig([virtualServer(VIP, 80, {}, [realServer(RS1, 80, {}, [check])])]));
  await h.clock.advanceTo(1000); // passes at 1 s
  // The server dies right after: every attempt now times out after connect_timeout.
  h.probes.set(`${RS1}:80`, { ok: false, reason: 'TCP_CHECK: connect timeout after 3 s', tookMs: 3000 });
  const bound = 6000 + 2 * 3000 + 1 * 1000;
  await h.clock.advanceTo(1000 + bound - 1);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 }, 'not before the second timeout');
  await h.clock.advanceTo(1000 + bound);
  assert.deepEqual(h.dests(), {});
  assert.deepEqual(
    h.probes.calls.map((c) => c.atMs),
    [1000, 7000, 11_000],
  );
});

test('TCP_CHECK: one success brings a down server back at its weight', async () => {
  const h = harness();
  h.probes.set(`${RS1}:80`, { ok: false });
  h.engine.start(
    lvsConfig([virtualServer(VIP, 80, {}, [realServer(RS1, 80, { weight: 3 }, [tcpCheck({ delayLoopMs: 5000 })])])]),
  );
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), {});
  h.probes.set(`${RS1}:80`, { ok: true, reason: 'TCP_CHECK: connected' });
  // The first failure was final and restarts the delay_loop: the next attempt is at 6 s.
  await h.clock.advanceTo(5999);
  assert.deepEqual(h.dests(), {});
  await h.clock.advanceTo(6000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 3 });
  assert.ok(h.logs.includes(`info real server ${RS1}:80 of ${SERVICE} up: TCP_CHECK: connected`));
});

test('MISC_CHECK: retry 0 (one failure is final) and the next run timed from the previous start', async () => {
  const h = harness();
  h.probes.set(`${RS1}:80`, { ok: true, exitStatus: 0, tookMs: 2000 });
  h.engine.start(
    lvsConfig([virtualServer(VIP, 80, {}, [realServer(RS1, 80, {}, [miscCheck(['/bin/ok'], { delayLoopMs: 5000 })])])]),
  );
  await h.clock.advanceTo(11_000);
  assert.deepEqual(
    h.probes.calls.map((c) => c.atMs),
    [1000, 6000, 11_000],
  );
  h.probes.set(`${RS1}:80`, { ok: false, exitStatus: 1, tookMs: 2000 });
  // The run started at 11 s still passes; the one at 16 s fails when it ends, at 18 s.
  await h.clock.advanceTo(17_999);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  await h.clock.advanceTo(18_000);
  assert.deepEqual(h.dests(), {}, 'one failure is final');
});

test('DNS_CHECK defaults: down after 4 failed attempts, delay_loop apart', async () => {
  const h = harness();
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 53, { protocol: 'udp' }, [realServer(RS1, 53, {}, [dnsCheck({ delayLoopMs: 3000 })])]),
    ]),
  );
  await h.clock.advanceTo(1000);
  h.probes.set(`${RS1}:53`, { ok: false, reason: 'DNS_CHECK: read timeout' });
  await h.clock.advanceTo(12_999);
  assert.deepEqual(h.dests(`udp ${VIP}:53`), { [`${RS1}:53`]: 1 });
  await h.clock.advanceTo(13_000);
  assert.deepEqual(h.dests(`udp ${VIP}:53`), {});
  assert.deepEqual(
    h.probes.calls.map((c) => c.atMs),
    [1000, 4000, 7000, 10_000, 13_000],
  );
});

test('alpha: a server is out until its checks pass once; with inhibit_on_failure it waits at weight 0', async () => {
  const h = harness();
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS1, 80, { weight: 2 }, [tcpCheck({ alpha: true })]),
        realServer(RS2, 80, { weight: 2, inhibitOnFailure: true }, [tcpCheck({ alpha: true })]),
      ]),
    ]),
  );
  assert.deepEqual(h.dests(), { [`${RS2}:80`]: 0 });
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 2, [`${RS2}:80`]: 2 });
});

test('alpha: the first failure runs notify_down (keepalived reports the first result)', async () => {
  const h = harness();
  h.probes.set(`${RS1}:80`, { ok: false });
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS1, 80, { notifyDown: ['/bin/down', 'rs1'] }, [tcpCheck({ alpha: true })]),
      ]),
    ]),
  );
  await h.clock.advanceTo(1000);
  assert.deepEqual(
    h.scripts.map((s) => [s.atMs, s.argv]),
    [[1000, '/bin/down rs1']],
  );
});

test('inhibit_on_failure: a failed server stays in at weight 0 and gets its weight back', async () => {
  const h = harness();
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS1, 80, { weight: 4, inhibitOnFailure: true }, [tcpCheck({ delayLoopMs: 5000 })]),
      ]),
    ]),
  );
  h.probes.set(`${RS1}:80`, { ok: false });
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 0 });
  assert.ok(h.commands.includes(`editDest ${SERVICE} ${RS1}:80 w0`), 'an edit, not a delete');
  h.probes.set(`${RS1}:80`, { ok: true });
  await h.clock.advanceTo(6000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 4 });
});

test('inhibit_on_failure: connections to the failed server go on; new ones go to the others', async () => {
  const h = harness();
  resolveNeighbours(h.td);
  const servers = [RS1, RS2].map((a) =>
    realServer(a, 80, { inhibitOnFailure: true }, [tcpCheck({ delayLoopMs: 5000 })]),
  );
  h.engine.start(lvsConfig([virtualServer(VIP, 80, {}, servers)]));
  const client = (sport: number, flags: number) =>
    ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, ip(VIP), { proto: TCP, sport, dport: 80, flags, seq: 1 });
  const sentTo = (): Array<string | undefined> => h.td.int.take().map((f) => decode(f).dst);
  h.td.send('ext', [client(40_000, SYN)]);
  const [first] = sentTo();
  assert.ok(first === RS1 || first === RS2);
  h.probes.set(`${first}:80`, { ok: false });
  await h.clock.advanceTo(1000);
  assert.equal(h.dests()?.[`${first}:80`], 0);
  h.td.send('ext', [client(40_000, ACK)]);
  assert.deepEqual(sentTo(), [first], 'the established connection still reaches it');
  h.td.send('ext', [client(40_001, SYN), client(40_002, SYN)]);
  const other = first === RS1 ? RS2 : RS1;
  assert.deepEqual(sentTo(), [other, other], 'weight 0: no new connection');
});

test('HTTP_GET: one url per delay_loop; a failed url is polled and recovery walks every url', async () => {
  const h = harness();
  const check = httpCheck([url('/a'), url('/b')], { delayLoopMs: 5000 }); // delay_before_retry 3 s
  h.probes.set(`${RS1}:80`, (call) => {
    const b = call.url === 1;
    return b && call.atMs >= 6000 && call.atMs < 20_000
      ? { ok: false, reason: 'HTTP_GET: status 503' }
      : { ok: true, reason: 'HTTP_GET: status 200' };
  });
  h.engine.start(lvsConfig([virtualServer(VIP, 80, {}, [realServer(RS1, 80, {}, [check])])]));
  await h.clock.advanceTo(6000);
  assert.deepEqual(h.dests(), {}, 'the first failure of a checker with no verdict yet is final');
  assert.ok(h.logs.includes(`warn real server ${RS1}:80 of ${SERVICE} down: HTTP_GET: status 503`));
  await h.clock.advanceTo(30_999);
  assert.deepEqual(h.dests(), {}, 'up only when every url has passed again');
  await h.clock.advanceTo(31_000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
  assert.deepEqual(
    h.probes.calls.map((c) => [c.atMs, c.url]),
    [
      [1000, 0],
      [6000, 1],
      [11_000, 1],
      [16_000, 1],
      [21_000, 1],
      [26_000, 0],
      [31_000, 1],
    ],
  );
});

test('misc_dynamic: the exit status sets the weight in the table; exit 0 gives the configured one back', async () => {
  const h = harness();
  let status = 12;
  h.probes.set(`${RS1}:80`, () => ({ ok: true, exitStatus: status }));
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS1, 80, { weight: 3 }, [miscCheck(['/bin/w'], { dynamic: true, delayLoopMs: 5000 })]),
      ]),
    ]),
  );
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 10 });
  status = 0;
  await h.clock.advanceTo(6000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 3 });
  status = 2;
  await h.clock.advanceTo(11_000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 0 }, 'status 2: weight 0, the server stays in');
  assert.equal(h.engine.status().virtualServers[0].realServers[0].up, true);
});

test('all checkers must pass: a server with two checkers is down while either is', async () => {
  const h = harness();
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS1, 80, {}, [tcpCheck({ delayLoopMs: 5000 }), tcpCheck({ delayLoopMs: 5000, connectPort: 8080 })]),
      ]),
    ]),
  );
  h.probes.set(`${RS1}:80`, { ok: false });
  h.probes.set(`${RS1}:8080`, { ok: false });
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), {});
  h.probes.set(`${RS1}:80`, { ok: true });
  await h.clock.advanceTo(6000);
  assert.deepEqual(h.dests(), {}, 'one checker still down');
  assert.ok(h.logs.some((l) => l.includes('TCP_CHECK up: TCP_CHECK: passed (still down: 1 other checker(s) down)')));
  h.probes.set(`${RS1}:8080`, { ok: true });
  await h.clock.advanceTo(7000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1 });
});

test('sorry server: in when quorum is lost (alive servers out), out when it returns', async () => {
  const h = harness();
  const SORRY = '192.168.2.200';
  h.engine.start(
    lvsConfig([
      virtualServer(
        VIP,
        80,
        { quorum: 2, sorryServer: { addr: SORRY, port: 8080 }, quorumUp: ['/bin/qup'], quorumDown: ['/bin/qdown'] },
        [
          realServer(RS1, 80, {}, [tcpCheck({ delayLoopMs: 5000 })]),
          realServer(RS2, 80, {}, [tcpCheck({ delayLoopMs: 5000 })]),
        ],
      ),
    ]),
  );
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1, [`${RS2}:80`]: 1 });
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    ['/bin/qup'],
    'quorum comes up at start: quorum_up runs',
  );
  h.probes.set(`${RS2}:80`, { ok: false });
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { [`${SORRY}:8080`]: 1 });
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    ['/bin/qup', '/bin/qdown'],
  );
  const st = h.engine.status().virtualServers[0];
  assert.deepEqual([st.quorum.up, st.sorryServerIn], [false, true]);
  h.probes.set(`${RS2}:80`, { ok: true });
  await h.clock.advanceTo(6000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1, [`${RS2}:80`]: 1 });
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    ['/bin/qup', '/bin/qdown', '/bin/qup'],
  );
});

test('sorry_server_inhibit: the sorry server waits at weight 0; inhibited real servers go to 0 while it is in', async () => {
  const h = harness();
  const SORRY = '192.168.2.200';
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, { quorum: 2, sorryServer: { addr: SORRY, port: 80 }, sorryServerInhibit: true }, [
        realServer(RS1, 80, { inhibitOnFailure: true }, [tcpCheck({ delayLoopMs: 5000 })]),
        realServer(RS2, 80, {}, [tcpCheck({ delayLoopMs: 5000 })]),
      ]),
    ]),
  );
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 1, [`${RS2}:80`]: 1, [`${SORRY}:80`]: 0 });
  h.probes.set(`${RS2}:80`, { ok: false });
  await h.clock.advanceTo(1000);
  assert.deepEqual(h.dests(), { [`${RS1}:80`]: 0, [`${SORRY}:80`]: 1 });
});

test("quorum with hysteresis (keepalived's sample): 10 servers, quorum 7, hysteresis 2: up at 9 alive, lost at 4", async () => {
  const h = harness();
  const addrs = Array.from({ length: 10 }, (_, i) => `192.168.2.${10 + i}`);
  const alive = new Set<string>();
  for (const a of addrs) h.probes.set(`${a}:80`, (call) => ({ ok: alive.has(call.target) }));
  h.engine.start(
    lvsConfig([
      virtualServer(
        VIP,
        80,
        { quorum: 7, hysteresis: 2, quorumUp: ['/bin/qup'], quorumDown: ['/bin/qdown'] },
        // retry 0: a server is down at its first failure, so each step settles within one delay_loop.
        addrs.map((a) => realServer(a, 80, {}, [tcpCheck({ alpha: true, retry: 0, delayLoopMs: 10_000 })])),
      ),
    ]),
  );
  const quorumUp = () => h.engine.status().virtualServers[0].quorum.up;
  const states: Array<[number, boolean]> = [];
  await h.clock.advanceTo(1000);
  for (let n = 1; n <= 10; n++) {
    alive.add(`${addrs[n - 1]}:80`);
    await h.clock.advance(10_000);
    states.push([n, quorumUp()]);
  }
  for (let n = 9; n >= 0; n--) {
    alive.delete(`${addrs[n]}:80`);
    await h.clock.advance(10_000);
    states.push([n, quorumUp()]);
  }
  assert.deepEqual(
    states.filter(([, up], i) => i === 0 || up !== states[i - 1][1]),
    [
      [1, false],
      [9, true],
      [4, false],
    ],
  );
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    ['/bin/qup', '/bin/qdown'],
  );
  assert.deepEqual(h.dests(), {});
});

test('stop: deletes the services it made, runs omega notifiers, and no check runs afterwards', async () => {
  const h = harness();
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, { omega: true, quorumDown: ['/bin/qdown'] }, [
        realServer(RS1, 80, { notifyDown: ['/bin/down'] }, [tcpCheck({ delayLoopMs: 5000 })]),
      ]),
    ]),
  );
  await h.clock.advanceTo(1000);
  await h.engine.stop();
  assert.equal(h.dests(), null);
  assert.deepEqual(
    h.scripts.map((s) => s.argv),
    ['/bin/down', '/bin/qdown'],
  );
  const calls = h.probes.calls.length;
  await h.clock.advance(60_000);
  assert.equal(h.probes.calls.length, calls);
  assert.equal(h.clock.pending, 0);
});

test('status: per checker its server, type, url, state, last reason, last change and checks run', async () => {
  const h = harness();
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, { sorryServer: { addr: '192.168.2.200', port: 80 } }, [
        realServer(RS1, 80, {}, [httpCheck([url('/health')], { delayLoopMs: 5000 })]),
      ]),
    ]),
  );
  h.probes.set(`${RS1}:80`, { ok: false, reason: 'HTTP_GET: status 503' });
  await h.clock.advanceTo(1000);
  const st = h.engine.status();
  assert.deepEqual(st.checkers, [
    {
      virtualServer: SERVICE,
      realServer: `${RS1}:80`,
      type: 'HTTP_GET',
      url: '/health',
      state: 'down',
      lastReason: 'HTTP_GET: status 503',
      lastChangeMs: h.clock.startMs + 1000,
      checksRun: 1,
    },
  ]);
  assert.deepEqual(st.virtualServers[0].quorum, { up: false, aliveWeight: 0, quorum: 1, hysteresis: 0 });
  assert.deepEqual([st.virtualServers[0].sorryServer, st.virtualServers[0].sorryServerIn], ['192.168.2.200:80', true]);
});

test('metrics: tapvs_backend_up with the IPVS labels, transitions and check durations per type', async () => {
  const h = harness();
  h.probes.set(`${RS1}:80`, { ok: false, tookMs: 30 });
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS1, 80, {}, [tcpCheck({ delayLoopMs: 5000 })]),
        realServer(RS2, 80, {}, [tcpCheck({ delayLoopMs: 5000 })]),
      ]),
    ]),
  );
  await h.clock.advanceTo(2000);
  const text = renderMetrics(h.td.ipvs, null, h.engine);
  const labels = (rs: string) =>
    `local_address="${VIP}",local_port="80",remote_address="${rs}",remote_port="80",proto="TCP",local_mark=""`;
  assert.ok(text.includes(`tapvs_backend_up{${labels(RS1)}} 0\n`), text);
  assert.ok(text.includes(`tapvs_backend_up{${labels(RS2)}} 1\n`));
  assert.ok(text.includes(`tapvs_backend_transitions_total{${labels(RS1)},to="down"} 1\n`));
  assert.ok(text.includes('tapvs_check_duration_seconds_bucket{type="TCP_CHECK",le="0.025"} 1\n'));
  assert.ok(text.includes('tapvs_check_duration_seconds_bucket{type="TCP_CHECK",le="0.05"} 2\n'));
  assert.ok(text.includes('tapvs_check_duration_seconds_count{type="TCP_CHECK"} 2\n'));
  assert.ok(text.includes('# TYPE tapvs_check_duration_seconds histogram\n'));
});
