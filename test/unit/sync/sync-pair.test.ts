/**
 * A master and a backup director joined by an in-memory transport: connections driven on the
 * master as the dataplane drives them (count the packet, run the state machine, call
 * afterInbound) appear on the backup with their state, real server, gauges and timeout, findable
 * in both directions; closing states and templates follow; the send sequence is the kernel's
 * (ip_vs_sync_conn_needed(): packets 3, 53, 103, ...); memory and sends stay bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnFlag } from '../../../src/ipvs/conn-table.js';
import type { Dest } from '../../../src/ipvs/dest.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import type { Service } from '../../../src/ipvs/service.js';
import { Dir, TcpState } from '../../../src/ipvs/tcp-state.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../../src/packet/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../../src/packet/tcp.js';
import { SyncBackup } from '../../../src/sync/sync-backup.js';
import { MAX_SENDS_PER_FLUSH, SyncMaster } from '../../../src/sync/sync-master.js';
import { MessageWriter, WireFlag } from '../../../src/sync/sync-message.js';
import { ip } from '../ipvs/sched/sched-fixtures.js';

const VIP = ip('192.168.222.131'),
  CLIENT = ip('10.1.0.1'),
  RS1 = ip('192.168.2.129'),
  RS2 = ip('192.168.2.130');
const T0 = 1_000_000;

interface Director {
  ipvs: Ipvs;
  web: Service;
  sticky: Service;
  dns: Service;
  rs1: Dest;
  rs2: Dest;
  stickyRs: Dest;
}
/** TCP VIP:80 rr (RS1, RS2), TCP VIP:443 persistent 300 s (RS1), UDP VIP:53 (RS2). */
function director(maxConns = 1024): Director {
  const ipvs = new Ipvs({ maxConns });
  const base = { schedFlags: 0, persistent: false, timeoutS: 0, netmask: -1, ops: false };
  const w = { weight: 1, uThreshold: 0, lThreshold: 0 };
  const web = ipvs.addService(IPPROTO_TCP, VIP, 80, { ...base, scheduler: createScheduler('rr') });
  const rs1 = ipvs.addDest(web, RS1, 80, w);
  const rs2 = ipvs.addDest(web, RS2, 80, w);
  const sticky = ipvs.addService(IPPROTO_TCP, VIP, 443, {
    ...base,
    scheduler: createScheduler('rr'),
    persistent: true,
    timeoutS: 300,
  });
  const stickyRs = ipvs.addDest(sticky, RS1, 443, w);
  const dns = ipvs.addService(IPPROTO_UDP, VIP, 53, { ...base, scheduler: createScheduler('rr') });
  ipvs.addDest(dns, RS2, 53, w);
  return { ipvs, web, sticky, dns, rs1, rs2, stickyRs };
}

/** Master and backup directors; what the master sends is read by the backup at once. */
function pair(opts: { maxlen?: number; poolBytes?: number; maxConns?: number } = {}) {
  const m = director(opts.maxConns);
  const b = director(opts.maxConns);
  const backup = new SyncBackup(b.ipvs, { syncid: 0, threshold: 3 });
  const sent: number[] = [];
  const master = new SyncMaster(
    m.ipvs,
    { syncid: 7, maxlen: opts.maxlen ?? 1472, threshold: 3, period: 50 },
    {
      send: (payload, len) => {
        sent.push(len);
        backup.receive(payload.slice(0, len), 0, len, now);
      },
    },
    opts.poolBytes,
  );
  let now = T0;
  /** The 20 ms timer's work at time t (the backup reads at t too). */
  const flush = (t: number): void => {
    now = t;
    master.flush(t);
  };
  return { m, b, master, backup, sent, flush };
}

/** A client -> VIP segment as the dataplane handles it. */
function inbound(ipvs: Ipvs, master: SyncMaster, id: number, flags: number, now: number): void {
  ipvs.conns.pkts[id]++;
  if (ipvs.conns.proto[id] === IPPROTO_TCP) ipvs.tcpState(id, Dir.INPUT, flags, now);
  else ipvs.udpState(id, Dir.INPUT, now);
  master.afterInbound(id, now);
}
/** SYN in, SYN-ACK out, ACK in: ESTABLISHED after two inbound packets. */
function handshake(d: Director, master: SyncMaster, svc: Service, cport: number, now: number): number {
  const id = d.ipvs.newConnection(svc, IPPROTO_TCP, CLIENT, cport, VIP, svc.port, now);
  assert.ok(id >= 0);
  inbound(d.ipvs, master, id, TCP_SYN, now);
  d.ipvs.tcpState(id, Dir.OUTPUT, TCP_SYN | TCP_ACK, now);
  inbound(d.ipvs, master, id, TCP_ACK, now);
  assert.equal(d.ipvs.conns.state[id], TcpState.ESTABLISHED);
  return id;
}

