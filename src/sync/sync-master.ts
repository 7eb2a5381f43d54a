/**
 * The master sync daemon: which connection changes the backup must hear of, and the messages that
 * carry them (ip_vs_sync.c: ip_vs_sync_conn_needed(), ip_vs_sync_conn(), sb_queue_tail(),
 * sync_thread_master()).
 *
 * - When: after a client -> VIP packet (the dataplane calls `afterInbound`): a TCP connection in a
 *   state worth syncing (ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT, TIME_WAIT) on its
 *   sync_threshold-th inbound packet and every sync_period packets after (3, 53, 103, … with the
 *   defaults 3 and 50), and at once when it moved to one of those states other than
 *   ESTABLISHED; UDP on the same packet counts. Then its persistence template, whenever the
 *   connection it controls was sent. One-packet entries are never sent;
 *   their template is, on each of their packets.
 * - How: entries go into the open message (at most sync_maxlen bytes, 255 entries); a full one
 *   joins the queue. Every flush (the daemon's 20 ms timer, IPVS_SYNC_SEND_DELAY) sends the queue,
 *   and the open message once it is 2 s old (IPVS_SYNC_FLUSH_TIME).
 * - Bounds: a fixed pool of message buffers, SYNC_POOL_BYTES in all (the kernel's sync_qlen_max
 *   bounds its queue the same way): when every buffer is queued, new entries are dropped and
 *   counted; at most
 *   MAX_SENDS_PER_FLUSH messages leave per flush.
 *
 * `afterInbound` runs on the packet path: typed arrays and preallocated buffers only.
 */
import { ConnFlag, type ConnTable } from '../ipvs/conn-table.js';
import { Fwd } from '../ipvs/dest.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { TcpState } from '../ipvs/tcp-state.js';
import { MessageWriter, SYNC_V1_MAX_MESSAGE, WireFlag } from './sync-message.js';

/** Message buffers (queued + open): 4,096 x 1,472 bytes = 6 MB at the default maxlen. */
export const SYNC_POOL_MESSAGES = 4096;
/** The pool's byte bound: a larger maxlen gets fewer buffers (at least 64). */
export const SYNC_POOL_BYTES = SYNC_POOL_MESSAGES * 1472;
/** Messages sent per 20 ms flush at most: 50,000 messages/s, ~70 MB/s at 1,472 bytes. */
export const MAX_SENDS_PER_FLUSH = 1000;
/** IPVS_SYNC_FLUSH_TIME. */
const FLUSH_TIME_MS = 2000;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

export interface SyncTransport {
  send(payload: Uint8Array, len: number): void;
}

export interface SyncMasterOptions {
  syncid: number;
  maxlen: number;
  /** sync_threshold and sync_period (sysctl net.ipv4.vs.sync_threshold). */
  threshold: number;
  period: number;
}

export interface SyncMasterCounters {
  messages: number;
  bytes: number;
  entries: number;
  /** Entries lost because every buffer was queued (the kernel frees them silently). */
  dropped: number;
  queued: number;
}

export class SyncMaster {
  messages = 0;
  bytes = 0;
  entries = 0;
  dropped = 0;
  private readonly conns: ConnTable;
  private readonly writers: MessageWriter[];
  private readonly lengths: Int32Array;
  /** Queue of full messages (indexes into writers), a ring. */
  private readonly queue: Int32Array;
  private qHead = 0;
  private qLen = 0;
  /** Free buffers, a stack. */
  private readonly free: Int32Array;
  private freeTop: number;
  /** The open message's buffer, -1 when none; when it was opened. */
  private open = -1;
  private openedAt = 0;

  constructor(
    ipvs: Ipvs,
    private readonly opts: SyncMasterOptions,
    private readonly transport: SyncTransport,
    poolBytes = SYNC_POOL_BYTES,
  ) {
    this.conns = ipvs.conns;
    // 255 entries fill a message whatever the maxlen, so a buffer never needs more.
    const bufLen = Math.min(opts.maxlen, SYNC_V1_MAX_MESSAGE);
    const poolSize = Math.max(64, Math.floor(poolBytes / bufLen));
    this.writers = [];
    for (let i = 0; i < poolSize; i++) this.writers.push(new MessageWriter(new Uint8Array(bufLen), bufLen));
    this.lengths = new Int32Array(poolSize);
    this.queue = new Int32Array(poolSize);
    this.free = new Int32Array(poolSize);
    for (let i = 0; i < poolSize; i++) this.free[i] = poolSize - 1 - i;
    this.freeTop = poolSize;
  }

