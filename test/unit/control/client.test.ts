/** ControlClient against a tiny fake tapvsd on a temporary Unix socket. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlClient, DaemonError, DaemonUnreachableError, socketPath } from '../../../src/control/client.js';
import { DEFAULT_SOCKET_PATH } from '../../../src/control/protocol.js';
import { TapvsError } from '../../../src/errors.js';
import { fakeDaemon } from './fake-daemon.js';

const reply = (sock: net.Socket, obj: unknown): void => {
  sock.write(`${JSON.stringify(obj)}\n`);
};

test('client: requests carry increasing ids and resolve with their results, pipelined', async (t) => {
  const d = await fakeDaemon((req, sock) => reply(sock, { id: req.id, ok: true, result: { echo: req.op } }));
  t.after(() => d.close());
  const c = await ControlClient.connect(d.path);
  const [a, b] = await Promise.all([c.request({ op: 'getTimeouts' }), c.request({ op: 'clear' })]);
  assert.deepEqual(a, { echo: 'getTimeouts' });
  assert.deepEqual(b, { echo: 'clear' });
  assert.deepEqual(d.seen, [
    { op: 'getTimeouts', id: 1 },
    { op: 'clear', id: 2 },
  ]);
  c.close();
});

test('client: answers split across chunks and several answers in one chunk both work', async (t) => {
  let acc = '';
  const d = await fakeDaemon((req, sock) => {
    acc += `${JSON.stringify({ id: req.id, ok: true, result: req.id })}\n`;
    if (req.id !== 2) return;
    // First chunk: part of answer 1; second chunk: the rest of answer 1 and all of answer 2.
    sock.write(acc.slice(0, 5));
    setImmediate(() => sock.write(acc.slice(5)));
  });
  t.after(() => d.close());
  const c = await ControlClient.connect(d.path);
  assert.deepEqual(await Promise.all([c.request({ op: 'status' }), c.request({ op: 'status' })]), [1, 2]);
  c.close();
});

test('client: ok:false rejects with the daemon code and message; "command N:" names the command', async (t) => {
  const d = await fakeDaemon((req, sock) =>
    reply(
      sock,
      req.op === 'apply'
        ? { id: req.id, ok: false, error: { code: 'DEST_EXISTS', message: 'command 3: Destination already exists' } }
        : { id: req.id, ok: false, error: { code: 'SERVICE_EXISTS', message: 'Service already exists' } },
    ),
  );
  t.after(() => d.close());
  const c = await ControlClient.connect(d.path);
  await assert.rejects(
    c.request({ op: 'clear' }),
    (e: unknown) =>
      e instanceof DaemonError &&
      e instanceof TapvsError &&
      e.code === 'SERVICE_EXISTS' &&
      e.message === 'Service already exists' &&
      e.command === null,
  );
  await assert.rejects(
    c.request({ op: 'apply', commands: [] }),
    (e: unknown) => e instanceof DaemonError && e.code === 'DEST_EXISTS' && e.command === 3,
  );
  c.close();
});

test('client: a missing socket is DaemonUnreachableError with a strerror text', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-client-'));
  try {
    await assert.rejects(
      ControlClient.connect(join(dir, 'nope.sock')),
      (e: unknown) =>
        e instanceof DaemonUnreachableError && e.errno === 'ENOENT' && e.reason === 'No such file or directory',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('client: a connection closed before the answer rejects pending requests with PROTOCOL', async (t) => {
  const d = await fakeDaemon((_req, sock) => sock.destroy());
  t.after(() => d.close());
  const c = await ControlClient.connect(d.path);
  await assert.rejects(c.request({ op: 'status' }), (e: unknown) => e instanceof TapvsError && e.code === 'PROTOCOL');
  await assert.rejects(c.request({ op: 'status' }), (e: unknown) => e instanceof TapvsError && e.code === 'PROTOCOL');
  c.close();
});

test('client: an answer that is not JSON rejects with PROTOCOL', async (t) => {
  const d = await fakeDaemon((_req, sock) => sock.write('hello\n'));
  t.after(() => d.close());
  const c = await ControlClient.connect(d.path);
  await assert.rejects(c.request({ op: 'status' }), /not JSON/);
  c.close();
});

test('client: no answer within the request timeout rejects with PROTOCOL', async (t) => {
  const d = await fakeDaemon(() => {
    /* never answers */
  });
  t.after(() => d.close());
  const c = await ControlClient.connect(d.path, { requestTimeoutMs: 20 });
  await assert.rejects(
    c.request({ op: 'status' }),
    (e: unknown) => e instanceof TapvsError && e.code === 'PROTOCOL' && /did not answer/.test(e.message),
  );
  c.close();
});

test('client: the socket path comes from TAPVS_SOCKET, else the default', () => {
  assert.equal(socketPath({ TAPVS_SOCKET: '/tmp/x.sock' }), '/tmp/x.sock');
  assert.equal(socketPath({}), DEFAULT_SOCKET_PATH);
  assert.equal(socketPath({ TAPVS_SOCKET: '' }), DEFAULT_SOCKET_PATH);
});