test('sync: an established connection reaches the backup on its 3rd packet, whole and findable both ways', () => {
  const p = pair();
  const id = handshake(p.m, p.master, p.m.web, 40000, T0);
  assert.equal(p.master.entries, 0, 'SYN_RECV is never sent and ESTABLISHED waits for the count');
  inbound(p.m.ipvs, p.master, id, TCP_ACK, T0);
  assert.equal(p.master.entries, 1);
  p.flush(T0 + 1999);
  assert.deepEqual(p.sent, [], 'a partly filled message waits 2 s');
  p.flush(T0 + 2000);
  assert.deepEqual(p.sent, [44]);
  assert.equal(p.master.messages, 1);
  assert.equal(p.master.bytes, 44);

  const c = p.b.ipvs.conns;
  const bid = c.lookupIn(IPPROTO_TCP, CLIENT, 40000, VIP, 80, false);
  assert.ok(bid >= 0);
  const md = p.m.ipvs.destOf(id)!;
  assert.equal(c.lookupOut(IPPROTO_TCP, md.addr, 80, CLIENT, 40000), bid, 'the reply direction finds it');
  assert.equal(c.daddr[bid], md.addr);
  assert.equal(c.state[bid], TcpState.ESTABLISHED);
  assert.equal(c.timeoutMs[bid], 900_000);
  assert.equal(c.expiresAt[bid], T0 + 2000 + 900_000, 're-armed from the time of receipt');
  assert.equal(c.pkts[bid], 3, 'in_pkts := sync_threshold');
  assert.ok(c.flags[bid] & ConnFlag.SYNCED);
  assert.ok(c.flags[bid] & ConnFlag.ACTIVE);
  const bd = md === p.m.rs1 ? p.b.rs1 : p.b.rs2;
  assert.deepEqual([bd.activeConns, bd.inactConns, bd.refs], [1, 0, 1]);
  assert.equal(p.backup.installed, 1);
});

test('sync: packets 3, 53, 103 are sent; a close is sent at once and moves the gauges', () => {
  const p = pair();
  const id = handshake(p.m, p.master, p.m.web, 40001, T0);
  const sentOn: number[] = [];
  for (let n = 3; n <= 110; n++) {
    const before = p.master.entries;
    inbound(p.m.ipvs, p.master, id, TCP_ACK, T0);
    if (p.master.entries > before) sentOn.push(n);
  }
  assert.deepEqual(sentOn, [3, 53, 103]);
  inbound(p.m.ipvs, p.master, id, TCP_FIN | TCP_ACK, T0 + 10);
  assert.equal(p.m.ipvs.conns.state[id], TcpState.CLOSE_WAIT, "the client's FIN");
  assert.equal(p.master.entries, 4, 'CLOSE_WAIT at once, whatever the count');
  inbound(p.m.ipvs, p.master, id, TCP_ACK, T0 + 11);
  assert.equal(p.master.entries, 4, 'no change, no send');
  p.flush(T0 + 2000);
  assert.equal(p.backup.installed, 1);
  assert.equal(p.backup.updated, 3);
  const c = p.b.ipvs.conns;
  const bid = c.lookupIn(IPPROTO_TCP, CLIENT, 40001, VIP, 80, false);
  assert.equal(c.state[bid], TcpState.CLOSE_WAIT);
  assert.equal(c.timeoutMs[bid], 60_000);
  assert.equal(c.flags[bid] & ConnFlag.ACTIVE, 0);
  const bd = p.b.ipvs.destsById[c.destId[bid]]!;
  assert.deepEqual([bd.activeConns, bd.inactConns], [0, 1], 'INACTIVE on the wire moved it');
});

test('sync: a persistence template travels with its connection and counts as PersistConn', () => {
  const p = pair();
  const id = handshake(p.m, p.master, p.m.sticky, 40002, T0);
  inbound(p.m.ipvs, p.master, id, TCP_ACK, T0);
  assert.equal(p.master.entries, 2, 'the connection, then its template');
  p.flush(T0 + 2000);
  const c = p.b.ipvs.conns;
  const t = c.lookupIn(IPPROTO_TCP, CLIENT, 0, VIP, 443, true);
  assert.ok(t >= 0);
  assert.ok(c.flags[t] & ConnFlag.TEMPLATE);
  assert.ok(c.flags[t] & ConnFlag.ASSURED, 'an established connection assured it');
  assert.equal(c.timeoutMs[t], 300_000);
  assert.deepEqual([p.b.stickyRs.persistConns, p.b.stickyRs.activeConns], [1, 1]);
  assert.ok(c.lookupIn(IPPROTO_TCP, CLIENT, 40002, VIP, 443, false) >= 0);
  // The template is not in the reply index.
  assert.equal(c.lookupOut(IPPROTO_TCP, RS1, 443, CLIENT, 0), -1);
});

