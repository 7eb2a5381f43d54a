/**
 * The desired IPVS table of a configuration given its servers' health, and the fewest commands
 * that make the running table match it: edits rather than delete and add, nothing for what is
 * right, nothing for what the engine does not manage.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DesiredService } from '../../../src/control/desired-table.js';
import type { Command, DestConfig, ListResult, ServiceInfo } from '../../../src/control/protocol.js';
import { diffRules } from '../../../src/control/rules-diff.js';
import { desiredRules, type VirtualServerView } from '../../../src/health/desired-rules.js';
import type { VirtualServerConfig } from '../../../src/keepalived/lvs-config.js';
import { makeDirector } from '../../helpers/director.js';
import { realServer, virtualServer } from '../../helpers/lvs-config.js';
import { dest as fxDest, list as fxList, svc as fxSvc } from './fixtures.js';

const VIP = '192.168.222.131';

function view(
  cfg: VirtualServerConfig,
  alive: boolean[],
  sorryActive = false,
  weights: number[] = [],
): VirtualServerView {
  return {
    cfg,
    sorryActive,
    realServers: cfg.realServers.map((rs, i) => ({
      cfg: rs,
      alive: alive[i] ?? true,
      weight: weights[i] ?? rs.weight,
    })),
  };
}

/** dests of each desired service as "addr:port=weight". */
function table(d: DesiredService[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of d)
    out[`${s.service.proto} ${s.service.addr}:${s.service.port}`] = s.dests.map(
      (x) => `${x.dest.addr}:${x.dest.port}=${x.config.weight}`,
    );
  return out;
}

test('desired: one service per group member, each with the alive servers at their effective weight', () => {
  const vs = virtualServer(
    VIP,
    80,
    {
      key: 'group web #1',
      addresses: [
        { addr: VIP, port: 80 },
        { addr: '192.168.222.132', port: 8080 },
      ],
      persistenceTimeoutS: 300,
      persistenceGranularity: '255.255.255.0',
    },
    [
      realServer('10.0.0.1', 0, { weight: 2 }),
      realServer('10.0.0.2', 80, { inhibitOnFailure: true }),
      realServer('10.0.0.3', 80),
      realServer('10.0.0.4', 80),
    ],
  );
  const d = desiredRules([view(vs, [true, false, false, true], false, [2, 1, 1, 100_000])]);
  assert.deepEqual(table(d), {
    'tcp 192.168.222.131:80': ['10.0.0.1:80=2', '10.0.0.2:80=0', '10.0.0.4:80=65535'],
    'tcp 192.168.222.132:8080': ['10.0.0.1:8080=2', '10.0.0.2:80=0', '10.0.0.4:80=65535'],
  });
  assert.deepEqual(d[0].config, {
    scheduler: 'rr',
    schedFlags: [],
    persistentS: 300,
    netmask: '255.255.255.0',
    ops: false,
  });
});

test('desired: while the sorry server is in, alive servers are out (inhibited ones at 0)', () => {
  const vs = virtualServer(VIP, 80, { sorryServer: { addr: '10.0.0.9', port: 0 } }, [
    realServer('10.0.0.1', 80, { inhibitOnFailure: true }),
    realServer('10.0.0.2', 80),
  ]);
  assert.deepEqual(table(desiredRules([view(vs, [true, true], true)])), {
    'tcp 192.168.222.131:80': ['10.0.0.1:80=0', '10.0.0.9:80=1'],
  });
  const inhibitSorry = { ...vs, sorryServerInhibit: true };
  assert.deepEqual(table(desiredRules([view(inhibitSorry, [true, true], false)])), {
    'tcp 192.168.222.131:80': ['10.0.0.1:80=1', '10.0.0.2:80=1', '10.0.0.9:80=0'],
  });
});

function director() {
  const td = makeDirector({ capture: false });
  const list = (): ListResult => td.run({ op: 'list', service: null }) as ListResult;
  const apply = (commands: Command[]): void => {
    if (commands.length > 0) td.run({ op: 'apply', commands });
  };
  return { td, list, apply };
}

const ops = (cmds: Array<{ command: Command }>) =>
  cmds.map(({ command: c }) => {
    const dest = 'dest' in c ? ` ${c.dest.addr}:${c.dest.port}` : '';
    const w = 'config' in c && 'weight' in c.config ? ` w${c.config.weight}` : '';
    return `${c.op}${dest}${w}`;
  });

