/**
 * The neighbour table of one link (RFC 826 resolution, Linux-like aging) plus the bounded queue
 * of frames waiting for a resolution.
 *
 * - An entry is fresh for `reachableMs` after it was learned; a stale entry is still used (like
 *   Linux's STALE state) while a refresh request goes out at most once per `retryMs`.
 * - Unresolved next hops: at most `maxPending` frames in all and `maxPendingPerIp` per address
 *   (Linux unres_qlen); requests are retried every `retryMs` up to `maxRetries` times, after which
 *   the waiting frames are dropped and counted.
 * - Entries are bounded (`maxEntries`); inserting into a full table evicts the oldest.
 * Numbers only on the lookup path; the Map has int32 keys (small integers, no allocation).
 */
export interface ArpCacheOptions {
  maxEntries: number;
  reachableMs: number;
  retryMs: number;
  maxRetries: number;
  maxPending: number;
  maxPendingPerIp: number;
  /** Bytes reserved per pending frame. */
  frameSize: number;
}

const ARP_DEFAULTS: ArpCacheOptions = {
  maxEntries: 4096,
  reachableMs: 60_000,
  retryMs: 1000,
  maxRetries: 3,
  // Linux queues up to unres_qlen_bytes (212992) per neighbour: about 100 full frames.
  maxPending: 512,
  maxPendingPerIp: 100,
  frameSize: 2048,
};

const EMPTY = 0;
const INCOMPLETE = 1;
const RESOLVED = 2;

export class ArpCache {
  readonly opts: ArpCacheOptions;
  private readonly slotOf = new Map<number, number>();
  readonly ip: Int32Array;
  readonly mac: Uint8Array;
  /** The same MACs as a big-endian int32 (bytes 0-3) and uint16 (bytes 4-5), for word stores. */
  readonly macHi: Int32Array;
  readonly macLo: Uint16Array;
  private readonly state: Uint8Array;
  private readonly updatedAt: Float64Array;
  private readonly requestedAt: Float64Array;
  private readonly retries: Uint8Array;
  private readonly freeSlots: Int32Array;
  private freeTop: number;
  /** Slot of the last successful lookup (validated by ip and state on use), or -1. */
  private memoSlot = -1;
  /**
   * Called whenever a lookup could answer differently from now on: a slot allocated, freed or
   * reused, an entry resolved or given another MAC. Whoever remembers slots or MACs
   * (dataplane/flow-cache.ts) forgets them. Not called for a refresh that keeps the MAC.
   */
  onChange: (() => void) | null = null;

  // Pending frames: a fixed pool; slot in use when pendingIp[s] !== 0 or pendingLen[s] > 0.
  readonly pendingBuf: Uint8Array;
  readonly pendingLen: Uint32Array;
  readonly pendingIp: Int32Array;
  pendingCount = 0;
  /** Frames dropped because resolution failed. */
  unresolvedDrops = 0;

