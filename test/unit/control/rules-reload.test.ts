/**
 * Reloading a rules file: the running table reaches the file's with the fewest commands; what is
 * unchanged keeps its objects (so its connections, counters and scheduler state); services added
 * by hand stay; a bad file throws before anything is applied.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plannedLinks } from '../../../src/cli/planned-links.js';
import { ControlDispatcher } from '../../../src/control/dispatch.js';
import type { Command, ListResult } from '../../../src/control/protocol.js';
import { reloadCommands, rulesTable } from '../../../src/control/rules-reload.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';

const FILE = '/etc/tapvs/rules';
const BASE = `-A -t 192.168.222.131:80 -s rr
-a -t 192.168.222.131:80 -r 192.168.2.130:80 -m -w 1
-a -t 192.168.222.131:80 -r 192.168.2.129:80 -m -w 1
-A -u 192.168.222.131:53 -s wlc
-a -u 192.168.222.131:53 -r 192.168.2.129:53 -m
`;

function director(text: string) {
  const ipvs = new Ipvs({ maxConns: 64 });
  const ctl = new ControlDispatcher(ipvs);
  const first = rulesTable(text, FILE);
  ctl.handle({ id: 1, op: 'apply', commands: reloadCommands(first, [], list(ctl)) });
  return { ipvs, ctl, previous: first.desired };
}

function list(ctl: ControlDispatcher): ListResult {
  return ctl.handle({ id: 1, op: 'list', service: null }) as ListResult;
}

function reload(ctl: ControlDispatcher, previous: ReturnType<typeof director>['previous'], text: string): Command[] {
  const cmds = reloadCommands(rulesTable(text, FILE), previous, list(ctl));
  ctl.handle({ id: 1, op: 'apply', commands: cmds });
  return cmds;
}

test('rules reload: the same file again issues no command', () => {
  const { ctl, previous } = director(BASE);
  assert.deepEqual(reload(ctl, previous, BASE), []);
});

test('rules reload: a weight change is one editDest; the dest object, the service and its scheduler stay', () => {
  const { ipvs, ctl, previous } = director(BASE);
  const svc = ipvs.services[0];
  const sched = svc.scheduler;
  const dest = svc.dests.find((d) => d.port === 80 && d.weight === 1);
  const cmds = reload(ctl, previous, BASE.replace('-r 192.168.2.129:80 -m -w 1', '-r 192.168.2.129:80 -m -w 3'));
  assert.deepEqual(
    cmds.map((c) => c.op),
    ['editDest'],
  );
  assert.equal(ipvs.services[0], svc);
  assert.equal(svc.scheduler, sched);
  assert.ok(dest !== undefined && svc.dests.includes(dest));
  assert.deepEqual(
    svc.dests.map((d) => d.weight),
    [3, 1],
  );
});

test('rules reload: dests and services the file dropped go; a service added by hand stays', () => {
  const { ipvs, ctl, previous } = director(BASE);
  ctl.handle({
    id: 1,
    op: 'addService',
    service: { proto: 'tcp', addr: '192.168.222.132', port: 443 },
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  const next = BASE.split('\n')
    .filter((l) => !l.includes('192.168.2.130:80') && !l.includes(':53'))
    .join('\n');
  const cmds = reload(ctl, previous, next);
  assert.deepEqual(cmds.map((c) => c.op).sort(), ['deleteDest', 'deleteService']);
  assert.deepEqual(
    ipvs.services.map((s) => `${s.proto}/${s.port}/${s.dests.length}`),
    ['6/80/1', '6/443/0'],
  );
});

test('rules reload: a bad line throws with its number before anything changes', () => {
  const { ctl } = director(BASE);
  const before = JSON.stringify(list(ctl).services);
  assert.throws(() => rulesTable(`${BASE}-a -t 192.168.222.131:80 -r 192.168.2.131:80 -m -w 70000\n`, FILE), /line 6/);
  assert.throws(() => rulesTable('-A -t 192.168.222.131:80 -s nonsense\n', FILE), /Scheduler/);
  assert.equal(JSON.stringify(list(ctl).services), before);
});

test('rules table: semantic errors name the line in the file, comments and blank lines counted', () => {
  const svc = '-A -t 192.168.222.131:80 -s rr\n';
  const cases: Array<[string, RegExp]> = [
    [`# head\n${svc}\n${svc}`, /: line 4: Service already exists$/],
    ['\n-A -t 192.168.222.131:80 -s nope\n', /: line 2: Scheduler or persistence engine not found: nope$/],
    [`${svc}-a -t 192.168.222.131:81 -r 192.168.2.129:80 -m\n`, /: line 2: Service not defined$/],
    [
      `${svc}-a -t 192.168.222.131:80 -r 192.168.2.129:80 -m\n-a -t 192.168.222.131:80 -r 192.168.2.129:80 -m\n`,
      /: line 3: Destination already exists$/,
    ],
  ];
  for (const [text, want] of cases) assert.throws(() => rulesTable(text, FILE), want, text);
});

test("rules table: with the director's links, a direct-routing server off every prefix is refused at its line", () => {
  const links = plannedLinks([
    { name: 'int', addrs: [{ addr: (192 << 24) | (168 << 16) | (2 << 8) | 136, prefixLen: 24 }], gateway: 0 },
  ]);
  const text =
    '-A -t 192.168.222.131:80 -s rr\n-a -t 192.168.222.131:80 -r 192.168.2.129:80 -g\n-a -t 192.168.222.131:80 -r 172.16.0.5:80 -g\n';
  assert.doesNotThrow(() => rulesTable(text, FILE), 'without links the check cannot be made');
  assert.throws(
    () => rulesTable(text, FILE, links),
    /: line 3: direct routing needs the real server on a link of the director: 172\.16\.0\.5 /,
  );
});

test('rules reload: --set lines are applied as they are', () => {
  const { ctl, previous } = director(BASE);
  const cmds = reload(ctl, previous, `${BASE}--set 900 120 300\n`);
  assert.deepEqual(
    cmds.map((c) => c.op),
    ['setTimeouts'],
  );
});
