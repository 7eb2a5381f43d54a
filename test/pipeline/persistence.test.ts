/**
 * Persistence templates (ip_vs_core.c, ip_vs_sched_persist();
 * docs/ipvs-behaviour.md#persistence-templates), quiescing and destination removal
 * (docs/ipvs-behaviour.md#destination-order-edits-and-removal), through the real dataplane with a
 * controllable clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatConns } from '../../src/control/format.js';
import { listConns } from '../../src/control/listing.js';
import { EMPTY_NAME_DB } from '../../src/control/names.js';
import { Drop } from '../../src/dataplane/drops.js';
import { ConnFlag } from '../../src/ipvs/conn-table.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  makeDirector,
  RS1,
  resolveNeighbours,
  type TestDirector,
  VIP,
} from '../helpers/director.js';
import { ACK, arpFrame, decode, FIN, ip, ipFrame, RST, SYN, TCP } from '../helpers/frames.js';

const svc = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
const destCfg = (weight = 1) => ({ fwd: 'masq' as const, weight, uThreshold: 0, lThreshold: 0 });

function persistent(td: TestDirector, opts: { timeoutS?: number; netmask?: string; port?: number } = {}): void {
  const s = { ...svc, port: opts.port ?? 80 };
  td.run({
    op: 'addService',
    service: s,
    config: {
      scheduler: 'rr',
      schedFlags: [],
      persistentS: opts.timeoutS ?? 360,
      netmask: opts.netmask ?? '255.255.255.255',
      ops: false,
    },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129'])
    td.run({ op: 'addDest', service: s, dest: { addr: rs, port: opts.port === 0 ? 0 : 80 }, config: destCfg() });
}

function tcp(td: TestDirector, src: number, sport: number, flags: number, dport = 80): string | undefined {
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, src, VIP, { proto: TCP, sport, dport, flags })]);
  const out = td.int.take();
  return out.length === 0 ? undefined : decode(out[0]).dst;
}

/** Moves the clock like the daemon does: a tick every 100 ms. */
function advance(td: TestDirector, ms: number): void {
  for (let t = 0; t < ms; t += 100) {
    td.now += Math.min(100, ms - t);
    td.dp.tick(td.now);
  }
}

function templates(td: TestDirector): number[] {
  const c = td.ipvs.conns,
    ids: number[] = [];
  c.forEach((id) => {
    if ((c.flags[id] & ConnFlag.TEMPLATE) !== 0 && (c.flags[id] & ConnFlag.HASHED) !== 0) ids.push(id);
  });
  return ids;
}

test('persistence: every connection of a client goes to the first chosen real server; one template', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td);
  const first = tcp(td, CLIENT, 40000, SYN);
  for (let p = 40001; p < 40010; p++) assert.equal(tcp(td, CLIENT, p, SYN), first);
  const t = templates(td);
  assert.equal(t.length, 1);
  const c = td.ipvs.conns;
  assert.equal(c.cport[t[0]], 0);
  assert.equal(c.caddr[t[0]], CLIENT);
  assert.equal(c.timeoutMs[t[0]], 360_000);
  const d = td.ipvs.services[0].findDest(ip(first!), 80)!;
  assert.equal(d.persistConns, 1);
  assert.equal(d.stats.conns, 10);
  const list = listConns(td.ipvs, td.now).filter((e) => e.template);
  assert.deepEqual(
    list.map((e) => [e.caddr, e.cport, e.state]),
    [['192.168.222.1', 0, 'NONE']],
  );
});

test('persistence: a template becomes ASSURED when a controlled connection is established', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td);
  tcp(td, CLIENT, 40000, SYN);
  tcp(td, CLIENT, 40000, ACK);
  assert.equal(listConns(td.ipvs, td.now).find((e) => e.template)?.state, 'ASSURED');
});

