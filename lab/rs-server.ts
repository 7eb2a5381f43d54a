/**
 * rs-server: the lab's real-server HTTP daemon (one per real-server namespace).
 *
 *   node dist/lab/rs-server.js --id RS1 --addr 192.168.2.129 [--port 80] [--host 0.0.0.0]
 *                              [--admin-port 8081] [--proxy-port 8080] [--log]
 *
 * Contract (tests and benchmarks rely on it):
 * - `GET /`          200, text/plain, body `<id> <addr>\n` (e.g. `RS1 192.168.2.129\n`).
 * - `GET /peer`    200, `<id> peer=<addr>:<port>\n`: the TCP peer this server sees (the client
 *                    for NAT, DR and TUN; the director's local address for full NAT).
 * - `GET /health`    200, text/plain, body `OK <id>\n`: what health checks (HTTP_GET) ask for.
 * - `GET /blob`      200, application/octet-stream, Content-Length 52428800: `patternBytes(BLOB_SIZE)`
 *                    from blob.ts, identical on every server; compare with `blobSha256()`.
 * - `GET /bytes?n=N` 200, the first N bytes of the same stream (0 <= N <= 2^40), Content-Length N.
 * - Anything else: 404 (unknown path), 400 (bad `n`), 405 (not GET/HEAD). HEAD answers headers only.
 * - Failing mode, for health-check tests: while failed, `GET /` and `GET /health` answer 503 with
 *   `FAILING <id>\n`; `/blob`, `/bytes` and `/upload` are unaffected. A server starts healthy.
 *   `--admin-port N` opens the switch on 127.0.0.1:N only, so only processes inside the server's
 *   network namespace reach it (the checker and the client cannot flip it):
 *   `POST /fail`, `POST /heal` and `GET /state` answer `failing\n` or `healthy\n` (the new state).
 * - `--proxy-port N`: a second listener that requires a PROXY protocol v1 or v2 header at the start
 *   of each connection (proxy-header.ts; anything else gets a 400 and is closed, as does a header
 *   not complete within 5 s), then answers `GET /` with
 *   `<id> <addr> client=<addr>:<port> via=proxy-v1|v2\n` (the header's client; `client=local`
 *   for v1 UNKNOWN / v2 LOCAL). Full NAT services with `--proxy-protocol v1|v2` send that header.
 * - Prints one line `rs-server: <id> listening on <host>:<port>` when listening (and
 *   `rs-server: <id> admin on 127.0.0.1:<n>`), one line per state change, and nothing per request
 *   unless `--log`. SIGTERM/SIGINT close the listeners and exit 0.
 *
 * Not here: keep-alive tuning or TLS. The blob is generated once at start (50 MiB of memory) so
 * that serving it costs the server no CPU beyond the socket writes: in benchmarks the real
 * servers must not be the bottleneck.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { BLOB_SIZE, PATTERN_CHUNK_BYTES, PatternStream, patternBytes } from './blob.js';
import { parseProxyHeader } from './proxy-header.js';

/** Largest `/bytes?n=` accepted: 1 TiB, far beyond any test, small enough to stay exact. */
const MAX_BYTES_N = 2 ** 40;

const { values } = parseArgs({
  options: {
    id: { type: 'string', default: 'RS' },
    addr: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '80' },
    host: { type: 'string', default: '0.0.0.0' },
    'admin-port': { type: 'string' },
    'proxy-port': { type: 'string' },
    log: { type: 'boolean', default: false },
  },
  strict: true,
});
const id = values.id ?? 'RS';
const addr = values.addr ?? '0.0.0.0';
const host = values.host ?? '0.0.0.0';
const port = Number(values.port);
const logRequests = values.log === true;
const adminPort = values['admin-port'] === undefined ? null : Number(values['admin-port']);
const proxyPort = values['proxy-port'] === undefined ? null : Number(values['proxy-port']);
for (const [flag, p] of [
  ['--port', port],
  ['--admin-port', adminPort ?? 1],
  ['--proxy-port', proxyPort ?? 1],
] as const) {
  if (!Number.isInteger(p) || p <= 0 || p > 65535) {
    process.stderr.write(`rs-server: bad ${flag}\n`);
    process.exit(2);
  }
}

const identity = Buffer.from(`${id} ${addr}\n`);
const healthy = Buffer.from(`OK ${id}\n`);
const failingBody = Buffer.from(`FAILING ${id}\n`);
/** Failing mode (see the header): `/` and `/health` answer 503 while true. */
let failing = false;
const blob = patternBytes(BLOB_SIZE);

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: Uint8Array): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Streams `patternBytes(n)` for n beyond the cached blob, honouring backpressure. */
function streamPattern(res: ServerResponse, n: number): void {
  const gen = new PatternStream();
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const chunk = Buffer.allocUnsafe(Math.min(left, PATTERN_CHUNK_BYTES));
      gen.fill(chunk);
      left -= chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => {
    left = 0;
  });
  pump();
}

