/**
 * The client side of the control protocol (protocol.ts): one Unix-socket connection to tapvsd,
 * JSON lines out, JSON lines back, matched by id.
 *
 * Contract:
 * - connect() resolves once the socket is connected, or rejects with DaemonUnreachableError
 *   (no socket file, nobody listening, no permission, timeout), which tapvsadm turns into
 *   ipvsadm's "Can't initialize ipvs" failure;
 * - request() resolves with `result` for ok:true and rejects with a DaemonError (a TapvsError
 *   carrying the daemon's code and message) for ok:false; a connection lost or a reply that is
 *   not JSON rejects every pending request with TapvsError('PROTOCOL', ...); a request with no
 *   answer within the timeout rejects the same way;
 * - requests may be pipelined; answers come back in order;
 * - a listing sent in parts (protocol.ts) resolves with the parts concatenated, or, when the
 *   caller gives onPart, hands each part over as it arrives (memory stays bounded on both sides)
 *   and resolves with what onPart did not take: the last, empty, part. Each part restarts the
 *   request's timeout.
 *
 * The socket path is $TAPVS_SOCKET, else DEFAULT_SOCKET_PATH. ipvsadm has no option for it, so
 * tapvsadm has none either.
 */
import net from 'node:net';
import { type ErrorCode, TapvsError } from '../errors.js';
import { type Command, DEFAULT_SOCKET_PATH, MAX_REQUEST_BYTES, type Response } from './protocol.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Answers (a listing of many services, a big connection table) may be long; not unbounded. */
const MAX_RESPONSE_BYTES = 256 << 20;

/** Where tapvsadm finds tapvsd. */
export function socketPath(env: NodeJS.ProcessEnv = process.env): string {
  const p = env.TAPVS_SOCKET;
  return p !== undefined && p !== '' ? p : DEFAULT_SOCKET_PATH;
}

/** The daemon could not be reached at all. `reason` is a strerror-like text. */
export class DaemonUnreachableError extends Error {
  override readonly name = 'DaemonUnreachableError';
  constructor(
    readonly path: string,
    readonly errno: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/**
 * An ok:false answer. `command` is the 1-based position of the failing command of an `apply`,
 * which the dispatcher names as a "command N: " prefix of the message; null otherwise.
 */
export class DaemonError extends TapvsError {
  readonly command: number | null;
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    const m = /^command (\d+): /.exec(message);
    this.command = m === null ? null : Number(m[1]);
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTSOCK: 'Socket operation on non-socket',
  ETIMEDOUT: 'Connection timed out',
  ENOTDIR: 'Not a directory',
  ENAMETOOLONG: 'File name too long',
};

interface Pending {
  id: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  onPart: ((part: unknown[]) => void) | null;
  parts: unknown[] | null;
}

export interface RequestOptions {
  /** Takes each part of a listing sent in parts as it arrives. */
  onPart?: (part: unknown[]) => void;
}

export interface ClientOptions {
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export class ControlClient {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<number, Pending>();
  private dead: TapvsError | null = null;
  private readonly requestTimeoutMs: number;
  /** Lines the daemon pushes without an id (`{"event": ...}`, e.g. a live trace). */
  onEvent: ((msg: { event: string } & Record<string, unknown>) => void) | null = null;
  /** The daemon closed the connection (or it failed). */
  onClose: (() => void) | null = null;

  private constructor(
    private readonly sock: net.Socket,
    opts: ClientOptions,
  ) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (e) => this.fail(new TapvsError('PROTOCOL', `control socket: ${e.message}`)));
    sock.on('close', () => {
      this.fail(new TapvsError('PROTOCOL', 'tapvsd closed the control connection'));
      this.onClose?.();
    });
  }

  static connect(path: string = socketPath(), opts: ClientOptions = {}): Promise<ControlClient> {
    const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new DaemonUnreachableError(path, 'ETIMEDOUT', ERRNO_TEXT.ETIMEDOUT));
      }, timeoutMs);
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = e.code ?? 'EIO';
        reject(new DaemonUnreachableError(path, code, ERRNO_TEXT[code] ?? e.message));
      });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new ControlClient(sock, opts));
      });
    });
  }

  /** Sends one request; see the module contract for how it settles. */
  request(req: Command, opts: RequestOptions = {}): Promise<unknown> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId++;
    const line = `${JSON.stringify({ ...req, id })}\n`;
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) {
      return Promise.reject(
        new TapvsError(
          'PROTOCOL',
          `request of ${Buffer.byteLength(line)} bytes exceeds the ${MAX_REQUEST_BYTES}-byte limit`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const p: Pending = {
        id,
        resolve,
        reject,
        timer: setTimeout(() => this.timeOut(p), this.requestTimeoutMs),
        onPart: opts.onPart ?? null,
        parts: null,
      };
      this.pending.set(id, p);
      this.sock.write(line);
    });
  }

  private timeOut(p: Pending): void {
    this.pending.delete(p.id);
    p.reject(new TapvsError('PROTOCOL', `tapvsd did not answer within ${this.requestTimeoutMs / 1000} s`));
  }

  close(): void {
    this.fail(new TapvsError('PROTOCOL', 'control connection closed'));
    this.sock.end();
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    if (this.buf.length > MAX_RESPONSE_BYTES) {
      this.fail(new TapvsError('PROTOCOL', 'answer from tapvsd too long'));
      this.sock.destroy();
      return;
    }
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() === '') continue;
      let msg: Response;
      try {
        msg = JSON.parse(line) as Response;
      } catch {
        this.fail(new TapvsError('PROTOCOL', 'tapvsd sent something that is not JSON'));
        this.sock.destroy();
        return;
      }
      this.settle(msg);
    }
  }

  private settle(msg: Response): void {
    const ev = msg as unknown as { event?: unknown };
    if (typeof ev === 'object' && ev !== null && typeof ev.event === 'string') {
      this.onEvent?.(ev as { event: string } & Record<string, unknown>);
      return;
    }
    const p = typeof msg === 'object' && msg !== null ? this.pending.get(msg.id) : undefined;
    if (p === undefined) return; // an answer to a request that already timed out
    const part = (msg as unknown as { part?: unknown }).part;
    if (Array.isArray(part)) {
      p.timer.refresh();
      if (p.onPart !== null) p.onPart(part);
      else if (p.parts === null) p.parts = part;
      else for (const x of part) p.parts.push(x);
      return;
    }
    this.pending.delete(p.id);
    clearTimeout(p.timer);
    if (msg.ok) {
      p.resolve(p.parts !== null && Array.isArray(msg.result) ? p.parts.concat(msg.result) : msg.result);
      return;
    }
    const err = msg.error ?? { code: 'INTERNAL', message: 'error without details' };
    p.reject(new DaemonError(err.code, String(err.message)));
  }

  private fail(e: TapvsError): void {
    if (this.dead === null) this.dead = e;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }
}
