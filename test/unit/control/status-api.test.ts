/**
 * The status page's JSON: services and real servers as `tapvsadm -L` knows them, health from the
 * checks joined per real server (taken-out ones shown as down), rates and series from the 1 s
 * sampler over the asked window, and never a walk of the connection table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HealthMetrics } from '../../../src/control/metrics.js';
import { statusSnapshot, windowOf } from '../../../src/control/status-api.js';
import { MAX_SERVICE_RINGS, StatusSampler } from '../../../src/control/status-sampler.js';
import { Ipvs, type ServiceSettings } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import { IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../../../src/packet/ipv4.js';

const T0 = 1_800_000_000_000;
const W = { weight: 3, uThreshold: 0, lThreshold: 0 };

function ip(s: string): number {
  const a = parseIpv4(s);
  assert.ok(a !== null, s);
  return a;
}
function settings(name: string): ServiceSettings {
  return {
    scheduler: createScheduler(name, { flags: 0 }),
    schedFlags: 0,
    persistent: false,
    timeoutS: 0,
    netmask: -1,
    ops: false,
  };
}
function backend(remoteAddress: string, up: boolean): HealthMetrics['backends'][0] {
  return {
    proto: 'tcp',
    localAddress: '192.168.222.131',
    localPort: 80,
    remoteAddress,
    remotePort: 80,
    up,
    transitionsUp: 0,
    transitionsDown: 0,
  };
}

/** A director with one TCP service (two real servers) and one UDP service, and a sampler. */
function lab() {
  const ipvs = new Ipvs({ maxConns: 64 });
  const web = ipvs.addService(IPPROTO_TCP, ip('192.168.222.131'), 80, settings('wrr'));
  const rs1 = ipvs.addDest(web, ip('192.168.2.129'), 80, { ...W, weight: 1 });
  const rs2 = ipvs.addDest(web, ip('192.168.2.130'), 80, { ...W, weight: 2 });
  const dns = ipvs.addService(IPPROTO_UDP, ip('192.168.222.131'), 53, settings('rr'));
  const sampler = new StatusSampler(ipvs, 600);
  return { ipvs, web, rs1, rs2, dns, sampler };
}

test('status-api: services, real servers with weight and connections, no health without checks', () => {
  const { ipvs, rs1, sampler } = lab();
  rs1.activeConns = 4;
  rs1.inactConns = 7;
  const s = statusSnapshot(
    { ipvs, dataplane: null, health: null, sampler, version: 'v', startedMs: T0 },
    T0 + 9600,
    300,
  );
  assert.equal(s.version, 'v');
  assert.equal(s.uptimeS, 10);
  assert.equal(s.health, false);
  assert.equal(s.connCapacity, ipvs.conns.capacity);
  assert.deepEqual(
    s.services.map((v) => `${v.proto} ${v.addr}:${v.port} ${v.scheduler}`),
    ['tcp 192.168.222.131:80 wrr', 'udp 192.168.222.131:53 rr'],
  );
  const rows = s.services[0].dests.map((d) => [d.addr, d.weight, d.activeConns, d.inactConns, d.health, d.inTable]);
  assert.deepEqual(rows, [
    ['192.168.2.130', 2, 0, 0, null, true],
    ['192.168.2.129', 1, 4, 7, null, true],
  ]);
  assert.deepEqual(s.links, []);
});

test('status-api: health joins per real server; one taken out of the table is listed as down', () => {
  const { ipvs, sampler } = lab();
  const health = {
    metrics: (): HealthMetrics => ({
      backends: [backend('192.168.2.129', true), backend('192.168.2.130', false), backend('192.168.2.140', false)],
      checkDurations: [],
    }),
  };
  const s = statusSnapshot({ ipvs, dataplane: null, health, sampler, version: 'v', startedMs: T0 }, T0, 300);
  assert.equal(s.health, true);
  const rows = s.services[0].dests.map((d) => [d.addr, d.weight, d.health, d.inTable]);
  assert.deepEqual(rows, [
    ['192.168.2.130', 2, 'down', true],
    ['192.168.2.129', 1, 'up', true],
    ['192.168.2.140', null, 'down', false],
  ]);
  assert.deepEqual(s.services[1].dests, [], 'checks of the TCP service do not leak into the UDP one');
});

