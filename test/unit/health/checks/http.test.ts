/**
 * HTTP_GET and SSL_GET against raw loopback servers that record the request bytes and answer with
 * exact response bytes, so the tests see what keepalived would send and parse what it would parse.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { httpCheck } from '../../../../src/health/checks/http.js';
import { bodyDigest, statusCode } from '../../../../src/health/checks/http-response.js';
import {
  httpSpec,
  httpUrl,
  LOOPBACK,
  NEVER,
  openProbeHandles,
  SHORT_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  tcpServer,
} from './fixtures.js';

const opts = { timeout: TEST_TIMEOUT_MS };
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

/** Reads one request (to the blank line), records it, then lets `respond` answer. */
function onRequest(requests: string[], respond: (sock: net.Socket) => void): (sock: net.Socket) => void {
  return (sock) => {
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.includes('\r\n\r\n')) {
        sock.removeAllListeners('data');
        requests.push(got.toString('latin1'));
        respond(sock);
      }
    });
  };
}

/** A server that answers every request with `response` and closes. */
async function answering(response: string | Buffer, requests: string[] = []) {
  return tcpServer(onRequest(requests, (sock) => sock.end(response)));
}

function response(status: string, body: string, headers = ''): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\n${headers}\r\n${body}`;
}

test("http: 200 passes with the default 200-299, and the request is keepalived's HTTP/1.0 one", opts, async (t) => {
  const requests: string[] = [];
  const server = await answering(response('200 OK', 'fine'), requests);
  t.after(() => server.close());
  const before = await openProbeHandles();
  assert.deepEqual(await httpCheck(httpSpec(server.port), 0, NEVER), { ok: true, reason: 'status 200' });
  assert.deepEqual(requests, [
    `GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: ${LOOPBACK}:${server.port}\r\n\r\n`,
  ]);
  await server.close();
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('http: http_protocol 1.0C and 1.1 add Connection: close; 1.1 asks for HTTP/1.1', opts, async (t) => {
  const requests: string[] = [];
  const server = await answering(response('200 OK', ''), requests);
  t.after(() => server.close());
  for (const httpProtocol of ['1.0C', '1.1'] as const) {
    const result = await httpCheck(httpSpec(server.port, { httpProtocol }), 0, NEVER);
    assert.equal(result.ok, true, result.reason);
  }
  const host = `Host: ${LOOPBACK}:${server.port}`;
  assert.deepEqual(requests, [
    `GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n${host}\r\n\r\n`,
    `GET /health HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n${host}\r\n\r\n`,
  ]);
});

test("http: the url's virtualhost is the Host header, without a port; urlIndex picks the url", opts, async (t) => {
  const requests: string[] = [];
  const server = await answering(response('200 OK', ''), requests);
  t.after(() => server.close());
  const spec = httpSpec(server.port, {
    urls: [httpUrl(), httpUrl({ path: '/second?x=1', virtualhost: 'www.example.com' })],
  });
  const result = await httpCheck(spec, 1, NEVER);
  assert.equal(result.ok, true, result.reason);
  assert.deepEqual(requests, [
    'GET /second?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: www.example.com\r\n\r\n',
  ]);
  assert.deepEqual(await httpCheck(spec, 2, NEVER), { ok: false, reason: 'HTTP_GET: no url #2 (the checker has 2)' });
});

test('http: a status outside the ranges fails with the code; status_code ranges are inclusive', opts, async (t) => {
  const statuses = ['503 Service Unavailable', '302 Found', '301 Moved', '304 Not Modified'];
  let next = 0;
  const server = await tcpServer(onRequest([], (sock) => sock.end(response(statuses[next++], ''))));
  t.after(() => server.close());
  const spec = httpSpec(server.port, {
    urls: [
      httpUrl({
        statusCodes: [
          [200, 299],
          [301, 302],
        ],
      }),
    ],
  });
  assert.deepEqual(await httpCheck(spec, 0, NEVER), { ok: false, reason: 'HTTP_GET: status 503' });
  assert.deepEqual(await httpCheck(spec, 0, NEVER), { ok: true, reason: 'status 302' });
  assert.deepEqual(await httpCheck(spec, 0, NEVER), { ok: true, reason: 'status 301' });
  assert.deepEqual(await httpCheck(spec, 0, NEVER), { ok: false, reason: 'HTTP_GET: status 304' });
});

test('http: a status line without a space after the code has no status (keepalived reads 0)', opts, async (t) => {
  const server = await answering('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n');
  t.after(() => server.close());
  assert.deepEqual(await httpCheck(httpSpec(server.port), 0, NEVER), {
    ok: false,
    reason: 'HTTP_GET: no status code in "HTTP/1.1 200"',
  });
});

test('http: statusCode() takes exactly three digits followed by a space after the first space', () => {
  const code = (s: string): number => statusCode(Buffer.from(s, 'latin1'));
  assert.equal(code('HTTP/1.1 200 OK\r\n\r\n'), 200);
  assert.equal(code('HTTP/1.0 503 \r\n\r\n'), 503);
  assert.equal(code('HTTP/1.1 200\r\n\r\n'), 0);
  assert.equal(code('HTTP/1.1 20 OK\r\n\r\n'), 0);
  assert.equal(code('HTTP/1.1 2000 OK\r\n\r\n'), 0);
  assert.equal(code('HTTP/1.1  200 OK\r\n\r\n'), 0);
  assert.equal(code('HTTP/1.1 2x0 OK\r\n\r\n'), 0);
  assert.equal(code('HTTP/1.1\r\n200 OK\r\n\r\n'), 0);
  assert.equal(code('HTTP/1.1 200'), 0);
  assert.equal(code(''), 0);
});

test('http: the digest is the MD5 of the body after the first blank line', opts, async (t) => {
  const body = 'hello from rs1\r\n\r\nsecond part\n';
  const server = await answering(response('200 OK', body, `Content-Length: ${body.length}\r\n`));
  t.after(() => server.close());
  const want = md5(body);
  const ok = await httpCheck(httpSpec(server.port, { urls: [httpUrl({ digest: want.toUpperCase() })] }), 0, NEVER);
  assert.deepEqual(ok, { ok: true, reason: 'status 200, digest ok' });
  const wrong = 'ffffffffffffffffffffffffffffffff';
  const bad = await httpCheck(httpSpec(server.port, { urls: [httpUrl({ digest: wrong })] }), 0, NEVER);
  assert.deepEqual(bad, { ok: false, reason: `HTTP_GET: digest mismatch (got ${want}, want ${wrong})` });
});

test('http: a Content-Length shorter than the body does not shorten the digest, as in keepalived', opts, async (t) => {
  // keepalived's extract_content_length() takes the number only when nothing follows it, and a
  // header line always goes on with CRLF: `keepalived --genhash` hashes to the end of the stream.
  const body = '0123456789abcdef';
  const raw = response('200 OK', body, 'Content-Length: 4\r\n');
  assert.equal(bodyDigest(Buffer.from(raw, 'latin1')), md5(body));
  assert.notEqual(bodyDigest(Buffer.from(raw, 'latin1')), md5(body.slice(0, 4)));
  const server = await answering(raw);
  t.after(() => server.close());
  const result = await httpCheck(httpSpec(server.port, { urls: [httpUrl({ digest: md5(body) })] }), 0, NEVER);
  assert.deepEqual(result, { ok: true, reason: 'status 200, digest ok' });
});

test('http: a chunked body is hashed as sent, chunk sizes included', opts, async () => {
  const chunked = '5\r\nhello\r\n0\r\n\r\n';
  const raw = Buffer.from(response('200 OK', chunked, 'Transfer-Encoding: chunked\r\n'), 'latin1');
  assert.equal(bodyDigest(raw), md5(chunked));
  assert.equal(bodyDigest(Buffer.from('HTTP/1.1 200 OK\r\n', 'latin1')), md5(''));
});

test('http: a server that closes without a complete header gives "no data"', opts, async (t) => {
  const replies = ['', 'HTTP/1.1 200 OK\r\nServer: x\r\n'];
  let next = 0;
  const server = await tcpServer(onRequest([], (sock) => sock.end(replies[next++])));
  t.after(() => server.close());
  assert.deepEqual(await httpCheck(httpSpec(server.port), 0, NEVER), { ok: false, reason: 'HTTP_GET: no data' });
  assert.deepEqual(await httpCheck(httpSpec(server.port), 0, NEVER), {
    ok: false,
    reason: 'HTTP_GET: no data (no end of header in 28 bytes)',
  });
});

test('http: a server that answers but never closes fails after connect_timeout per read', opts, async (t) => {
  const server = await tcpServer(onRequest([], (sock) => sock.write(response('200 OK', 'partial'))));
  t.after(() => server.close());
  const before = await openProbeHandles();
  const result = await httpCheck(httpSpec(server.port, { connectTimeoutMs: SHORT_TIMEOUT_MS }), 0, NEVER);
  assert.deepEqual(result, { ok: false, reason: 'HTTP_GET: read timeout after 0.3 s' });
  await server.close();
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('http: a response beyond 1 MiB fails and says so', opts, async (t) => {
  const big = Buffer.alloc((1 << 20) + 1024, 0x61);
  const server = await tcpServer(
    onRequest([], (sock) => sock.end(Buffer.concat([Buffer.from(response('200 OK', '')), big]))),
  );
  t.after(() => server.close());
  assert.deepEqual(await httpCheck(httpSpec(server.port), 0, NEVER), {
    ok: false,
    reason: 'HTTP_GET: response larger than 1 MiB',
  });
});

test('http: a reset connection fails with "connection reset"', opts, async (t) => {
  const server = await tcpServer(onRequest([], (sock) => sock.resetAndDestroy()));
  t.after(() => server.close());
  assert.deepEqual(await httpCheck(httpSpec(server.port), 0, NEVER), {
    ok: false,
    reason: 'HTTP_GET: connection reset',
  });
});

test('http: abort while waiting for the response gives "aborted"', opts, async (t) => {
  const server = await tcpServer(onRequest([], () => {}));
  t.after(() => server.close());
  const ac = new AbortController();
  const pending = httpCheck(httpSpec(server.port), 0, ac.signal);
  setTimeout(() => ac.abort(), 50);
  assert.deepEqual(await pending, { ok: false, reason: 'aborted' });
});

/** A self-signed certificate made by openssl for this test run. */
async function selfSigned(): Promise<{ key: Buffer; cert: Buffer; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tapvs-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await promisify(execFile)(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat([
      '-subj',
      '/CN=tapvs-test',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]),
    { timeout: 5000 },
  );
  return {
    key: await readFile(keyFile),
    cert: await readFile(certFile),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

test('https: SSL_GET accepts a self-signed certificate and sends SNI only when named', opts, async (t) => {
  const pair = await selfSigned();
  t.after(() => pair.remove());
  const requests: string[] = [];
  const servernames: Array<string | false | null> = [];
  const accepted = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key: pair.key, cert: pair.cert }, (sock) => {
    accepted.add(sock);
    servernames.push(sock.servername);
    onRequest(requests, (s) => s.end(response('200 OK', 'secure')))(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const closeServer = () =>
    new Promise<void>((resolve) => {
      for (const s of accepted) s.destroy();
      server.close(() => resolve());
    });
  t.after(closeServer);
  const port = (server.address() as net.AddressInfo).port;
  const before = await openProbeHandles();
  const digest = md5('secure');
  const named = httpSpec(port, { type: 'SSL_GET', sniName: 'rs1.example', urls: [httpUrl({ digest })] });
  assert.deepEqual(await httpCheck(named, 0, NEVER), { ok: true, reason: 'status 200, digest ok' });
  assert.deepEqual(await httpCheck(httpSpec(port, { type: 'SSL_GET' }), 0, NEVER), { ok: true, reason: 'status 200' });
  assert.deepEqual(servernames, ['rs1.example', false]);
  assert.equal(requests[0], `GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: ${LOOPBACK}:${port}\r\n\r\n`);
  await closeServer();
  assert.ok((await openProbeHandles()) <= before, 'the probe left a socket or timer open');
});

test('https: a server that never starts the TLS handshake fails after connect_timeout', opts, async (t) => {
  const server = await tcpServer(() => {});
  t.after(() => server.close());
  const result = await httpCheck(
    httpSpec(server.port, { type: 'SSL_GET', connectTimeoutMs: SHORT_TIMEOUT_MS }),
    0,
    NEVER,
  );
  assert.deepEqual(result, { ok: false, reason: 'SSL_GET: TLS handshake timeout after 0.3 s' });
});
