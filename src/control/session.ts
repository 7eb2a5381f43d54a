/**
 * One client of the control socket: splits its bytes into request lines, runs them one at a time
 * in order, and keeps what it costs the daemon bounded whatever the client does.
 *
 * - Reading stops (the socket is paused) while a reply is being streamed, while requests are
 *   waiting, or while more than OUTPUT_HIGH_WATER bytes of answers are unsent: a client that
 *   pipelines requests and never reads costs at most about that much memory, not one reply per
 *   request. It resumes on 'drain'.
 * - A line longer than MAX_REQUEST_BYTES gets a PROTOCOL error and ends the session: nothing the
 *   client sent after it is executed.
 * - Pushed events (a live trace) are not queued past PUSH_HIGH_WATER: while the client lags they
 *   are dropped and counted, the count is sent once it has caught up, and a client that stays
 *   behind for PUSH_STUCK_MS is disconnected.
 * - lastActive, idle and stalled() tell the server which sessions it may close: at the client cap
 *   only idle ones; after the idle time also one that stopped reading with requests waiting.
 */
import type net from 'node:net';
import { isTapvsError } from '../errors.js';
import { log } from '../log.js';
import { MAX_REQUEST_BYTES, type Request, type Response } from './protocol.js';
import { isStreamed, type StreamedResult } from './streamed.js';

/** Unsent answer bytes above which no further request of this client is read or run. */
export const OUTPUT_HIGH_WATER = 1 << 20;
/** Unsent bytes above which pushed events are dropped (and counted) instead of queued. */
export const PUSH_HIGH_WATER = 4 << 20;
/** A subscriber that cannot take pushed events for this long is disconnected. */
export const PUSH_STUCK_MS = 10_000;

/** What a handler may do beyond answering: stream events on the client's connection. */
export interface RequestContext {
  /**
   * Sends one extra JSON line to this client; false once it is gone. While the client lags the
   * line is dropped and counted instead (see the module comment); that still returns true.
   */
  push(obj: unknown): boolean;
  /** Called once when the client disconnects. Makes the session a subscriber: never idle-closed. */
  onClose(fn: () => void): void;
}

export type RequestHandler = (req: Request, ctx: RequestContext) => unknown;

export interface SessionCounters {
  requests: number;
  errors: number;
  /** Pushed events dropped because their client lagged. */
  pushDropped: number;
  /** Subscribers disconnected because they stayed behind. */
  slowDisconnects: number;
}

export class ControlSession {
  /** Last time the client sent a request or we finished one (ms, Date.now()). */
  lastActive = Date.now();
  private closed = false;
  private pending = '';
  private readonly lines: string[] = [];
  private stream: { id: number; result: StreamedResult } | null = null;
  private subscribed = false;
  private missed = 0;
  private behindSince = 0;
  private readonly ctx: RequestContext;

