/**
 * The connection table: every IPVS connection entry and persistence template, as a
 * struct of arrays indexed by a small integer id (no object per connection).
 *
 * - Two open-addressing indexes (linear probing, backward-shift deletion, load <= 1/2):
 *   "in"  key (proto, caddr, cport, vaddr, vport)  for client -> VIP packets and templates;
 *   "out" key (proto, daddr, dport, caddr, cport)  for real server -> client replies
 *   (ip_vs_conn_in_get / ip_vs_conn_out_get). Templates live only in the in-index and match
 *   only template lookups (ip_vs_ct_in_get).
 * - Expiry by a hashed timing wheel (100 ms ticks). Re-arming on a packet only writes
 *   `expiresAt`; an entry sits in the slot of an older deadline and is moved when that slot
 *   comes due (lazy re-insertion), so the per-packet cost is one store.
 * - What expiry *means* (unbinding the dest, templates that still control connections) is the
 *   owner's business: `onExpire(id, nowMs)` returns true to free the entry, false after it
 *   re-armed it.
 *
 * - Lookups compare against `keys`, one 32-byte record per entry holding both index keys, written
 *   by `hash()` from the per-field arrays: a probe reads one record (one cache line) instead of six
 *   arrays. The key fields never change while an entry is hashed (invalidateTemplate unhashes
 *   first; fwd, laddr and lport are set before hash()), so the record cannot go stale.
 *
 * Not here: state machines, counters, scheduling. Memory: 103 bytes per entry plus 16 bytes of
 * index (see `bytesPerEntry`).
 */

import { Fwd } from './dest.js';

export const ConnFlag = {
  /** Persistence template (IP_VS_CONN_F_TEMPLATE). */
  TEMPLATE: 0x01,
  /** Counted in the dest's activeConns (else inactConns). */
  ACTIVE: 0x02,
  /** Template state ASSURED (a controlled connection was established / answered). */
  ASSURED: 0x04,
  /** One-packet scheduling entry (never hashed). */
  ONE_PACKET: 0x08,
  /** Hashed into the indexes (i.e. live and findable). */
  HASHED: 0x10,
  /** Installed or updated from a sync message (the kernel's IP_VS_CONN_F_SYNC). */
  SYNCED: 0x20,
  /**
   * No reply seen yet of a connection whose replies bypass the director (DR, TUN): its client
   * packets run the INPUT_ONLY state table (IP_VS_CONN_F_NOOUTPUT, set_tcp_state()).
   */
  NOOUTPUT: 0x40,
  /**
   * A persistence template found invalid (ip_vs_conn.c, ip_vs_check_template()): its ports were
   * rewritten to 0xffff/0 so it matches no lookup, but it still exists, stays bound to its dest and
   * is listed by -c until its timer (not restarted) ends it.
   */
  INVALID: 0x80,
} as const;

/** The port ip_vs_check_template() writes into an invalidated template's vport and dport. */
export const INVALID_TEMPLATE_PORT = 0xffff;

/** Forwarding methods whose replies keep the VIP as their source (the director does not rewrite them). */
export function repliesBypass(fwd: number): boolean {
  return fwd === Fwd.LOCAL || fwd === Fwd.TUNNEL || fwd === Fwd.ROUTE;
}

/**
 * The words of an entry's `keys` record (entry id * KEY_WORDS). In key: caddr, vaddr,
 * cport << 16 | vport, proto | 0x100 for templates. Out key: the reply's source (daddr, or vaddr
 * when replies bypass us), laddr, that source's port << 16 | lport, proto (connections only).
 */
export const Key = {
  CADDR: 0,
  VADDR: 1,
  IN_PORTS: 2,
  IN_TAG: 3,
  OUT_SADDR: 4,
  LADDR: 5,
  OUT_PORTS: 6,
  OUT_TAG: 7,
} as const;
export const KEY_WORDS = 8;
const TEMPLATE_TAG = 0x100;

const WHEEL_BITS = 12;
const WHEEL_SLOTS = 1 << WHEEL_BITS;
const WHEEL_MASK = WHEEL_SLOTS - 1;
const WHEEL_TICK_MS = 100;