test('diff: from nothing, then nothing to do, then an edit for a weight and a delete for a server gone', () => {
  const { list, apply } = director();
  const cfg = virtualServer(VIP, 80, {}, [realServer('10.0.0.1', 80), realServer('10.0.0.2', 80)]);
  const first = desiredRules([view(cfg, [true, true])]);
  const add = diffRules(first, [], list());
  assert.deepEqual(ops(add), ['addService', 'addDest 10.0.0.1:80 w1', 'addDest 10.0.0.2:80 w1']);
  apply(add.map((p) => p.command));
  assert.deepEqual(diffRules(first, first, list()), []);
  const second = desiredRules([view(cfg, [true, false], false, [7, 1])]);
  const change = diffRules(second, first, list());
  assert.deepEqual(ops(change), ['deleteDest 10.0.0.2:80', 'editDest 10.0.0.1:80 w7']);
  apply(change.map((p) => p.command));
  assert.deepEqual(diffRules(second, second, list()), []);
});

test('diff: what the engine never asked for stays (a dest or a service added by hand)', () => {
  const { td, list, apply } = director();
  const cfg = virtualServer(VIP, 80, { scheduler: 'sh', schedFlags: ['sh-port', 'sh-fallback'] }, [
    realServer('10.0.0.1', 80),
  ]);
  const want = desiredRules([view(cfg, [true])]);
  apply(diffRules(want, [], list()).map((p) => p.command));
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  td.run({
    op: 'addDest',
    service,
    dest: { addr: '10.0.0.50', port: 80 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  td.run({
    op: 'addService',
    service: { ...service, port: 443 },
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  assert.deepEqual(diffRules(want, want, list()), [], 'flag words in another order are the same flags');
  const none = desiredRules([]);
  assert.deepEqual(ops(diffRules(none, want, list())), ['deleteService'], 'only the managed service goes');
  assert.deepEqual(
    diffRules(none, want, list()).map((p) => p.command),
    [{ op: 'deleteService', service }],
  );
});

test('diff: a service setting change is one editService', () => {
  const { list, apply } = director();
  const cfg = virtualServer(VIP, 80, {}, [realServer('10.0.0.1', 80)]);
  const want = desiredRules([view(cfg, [true])]);
  apply(diffRules(want, [], list()).map((p) => p.command));
  const persistent = desiredRules([view({ ...cfg, persistenceTimeoutS: 600 }, [true])]);
  assert.deepEqual(ops(diffRules(persistent, want, list())), ['editService']);
});

// ------------------------------------------------------------------ methods, tunnels, proxy protocol, laddrs

const AT = { file: 'rules', line: 0 };
const SVC = { proto: 'tcp' as const, addr: VIP, port: 80 };
const base = { scheduler: 'wlc', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false };
const dcfg = (over: Partial<DestConfig> = {}): DestConfig => ({
  fwd: 'route',
  weight: 1,
  uThreshold: 0,
  lThreshold: 0,
  ...over,
});

function wantedTable(over: Partial<DesiredService> = {}): DesiredService {
  return {
    service: SVC,
    config: base,
    dests: [{ dest: { addr: '10.0.0.2', port: 80 }, config: dcfg() }],
    at: AT,
    ...over,
  };
}

function running(dests: ReturnType<typeof fxDest>[], laddrs: ServiceInfo['laddrs'] = [], config = {}): ListResult {
  return fxList([{ ...fxSvc('tcp', VIP, 80, config, dests), laddrs }]);
}

test('diff: a changed method or tunnel is one editDest; ipip written or not is the same', () => {
  const d = wantedTable({
    dests: [
      {
        dest: { addr: '10.0.0.2', port: 80 },
        config: dcfg({ fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'csum' } }),
      },
      { dest: { addr: '10.0.0.3', port: 80 }, config: dcfg({ fwd: 'tunnel' }) },
    ],
  });
  const cmds = diffRules(
    [d],
    [d],
    running([
      fxDest('10.0.0.2', 80, { fwd: 'tunnel', tunnel: { type: 'gue', port: 6081, csum: 'csum' } }),
      fxDest('10.0.0.3', 80, { fwd: 'tunnel', tunnel: { type: 'ipip', port: 0, csum: 'nocsum' } }),
    ]),
  ).map((p) => p.command);
  assert.deepEqual(cmds, [
    { op: 'editDest', service: SVC, dest: { addr: '10.0.0.2', port: 80 }, config: d.dests[0].config },
  ]);
  const m = diffRules([wantedTable()], [], running([fxDest('10.0.0.2', 80, { fwd: 'masq' })])).map((p) => p.command);
  assert.deepEqual(m, [{ op: 'editDest', service: SVC, dest: { addr: '10.0.0.2', port: 80 }, config: dcfg() }]);
  assert.deepEqual(diffRules([wantedTable()], [], running([fxDest('10.0.0.2', 80, { fwd: 'route' })])), []);
});

test('diff: a changed --proxy-protocol is an editService', () => {
  const d = wantedTable({ config: { ...base, proxyProtocol: 'v2' } });
  const cmds = diffRules([d], [], running([fxDest('10.0.0.2', 80, { fwd: 'route' })], [], { proxyProtocol: 'v1' }));
  assert.deepEqual(
    cmds.map((p) => p.command),
    [{ op: 'editService', service: SVC, config: d.config }],
  );
  assert.deepEqual(
    diffRules([d], [], running([fxDest('10.0.0.2', 80, { fwd: 'route' })], [], { proxyProtocol: 'v2' })),
    [],
  );
});

test('diff: local addresses: added with a new service, added and deleted by what the file had, moved links', () => {
  const fresh = wantedTable({ laddrs: [{ addr: '10.0.0.100', ifname: 'inside' }] });
  assert.deepEqual(
    diffRules([fresh], [], fxList([])).map((p) => p.command.op),
    ['addService', 'addDest', 'addLaddr'],
  );
  const prev = wantedTable({ laddrs: [{ addr: '10.0.0.100' }, { addr: '10.0.0.101', ifname: 'inside' }] });
  const next = wantedTable({ laddrs: [{ addr: '10.0.0.101', ifname: 'outside' }, { addr: '10.0.0.102' }] });
  const run = running(
    [fxDest('10.0.0.2', 80, { fwd: 'route' })],
    [
      { addr: '10.0.0.100', conns: 3, conflicts: 0 },
      { addr: '10.0.0.101', ifname: 'inside', conns: 0, conflicts: 0 },
      // Added by hand (tapvsadm -P): not the file's, stays.
      { addr: '10.0.0.200', conns: 0, conflicts: 0 },
    ],
  );
  assert.deepEqual(
    diffRules([next], [prev], run).map((p) => p.command),
    [
      { op: 'deleteLaddr', service: SVC, laddr: { addr: '10.0.0.100' } },
      { op: 'deleteLaddr', service: SVC, laddr: { addr: '10.0.0.101', ifname: 'inside' } },
      { op: 'addLaddr', service: SVC, laddr: { addr: '10.0.0.101', ifname: 'outside' } },
      { op: 'addLaddr', service: SVC, laddr: { addr: '10.0.0.102' } },
    ],
  );
  // The same again: nothing.
  const after = running(
    [fxDest('10.0.0.2', 80, { fwd: 'route' })],
    [
      { addr: '10.0.0.101', ifname: 'outside', conns: 0, conflicts: 0 },
      { addr: '10.0.0.102', conns: 0, conflicts: 0 },
    ],
  );
  assert.deepEqual(diffRules([next], [next], after), []);
});

test("desired: each dest carries its real server's method and tunnel; the sorry server its own", () => {
  const tun = { type: 'gue' as const, port: 6080, csum: 'csum' as const };
  const vs = virtualServer(
    VIP,
    80,
    { method: { fwd: 'route' }, sorryServer: { addr: '10.0.0.9', port: 80 }, sorryServerMethod: { fwd: 'masq' } },
    [
      realServer('10.0.0.1', 80, { method: { fwd: 'route' } }),
      realServer('10.0.0.2', 80, { method: { fwd: 'tunnel', tunnel: tun } }),
    ],
  );
  const up = desiredRules([view(vs, [true, true])]);
  assert.deepEqual(
    up[0].dests.map((d) => d.config),
    [
      { fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
      { fwd: 'tunnel', tunnel: tun, weight: 1, uThreshold: 0, lThreshold: 0 },
    ],
  );
  const sorry = desiredRules([view(vs, [false, false], true)]);
  assert.deepEqual(sorry[0].dests, [
    { dest: { addr: '10.0.0.9', port: 80 }, config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 } },
  ]);
});