  constructor(
    private readonly sock: net.Socket,
    private readonly handler: RequestHandler,
    private readonly counters: SessionCounters,
  ) {
    this.ctx = {
      push: (obj) => this.push(obj),
      onClose: (fn) => {
        this.subscribed = true;
        sock.once('close', fn);
      },
    };
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('drain', () => this.onDrain());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.closed = true;
      this.lines.length = 0;
      this.stream = null;
    });
  }

  /** Idle: nothing running, nothing waiting, nothing subscribed (what the cap may close). */
  get idle(): boolean {
    return !this.closed && !this.subscribed && this.stream === null && this.lines.length === 0;
  }

  /**
   * No progress for `idleMs`: no request from the client, no answer taken by it. Covers the idle
   * client and the one that stopped reading with requests waiting (it would hold its unsent
   * answers forever). Subscribers are judged by push() instead.
   */
  stalled(now: number, idleMs: number): boolean {
    return !this.closed && !this.subscribed && now - this.lastActive >= idleMs;
  }

  /** Closes the session, telling the client why when it can still be told. */
  close(code: 'PROTOCOL' | 'BUSY', message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.lines.length = 0;
    this.stream = null;
    this.write({ id: 0, ok: false, error: { code, message } });
    this.sock.end();
    // A client that does not read cannot be waited for: end() would wait for it.
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  private onData(chunk: string): void {
    if (this.closed) return;
    this.lastActive = Date.now();
    this.pending += chunk;
    for (let nl = this.pending.indexOf('\n'); nl >= 0; nl = this.pending.indexOf('\n')) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      if (tooLong(line)) {
        this.oversized();
        return;
      }
      if (line.trim().length > 0) this.lines.push(line);
    }
    if (tooLong(this.pending)) {
      this.oversized();
      return;
    }
    this.run();
  }

  private oversized(): void {
    this.counters.errors++;
    this.pending = '';
    this.close('PROTOCOL', `request larger than ${MAX_REQUEST_BYTES} bytes`);
  }

  /** Runs waiting requests while the client keeps up; pauses reading when it does not. */
  private run(): void {
    while (!this.closed) {
      if (this.sock.writableLength > OUTPUT_HIGH_WATER) break;
      if (this.stream !== null) {
        this.streamSlice();
        // More parts to come: the next one in a later turn of the event loop.
        if (this.stream !== null) break;
        continue;
      }
      const line = this.lines.shift();
      if (line === undefined) break;
      this.execute(line);
    }
    if (this.closed) return;
    const blocked = this.stream !== null || this.lines.length > 0 || this.sock.writableLength > OUTPUT_HIGH_WATER;
    if (blocked) this.sock.pause();
    else this.sock.resume();
  }

  private onDrain(): void {
    this.lastActive = Date.now(); // the client took what was sent: progress
    if (this.missed > 0 && !this.closed) {
      this.write({ event: 'missed', count: this.missed });
      this.missed = 0;
    }
    this.behindSince = 0;
    this.run();
  }

  /** One slice of a streamed reply, then back to the event loop (and the dataplane). */
  private streamSlice(): void {
    const s = this.stream!;
    let part: unknown[] | null;
    try {
      part = s.result.next();
    } catch (e) {
      this.stream = null;
      this.failed(s.id, 'listing', e);
      return;
    }
    if (part === null) {
      this.stream = null;
      this.lastActive = Date.now();
      // The whole result is the parts followed by this (empty) last one: see protocol.ts.
      this.write({ id: s.id, ok: true, result: [] });
      return;
    }
    this.lastActive = Date.now();
    if (part.length > 0) this.write({ id: s.id, part });
    if (this.sock.writableLength <= OUTPUT_HIGH_WATER) {
      setImmediate(() => this.run());
    }
  }

  private execute(line: string): void {
    this.counters.requests++;
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      this.counters.errors++;
      this.write({ id: 0, ok: false, error: { code: 'PROTOCOL', message: 'malformed request: not JSON' } });
      return;
    }
    const id =
      typeof req === 'object' && req !== null && typeof (req as { id?: unknown }).id === 'number'
        ? (req as { id: number }).id
        : 0;
    if (typeof req !== 'object' || req === null || typeof (req as { op?: unknown }).op !== 'string') {
      this.counters.errors++;
      this.write({ id, ok: false, error: { code: 'PROTOCOL', message: 'malformed request: no op' } });
      return;
    }
    try {
      const result = this.handler(req as Request, this.ctx);
      if (isStreamed(result)) {
        this.stream = { id, result };
        return;
      }
      this.lastActive = Date.now();
      this.write({ id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      this.failed(id, (req as Request).op, e);
    }
  }

  private failed(id: number, op: string, e: unknown): void {
    this.counters.errors++;
    if (isTapvsError(e)) {
      this.write({ id, ok: false, error: { code: e.code, message: e.message } });
      return;
    }
    log('error', 'control request failed', { op, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    this.write({
      id,
      ok: false,
      error: { code: 'INTERNAL', message: `internal error: ${e instanceof Error ? e.message : String(e)}` },
    });
  }

  private push(obj: unknown): boolean {
    if (this.closed || this.sock.destroyed || !this.sock.writable) return false;
    if (this.sock.writableLength > PUSH_HIGH_WATER) {
      this.missed++;
      this.counters.pushDropped++;
      const now = Date.now();
      if (this.behindSince === 0) this.behindSince = now;
      else if (now - this.behindSince > PUSH_STUCK_MS) {
        this.counters.slowDisconnects++;
        log('warn', 'control client dropped: it did not read pushed events', { missed: this.missed });
        this.closed = true;
        this.sock.destroy();
        return false;
      }
      return true;
    }
    this.write(obj);
    return true;
  }

  private write(r: Response | { id: number; part: unknown[] } | unknown): void {
    if (!this.sock.destroyed && this.sock.writable) this.sock.write(`${JSON.stringify(r)}\n`);
  }
}

/**
 * A line over MAX_REQUEST_BYTES of UTF-8. A UTF-16 unit is 1 to 3 bytes, so the exact count is
 * only needed between MAX/3 and MAX units.
 */
function tooLong(s: string): boolean {
  if (s.length > MAX_REQUEST_BYTES) return true;
  if (s.length * 3 <= MAX_REQUEST_BYTES) return false;
  return Buffer.byteLength(s) > MAX_REQUEST_BYTES;
}