test('persistence netmask groups clients: 192.168.222.0/24 shares one template, other clients are scheduled', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td, { netmask: '255.255.255.0' });
  // Teach the director a second client MAC (not needed for inbound), then connect from .1 and .2.
  td.send('ext', [arpFrame(1, CLIENT_MAC, ip('192.168.222.2'), new Uint8Array(6), VIP)]);
  td.ext.take();
  const a = tcp(td, CLIENT, 40000, SYN);
  const b = tcp(td, ip('192.168.222.2'), 40000, SYN);
  assert.equal(a, b);
  assert.equal(templates(td).length, 1);
  assert.equal(td.ipvs.conns.caddr[templates(td)[0]], ip('192.168.222.0'));
});

test('persistence: a template due while it still controls a connection is re-armed for 60 s, then expires', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td, { timeoutS: 5 });
  td.dp.tick(td.now);
  const first = tcp(td, CLIENT, 40000, SYN);
  tcp(td, CLIENT, 40000, ACK); // ESTABLISHED
  tcp(td, CLIENT, 40000, RST); // ESTABLISHED + rst -> CLOSE: 10 s (SYN_RECV + rst would stay SYN_RECV)
  const t = templates(td)[0];
  const c = td.ipvs.conns;
  advance(td, 5_200);
  assert.equal(c.flags[t] & ConnFlag.HASHED, ConnFlag.HASHED, 'template kept while it controls a connection');
  assert.equal(c.timeoutMs[t], 60_000);
  advance(td, 5_000); // 10.2 s: the CLOSE entry is gone, the template waits out its 60 s
  assert.equal(td.ipvs.conns.count, 1);
  assert.equal(tcp(td, CLIENT, 40001, SYN), first, 'still pinned');
  advance(td, 130_000); // that connection (SYN_RECV, 60 s) keeps the template up to 60 s more
  assert.equal(td.ipvs.conns.count, 0);
  assert.equal(td.ipvs.services[0].findDest(ip(first!), 80)!.persistConns, 0);
  // After expiry the next connection is scheduled afresh (rr moved on): the other server.
  const next = tcp(td, CLIENT, 40002, SYN);
  assert.ok(next !== undefined, 'the SYN after expiry was forwarded');
  assert.notEqual(next, first);
});

test("persistence on a port-0 service pins a client across ports and keeps the packet's port", () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td, { port: 0 });
  const a = tcp(td, CLIENT, 40000, SYN, 80);
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40001, dport: 443, flags: SYN })]);
  const [f] = td.int.take().map(decode);
  assert.equal(f.dst, a);
  assert.equal(f.dport, 443);
  assert.equal(td.ipvs.conns.vport[templates(td)[0]], 0);
});

test('a port-0 service without persistence schedules nothing (as IPVS: "port zero only supported in persistent services")', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  const s = { ...svc, port: 0 };
  td.run({
    op: 'addService',
    service: s,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({ op: 'addDest', service: s, dest: { addr: '192.168.2.129', port: 0 }, config: destCfg() });
  assert.equal(tcp(td, CLIENT, 40000, SYN, 8080), undefined);
  assert.equal(td.dp.ports[0].drops[Drop.NoDestination], 1);
});

test('quiescing (weight 0): no new connections, existing ones continue; persistence still honoured by default', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td);
  const first = tcp(td, CLIENT, 40000, SYN)!;
  td.run({ op: 'editDest', service: svc, dest: { addr: first, port: 80 }, config: destCfg(0) });
  assert.equal(tcp(td, CLIENT, 40000, ACK), first, 'existing connection continues');
  assert.equal(tcp(td, CLIENT, 40001, SYN), first, 'template still honoured (expire_quiescent_template=0)');
  td.ipvs.expireQuiescentTemplate = true;
  assert.notEqual(tcp(td, CLIENT, 40002, SYN), first, 'with expire_quiescent_template=1 the client moves');
});

