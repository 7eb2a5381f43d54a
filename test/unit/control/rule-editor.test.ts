/**
 * RuleEditor: a control request's strings become the model's numbers, bad requests become the
 * error codes and ipvsadm messages tapvsadm relies on, and a failed request changes nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DestConfig, ServiceConfig, ServiceKey } from '../../../src/control/protocol.js';
import { RuleEditor } from '../../../src/control/rule-editor.js';
import { type ErrorCode, TapvsError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../../../src/ipvs/service.js';
import { IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../../../src/packet/ipv4.js';

const VIP = '192.168.222.131';
const WEB: ServiceKey = { proto: 'tcp', addr: VIP, port: 80 };
const RS1 = { addr: '10.0.0.2', port: 80 };

function cfg(over: Partial<ServiceConfig> = {}): ServiceConfig {
  return { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false, ...over };
}
function dcfg(over: Partial<DestConfig> = {}): DestConfig {
  return { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0, ...over };
}
function ip(s: string): number {
  const a = parseIpv4(s);
  assert.ok(a !== null, s);
  return a;
}
function editor(): RuleEditor {
  const rules = new RuleEditor(new Ipvs({ maxConns: 64 }));
  rules.addService(WEB, cfg());
  rules.addDest(WEB, RS1, dcfg());
  return rules;
}
/** What the model holds, in numbers: compared before and after a failing request. */
function state(rules: RuleEditor): unknown {
  return rules.ipvs.services.map((s) => ({
    key: [s.proto, s.addr, s.port],
    sched: s.scheduler,
    flags: s.schedFlags,
    persistent: s.persistent,
    timeoutS: s.timeoutS,
    netmask: s.netmask,
    ops: s.ops,
    dests: s.dests.map((d) => [d.addr, d.port, d.weight, d.uThreshold, d.lThreshold]),
  }));
}
function fails(rules: RuleEditor, f: () => void, code: ErrorCode, message: string): void {
  const before = state(rules);
  assert.throws(f, (e: unknown) => e instanceof TapvsError && e.code === code && e.message === message, message);
  assert.deepEqual(state(rules), before, `changed nothing: ${message}`);
}

test('rule editor: requests reach the model as int32 addresses, protocol numbers and flag bits', () => {
  const rules = new RuleEditor(new Ipvs({ maxConns: 64 }));
  rules.addService(
    { proto: 'udp', addr: '200.0.0.1', port: 0 },
    cfg({
      scheduler: 'sh',
      schedFlags: ['sh-fallback', 'sh-port'],
      persistentS: 300,
      netmask: '255.255.255.0',
      ops: true,
    }),
  );
  const [svc] = rules.ipvs.services;
  assert.deepEqual([svc.proto, svc.addr, svc.port], [IPPROTO_UDP, ip('200.0.0.1'), 0]);
  assert.ok(svc.addr < 0, 'an address above 2^31 stays int32');
  assert.equal(svc.scheduler.name, 'sh');
  assert.equal(svc.schedFlags, SCHED_FLAG_1 | SCHED_FLAG_2);
  assert.deepEqual([svc.persistent, svc.timeoutS, svc.netmask, svc.ops], [true, 300, ip('255.255.255.0'), true]);
  rules.addDest(
    { proto: 'udp', addr: '200.0.0.1', port: 0 },
    { addr: '10.0.0.3', port: 0 },
    dcfg({ weight: 7, uThreshold: 10, lThreshold: 5 }),
  );
  const [d] = svc.dests;
  assert.deepEqual([d.addr, d.port, d.weight, d.uThreshold, d.lThreshold], [ip('10.0.0.3'), 0, 7, 10, 5]);
  assert.equal(rules.ipvs.findService(IPPROTO_UDP, ip('200.0.0.1'), 5353), svc);
});

test('rule editor: a dest without a port gets the service port, except on a port-0 service', () => {
  const rules = editor();
  rules.addDest(WEB, { addr: '10.0.0.4', port: 0 }, dcfg());
  assert.equal(rules.ipvs.services[0].dests[0].port, 80);
  rules.editDest(WEB, { addr: '10.0.0.4', port: 0 }, dcfg({ weight: 2 }));
  assert.equal(rules.ipvs.services[0].dests[0].weight, 2);
  rules.deleteDest(WEB, { addr: '10.0.0.4', port: 0 });
  assert.equal(rules.ipvs.services[0].findDest(ip('10.0.0.4'), 80), undefined);
});

test('rule editor: -E keeps the scheduler (and its state) unless the name or the flags change', () => {
  const rules = editor();
  const svc = rules.ipvs.services[0];
  const rr = svc.scheduler;
  rules.editService(WEB, cfg({ persistentS: 600 }));
  assert.equal(svc.scheduler, rr);
  assert.deepEqual([svc.persistent, svc.timeoutS], [true, 600]);
  rules.editService(WEB, cfg({ schedFlags: ['flag-1'] }));
  assert.notEqual(svc.scheduler, rr);
  assert.equal(svc.scheduler.name, 'rr');
  assert.equal(svc.persistent, false, '-E replaces every setting');
  rules.editService(WEB, cfg({ scheduler: 'wlc' }));
  assert.equal(svc.scheduler.name, 'wlc');
});

