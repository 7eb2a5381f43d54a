/** TCP_CHECK against loopback listeners: open, refused, silent (full backlog), bind, abort. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tcpCheck } from '../../../../src/health/checks/tcp.js';
import {
  freePort,
  LOOPBACK,
  NEVER,
  openProbeHandles,
  SHORT_TIMEOUT_MS,
  stuckListener,
  TEST_TIMEOUT_MS,
  tcpServer,
  tcpSpec,
} from './fixtures.js';

const opts = { timeout: TEST_TIMEOUT_MS };

test('tcp: an open port passes, and the probe closes with a FIN after sending nothing', opts, async (t) => {
  const seen: Array<{ bytes: number; ended: Promise<string> }> = [];
  const server = await tcpServer((sock) => {
    let bytes = 0;
    sock.on('data', (d) => {
      bytes += d.length;
    });
    const ended = new Promise<string>((resolve) => {
      sock.on('end', () => resolve('end'));
      sock.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    seen.push({
      get bytes() {
        return bytes;
      },
      ended,
    });
  });
  t.after(() => server.close());
  const before = await openProbeHandles();
  const result = await tcpCheck(tcpSpec(server.port), NEVER);
  assert.deepEqual(result, { ok: true, reason: 'connected' });
  assert.equal(seen.length, 1);
  assert.equal(await seen[0].ended, 'end');
  assert.equal(seen[0].bytes, 0);
  await server.close();
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('tcp: a closed port fails as "connection refused"', opts, async () => {
  const port = await freePort('tcp');
  const result = await tcpCheck(tcpSpec(port), NEVER);
  assert.deepEqual(result, { ok: false, reason: 'TCP_CHECK: connection refused' });
});

test('tcp: a listener that never answers the SYN fails after connect_timeout', opts, async (t) => {
  const stuck = await stuckListener();
  t.after(() => stuck.close());
  const before = await openProbeHandles();
  const result = await tcpCheck(tcpSpec(stuck.port, { connectTimeoutMs: SHORT_TIMEOUT_MS }), NEVER);
  assert.deepEqual(result, { ok: false, reason: 'TCP_CHECK: connect timeout after 0.3 s' });
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('tcp: bindto and bind_port choose the source address and port', opts, async (t) => {
  const sources: string[] = [];
  const server = await tcpServer((sock) => sources.push(`${sock.remoteAddress}:${sock.remotePort}`));
  t.after(() => server.close());
  const bindPort = await freePort('tcp');
  const result = await tcpCheck(tcpSpec(server.port, { bindTo: LOOPBACK, bindPort }), NEVER);
  assert.equal(result.ok, true, result.reason);
  assert.deepEqual(sources, [`${LOOPBACK}:${bindPort}`]);
});

test('tcp: abort during the connect ends the attempt as "aborted" and closes the socket', opts, async (t) => {
  const stuck = await stuckListener();
  t.after(() => stuck.close());
  const before = await openProbeHandles();
  const ac = new AbortController();
  const pending = tcpCheck(tcpSpec(stuck.port, { connectTimeoutMs: 60_000 }), ac.signal);
  setTimeout(() => ac.abort(), 50);
  assert.deepEqual(await pending, { ok: false, reason: 'aborted' });
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('tcp: an already aborted signal connects to nothing', opts, async (t) => {
  let connections = 0;
  const server = await tcpServer(() => {
    connections++;
  });
  t.after(() => server.close());
  const ac = new AbortController();
  ac.abort();
  assert.deepEqual(await tcpCheck(tcpSpec(server.port), ac.signal), { ok: false, reason: 'aborted' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(connections, 0);
});
