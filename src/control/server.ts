/**
 * The daemon's control socket: a Unix stream socket, mode 0600 in a 0700 directory (root only),
 * speaking the JSON-lines protocol of protocol.ts.
 *
 * Hardening: a line longer than MAX_REQUEST_BYTES closes that client with a PROTOCOL error;
 * malformed JSON or an unknown op gets an error response and the connection stays usable; at
 * most MAX_CLIENTS at once; a handler exception becomes an INTERNAL error response. Nothing a
 * client sends can stop the daemon or change rules except a valid request.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { isTapvsError, TapvsError } from '../errors.js';
import { log } from '../log.js';
import { MAX_REQUEST_BYTES, type Request, type Response } from './protocol.js';

const MAX_CLIENTS = 256;

/** What a handler may do beyond answering: stream events on the client's connection. */
export interface RequestContext {
  /** Sends one extra JSON line to this client; false once it is gone. */
  push(obj: unknown): boolean;
  /** Called once when the client disconnects. */
  onClose(fn: () => void): void;
}

export type RequestHandler = (req: Request, ctx: RequestContext) => unknown;

export class ControlServer {
  private server: net.Server | null = null;
  private clients = new Set<net.Socket>();
  requests = 0;
  errors = 0;

  constructor(
    private readonly path: string,
    private readonly handler: RequestHandler,
  ) {}

  /** Listens; fails clearly when another daemon owns the path. A stale socket file is replaced. */
  async listen(): Promise<void> {
    const dir = dirname(this.path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (existsSync(this.path)) {
      if (await answers(this.path)) {
        throw new TapvsError('TAP_BUSY', `another tapvsd is listening on ${this.path}`);
      }
      unlinkSync(this.path);
    }
    const server = net.createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    server.maxConnections = MAX_CLIENTS;
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
  }

  close(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
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
    this.clients.add(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim().length > 0) this.handleLine(s, line);
      }
      if (buf.length > MAX_REQUEST_BYTES) {
        this.errors++;
        this.reply(s, {
          id: 0,
          ok: false,
          error: { code: 'PROTOCOL', message: `request larger than ${MAX_REQUEST_BYTES} bytes` },
        });
        s.end();
        buf = '';
      }
    });
    s.on('error', () => s.destroy());
    s.on('close', () => this.clients.delete(s));
  }

  private handleLine(s: net.Socket, line: string): void {
    this.requests++;
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      this.errors++;
      this.reply(s, { id: 0, ok: false, error: { code: 'PROTOCOL', message: 'malformed request: not JSON' } });
      return;
    }
    const id =
      typeof req === 'object' && req !== null && typeof (req as { id?: unknown }).id === 'number'
        ? (req as { id: number }).id
        : 0;
    if (typeof req !== 'object' || req === null || typeof (req as { op?: unknown }).op !== 'string') {
      this.errors++;
      this.reply(s, { id, ok: false, error: { code: 'PROTOCOL', message: 'malformed request: no op' } });
      return;
    }
    const ctx: RequestContext = {
      push: (obj) => {
        if (s.destroyed || !s.writable) return false;
        s.write(`${JSON.stringify(obj)}\n`);
        return true;
      },
      onClose: (fn) => {
        s.once('close', fn);
      },
    };
    try {
      const result = this.handler(req as Request, ctx);
      this.reply(s, { id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      this.errors++;
      if (isTapvsError(e)) {
        this.reply(s, { id, ok: false, error: { code: e.code, message: e.message } });
      } else {
        log('error', 'control request failed', {
          op: (req as Request).op,
          error: e instanceof Error ? (e.stack ?? e.message) : String(e),
        });
        this.reply(s, {
          id,
          ok: false,
          error: { code: 'INTERNAL', message: `internal error: ${e instanceof Error ? e.message : String(e)}` },
        });
      }
    }
  }

  private reply(s: net.Socket, r: Response): void {
    if (!s.destroyed && s.writable) s.write(`${JSON.stringify(r)}\n`);
  }
}

/** True when something accepts connections on the socket path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (v: boolean): void => {
      c.destroy();
      resolve(v);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}