export type ExpireHook = (id: number, nowMs: number) => boolean;
/** Told that entry `id` was just created (state kept per entry elsewhere starts afresh). */
export type CreateHook = (id: number) => void;

export class ConnTable {
  readonly capacity: number;
  /** Live entries (connections + templates). */
  count = 0;

  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly caddr: Int32Array;
  readonly vaddr: Int32Array;
  readonly daddr: Int32Array;
  readonly cport: Uint16Array;
  readonly vport: Uint16Array;
  readonly dport: Uint16Array;
  /**
   * The real server's peer: the client (caddr:cport) except for full NAT, where it is the local
   * address and port the director put in the source (DPVS's laddr:lport).
   */
  readonly laddr: Int32Array;
  readonly lport: Uint16Array;
  /** Forwarding method (ipvs/dest.ts Fwd), bound from the dest when the entry is created. */
  readonly fwd: Uint8Array;
  /** Dest registry id, or -1. */
  readonly destId: Int32Array;
  /** Controlling template's id, or -1. */
  readonly control: Int32Array;
  /** Connections a template controls. */
  readonly nControlled: Int32Array;
  /** Current timeout of the entry (ms); re-arming sets expiresAt = now + timeoutMs. */
  readonly timeoutMs: Uint32Array;
  readonly expiresAt: Float64Array;
  /** Packets seen (IPVS's in_pkts, for sync decisions and listings). */
  readonly pkts: Uint32Array;
  /** The state last sent to the sync backup (the kernel's cp->old_state). */
  readonly syncedState: Uint8Array;
  /** Both lookup keys of each hashed entry, KEY_WORDS int32 per entry (see Key). Valid while hashed. */
  readonly keys: Int32Array;

