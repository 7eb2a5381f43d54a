/**
 * The daemon's control socket: a Unix stream socket, mode 0600 in a 0700 directory (root only),
 * speaking the JSON-lines protocol of protocol.ts. Each client is a ControlSession (session.ts),
 * which bounds what it can cost; this file owns the socket path and the set of clients.
 *
 * - The path is only taken over when it holds a stale socket (nobody accepts on it: ECONNREFUSED).
 *   Anything else there (a regular file, a directory, a live daemon, a socket we may not
 *   connect to) is an error and is left alone.
 * - At most maxClients at once. A new client at the cap closes the session idle the longest;
 *   when none is idle the newcomer gets a BUSY error. A session without progress for idleMs (no
 *   request, no answer taken: idle, or not reading its answers) is closed. Subscribers (a live
 *   trace) are never closed for that; a listing in parts makes progress with every part.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { TapvsError } from '../errors.js';
import { log } from '../log.js';
import { ControlSession, type RequestHandler, type SessionCounters } from './session.js';

export type { RequestContext, RequestHandler } from './session.js';

export interface ControlServerOptions {
  /** Clients at once (default 256). */
  maxClients?: number;
  /** A session without a request for this long is closed (default 5 minutes). */
  idleMs?: number;
}

const DEFAULT_MAX_CLIENTS = 256;
const DEFAULT_IDLE_MS = 300_000;

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sessions = new Map<net.Socket, ControlSession>();
  private sweep: NodeJS.Timeout | null = null;
  private readonly maxClients: number;
  private readonly idleMs: number;
  readonly counters: SessionCounters & { idleClosed: number; evicted: number; refused: number } = {
    requests: 0,
    errors: 0,
    pushDropped: 0,
    slowDisconnects: 0,
    idleClosed: 0,
    evicted: 0,
    refused: 0,
  };

  constructor(
    private readonly path: string,
    private readonly handler: RequestHandler,
    opts: ControlServerOptions = {},
  ) {
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  get requests(): number {
    return this.counters.requests;
  }

  get errors(): number {
    return this.counters.errors;
  }

  get clients(): number {
    return this.sessions.size;
  }

  /** Listens; fails clearly when the path is taken by anything but a stale socket. */
  async listen(): Promise<void> {
    const dir = dirname(this.path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    await removeStaleSocket(this.path);
    const server = net.createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    chmodSync(this.path, 0o600);
    server.on('error', (e) => log('error', 'control socket error', { error: String(e) }));
    this.server = server;
    this.sweep = setInterval(() => this.closeIdle(Date.now()), Math.max(100, Math.min(this.idleMs / 4, 10_000)));
    this.sweep.unref();
  }

  close(): void {
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
    for (const s of this.sessions.keys()) s.destroy();
    this.sessions.clear();
    if (this.server !== null) {
      this.server.close();
      this.server = null;
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }

  private accept(s: net.Socket): void {
    if (this.sessions.size >= this.maxClients && !this.evictIdlest()) {
      this.counters.refused++;
      s.on('error', () => s.destroy());
      s.end(`${JSON.stringify({ id: 0, ok: false, error: { code: 'BUSY', message: 'too many control clients' } })}\n`);
      setTimeout(() => s.destroy(), 1000).unref();
      return;
    }
    const session = new ControlSession(s, this.handler, this.counters);
    this.sessions.set(s, session);
    s.on('close', () => this.sessions.delete(s));
  }

  /** Closes the idle session unused the longest, making room; false when none is idle. */
  private evictIdlest(): boolean {
    let oldest: ControlSession | null = null;
    for (const c of this.sessions.values()) {
      if (c.idle && (oldest === null || c.lastActive < oldest.lastActive)) oldest = c;
    }
    if (oldest === null) return false;
    this.counters.evicted++;
    oldest.close('BUSY', 'closed to make room for another control client (this one was idle)');
    for (const [sock, c] of this.sessions) if (c === oldest) this.sessions.delete(sock);
    return true;
  }

  private closeIdle(now: number): void {
    for (const [sock, c] of this.sessions) {
      if (c.stalled(now, this.idleMs)) {
        this.counters.idleClosed++;
        c.close('BUSY', `closed after ${Math.round(this.idleMs / 1000)} s without a request or a read`);
        this.sessions.delete(sock);
      }
    }
  }
}

/**
 * Makes room for our socket: nothing there, or a socket nobody accepts on (removed). Refuses a
 * path that is not a socket, one where a daemon answers, and one we cannot even try.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new TapvsError('BAD_ARGUMENT', `control socket ${path}: ${(e as Error).message}`);
  }
  if (!isSocket)
    throw new TapvsError('BAD_ARGUMENT', `control socket ${path} exists and is not a socket: not replacing it`);
  const probe = await connectProbe(path);
  if (probe === 'connected') throw new TapvsError('TAP_BUSY', `another tapvsd is listening on ${path}`);
  if (probe !== 'ECONNREFUSED')
    throw new TapvsError('BAD_ARGUMENT', `control socket ${path}: cannot tell whether it is in use (${probe})`);
  unlinkSync(path);
}

/** 'connected', or the error code of the attempt ('ETIMEDOUT' when nothing happened in 1 s). */
function connectProbe(path: string): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (v: string): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done('ETIMEDOUT'), 1000);
    c.once('connect', () => done('connected'));
    c.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'EIO'));
  });
}