  /** After a client -> VIP packet of connection `id` was counted and its state moved. */
  afterInbound(id: number, nowMs: number): void {
    const c = this.conns;
    // Full NAT's local address and port have no place in IPVS's wire format: not synced.
    if (c.fwd[id] === Fwd.FULLNAT) return;
    // A one-packet entry is never sent, but its template is (ip_vs_sync_conn(): "goto control").
    const onePacket = (c.flags[id] & ConnFlag.ONE_PACKET) !== 0;
    const sent = onePacket || (this.needed(id, c.pkts[id], false) && this.append(id, nowMs));
    const t = c.control[id];
    if (sent && t >= 0) {
      c.pkts[t]++;
      if (this.needed(t, c.pkts[t], true)) this.append(t, nowMs);
    }
  }

  /** Sends what is due (call every 20 ms). */
  flush(nowMs: number): void {
    if (this.open >= 0 && this.qLen === 0 && nowMs - this.openedAt >= FLUSH_TIME_MS) this.close();
    let sent = 0;
    while (this.qLen > 0 && sent < MAX_SENDS_PER_FLUSH) {
      const w = this.queue[this.qHead];
      this.qHead = (this.qHead + 1) % this.queue.length;
      this.qLen--;
      const len = this.lengths[w];
      this.transport.send(this.writers[w].buf, len);
      this.messages++;
      this.bytes += len;
      this.free[this.freeTop++] = w;
      sent++;
    }
  }

  /** Stopping discards what was not sent (as the kernel does). */
  stop(): void {
    this.qLen = 0;
    this.open = -1;
  }

  counters(): SyncMasterCounters {
    return {
      messages: this.messages,
      bytes: this.bytes,
      entries: this.entries,
      dropped: this.dropped,
      queued: this.qLen,
    };
  }

  /** ip_vs_sync_conn_needed() with sync_refresh_period 0. */
  private needed(id: number, pkts: number, template: boolean): boolean {
    const c = this.conns,
      o = this.opts;
    const state = c.state[id];
    if (!template && c.proto[id] === IPPROTO_TCP) {
      if (!SYNCABLE_TCP[state]) return false;
      // A move to a closing state is sent at once; reaching ESTABLISHED waits for the count.
      if (state !== c.syncedState[id] && state !== TcpState.ESTABLISHED) {
        c.syncedState[id] = state;
        return true;
      }
    } else if (!template && c.proto[id] !== IPPROTO_UDP) {
      return false;
    }
    if (o.period > 0) {
      if (!template && pkts % o.period !== o.threshold) return false;
    } else if (pkts !== o.threshold) {
      return false;
    }
    c.syncedState[id] = state;
    return true;
  }

  /** Adds entry `id` to the open message (opening or rotating one); false when dropped. */
  private append(id: number, nowMs: number): boolean {
    const c = this.conns;
    const template = (c.flags[id] & ConnFlag.TEMPLATE) !== 0;
    // The method travels in the low bits (conn_flags & IP_VS_CONN_F_FWD_MASK), NOOUTPUT with it.
    let flags = c.fwd[id] & WireFlag.FWD_MASK;
    if ((c.flags[id] & ConnFlag.NOOUTPUT) !== 0) flags |= WireFlag.NOOUTPUT;
    if (template) flags |= WireFlag.TEMPLATE;
    else if ((c.flags[id] & ConnFlag.ACTIVE) === 0) flags |= WireFlag.INACTIVE;
    const state = template ? ((c.flags[id] & ConnFlag.ASSURED) !== 0 ? 1 : 0) : c.state[id];
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.open < 0 && !this.openMessage(nowMs)) {
        this.dropped++;
        return false;
      }
      const w = this.writers[this.open];
      if (
        w.add(
          c.proto[id],
          flags,
          state,
          c.cport[id],
          c.vport[id],
          c.dport[id],
          Math.floor(c.timeoutMs[id] / 1000),
          c.caddr[id],
          c.vaddr[id],
          c.daddr[id],
        )
      ) {
        this.entries++;
        return true;
      }
      this.close();
    }
    this.dropped++;
    return false;
  }

  private openMessage(nowMs: number): boolean {
    if (this.freeTop === 0) return false;
    this.open = this.free[--this.freeTop];
    this.openedAt = nowMs;
    this.writers[this.open].begin(this.opts.syncid);
    return true;
  }

  /** The open message joins the queue. */
  private close(): void {
    const w = this.open;
    if (w < 0) return;
    this.open = -1;
    if (this.writers[w].count === 0) {
      this.free[this.freeTop++] = w;
      return;
    }
    this.lengths[w] = this.writers[w].finish();
    this.queue[(this.qHead + this.qLen) % this.queue.length] = w;
    this.qLen++;
  }
}

/** TCP states a connection is synced in (ip_vs_sync_conn_needed()). */
const SYNCABLE_TCP: readonly boolean[] = (() => {
  const t = new Array<boolean>(16).fill(false);
  for (const s of [TcpState.ESTABLISHED, TcpState.FIN_WAIT, TcpState.CLOSE, TcpState.CLOSE_WAIT, TcpState.TIME_WAIT])
    t[s] = true;
  return t;
})();