test('status-api: rates and series come from the 1 s sampler, window by time', () => {
  const { ipvs, web, rs1, sampler } = lab();
  for (let i = 0; i <= 400; i++) {
    sampler.sample(T0 + i * 1000);
    ipvs.countIn(rs1, 100); // one 100-byte packet in per second, service and total alike
    web.stats.conns += 2;
    ipvs.total.conns += 2;
  }
  const now = T0 + 400 * 1000 + 300;
  const s = statusSnapshot({ ipvs, dataplane: null, health: null, sampler, version: 'v', startedMs: T0 }, now, 120);
  assert.equal(s.windowS, 120);
  assert.equal(s.series.t.length, 120);
  assert.equal(s.series.t[119], -0.3);
  assert.equal(s.series.t[0], -119.3);
  assert.ok(s.series.inpps.every((v) => v === 1));
  assert.ok(s.series.inbps.every((v) => v === 100));
  assert.ok(s.series.cps.every((v) => v === 2));
  assert.deepEqual(s.total.rate, { cps: 2, inpps: 1, outpps: 0, inbps: 100, outbps: 0 });
  assert.deepEqual(s.services[0].rate, s.total.rate);
  assert.equal(s.services[0].series.t.length, 60, "a service's own series is a 60 s sparkline");
  assert.equal(s.services[1].rate.inpps, 0);
});

test('status-api: the snapshot never walks the connection table', () => {
  const { ipvs, sampler } = lab();
  ipvs.conns.forEach = () => assert.fail('the status JSON must not list connections');
  const s = statusSnapshot({ ipvs, dataplane: null, health: null, sampler, version: 'v', startedMs: T0 }, T0, 300);
  assert.equal(s.services.length, 2);
});

test('status-api: links carry frame counters and the sum of their drops', () => {
  const { ipvs, sampler } = lab();
  const port = {
    name: 'ext',
    device: 'tapvs-ext',
    rxFrames: 5,
    rxBytes: 500,
    txFrames: 4,
    txBytes: 400,
    drops: [1, 0, 2],
  };
  const dataplane = { status: () => ({ ports: [port] }) } as unknown as Parameters<
    typeof statusSnapshot
  >[0]['dataplane'];
  const s = statusSnapshot({ ipvs, dataplane, health: null, sampler, version: 'v', startedMs: T0 }, T0, 300);
  assert.deepEqual(s.links, [
    { name: 'ext', device: 'tapvs-ext', rxFrames: 5, txFrames: 4, rxBytes: 500, txBytes: 400, drops: 3 },
  ]);
});

test('status-api: ?window= is clamped to 10..capacity, the default is 300 s', () => {
  assert.equal(windowOf(null, 600), 300);
  assert.equal(windowOf('window=60', 600), 60);
  assert.equal(windowOf('x=1&window=9000', 600), 600);
  assert.equal(windowOf('window=1', 600), 10);
  assert.equal(windowOf('window=abc', 600), 300);
});

test('status-sampler: one ring per service, dropped with the service, at most MAX_SERVICE_RINGS', () => {
  const { ipvs, web, dns, sampler } = lab();
  sampler.sample(T0);
  assert.notEqual(sampler.ringOf(web), null);
  assert.notEqual(sampler.ringOf(dns), null);
  ipvs.deleteService(dns);
  sampler.sample(T0 + 1000);
  assert.equal(sampler.ringOf(dns), null);
  const more = [];
  for (let i = 0; i < MAX_SERVICE_RINGS + 5; i++)
    more.push(ipvs.addService(IPPROTO_TCP, ip('10.0.0.1'), 1000 + i, settings('rr')));
  sampler.sample(T0 + 2000);
  const withRing = ipvs.services.filter((s) => sampler.ringOf(s) !== null).length;
  assert.equal(withRing, MAX_SERVICE_RINGS);
  assert.equal(sampler.ringOf(more[more.length - 1]), null);
});