  private readonly inIdx: Int32Array;
  private readonly outIdx: Int32Array;
  private readonly idxMask: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly wheelHead: Int32Array;
  private readonly wheelNext: Int32Array;
  /** >= 0: previous node; < 0: head of slot (-prev - 1). */
  private readonly wheelPrev: Int32Array;
  private curTick = -1;
  private onExpire: ExpireHook = () => true;
  private onCreate: CreateHook | null = null;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 1 << 26) {
      throw new RangeError(`connection table capacity ${capacity} out of range 16..${1 << 26}`);
    }
    this.capacity = capacity;
    this.proto = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.caddr = new Int32Array(capacity);
    this.vaddr = new Int32Array(capacity);
    this.daddr = new Int32Array(capacity);
    this.cport = new Uint16Array(capacity);
    this.vport = new Uint16Array(capacity);
    this.dport = new Uint16Array(capacity);
    this.laddr = new Int32Array(capacity);
    this.lport = new Uint16Array(capacity);
    this.fwd = new Uint8Array(capacity);
    this.destId = new Int32Array(capacity);
    this.control = new Int32Array(capacity);
    this.nControlled = new Int32Array(capacity);
    this.timeoutMs = new Uint32Array(capacity);
    this.expiresAt = new Float64Array(capacity);
    this.pkts = new Uint32Array(capacity);
    this.syncedState = new Uint8Array(capacity);
    this.keys = new Int32Array(capacity * KEY_WORDS);
    let size = 1;
    while (size < capacity * 2) size <<= 1;
    this.inIdx = new Int32Array(size);
    this.outIdx = new Int32Array(size);
    this.idxMask = size - 1;
    this.freeStack = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.freeTop = capacity;
    this.wheelHead = new Int32Array(WHEEL_SLOTS).fill(-1);
    this.wheelNext = new Int32Array(capacity);
    this.wheelPrev = new Int32Array(capacity);
  }

  /** Size of each hash index (what `-L` shows as the table size). */
  get indexSize(): number {
    return this.idxMask + 1;
  }
  static bytesPerEntry(): number {
    return 1 + 1 + 1 + 4 * 3 + 2 * 3 + 4 + 2 + 1 + 4 * 3 + 4 + 8 + 4 + 1 + 4 * 3 + 4 * 4 + 4 * KEY_WORDS;
  }

  setExpireHook(hook: ExpireHook): void {
    this.onExpire = hook;
  }

  /** The dataplane's flow records (dataplane/flow-cache.ts) are cleared when an id is reused. */
  setCreateHook(hook: CreateHook): void {
    this.onCreate = hook;
  }

  /**
   * Creates an entry (not yet findable: call `hash()`), armed to expire at now + timeoutMs.
   * Returns its id, or -1 when the table is full.
   */
  create(
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    daddr: number,
    dport: number,
    destId: number,
    flags: number,
    timeoutMs: number,
    nowMs: number,
  ): number {
    if (this.freeTop === 0) return -1;
    const id = this.freeStack[--this.freeTop];
    this.proto[id] = proto;
    this.state[id] = 0;
    this.flags[id] = flags;
    this.caddr[id] = caddr;
    this.cport[id] = cport;
    this.vaddr[id] = vaddr;
    this.vport[id] = vport;
    this.daddr[id] = daddr;
    this.dport[id] = dport;
    this.laddr[id] = caddr;
    this.lport[id] = cport;
    this.fwd[id] = 0;
    this.destId[id] = destId;
    this.control[id] = -1;
    this.nControlled[id] = 0;
    this.timeoutMs[id] = timeoutMs;
    this.expiresAt[id] = nowMs + timeoutMs;
    this.pkts[id] = 0;
    this.syncedState[id] = 0;
    this.count++;
    this.wheelInsert(id, nowMs);
    if (this.onCreate !== null) this.onCreate(id);
    return id;
  }

  /** Makes the entry findable (templates: in-index only). */
  hash(id: number): void {
    const k = this.keys,
      b = id * KEY_WORDS,
      proto = this.proto[id];
    const template = (this.flags[id] & ConnFlag.TEMPLATE) !== 0;
    const bypass = repliesBypass(this.fwd[id]);
    k[b + Key.CADDR] = this.caddr[id];
    k[b + Key.VADDR] = this.vaddr[id];
    k[b + Key.IN_PORTS] = (this.cport[id] << 16) | this.vport[id];
    k[b + Key.IN_TAG] = template ? proto | TEMPLATE_TAG : proto;
    k[b + Key.OUT_SADDR] = bypass ? this.vaddr[id] : this.daddr[id];
    k[b + Key.LADDR] = this.laddr[id];
    k[b + Key.OUT_PORTS] = ((bypass ? this.vport[id] : this.dport[id]) << 16) | this.lport[id];
    k[b + Key.OUT_TAG] = proto;
    this.indexInsert(this.inIdx, id, this.inHashOf(id));
    if ((this.flags[id] & ConnFlag.TEMPLATE) === 0) this.indexInsert(this.outIdx, id, this.outHashOf(id));
    this.flags[id] |= ConnFlag.HASHED;
  }

  /** Makes the entry unfindable (it still exists until freed). */
  unhash(id: number): void {
    if ((this.flags[id] & ConnFlag.HASHED) === 0) return;
    this.indexDelete(this.inIdx, id, true);
    if ((this.flags[id] & ConnFlag.TEMPLATE) === 0) this.indexDelete(this.outIdx, id, false);
    this.flags[id] &= ~ConnFlag.HASHED;
  }

  /**
   * ip_vs_check_template()'s invalidation: the template leaves the indexes, its vport and dport
   * become 0xffff and its cport 0, and it is flagged INVALID. It is no longer findable (the kernel
   * rehashes it under the dead key; keeping it out of our open-addressing index instead means a
   * service on port 65535 cannot meet it), but it lives on, bound to its dest, until it expires.
   */
  invalidateTemplate(id: number): void {
    this.unhash(id);
    this.vport[id] = INVALID_TEMPLATE_PORT;
    this.dport[id] = INVALID_TEMPLATE_PORT;
    this.cport[id] = 0;
    this.flags[id] |= ConnFlag.INVALID;
  }

  /** Removes an entry now (unhash + unlink from the wheel + free). The owner unbinds first. */
  remove(id: number): void {
    this.unhash(id);
    this.wheelUnlink(id);
    this.flags[id] = 0; // a free entry has no flags: listings walk entries by index
    this.freeStack[this.freeTop++] = id;
    this.count--;
  }

  /** Re-arms the timer: expiresAt = now + timeoutMs (ip_vs_conn_put). */
  touch(id: number, nowMs: number): void {
    this.expiresAt[id] = nowMs + this.timeoutMs[id];
  }

  /** Client -> VIP lookup. `template` selects templates (cport 0) or connections. */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number, template: boolean): number {
    const tag = template ? proto | TEMPLATE_TAG : proto;
    return this.probeIn(keyHash(proto, caddr, cport, vaddr, vport), caddr, vaddr, (cport << 16) | vport, tag);
  }

  /**
   * Real server -> client lookup by the reply's addresses: from RIP:rport (NAT, full NAT) or from
   * VIP:vport (DR, TUN: a reply that passes the director anyway), to the client or, with full NAT,
   * to the local address and port (ip_vs_conn_out_get(); DPVS's outbound tuple).
   */
  lookupOut(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
    return this.probeOut(keyHash(proto, saddr, sport, daddr, dport), saddr, daddr, (sport << 16) | dport, proto);
  }

  /**
   * The fast path's lookup of a frame from `saddr`:`sport` to `daddr`:`dport` in both indexes,
   * the hash computed once (keyHash: both hash the same five fields in the same order): the
   * out-index (replies) first when `outFirst`, else the in-index (client -> VIP, connections
   * only). Returns id << 1 | 1 for a reply, id << 1 for a client packet, -1 for neither. The
   * order only matters for a frame that matches both (a key of each kind alike); which of the
   * two such a frame must go to is the caller's business (classify.ts asks by the destination).
   */
  lookupFlow(proto: number, saddr: number, sport: number, daddr: number, dport: number, outFirst: boolean): number {
    const h = keyHash(proto, saddr, sport, daddr, dport),
      ports = (sport << 16) | dport;
    if (outFirst) {
      const out = this.probeOut(h, saddr, daddr, ports, proto);
      if (out >= 0) return (out << 1) | 1;
    }
    const inId = this.probeIn(h, saddr, daddr, ports, proto);
    if (inId >= 0) return inId << 1;
    if (outFirst) return -1;
    const out = this.probeOut(h, saddr, daddr, ports, proto);
    return out >= 0 ? (out << 1) | 1 : -1;
  }

  /** The in-index entry with this key record (hash `h`), or -1. */
  private probeIn(h: number, caddr: number, vaddr: number, ports: number, tag: number): number {
    const idx = this.inIdx,
      k = this.keys,
      mask = this.idxMask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = idx[i];
      if (e === 0) return -1;
      const b = (e - 1) * KEY_WORDS;
      if (
        k[b + Key.CADDR] === caddr &&
        k[b + Key.VADDR] === vaddr &&
        k[b + Key.IN_PORTS] === ports &&
        k[b + Key.IN_TAG] === tag
      )
        return e - 1;
    }
  }

  /** The out-index entry with this key record (hash `h`), or -1. */
  private probeOut(h: number, saddr: number, daddr: number, ports: number, proto: number): number {
    const idx = this.outIdx,
      k = this.keys,
      mask = this.idxMask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = idx[i];
      if (e === 0) return -1;
      const b = (e - 1) * KEY_WORDS;
      if (
        k[b + Key.OUT_SADDR] === saddr &&
        k[b + Key.LADDR] === daddr &&
        k[b + Key.OUT_PORTS] === ports &&
        k[b + Key.OUT_TAG] === proto
      )
        return e - 1;
    }
  }

  /**
   * Advances the wheel to `nowMs`, expiring due entries through the hook. Bounded work: each
   * entry is visited at most once per call.
   */
  expire(nowMs: number): void {
    const target = Math.floor(nowMs / WHEEL_TICK_MS);
    if (this.curTick < 0) {
      this.curTick = target;
      return;
    }
    // After a long stall, visiting every slot once is enough: all deadlines are re-checked.
    if (target - this.curTick > WHEEL_SLOTS) this.curTick = target - WHEEL_SLOTS;
    while (this.curTick < target) {
      this.curTick++;
      const slot = this.curTick & WHEEL_MASK;
      let id = this.wheelHead[slot];
      this.wheelHead[slot] = -1;
      while (id !== -1) {
        const next = this.wheelNext[id];
        if (this.expiresAt[id] > nowMs) {
          this.wheelLink(id, nowMs);
        } else if (this.onExpire(id, nowMs)) {
          this.unhash(id);
          this.flags[id] = 0;
          this.freeStack[this.freeTop++] = id;
          this.count--;
        } else {
          this.wheelLink(id, nowMs);
        }
        id = next;
      }
    }
  }

  /** Calls fn for every live entry (control-plane listings; allocation is fine there). */
  forEach(fn: (id: number) => void): void {
    for (let s = 0; s < WHEEL_SLOTS; s++) {
      for (let id = this.wheelHead[s]; id !== -1; id = this.wheelNext[id]) fn(id);
    }
  }

  private wheelInsert(id: number, nowMs: number): void {
    this.wheelLink(id, nowMs);
  }

  private wheelLink(id: number, nowMs: number): void {
    if (this.curTick < 0) this.curTick = Math.floor(nowMs / WHEEL_TICK_MS);
    const base = this.curTick;
    let tick = Math.ceil(this.expiresAt[id] / WHEEL_TICK_MS);
    if (tick <= base) tick = base + 1;
    else if (tick - base >= WHEEL_SLOTS) tick = base + WHEEL_SLOTS - 1;
    const slot = tick & WHEEL_MASK;
    const head = this.wheelHead[slot];
    this.wheelNext[id] = head;
    this.wheelPrev[id] = -slot - 1;
    if (head !== -1) this.wheelPrev[head] = id;
    this.wheelHead[slot] = id;
  }

  private wheelUnlink(id: number): void {
    const prev = this.wheelPrev[id];
    const next = this.wheelNext[id];
    if (prev < 0) this.wheelHead[-prev - 1] = next;
    else this.wheelNext[prev] = next;
    if (next !== -1) this.wheelPrev[next] = prev;
  }

  private inHashOf(id: number): number {
    return keyHash(this.proto[id], this.caddr[id], this.cport[id], this.vaddr[id], this.vport[id]);
  }
  private outHashOf(id: number): number {
    return repliesBypass(this.fwd[id])
      ? keyHash(this.proto[id], this.vaddr[id], this.vport[id], this.laddr[id], this.lport[id])
      : keyHash(this.proto[id], this.daddr[id], this.dport[id], this.laddr[id], this.lport[id]);
  }

  private indexInsert(idx: Int32Array, id: number, h: number): void {
    const mask = this.idxMask;
    let i = h & mask;
    while (idx[i] !== 0) i = (i + 1) & mask;
    idx[i] = id + 1;
  }

  /** Backward-shift deletion keeps probe chains intact without tombstones. */
  private indexDelete(idx: Int32Array, id: number, isIn: boolean): void {
    const mask = this.idxMask;
    let i = (isIn ? this.inHashOf(id) : this.outHashOf(id)) & mask;
    while (idx[i] !== id + 1) {
      if (idx[i] === 0) return; // not present: nothing to do
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = idx[j];
      if (e === 0) break;
      const k = (isIn ? this.inHashOf(e - 1) : this.outHashOf(e - 1)) & mask;
      // Move e back to the hole at i unless its home k lies cyclically in (i, j].
      const kInRange = i <= j ? k > i && k <= j : k > i || k <= j;
      if (!kInRange) {
        idx[i] = e;
        i = j;
      }
    }
    idx[i] = 0;
  }
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h;
}

/**
 * The hash of both indexes: the in-index hashes (proto, caddr, cport, vaddr, vport), the out-index
 * the reply's (proto, saddr, sport, daddr, dport), so a frame's five fields hash once for both
 * (lookupFlow).
 */
function keyHash(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
  return mix(
    Math.imul(saddr, 0x9e3779b1) ^ Math.imul(daddr ^ proto, 0x85ebca77) ^ Math.imul((sport << 16) | dport, 0xc2b2ae3d),
  );
}