test('sync: UDP on its 3rd packet; one-packet entries never, but their template does', () => {
  const p = pair();
  const id = p.m.ipvs.newConnection(p.m.dns, IPPROTO_UDP, CLIENT, 5353, VIP, 53, T0);
  for (let i = 0; i < 3; i++) inbound(p.m.ipvs, p.master, id, 0, T0);
  assert.equal(p.master.entries, 1);
  p.flush(T0 + 2000);
  const c = p.b.ipvs.conns;
  const bid = c.lookupIn(IPPROTO_UDP, CLIENT, 5353, VIP, 53, false);
  assert.equal(c.timeoutMs[bid], 300_000);
  assert.equal(c.flags[bid] & ConnFlag.ACTIVE, 0, 'UDP counts as inactive');
  assert.equal(p.b.ipvs.destsById[c.destId[bid]]!.inactConns, 1);

  // A one-packet entry under a template (persistent -o): only the template leaves.
  const q = pair();
  const mc = q.m.ipvs.conns;
  const one = q.m.ipvs.newConnection(q.m.sticky, IPPROTO_TCP, CLIENT, 999, VIP, 443, T0);
  mc.flags[one] |= ConnFlag.ONE_PACKET;
  for (let i = 0; i < 3; i++) {
    mc.pkts[one] = 0;
    q.master.afterInbound(one, T0);
  }
  assert.equal(q.master.entries, 3, 'the template, each time');
  q.flush(T0 + 2000);
  assert.equal(q.b.ipvs.conns.lookupIn(IPPROTO_TCP, CLIENT, 999, VIP, 443, false), -1);
  assert.ok(q.b.ipvs.conns.lookupIn(IPPROTO_TCP, CLIENT, 0, VIP, 443, true) >= 0);
});

/** A message of one entry, as a master would send it. */
function message(flags: number, state: number, cport: number, daddr: number, timeoutS = 900): Uint8Array {
  const w = new MessageWriter(new Uint8Array(100), 100);
  w.begin(7);
  w.add(IPPROTO_TCP, flags, state, cport, 80, 80, timeoutS, CLIENT, VIP, daddr);
  return w.buf.slice(0, w.finish());
}

test('sync backup: another real server replaces the entry; the late INACTIVE notice of the old one is ignored', () => {
  const b = director();
  const backup = new SyncBackup(b.ipvs, { syncid: 0, threshold: 3 });
  const recv = (m: Uint8Array, now = T0) => backup.receive(m, 0, m.length, now);
  recv(message(0, TcpState.ESTABLISHED, 1000, RS1));
  assert.deepEqual([b.rs1.activeConns, b.rs2.activeConns], [1, 0]);
  recv(message(0, TcpState.ESTABLISHED, 1000, RS2));
  assert.deepEqual([b.rs1.activeConns, b.rs1.refs, b.rs2.activeConns], [0, 0, 1]);
  recv(message(WireFlag.INACTIVE, TcpState.TIME_WAIT, 1000, RS1));
  assert.equal(backup.counters().dropped.late_expiry_notice, 1);
  const c = b.ipvs.conns;
  const id = c.lookupIn(IPPROTO_TCP, CLIENT, 1000, VIP, 80, false);
  assert.equal(c.daddr[id], RS2);
  assert.equal(c.state[id], TcpState.ESTABLISHED);
  // Timeout 0 (as v0 sends): the state's own; an update re-arms from now.
  recv(message(WireFlag.INACTIVE, TcpState.CLOSE_WAIT, 1000, RS2, 0), T0 + 5000);
  assert.equal(c.timeoutMs[id], b.ipvs.timeouts.tcpMs[TcpState.CLOSE_WAIT]);
  assert.equal(c.expiresAt[id], T0 + 5000 + c.timeoutMs[id]);
  assert.deepEqual([b.rs2.activeConns, b.rs2.inactConns], [0, 1]);
  assert.equal(c.count, 1);
});

test('sync backup: a timeout beyond what the table holds is clamped, and the entry expires when it says (fuzzer find)', () => {
  // The fuzzer's frame: the v1 seed's 900 s timeout with bit 31 flipped (0x80000384 s). Stored as
  // ms in a Uint32Array it wrapped to 900,000 while the entry was due 2^31 s later.
  const b = director();
  const backup = new SyncBackup(b.ipvs, { syncid: 0, threshold: 3 });
  backup.receive(message(0, TcpState.ESTABLISHED, 1000, RS1, 0x80000384), 0, 44, T0);
  const c = b.ipvs.conns;
  const id = c.lookupIn(IPPROTO_TCP, CLIENT, 1000, VIP, 80, false);
  assert.equal(c.timeoutMs[id], 0xffffffff);
  assert.equal(c.expiresAt[id], T0 + c.timeoutMs[id]);
  // The same through the update path.
  backup.receive(message(0, TcpState.ESTABLISHED, 1000, RS1, 0xffffffff), 0, 44, T0 + 5000);
  assert.equal(c.timeoutMs[id], 0xffffffff);
  assert.equal(c.expiresAt[id], T0 + 5000 + c.timeoutMs[id]);
});