test('removing a real server: its connections are dropped silently by default, flushed with expire_nodest_conn', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.run({
    op: 'addService',
    service: svc,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129'])
    td.run({ op: 'addDest', service: svc, dest: { addr: rs, port: 80 }, config: destCfg() });
  assert.equal(tcp(td, CLIENT, 40000, SYN), '192.168.2.129');
  td.run({ op: 'deleteDest', service: svc, dest: { addr: '192.168.2.129', port: 80 } });
  assert.equal(tcp(td, CLIENT, 40000, ACK), undefined);
  assert.equal(td.dp.ports[0].drops[Drop.DestUnavailable], 1);
  // With expire_nodest_conn the next packet expires the entry; a SYN is scheduled afresh.
  td.ipvs.expireNodestConn = true;
  assert.equal(tcp(td, CLIENT, 40000, SYN), '192.168.2.130');
  // Deleting with the option set flushes at once.
  td.run({ op: 'deleteDest', service: svc, dest: { addr: '192.168.2.130', port: 80 } });
  assert.equal(td.ipvs.conns.count, 0);
});

test('re-adding a deleted real server while its connections live revives it: the connections resume', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.run({
    op: 'addService',
    service: svc,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({ op: 'addDest', service: svc, dest: { addr: '192.168.2.129', port: 80 }, config: destCfg() });
  tcp(td, CLIENT, 40000, SYN);
  td.run({ op: 'deleteDest', service: svc, dest: { addr: '192.168.2.129', port: 80 } });
  td.run({ op: 'addDest', service: svc, dest: { addr: '192.168.2.129', port: 80 }, config: destCfg() });
  assert.equal(tcp(td, CLIENT, 40000, ACK), '192.168.2.129');
  const d = td.ipvs.services[0].findDest(RS1, 80)!;
  assert.equal(d.activeConns, 1);
});

test('changing the scheduler (-E) or a weight (-e) keeps established connections', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  td.run({
    op: 'addService',
    service: svc,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129'])
    td.run({ op: 'addDest', service: svc, dest: { addr: rs, port: 80 }, config: destCfg() });
  const a = tcp(td, CLIENT, 40000, SYN);
  tcp(td, CLIENT, 40000, ACK);
  td.run({
    op: 'editService',
    service: svc,
    config: { scheduler: 'wlc', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  td.run({ op: 'editDest', service: svc, dest: { addr: a!, port: 80 }, config: destCfg(5) });
  assert.equal(tcp(td, CLIENT, 40000, ACK | 0x08), a);
  assert.equal(tcp(td, CLIENT, 40000, FIN | ACK), a);
  assert.equal(td.ipvs.services[0].scheduler.name, 'wlc');
});

/**
 * ip_vs_conn.c, ip_vs_check_template(): a template whose dest is gone is invalidated, not freed:
 * its vport and dport become 65535 and its cport 0, it can no longer match, its timer is not
 * restarted, and it stays in the table (so `ipvsadm -L -c` lists it, with its old dest) until
 * it expires.
 */
test('an invalidated template stays listed by -c with ports 65535 and its dest until it expires (ip_vs_check_template())', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td, { timeoutS: 30 });
  td.dp.tick(td.now);
  const first = tcp(td, CLIENT, 40000, SYN)!;
  td.run({ op: 'deleteDest', service: svc, dest: { addr: first, port: 80 } });
  advance(td, 5_000);
  const second = tcp(td, CLIENT, 40001, SYN)!;
  assert.notEqual(second, first, 'the invalid template no longer pins the client');
  const tmpls = () =>
    listConns(td.ipvs, td.now)
      .filter((e) => e.template)
      .map((e) => [e.caddr, e.cport, e.vport, e.daddr, e.dport, e.expireS]);
  assert.deepEqual(
    tmpls().sort((a, b) => Number(b[2]) - Number(a[2])),
    [
      ['192.168.222.1', 0, 65535, first, 65535, 25], // its own 30 s timer, not restarted by the lookup
      ['192.168.222.1', 0, 80, second, 80, 30],
    ],
  );
  const invalid = listConns(td.ipvs, td.now).filter((e) => e.template && e.vport === 65535);
  assert.equal(
    formatConns(invalid, { numeric: true }, EMPTY_NAME_DB).split('\n')[2],
    `TCP 00:25  NONE        192.168.222.1:0    192.168.222.131:65535 ${first}:65535`,
  );
  // It expires like any template: re-armed while its (unavailable) connection lives, then gone.
  advance(td, 200_000);
  assert.equal(
    listConns(td.ipvs, td.now).filter((e) => e.template && e.vport === 65535).length,
    0,
    'gone once expired',
  );
});

/** One SYN from the client; what left on each link (decoded) and the drop counters' view. */
function syn(td: TestDirector, sport: number, dport: number) {
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport, dport, flags: SYN })]);
  return { int: td.int.take().map(decode), ext: td.ext.take().map(decode) };
}