test("rule editor: existence checks answer with ipvsadm's code and the wording of each command", () => {
  const rules = editor();
  const other: ServiceKey = { proto: 'tcp', addr: VIP, port: 90 };
  const nowhere = { addr: '10.0.0.9', port: 80 };
  fails(rules, () => rules.addService(WEB, cfg()), 'SERVICE_EXISTS', 'Service already exists');
  fails(rules, () => rules.editService(other, cfg()), 'SERVICE_NOT_FOUND', 'No such service');
  fails(rules, () => rules.deleteService(other), 'SERVICE_NOT_FOUND', 'No such service');
  fails(rules, () => rules.zero(other), 'SERVICE_NOT_FOUND', 'No such service');
  fails(rules, () => rules.addDest(other, RS1, dcfg()), 'SERVICE_NOT_FOUND', 'Service not defined');
  fails(rules, () => rules.editDest(other, RS1, dcfg()), 'SERVICE_NOT_FOUND', 'Service not defined');
  fails(rules, () => rules.deleteDest(other, RS1), 'SERVICE_NOT_FOUND', 'Service not defined');
  fails(rules, () => rules.addDest(WEB, RS1, dcfg()), 'DEST_EXISTS', 'Destination already exists');
  fails(rules, () => rules.editDest(WEB, nowhere, dcfg()), 'DEST_NOT_FOUND', 'No such destination');
  fails(rules, () => rules.deleteDest(WEB, nowhere), 'DEST_NOT_FOUND', 'No such destination');
  assert.throws(
    () => rules.service(other, 'Service not defined'),
    (e: unknown) => e instanceof TapvsError && e.code === 'SERVICE_NOT_FOUND' && e.message === 'Service not defined',
  );
  assert.equal(rules.service(WEB, 'x'), rules.ipvs.services[0]);
  // The same UDP port is another service: protocols are part of the key.
  rules.addService({ proto: 'udp', addr: VIP, port: 80 }, cfg());
  assert.deepEqual(
    rules.ipvs.services.map((s) => s.proto),
    [IPPROTO_TCP, IPPROTO_UDP],
  );
});

test("rule editor: bad service keys and configurations are refused with ipvsadm's messages", () => {
  const rules = editor();
  const illegal = 'illegal virtual server address[:port] specified';
  const key = (k: unknown): ServiceKey => k as ServiceKey;
  fails(rules, () => rules.addService(key(null), cfg()), 'BAD_ARGUMENT', 'missing service');
  fails(
    rules,
    () => rules.addService(key({ proto: 'sctp', addr: VIP, port: 80 }), cfg()),
    'BAD_ARGUMENT',
    'unsupported protocol sctp',
  );
  for (const addr of ['0.0.0.0', '224.0.0.1', '255.255.255.255', '10.1', 'lvs1', 42]) {
    fails(rules, () => rules.addService(key({ proto: 'tcp', addr, port: 80 }), cfg()), 'BAD_ARGUMENT', illegal);
  }
  for (const port of [-1, 65536, 1.5, '80']) {
    fails(rules, () => rules.addService(key({ proto: 'tcp', addr: VIP, port }), cfg()), 'BAD_ARGUMENT', illegal);
  }
  // The key is checked before the service's existence, as the kernel does.
  fails(
    rules,
    () => rules.editService(key({ proto: 'tcp', addr: '0.0.0.0', port: 80 }), cfg()),
    'BAD_ARGUMENT',
    illegal,
  );

  const other: ServiceKey = { proto: 'tcp', addr: VIP, port: 90 };
  const notFound = 'Scheduler or persistence engine not found';
  fails(
    rules,
    () => rules.addService(other, null as unknown as ServiceConfig),
    'BAD_ARGUMENT',
    'missing service configuration',
  );
  fails(rules, () => rules.addService(other, cfg({ scheduler: '' })), 'SCHED_NOT_FOUND', notFound);
  fails(rules, () => rules.addService(other, cfg({ scheduler: 'x'.repeat(16) })), 'SCHED_NOT_FOUND', notFound);
  fails(rules, () => rules.addService(other, cfg({ scheduler: 'nosuch' })), 'SCHED_NOT_FOUND', `${notFound}: nosuch`);
  fails(rules, () => rules.editService(WEB, cfg({ scheduler: 'nosuch' })), 'SCHED_NOT_FOUND', `${notFound}: nosuch`);
  fails(
    rules,
    () => rules.addService(other, cfg({ schedFlags: ['sh-port'] })),
    'BAD_ARGUMENT',
    "incompatible scheduler flag `sh-port'",
  );
  fails(
    rules,
    () => rules.addService(other, cfg({ schedFlags: ['bogus'] })),
    'BAD_ARGUMENT',
    "invalid scheduler flag `bogus'",
  );
  for (const persistentS of [0, 2678401, 1.5]) {
    fails(
      rules,
      () => rules.addService(other, cfg({ persistentS })),
      'BAD_ARGUMENT',
      'illegal timeout for persistent service specified',
    );
  }
  fails(
    rules,
    () => rules.addService(other, cfg({ netmask: '255.255.255' })),
    'BAD_ARGUMENT',
    'illegal virtual server netmask specified',
  );
  rules.addService(other, cfg({ persistentS: 2678400 }));
  assert.equal(rules.service(other, 'x').timeoutS, 2678400);
});