  constructor(opts: Partial<ArpCacheOptions> = {}) {
    this.opts = { ...ARP_DEFAULTS, ...opts };
    const n = this.opts.maxEntries;
    this.ip = new Int32Array(n);
    this.mac = new Uint8Array(n * 6);
    this.macHi = new Int32Array(n);
    this.macLo = new Uint16Array(n);
    this.state = new Uint8Array(n);
    this.updatedAt = new Float64Array(n);
    this.requestedAt = new Float64Array(n);
    this.retries = new Uint8Array(n);
    this.freeSlots = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeSlots[i] = n - 1 - i;
    this.freeTop = n;
    const q = this.opts.maxPending;
    this.pendingBuf = new Uint8Array(q * this.opts.frameSize);
    this.pendingLen = new Uint32Array(q);
    this.pendingIp = new Int32Array(q);
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** The slot of a resolved entry (MAC at mac[slot*6]), or -1. */
  lookup(ip: number): number {
    // One-entry memo: a link's frames mostly go to one or two next hops (a real server, the
    // client's gateway), and a Map lookup per packet is a noticeable share of the fast path.
    const m = this.memoSlot;
    if (m >= 0 && this.ip[m] === ip && this.state[m] === RESOLVED) return m;
    const s = this.slotOf.get(ip);
    if (s === undefined || this.state[s] !== RESOLVED) return -1;
    this.memoSlot = s;
    return s;
  }

  /** True when a resolved entry is stale and no refresh went out within retryMs. */
  wantsRefresh(slot: number, nowMs: number): boolean {
    if (nowMs - this.updatedAt[slot] < this.opts.reachableMs) return false;
    if (nowMs - this.requestedAt[slot] < this.opts.retryMs) return false;
    this.requestedAt[slot] = nowMs;
    return true;
  }

  /** Records ip -> mac (from an ARP packet). `create` false only updates an existing entry. Returns the slot or -1. */
  learn(ip: number, macBuf: Uint8Array, macOff: number, nowMs: number, create: boolean): number {
    let s = this.slotOf.get(ip);
    if (s === undefined) {
      if (!create) return -1;
      s = this.allocSlot(ip);
    }
    const m = s * 6;
    for (let i = 0; i < 6; i++) this.mac[m + i] = macBuf[macOff + i];
    const hi = (macBuf[macOff] << 24) | (macBuf[macOff + 1] << 16) | (macBuf[macOff + 2] << 8) | macBuf[macOff + 3];
    const lo = (macBuf[macOff + 4] << 8) | macBuf[macOff + 5];
    const changed = this.state[s] !== RESOLVED || this.macHi[s] !== hi || this.macLo[s] !== lo;
    this.macHi[s] = hi;
    this.macLo[s] = lo;
    this.state[s] = RESOLVED;
    this.updatedAt[s] = nowMs;
    this.retries[s] = 0;
    if (changed) this.changed();
    return s;
  }

  /**
   * Starts (or continues) resolving ip. Returns true when a request should be sent now.
   */
  startResolve(ip: number, nowMs: number): boolean {
    let s = this.slotOf.get(ip);
    if (s === undefined) {
      s = this.allocSlot(ip);
      this.state[s] = INCOMPLETE;
      this.requestedAt[s] = nowMs;
      this.retries[s] = 0;
      return true;
    }
    if (this.state[s] === RESOLVED) return false;
    if (nowMs - this.requestedAt[s] >= this.opts.retryMs) {
      this.requestedAt[s] = nowMs;
      return true;
    }
    return false;
  }

  /** Queues a frame until ip resolves. Returns false (caller counts a drop) when the queue is full. */
  enqueue(ip: number, src: Uint8Array, off: number, len: number): boolean {
    if (len > this.opts.frameSize) return false;
    const q = this.opts.maxPending;
    let perIp = 0;
    let free = -1;
    for (let s = 0; s < q; s++) {
      if (this.pendingLen[s] === 0) {
        if (free < 0) free = s;
      } else if (this.pendingIp[s] === ip) perIp++;
    }
    if (free < 0 || perIp >= this.opts.maxPendingPerIp) return false;
    const base = free * this.opts.frameSize;
    for (let i = 0; i < len; i++) this.pendingBuf[base + i] = src[off + i];
    this.pendingLen[free] = len;
    this.pendingIp[free] = ip;
    this.pendingCount++;
    return true;
  }

  /** Frees pending slot s (after it was sent or dropped). */
  release(s: number): void {
    this.pendingLen[s] = 0;
    this.pendingIp[s] = 0;
    this.pendingCount--;
  }

  /**
   * Periodic maintenance: re-requests incomplete entries and gives up after maxRetries, dropping
   * their frames. Calls `request(ip)` for each address to ask again. Returns frames dropped.
   */
  tick(nowMs: number, request: (ip: number) => void): number {
    let dropped = 0;
    for (const [ip, s] of this.slotOf) {
      if (this.state[s] !== INCOMPLETE) continue;
      if (nowMs - this.requestedAt[s] < this.opts.retryMs) continue;
      if (this.retries[s] + 1 >= this.opts.maxRetries) {
        dropped += this.dropPending(ip);
        this.freeSlot(ip, s);
        continue;
      }
      this.retries[s]++;
      this.requestedAt[s] = nowMs;
      request(ip);
    }
    this.unresolvedDrops += dropped;
    return dropped;
  }

  /** Entries for status output. */
  entries(): Array<{ ip: number; mac: Uint8Array; resolved: boolean; ageMs: number }> {
    const out: Array<{ ip: number; mac: Uint8Array; resolved: boolean; ageMs: number }> = [];
    const now = Date.now();
    for (const [ip, s] of this.slotOf) {
      out.push({
        ip,
        mac: this.mac.slice(s * 6, s * 6 + 6),
        resolved: this.state[s] === RESOLVED,
        ageMs: now - this.updatedAt[s],
      });
    }
    return out;
  }

  private changed(): void {
    if (this.onChange !== null) this.onChange();
  }

  private dropPending(ip: number): number {
    let n = 0;
    for (let s = 0; s < this.opts.maxPending; s++) {
      if (this.pendingLen[s] !== 0 && this.pendingIp[s] === ip) {
        this.release(s);
        n++;
      }
    }
    return n;
  }

  private allocSlot(ip: number): number {
    if (this.freeTop === 0) {
      // Evict the least recently updated entry.
      let oldestIp = 0,
        oldestSlot = -1,
        oldestAt = Infinity;
      for (const [eip, s] of this.slotOf) {
        if (this.updatedAt[s] < oldestAt) {
          oldestAt = this.updatedAt[s];
          oldestIp = eip;
          oldestSlot = s;
        }
      }
      this.dropPending(oldestIp);
      this.freeSlot(oldestIp, oldestSlot);
    }
    const s = this.freeSlots[--this.freeTop];
    this.changed();
    this.slotOf.set(ip, s);
    this.ip[s] = ip;
    this.state[s] = EMPTY;
    this.updatedAt[s] = 0;
    return s;
  }

  private freeSlot(ip: number, s: number): void {
    this.slotOf.delete(ip);
    this.changed();
    this.state[s] = EMPTY;
    this.freeSlots[this.freeTop++] = s;
  }
}