function ftpService(td: TestDirector, persistentS: number | null): void {
  const s = { ...svc, port: 21 };
  td.run({
    op: 'addService',
    service: s,
    config: { scheduler: 'rr', schedFlags: [], persistentS, netmask: '255.255.255.255', ops: false },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129'])
    td.run({ op: 'addDest', service: s, dest: { addr: rs, port: 21 }, config: destCfg() });
}

/**
 * ip_vs_core.c, ip_vs_sched_persist(): the connection's port is the dest's only when the packet's
 * port is the service's; a port-0 service's connections keep the packet's port whatever port the
 * dest was given, and its template has vport 0 and dport 0.
 */
test("port-0 persistent service: the connection keeps the packet's port even when the dest has one (ip_vs_sched_persist())", () => {
  const td = makeDirector();
  resolveNeighbours(td);
  const s = { ...svc, port: 0 };
  td.run({
    op: 'addService',
    service: s,
    config: { scheduler: 'rr', schedFlags: [], persistentS: 360, netmask: '255.255.255.255', ops: false },
  });
  td.run({ op: 'addDest', service: s, dest: { addr: '192.168.2.129', port: 8080 }, config: destCfg() });
  const a = syn(td, 40000, 443).int;
  assert.deepEqual([a.length, a[0]?.dst, a[0]?.dport], [1, '192.168.2.129', 443]);
  const b = syn(td, 40001, 25).int;
  assert.deepEqual([b[0]?.dst, b[0]?.dport], ['192.168.2.129', 25]);
  const t = templates(td);
  assert.equal(t.length, 1);
  assert.deepEqual([td.ipvs.conns.vport[t[0]], td.ipvs.conns.dport[t[0]]], [0, 0]);
});

/**
 * ip_vs_sched_persist(): a persistent FTP service (port 21) keys its template with vport 0 and
 * dport 0; ip_vs_ctl.c, ip_vs_service_find() hands it TCP packets for port 20 and ports >= 1024 of
 * the VIP, so a passive data connection finds the control connection's template and goes to the
 * same real server, keeping its own port. A privileged port other than 20 finds no service.
 */
test('persistent FTP service: data connections to high ports follow the control connection (ip_vs_sched_persist(), ip_vs_service_find())', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  ftpService(td, 300);
  const ctl = syn(td, 40000, 21).int;
  assert.equal(ctl[0]?.dport, 21);
  const rs = ctl[0]?.dst;
  const t = templates(td);
  assert.equal(t.length, 1);
  assert.deepEqual(
    [td.ipvs.conns.vport[t[0]], td.ipvs.conns.dport[t[0]]],
    [0, 0],
    'FTP template <caddr, 0, VIP, 0, RS, 0>',
  );
  for (let i = 0; i < 3; i++) {
    const data = syn(td, 40001 + i, 30000 + i).int; // rr alone would alternate real servers
    assert.deepEqual([data[0]?.dst, data[0]?.dport], [rs, 30000 + i], `data connection ${i}`);
  }
  assert.equal(templates(td).length, 1, 'one template for control and data');
  // Port 1023 is privileged and not 20: no service takes it; the director's stack answers RST.
  const other = syn(td, 40010, 1023);
  assert.equal(other.int.length, 0);
  assert.equal(other.ext[0]?.flags !== undefined && (other.ext[0].flags & RST) !== 0, true, 'RST from the VIP');
});

/**
 * A non-persistent FTP service is still found for high ports (ip_vs_service_find()), but
 * ip_vs_schedule() does not schedule a port other than the service's, and ip_vs_leave() then
 * passes an FTP service's packet on (NF_ACCEPT) instead of sending ICMP: the local stack, RST.
 */
test('non-persistent FTP service: a SYN to a high port goes to the local stack, not ICMP (ip_vs_leave())', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  ftpService(td, null);
  const r = syn(td, 40000, 30000);
  assert.equal(r.int.length, 0);
  assert.equal(r.ext.length, 1);
  assert.equal(r.ext[0].proto, TCP, 'a TCP reset, not ICMP port unreachable');
  assert.ok((r.ext[0].flags! & RST) !== 0);
  assert.equal(td.dp.ports[0].drops[Drop.LocalUnreachable], 1);
  assert.equal(td.dp.ports[0].drops[Drop.NoDestination], 0);
  assert.equal(syn(td, 40001, 21).int[0]?.dport, 21, 'port 21 itself is scheduled');
});

