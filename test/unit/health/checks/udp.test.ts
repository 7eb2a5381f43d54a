/** UDP_CHECK against loopback UDP sockets: silent, echoing, closed (ICMP port unreachable). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReplyPattern, replyMismatch } from '../../../../src/health/checks/reply-pattern.js';
import { udpCheck } from '../../../../src/health/checks/udp.js';
import {
  freePort,
  LOOPBACK,
  NEVER,
  openProbeHandles,
  SHORT_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  udpServer,
  udpSpec,
} from './fixtures.js';

const opts = { timeout: TEST_TIMEOUT_MS };

test("udp: without require_reply a silent server passes, and gets keepalived's default payload", opts, async (t) => {
  const got: Buffer[] = [];
  const server = await udpServer((msg) => got.push(msg));
  t.after(() => server.close());
  const before = await openProbeHandles();
  const result = await udpCheck(udpSpec(server.port, { connectTimeoutMs: SHORT_TIMEOUT_MS }), NEVER);
  assert.deepEqual(result, { ok: true, reason: 'no ICMP error within 0.3 s' });
  assert.deepEqual(
    got.map((m) => m.toString('latin1')),
    ['keepalived check - keepalived ch'],
  );
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('udp: a closed port fails at once on the ICMP port unreachable', opts, async () => {
  const port = await freePort('udp');
  const result = await udpCheck(udpSpec(port, { connectTimeoutMs: 5000 }), NEVER);
  assert.deepEqual(result, { ok: false, reason: 'UDP_CHECK: port unreachable' });
});

test('udp: the payload and bindto/bind_port are used as given; any reply passes', opts, async (t) => {
  const seen: string[] = [];
  const server = await udpServer((msg, rinfo, sock) => {
    seen.push(`${rinfo.address}:${rinfo.port} ${msg.toString('hex')}`);
    sock.send(Buffer.from('pong'), rinfo.port, rinfo.address);
  });
  t.after(() => server.close());
  const bindPort = await freePort('udp');
  const payload = Uint8Array.from([0xde, 0xad, 0x00, 0x01]);
  const result = await udpCheck(udpSpec(server.port, { payload, bindTo: LOOPBACK, bindPort }), NEVER);
  assert.deepEqual(result, { ok: true, reason: 'reply of 4 bytes' });
  assert.deepEqual(seen, [`${LOOPBACK}:${bindPort} dead0001`]);
});

/** A server that answers every datagram with `reply`. */
async function replying(reply: Buffer) {
  return udpServer((_msg, rinfo, sock) => sock.send(reply, rinfo.port, rinfo.address));
}

test(
  'udp: require_reply with a pattern checks the start of the reply, X nibbles matching anything',
  opts,
  async (t) => {
    const server = await replying(Buffer.from([0x01, 0x23, 0x45, 0x67]));
    t.after(() => server.close());
    const check = (requireReply: string) => udpCheck(udpSpec(server.port, { requireReply }), NEVER);
    assert.deepEqual(await check('01 2x'), { ok: true, reason: 'reply of 4 bytes' });
    assert.deepEqual(await check('0123456789'), { ok: true, reason: 'reply of 4 bytes' });
    assert.deepEqual(await check('X1 23 44'), {
      ok: false,
      reason: 'UDP_CHECK: reply differs from require_reply at byte 2',
    });
    assert.deepEqual(await check('zz'), { ok: false, reason: 'UDP_CHECK: invalid require_reply pattern "zz"' });
  },
);

test('udp: with a pattern the reply length must be within min/max_reply_length', opts, async (t) => {
  const server = await replying(Buffer.from([1, 2, 3]));
  t.after(() => server.close());
  assert.deepEqual(await udpCheck(udpSpec(server.port, { requireReply: '01', minReplyLength: 4 }), NEVER), {
    ok: false,
    reason: 'UDP_CHECK: reply of 3 bytes, outside 4..255',
  });
  assert.deepEqual(await udpCheck(udpSpec(server.port, { requireReply: '01', maxReplyLength: 2 }), NEVER), {
    ok: false,
    reason: 'UDP_CHECK: reply of 3 bytes, outside 0..2',
  });
  // keepalived (check_udp.c) checks the lengths only together with a pattern.
  assert.deepEqual(await udpCheck(udpSpec(server.port, { requireReply: '', minReplyLength: 4 }), NEVER), {
    ok: true,
    reason: 'reply of 3 bytes',
  });
});

test('udp: require_reply with a silent server fails after connect_timeout', opts, async (t) => {
  const server = await udpServer(() => {});
  t.after(() => server.close());
  const result = await udpCheck(udpSpec(server.port, { requireReply: '', connectTimeoutMs: SHORT_TIMEOUT_MS }), NEVER);
  assert.deepEqual(result, { ok: false, reason: 'UDP_CHECK: no reply within 0.3 s' });
});

test('udp: abort gives "aborted" and closes the socket', opts, async (t) => {
  const server = await udpServer(() => {});
  t.after(() => server.close());
  const before = await openProbeHandles();
  const ac = new AbortController();
  const pending = udpCheck(udpSpec(server.port, { requireReply: '' }), ac.signal);
  setTimeout(() => ac.abort(), 50);
  assert.deepEqual(await pending, { ok: false, reason: 'aborted' });
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test("udp: require_reply HEX reads like keepalived's read_hex_str()", () => {
  const hex = (p: string) => {
    const r = parseReplyPattern(p);
    return r === null ? null : [Buffer.from(r.bytes).toString('hex'), Buffer.from(r.mask).toString('hex')];
  };
  assert.deepEqual(hex('0123'), ['0123', '0000']);
  assert.deepEqual(hex(' 01\t23 '), ['0123', '0000']);
  assert.deepEqual(hex('1 23'), ['0123', '0000']);
  assert.deepEqual(hex('aBcD'), ['abcd', '0000']);
  assert.deepEqual(hex('x1 2X X'), ['012000', 'f00f0f']);
  assert.equal(hex('0\t1'), null);
  assert.equal(hex('01 g2'), null);
  assert.equal(hex('   '), null);
  const pattern = parseReplyPattern('0X')!;
  assert.equal(replyMismatch(Uint8Array.from([0x0f]), pattern, 0, 255), null);
  assert.equal(replyMismatch(Uint8Array.from([0x1f]), pattern, 0, 255), 'reply differs from require_reply at byte 0');
  assert.equal(replyMismatch(new Uint8Array(0), pattern, 0, 255), null);
});
