/**
 * Checker specs with test defaults, and the loopback servers the probe tests run against. Every
 * server listens on 127.0.0.1 with an ephemeral port and is closed by the test that made it.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type {
  CheckerCommon,
  DnsCheck,
  HttpCheck,
  HttpUrl,
  MiscCheck,
  PingCheck,
  TcpCheck,
  UdpCheck,
} from '../../../../src/keepalived/lvs-config.js';

export const LOOPBACK = '127.0.0.1';
/** Short enough to keep the timeout tests quick, long enough for loopback to answer. */
export const SHORT_TIMEOUT_MS = 300;
/** The bound of each test (node:test fails a test that runs longer). */
export const TEST_TIMEOUT_MS = 10_000;

function common(port: number, over: Partial<CheckerCommon>): CheckerCommon {
  return {
    at: { file: 'test.conf', line: 1 },
    connectIp: LOOPBACK,
    connectPort: port,
    bindTo: null,
    bindPort: 0,
    connectTimeoutMs: 2000,
    retry: 1,
    delayBeforeRetryMs: 1000,
    delayLoopMs: 5000,
    warmupMs: 0,
    alpha: false,
    logAllFailures: false,
    ...over,
  };
}

export function tcpSpec(port: number, over: Partial<TcpCheck> = {}): TcpCheck {
  return { ...common(port, over), type: 'TCP_CHECK' };
}

export function httpUrl(over: Partial<HttpUrl> = {}): HttpUrl {
  return {
    at: { file: 'test.conf', line: 2 },
    path: '/health',
    statusCodes: [[200, 299]],
    digest: null,
    virtualhost: null,
    ...over,
  };
}

export function httpSpec(port: number, over: Partial<HttpCheck> = {}): HttpCheck {
  return {
    type: 'HTTP_GET',
    urls: [httpUrl()],
    httpProtocol: '1.0',
    fastRecovery: false,
    sniName: null,
    ...common(port, over),
    ...over,
  };
}

export function miscSpec(argv: readonly string[], over: Partial<MiscCheck> = {}): MiscCheck {
  return { type: 'MISC_CHECK', argv, timeoutMs: 5000, dynamic: false, ...common(0, over), ...over };
}

export function pingSpec(over: Partial<PingCheck> = {}): PingCheck {
  return { ...common(0, over), type: 'PING_CHECK' };
}

export function udpSpec(port: number, over: Partial<UdpCheck> = {}): UdpCheck {
  return {
    type: 'UDP_CHECK',
    payload: null,
    requireReply: null,
    minReplyLength: 0,
    maxReplyLength: 255,
    ...common(port, over),
    ...over,
  };
}

export function dnsSpec(port: number, over: Partial<DnsCheck> = {}): DnsCheck {
  return { type: 'DNS_CHECK', queryType: 'SOA', name: '.', ...common(port, over), ...over };
}

/** A signal that never aborts. */
export const NEVER = new AbortController().signal;

/** A TCP server on loopback; `onConnection` sees every accepted socket. */
export async function tcpServer(onConnection: (sock: net.Socket) => void): Promise<{
  port: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    onConnection(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A UDP socket on loopback; `onMessage` sees every datagram and may answer through `sock`. */
export async function udpServer(
  onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo, sock: dgram.Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => onMessage(msg, rinfo, sock));
  await new Promise<void>((resolve) => sock.bind(0, LOOPBACK, resolve));
  return {
    port: sock.address().port,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

/** A loopback port with nothing bound to it (TCP or UDP), found by binding and closing. */
export async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const s = await udpServer(() => {});
    await s.close();
    return s.port;
  }
  const s = await tcpServer(() => {});
  await s.close();
  return s.port;
}

/**
 * A listener whose accept queue is full, so that a new connect gets no answer at all (Linux drops
 * the SYN: tcp_conn_request() with sk_acceptq_is_full()). It lives in a worker whose thread is
 * parked in Atomics.wait, so nothing ever accepts; two connections fill its backlog of 1.
 */
export async function stuckListener(): Promise<{ port: number; close(): Promise<void> }> {
  const parked = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const server = require('node:net').createServer();
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(workerData, 0, 0);
       server.close();
       parentPort.close();
     });`,
    { eval: true, workerData: parked },
  );
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const sock = net.connect(port, LOOPBACK);
    fillers.push(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
  }
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      Atomics.store(parked, 0, 1);
      Atomics.notify(parked, 0);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

/** Handles a probe may open: after it has settled, none of its own may remain. */
const PROBE_RESOURCES = new Set(['TCPSocketWrap', 'TLSWrap', 'UDPWrap', 'ProcessWrap', 'PipeWrap', 'Timeout']);

/** How many probe-kind handles are open now (let closes that are under way finish first). */
export async function openProbeHandles(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((r) => PROBE_RESOURCES.has(r)).length;
}