/** ip_vs_core.c, ip_vs_schedule(): "Not scheduling FTPDATA": a client's port 20 is never scheduled. */
test('a SYN from client port 20 is not scheduled (ip_vs_schedule(), FTPDATA)', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  persistent(td);
  const r = syn(td, 20, 80);
  assert.equal(r.int.length, 0);
  assert.ok(r.ext[0] !== undefined && (r.ext[0].flags! & RST) !== 0, 'the local stack resets it');
  assert.equal(td.ipvs.conns.count, 0, 'no connection, no template');
  assert.equal(syn(td, 21, 80).int.length, 1, 'port 21 as a client port is scheduled');
});

function rrService(td: TestDirector, persistentS: number | null): void {
  td.run({
    op: 'addService',
    service: svc,
    config: { scheduler: 'rr', schedFlags: [], persistentS, netmask: '255.255.255.255', ops: false },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129'])
    td.run({ op: 'addDest', service: svc, dest: { addr: rs, port: 80 }, config: destCfg() });
}

/**
 * ip_vs_core.c, ip_vs_in_hook(): with expire_nodest_conn, a SYN (is_new_conn()) that matches an
 * established connection whose dest has weight 0 expires it and is scheduled afresh; without the
 * sysctl the SYN follows the old connection (the state is ESTABLISHED, so conn_reuse_mode alone
 * would not reschedule it).
 */
test("expire_nodest_conn: a SYN for a weight-0 dest's established connection is rescheduled (ip_vs_in_hook())", () => {
  const td = makeDirector();
  resolveNeighbours(td);
  rrService(td, null);
  const first = tcp(td, CLIENT, 40000, SYN)!;
  tcp(td, CLIENT, 40000, ACK); // ESTABLISHED
  td.run({ op: 'editDest', service: svc, dest: { addr: first, port: 80 }, config: destCfg(0) });
  assert.equal(tcp(td, CLIENT, 40000, SYN), first, 'sysctl off: the SYN stays on the old connection');
  td.ipvs.expireNodestConn = true;
  const next = tcp(td, CLIENT, 40000, SYN);
  assert.ok(next !== undefined && next !== first, `rescheduled to the other real server, got ${next}`);
  const old = td.ipvs.services[0].findDest(ip(first), 80)!;
  assert.deepEqual([old.activeConns, old.inactConns], [0, 0], 'the old entry is gone');
  assert.equal(td.ipvs.conns.count, 1);
});

/**
 * Since Linux 5.16 ("netfilter: ipvs: Fix reuse connection if RS weight is 0") ip_vs_in_hook()
 * leaves connections controlled by a template alone: persistence keeps the client on its quiesced
 * real server for the connection it has, even with expire_nodest_conn.
 */
test('expire_nodest_conn: a SYN for a persistent (template-controlled) connection to a weight-0 dest is not rescheduled', () => {
  const td = makeDirector();
  resolveNeighbours(td);
  rrService(td, 300);
  const first = tcp(td, CLIENT, 40000, SYN)!;
  tcp(td, CLIENT, 40000, ACK);
  td.run({ op: 'editDest', service: svc, dest: { addr: first, port: 80 }, config: destCfg(0) });
  td.ipvs.expireNodestConn = true;
  assert.equal(tcp(td, CLIENT, 40000, SYN), first);
  const conn = listConns(td.ipvs, td.now).filter((e) => !e.template);
  assert.deepEqual(
    conn.map((e) => [e.cport, e.state]),
    [[40000, 'ESTABLISHED']],
    'the same connection, still ESTABLISHED (a new one would be SYN_RECV)',
  );
});