const server = createServer((req, res) => {
  if (logRequests)
    process.stdout.write(
      `rs-server: ${id} ${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0} ${req.method ?? '?'} ${req.url ?? ''}\n`,
    );
  const url = new URL(req.url ?? '/', 'http://rs');
  if (req.method === 'POST' && url.pathname === '/upload') {
    // Uploads: count and hash what arrives, answer "<id> <bytes> <sha256>".
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      h.update(d);
    });
    req.on('end', () => send(req, res, 200, 'text/plain', Buffer.from(`${id} ${n} ${h.digest('hex')}\n`)));
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(req, res, 405, 'text/plain', Buffer.from('method not allowed\n'));
    return;
  }
  switch (url.pathname) {
    case '/':
      if (failing) send(req, res, 503, 'text/plain', failingBody);
      else send(req, res, 200, 'text/plain', identity);
      return;
    case '/peer':
      send(
        req,
        res,
        200,
        'text/plain',
        Buffer.from(`${id} peer=${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}\n`),
      );
      return;
    case '/health':
      if (failing) send(req, res, 503, 'text/plain', failingBody);
      else send(req, res, 200, 'text/plain', healthy);
      return;
    case '/blob':
      send(req, res, 200, 'application/octet-stream', blob);
      return;
    case '/bytes': {
      const raw = url.searchParams.get('n') ?? '';
      const n = /^[0-9]{1,13}$/.test(raw) ? Number(raw) : -1;
      if (n < 0 || n > MAX_BYTES_N) {
        send(req, res, 400, 'text/plain', Buffer.from(`bad n: want 0..${MAX_BYTES_N}\n`));
        return;
      }
      if (n <= BLOB_SIZE) {
        send(req, res, 200, 'application/octet-stream', blob.subarray(0, n));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
      if (req.method === 'HEAD') res.end();
      else streamPattern(res, n);
      return;
    }
    default:
      send(req, res, 404, 'text/plain', Buffer.from('not found\n'));
  }
});

server.on('error', (err) => {
  process.stderr.write(`rs-server: ${id}: ${err.message}\n`);
  process.exit(1);
});

server.listen(port, host, () => {
  process.stdout.write(`rs-server: ${id} listening on ${host}:${port}\n`);
});

/** The failing-mode switch: loopback only, so it is reachable from the server's namespace alone. */
const admin =
  adminPort === null
    ? null
    : createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://rs').pathname;
        const post = req.method === 'POST';
        const change = post && path === '/fail' ? true : post && path === '/heal' ? false : undefined;
        if (change !== undefined && change !== failing) {
          failing = change;
          process.stdout.write(`rs-server: ${id} ${failing ? 'failing' : 'healthy'}\n`);
        }
        if (change === undefined && !(req.method === 'GET' && path === '/state')) {
          send(req, res, 404, 'text/plain', Buffer.from('POST /fail, POST /heal or GET /state\n'));
          return;
        }
        send(req, res, 200, 'text/plain', Buffer.from(failing ? 'failing\n' : 'healthy\n'));
      });
if (admin !== null) {
  admin.on('error', (err) => {
    process.stderr.write(`rs-server: ${id}: admin: ${err.message}\n`);
    process.exit(1);
  });
  admin.listen(adminPort ?? 0, '127.0.0.1', () => {
    process.stdout.write(`rs-server: ${id} admin on 127.0.0.1:${adminPort ?? 0}\n`);
  });
}

/** The PROXY port's HTTP side: sockets arrive here once their header is read (see proxyListener). */
const proxyClients = new WeakMap<Socket, string>();
const proxied = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://rs').pathname;
  if (req.method !== 'GET' || path !== '/') {
    send(req, res, 404, 'text/plain', Buffer.from('GET / only\n'));
    return;
  }
  send(req, res, 200, 'text/plain', Buffer.from(`${id} ${addr} ${proxyClients.get(req.socket) ?? '?'}\n`));
});

/** Reads the PROXY header off each connection, refuses those without one, hands the rest to `proxied`. */
const proxyListener =
  proxyPort === null
    ? null
    : createTcpServer((sock) => {
        let got = Buffer.alloc(0);
        const timer = setTimeout(() => sock.destroy(), 5000);
        const refuse = (why: string): void => {
          clearTimeout(timer);
          sock.removeListener('data', onData);
          sock.end(
            `HTTP/1.1 400 Bad Request\r\nContent-Length: ${why.length + 1}\r\nConnection: close\r\n\r\n${why}\n`,
          );
          if (logRequests) process.stdout.write(`rs-server: ${id} proxy port: refused ${sock.remoteAddress}: ${why}\n`);
        };
        const onData = (d: Buffer): void => {
          got = Buffer.concat([got, d]);
          const h = parseProxyHeader(got);
          if (h.kind === 'need-more') return;
          if (h.kind === 'bad') {
            refuse(h.why);
            return;
          }
          clearTimeout(timer);
          sock.removeListener('data', onData);
          sock.pause();
          proxyClients.set(sock, `client=${h.client ?? 'local'} via=proxy-v${h.version}`);
          const rest = got.subarray(h.length);
          if (rest.length > 0) sock.unshift(rest);
          proxied.emit('connection', sock);
          sock.resume();
        };
        sock.on('data', onData);
        sock.on('error', () => {
          clearTimeout(timer);
        });
      });
if (proxyListener !== null) {
  proxyListener.on('error', (err) => {
    process.stderr.write(`rs-server: ${id}: proxy port: ${err.message}\n`);
    process.exit(1);
  });
  proxyListener.listen(proxyPort ?? 0, host, () => {
    process.stdout.write(`rs-server: ${id} PROXY protocol on ${host}:${proxyPort ?? 0}\n`);
  });
}

function stop(): void {
  proxyListener?.close();
  proxied.closeAllConnections();
  server.close();
  server.closeAllConnections();
  admin?.close();
  admin?.closeAllConnections();
  // Bounded: connections are closed above; do not wait for keep-alive timers.
  setTimeout(() => process.exit(0), 200).unref();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
