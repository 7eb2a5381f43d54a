/** DNS_CHECK against a tiny responder on loopback that answers as each test tells it to. */
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import { test } from 'node:test';
import { DNS_HEADER_BYTES, dnsCheck, dnsQuery } from '../../../../src/health/checks/dns.js';
import {
  dnsSpec,
  freePort,
  NEVER,
  openProbeHandles,
  SHORT_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  udpServer,
} from './fixtures.js';

const opts = { timeout: TEST_TIMEOUT_MS };

/** A reply header to `query`: its id (or `id`), the given flags, `answers` in ANCOUNT. */
function replyTo(query: Buffer, flags: number, answers = 0, id = query.readUInt16BE(0)): Buffer {
  const r = Buffer.alloc(DNS_HEADER_BYTES);
  r.writeUInt16BE(id, 0);
  r.writeUInt16BE(flags, 2);
  r.writeUInt16BE(1, 4);
  r.writeUInt16BE(answers, 6);
  return Buffer.concat([r, query.subarray(DNS_HEADER_BYTES)]);
}

const QR = 0x8000;
const RD = 0x0100;

/** A responder that sends `replies(query)` back, in order, for each query it gets. */
async function responder(replies: (query: Buffer) => Buffer[], queries: Buffer[] = []) {
  return udpServer((msg: Buffer, rinfo: dgram.RemoteInfo, sock: dgram.Socket) => {
    queries.push(msg);
    for (const r of replies(msg)) sock.send(r, rinfo.port, rinfo.address);
  });
}

test('dns: a reply with our id, QR and RCODE 0 passes; the query is RD, one question, class IN', opts, async (t) => {
  const queries: Buffer[] = [];
  const server = await responder((q) => [replyTo(q, QR | RD | 0x80, 2)], queries);
  t.after(() => server.close());
  const before = await openProbeHandles();
  const result = await dnsCheck(dnsSpec(server.port, { queryType: 'a', name: 'www.example.com' }), NEVER);
  assert.deepEqual(result, { ok: true, reason: 'answer with 2 records' });
  assert.equal(queries.length, 1);
  const q = queries[0];
  // Flags RD only, QDCOUNT 1, the other counts 0.
  const fields = ['0100', '0001', '0000', '0000', '0000'];
  assert.equal(q.toString('hex', 2, DNS_HEADER_BYTES), fields.join(''));
  assert.equal(q.subarray(DNS_HEADER_BYTES).toString('latin1'), '\x03www\x07example\x03com\x00\x00\x01\x00\x01');
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('dns: the default query is SOA for the root, and a final dot changes nothing', () => {
  const root = dnsQuery(0x1234, 'SOA', '.') as Buffer;
  // id, flags (RD), QDCOUNT 1, three zero counts; the root name, type SOA (6), class IN.
  const fields = ['1234', '0100', '0001', '0000', '0000', '0000', '00', '0006', '0001'];
  assert.equal(root.toString('hex'), fields.join(''));
  const withDot = dnsQuery(1, 'MX', 'example.org.') as Buffer;
  const without = dnsQuery(1, 'MX', 'example.org') as Buffer;
  assert.deepEqual(withDot, without);
  assert.equal(withDot.subarray(DNS_HEADER_BYTES).toString('hex'), '076578616d706c65036f726700000f0001');
  assert.equal((dnsQuery(1, 'dnskey', 'org') as Buffer).toString('hex', DNS_HEADER_BYTES), '036f72670000300001');
  assert.equal(dnsQuery(1, 'PTR', 'example.org'), 'unknown query type PTR');
  assert.equal(dnsQuery(1, 'A', 'a..b'), 'invalid query name "a..b"');
  assert.equal(dnsQuery(1, 'A', `${'x'.repeat(64)}.com`), `invalid query name "${'x'.repeat(64)}.com"`);
});

test('dns: a wrong id or QR clear is ignored, a later good reply still passes', opts, async (t) => {
  const server = await responder((q) => [
    replyTo(q, QR, 0, q.readUInt16BE(0) ^ 0xffff),
    replyTo(q, 0),
    Buffer.from([1, 2, 3]),
    replyTo(q, QR),
  ]);
  t.after(() => server.close());
  assert.deepEqual(await dnsCheck(dnsSpec(server.port), NEVER), { ok: true, reason: 'answer with 0 records' });
});

test('dns: only wrong ids or QR clear means no answer: the check fails after connect_timeout', opts, async (t) => {
  const server = await responder((q) => [replyTo(q, QR, 0, q.readUInt16BE(0) ^ 1), replyTo(q, 0)]);
  t.after(() => server.close());
  const result = await dnsCheck(dnsSpec(server.port, { connectTimeoutMs: SHORT_TIMEOUT_MS }), NEVER);
  assert.deepEqual(result, { ok: false, reason: 'DNS_CHECK: no answer within 0.3 s' });
});

test('dns: RCODE 2 with our id fails at once with the rcode', opts, async (t) => {
  const server = await responder((q) => [replyTo(q, QR | 2)]);
  t.after(() => server.close());
  const result = await dnsCheck(dnsSpec(server.port, { connectTimeoutMs: 5000 }), NEVER);
  assert.deepEqual(result, { ok: false, reason: 'DNS_CHECK: rcode 2 (SERVFAIL)' });
});

test('dns: a closed port fails on the ICMP port unreachable', opts, async () => {
  const port = await freePort('udp');
  assert.deepEqual(await dnsCheck(dnsSpec(port, { connectTimeoutMs: 5000 }), NEVER), {
    ok: false,
    reason: 'DNS_CHECK: port unreachable',
  });
});

test('dns: abort gives "aborted"', opts, async (t) => {
  const server = await responder(() => []);
  t.after(() => server.close());
  const ac = new AbortController();
  const pending = dnsCheck(dnsSpec(server.port), ac.signal);
  setTimeout(() => ac.abort(), 50);
  assert.deepEqual(await pending, { ok: false, reason: 'aborted' });
});