test('sync backup: no service or real server, and a full table, are skipped and counted', () => {
  const b = director(16);
  const backup = new SyncBackup(b.ipvs, { syncid: 0, threshold: 3 });
  const recv = (m: Uint8Array) => backup.receive(m, 0, m.length, T0);
  recv(message(0, TcpState.ESTABLISHED, 1, ip('192.168.2.200')));
  const other = message(0, TcpState.ESTABLISHED, 2, RS1);
  other[8 + 13] = 81; // vport 81: no service
  recv(other);
  assert.equal(backup.counters().dropped.no_dest, 2);
  for (let i = 0; i < 20; i++) recv(message(0, TcpState.ESTABLISHED, 100 + i, RS1));
  assert.equal(backup.installed, 16);
  assert.equal(backup.counters().dropped.table_full, 4);
  assert.equal(b.ipvs.tableFull, 4);
  assert.equal(b.rs1.activeConns, 16);
});

test('sync: 100,000 connections through a bounded pool, counted exactly', () => {
  const p = pair({ maxConns: 1 << 17 });
  const ipvs = p.m.ipvs,
    c = ipvs.conns;
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    const id = ipvs.newConnection(p.m.web, IPPROTO_TCP, CLIENT + (i >> 14), 1024 + (i & 0x3fff), VIP, 80, T0);
    c.state[id] = TcpState.ESTABLISHED;
    c.syncedState[id] = TcpState.ESTABLISHED;
    c.flags[id] |= ConnFlag.ACTIVE;
    c.pkts[id] = 3;
    p.master.afterInbound(id, T0);
    if (i % 2000 === 1999) p.flush(T0);
  }
  p.flush(T0 + 2000);
  const perMessage = Math.floor((1472 - 8) / 36); // 40
  const messages = Math.ceil(N / perMessage);
  assert.equal(p.master.entries, N);
  assert.equal(p.master.dropped, 0);
  assert.equal(p.master.messages, messages);
  assert.equal(p.master.bytes, messages * 8 + N * 36);
  assert.equal(p.backup.installed, N);
  assert.equal(p.b.ipvs.conns.count, N);
  assert.equal(p.b.rs1.activeConns + p.b.rs2.activeConns, N);
});

test('sync master: a full pool drops and counts; a flush sends at most MAX_SENDS_PER_FLUSH; stop discards', () => {
  const p = pair({ maxConns: 1 << 15, poolBytes: 1 });
  const ipvs = p.m.ipvs,
    c = ipvs.conns;
  const pool = 64; // the least a pool holds
  const fill = (n: number, from: number) => {
    for (let i = 0; i < n; i++) {
      const id = ipvs.newConnection(p.m.dns, IPPROTO_UDP, CLIENT, from + i, VIP, 53, T0);
      c.pkts[id] = 3;
      p.master.afterInbound(id, T0);
    }
  };
  // Client ports from 1024: IPVS never schedules a client's port 20 (ip_vs_schedule(), FTPDATA).
  fill(pool * 40 + 5, 1024);
  assert.equal(p.master.counters().queued, pool, 'every buffer full and queued');
  assert.equal(p.master.dropped, 5);
  p.flush(T0);
  assert.equal(p.master.messages, pool);
  assert.equal(p.backup.installed, pool * 40);
  fill(10, 10_000);
  p.master.stop();
  p.flush(T0 + 10_000);
  assert.equal(p.master.messages, pool, 'the open message was discarded');

  const big = pair({ maxConns: 1 << 16 });
  for (let i = 0; i < (MAX_SENDS_PER_FLUSH + 10) * 40; i++) {
    const id = big.m.ipvs.newConnection(big.m.dns, IPPROTO_UDP, CLIENT + (i >> 15), 1024 + (i & 0x7fff), VIP, 53, T0);
    big.m.ipvs.conns.pkts[id] = 3;
    big.master.afterInbound(id, T0);
  }
  big.flush(T0);
  assert.equal(big.master.messages, MAX_SENDS_PER_FLUSH);
  big.flush(T0 + 20);
  assert.equal(big.master.messages, MAX_SENDS_PER_FLUSH + 9);
  big.flush(T0 + 2020);
  assert.equal(big.master.messages, MAX_SENDS_PER_FLUSH + 10);
});