test("rule editor: bad real servers and dest configurations are refused with ipvsadm's messages", () => {
  const rules = editor();
  const rs = { addr: '10.0.0.5', port: 80 };
  fails(rules, () => rules.addDest(WEB, null as unknown as typeof rs, dcfg()), 'BAD_ARGUMENT', 'missing real server');
  for (const dk of [
    { addr: '10.0.0', port: 80 },
    { addr: '10.0.0.5', port: 70000 },
  ]) {
    fails(rules, () => rules.addDest(WEB, dk, dcfg()), 'BAD_ARGUMENT', 'illegal real server address[:port] specified');
  }
  for (const addr of ['0.0.0.0', '127.0.0.1', '239.1.1.1', '255.255.255.255']) {
    fails(
      rules,
      () => rules.addDest(WEB, { addr, port: 80 }, dcfg()),
      'BAD_ARGUMENT',
      'Invalid operation.  Possibly wrong module version, address not unicast, ...',
    );
  }
  fails(
    rules,
    () => rules.addDest(WEB, rs, null as unknown as DestConfig),
    'BAD_ARGUMENT',
    'missing real server configuration',
  );
  fails(
    rules,
    () => rules.addDest(WEB, rs, dcfg({ fwd: 'bypass' as DestConfig['fwd'] })),
    'BAD_ARGUMENT',
    'unknown forwarding method "bypass"',
  );
  for (const weight of [-1, 65536, 0.5]) {
    fails(rules, () => rules.addDest(WEB, rs, dcfg({ weight })), 'BAD_ARGUMENT', 'illegal weight specified');
  }
  fails(
    rules,
    () => rules.addDest(WEB, rs, dcfg({ uThreshold: 2147483648 })),
    'BAD_ARGUMENT',
    'illegal threshold specified',
  );
  fails(rules, () => rules.editDest(WEB, RS1, dcfg({ lThreshold: -1 })), 'BAD_ARGUMENT', 'illegal threshold specified');
  fails(
    rules,
    () => rules.addDest(WEB, rs, dcfg({ uThreshold: 4, lThreshold: 5 })),
    'OUT_OF_RANGE',
    'Numerical result out of range',
  );
  // The configuration is checked before the dest's existence.
  fails(rules, () => rules.addDest(WEB, RS1, dcfg({ weight: -1 })), 'BAD_ARGUMENT', 'illegal weight specified');
  rules.addDest(WEB, rs, dcfg({ weight: 65535, uThreshold: 2147483647, lThreshold: 2147483647 }));
});

test('rule editor: --set checks each timeout, 0 keeps a value; zero(null) zeroes everything', () => {
  const rules = editor();
  rules.setTimeouts({ tcpS: 60, tcpFinS: 0, udpS: 20 });
  assert.deepEqual(rules.ipvs.timeouts.get(), { tcpS: 60, tcpFinS: 120, udpS: 20 });
  const bad = (t: unknown, message: string): void =>
    assert.throws(
      () => rules.setTimeouts(t as never),
      (e: unknown) => e instanceof TapvsError && e.code === 'BAD_ARGUMENT' && e.message === message,
    );
  bad({ tcpS: -1, tcpFinS: 0, udpS: 0 }, "invalid tcp timeout value `-1' specified");
  bad({ tcpS: 0, tcpFinS: 2678401, udpS: 0 }, "invalid tcpfin timeout value `2678401' specified");
  bad({ tcpS: 0, tcpFinS: 0, udpS: 'x' }, "invalid udp timeout value `x' specified");
  bad(null, 'missing timeouts');
  assert.deepEqual(rules.ipvs.timeouts.get(), { tcpS: 60, tcpFinS: 120, udpS: 20 });
  rules.ipvs.total.conns = 3;
  rules.ipvs.estimate();
  rules.zero(null);
  assert.equal(rules.ipvs.total.snapshot().conns, 0);
});

test('rule editor: delete and clear remove services', () => {
  const rules = editor();
  rules.addService({ proto: 'tcp', addr: VIP, port: 443 }, cfg());
  rules.deleteService(WEB);
  assert.deepEqual(
    rules.ipvs.services.map((s) => s.port),
    [443],
  );
  rules.clear();
  assert.deepEqual(rules.ipvs.services, []);
});
