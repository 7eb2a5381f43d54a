/**
 * ControlDispatcher: which requests push rulesChanged (and servicesChanged), and the all-or-nothing
 * apply whose dry run works on a copy of the rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlDispatcher } from '../../../src/control/dispatch.js';
import type { Command, ListResult, Request, ServiceConfig } from '../../../src/control/protocol.js';
import { TapvsError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';

const service = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
const config: ServiceConfig = {
  scheduler: 'rr',
  schedFlags: [],
  persistentS: null,
  netmask: '255.255.255.255',
  ops: false,
};
const destCfg = { fwd: 'masq' as const, weight: 1, uThreshold: 0, lThreshold: 0 };
const dest = (n: number) => ({ addr: `10.0.0.${n}`, port: 80 });

function dispatcher() {
  const ipvs = new Ipvs({ maxConns: 64 });
  const calls = { rules: 0, services: 0 };
  const ctl = new ControlDispatcher(ipvs, {
    rulesChanged: () => {
      calls.rules++;
    },
    servicesChanged: () => {
      calls.services++;
    },
    status: () => ({ up: true }),
  });
  const run = (c: Command): unknown => ctl.handle({ id: 1, ...c } as Request);
  return { ipvs, calls, run };
}

test('dispatch: every successful rule change calls rulesChanged once; servicesChanged as before', () => {
  const { calls, run } = dispatcher();
  const steps: Array<[Command, number, number]> = [
    [{ op: 'addService', service, config }, 1, 1],
    [{ op: 'addDest', service, dest: dest(2), config: destCfg }, 1, 0],
    [{ op: 'editDest', service, dest: dest(2), config: { ...destCfg, weight: 3 } }, 1, 0],
    [{ op: 'editService', service, config: { ...config, scheduler: 'wlc' } }, 1, 1],
    [{ op: 'deleteDest', service, dest: dest(2) }, 1, 0],
    [{ op: 'deleteService', service }, 1, 0],
    [{ op: 'clear' }, 1, 1],
  ];
  for (const [c, rules, services] of steps) {
    const before = { ...calls };
    run(c);
    assert.deepEqual([calls.rules - before.rules, calls.services - before.services], [rules, services], c.op);
  }
});

test('dispatch: reads, zeroing, timeouts and failed changes do not call rulesChanged', () => {
  const { calls, run } = dispatcher();
  run({ op: 'addService', service, config });
  const before = { ...calls };
  run({ op: 'list', service: null });
  run({ op: 'list', service });
  run({ op: 'listConns' });
  run({ op: 'getTimeouts' });
  assert.deepEqual(run({ op: 'status' }), { up: true });
  run({ op: 'zero', service: null });
  run({ op: 'zero', service });
  run({ op: 'setTimeouts', timeouts: { tcpS: 60, tcpFinS: 0, udpS: 0 } });
  assert.throws(
    () => run({ op: 'addService', service, config }),
    (e: unknown) => e instanceof TapvsError && e.code === 'SERVICE_EXISTS',
  );
  assert.throws(
    () => run({ op: 'deleteDest', service, dest: dest(9) }),
    (e: unknown) => e instanceof TapvsError && e.code === 'DEST_NOT_FOUND',
  );
  assert.deepEqual(calls, before);
});

test('dispatch: an apply calls rulesChanged once when it changed rules, servicesChanged only when it added or edited a service', () => {
  const { calls, run } = dispatcher();
  assert.deepEqual(
    run({
      op: 'apply',
      commands: [
        { op: 'addService', service, config },
        { op: 'addDest', service, dest: dest(2), config: destCfg },
        { op: 'addDest', service, dest: dest(3), config: destCfg },
      ],
    }),
    { applied: 3 },
  );
  assert.deepEqual(calls, { rules: 1, services: 1 });
  run({ op: 'apply', commands: [{ op: 'setTimeouts', timeouts: { tcpS: 10, tcpFinS: 0, udpS: 0 } }] });
  assert.deepEqual(calls, { rules: 1, services: 1 });
  run({ op: 'apply', commands: [{ op: 'editDest', service, dest: dest(2), config: { ...destCfg, weight: 0 } }] });
  assert.deepEqual(calls, { rules: 2, services: 1 }, 'a dest change (a health transition) announces nothing');
});

test('dispatch: a failing apply changes nothing, names the command and calls no hook', () => {
  const { ipvs, calls, run } = dispatcher();
  run({ op: 'addService', service, config });
  run({ op: 'addDest', service, dest: dest(2), config: destCfg });
  const svc = ipvs.services[0];
  const sched = svc.scheduler;
  const before = { ...calls };
  const listed = run({ op: 'list', service: null });
  // The dry run sees the current rules: dest 2 exists, so command 3 fails.
  assert.throws(
    () =>
      run({
        op: 'apply',
        commands: [
          { op: 'editService', service, config: { ...config, scheduler: 'wlc' } },
          { op: 'addDest', service, dest: dest(3), config: destCfg },
          { op: 'addDest', service, dest: dest(2), config: destCfg },
        ],
      }),
    (e: unknown) =>
      e instanceof TapvsError && e.code === 'DEST_EXISTS' && e.message === 'command 3: Destination already exists',
  );
  assert.deepEqual(run({ op: 'list', service: null }), listed);
  assert.equal(svc.scheduler, sched, 'the dry run bound no scheduler of the real service');
  assert.deepEqual(calls, before);
  assert.throws(
    () => run({ op: 'apply', commands: [{ op: 'clear' }, { op: 'apply', commands: [] } as unknown as Command] }),
    (e: unknown) =>
      e instanceof TapvsError && e.code === 'PROTOCOL' && e.message === 'command 2: apply cannot be nested',
  );
  assert.equal(ipvs.services.length, 1);
});

test('dispatch: the dry run copies every rule it can trip over, port-0 dests and flags included', () => {
  const { run } = dispatcher();
  const any = { proto: 'udp' as const, addr: '192.168.222.131', port: 0 };
  run({
    op: 'addService',
    service: any,
    config: { ...config, scheduler: 'sh', schedFlags: ['sh-port', 'flag-3'], persistentS: 60 },
  });
  run({ op: 'addDest', service: any, dest: { addr: '10.0.0.2', port: 0 }, config: destCfg });
  run({ op: 'addDest', service: any, dest: { addr: '10.0.0.3', port: 0 }, config: destCfg });
  assert.throws(
    () =>
      run({
        op: 'apply',
        commands: [{ op: 'addDest', service: any, dest: { addr: '10.0.0.2', port: 0 }, config: destCfg }],
      }),
    (e: unknown) => e instanceof TapvsError && e.message === 'command 1: Destination already exists',
  );
  run({
    op: 'apply',
    commands: [
      { op: 'editDest', service: any, dest: { addr: '10.0.0.3', port: 0 }, config: { ...destCfg, weight: 4 } },
    ],
  });
  const l = run({ op: 'list', service: any }) as ListResult;
  assert.deepEqual(
    l.services[0].dests.map((d) => [d.addr, d.weight]),
    [
      ['10.0.0.3', 4],
      ['10.0.0.2', 1],
    ],
  );
});
