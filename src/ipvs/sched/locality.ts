/**
 * The cache table shared by lblc and lblcr (ip_vs_lblc.c, ip_vs_lblc_check_expire() and
 * ip_vs_lblc_full_check(), mirrored in ip_vs_lblcr.c; docs/ipvs-behaviour.md#lblc): 1024 chained
 * buckets keyed by hash_32(destination IP, 10), and the kernel's garbage collector, a timer that
 * fires every 60 s:
 * - every 30th run (counter % 30 = 0; first at the 30th minute) is a full check that drops entries
 *   unused for `expirationMs` (sysctl lblc_expiration / lblcr_expiration, default 24 h);
 * - other runs do nothing but count, unless the table holds more than 16384 entries: then entries
 *   unused for 6 minutes are dropped, bucket by bucket from the rover, until
 *   goal = min((entries − 16384) × 4 / 3, 8192) is met (such runs do not advance the counter).
 *
 * There are no timers here: the firings are replayed lazily, each at its own due time, by
 * `catchUp(nowMs)`, which schedule() calls before looking anything up and which the daemon may
 * call from a periodic tick. The timer's phase starts at the first time the table sees (the kernel
 * starts it at service creation, when no entry can exist yet).
 *
 * Entries are pooled objects: a freed entry is reused by the next insert, so a table in steady
 * state allocates nothing. `entries` is the kernel's counter (tbl->entries), which is what the GC
 * compares with 16384; `size` is the number of entries actually linked. They differ only for lblc,
 * whose entry replacement lets the counter drift upwards exactly as Linux does (see lblc.ts).
 */
import type { Dest } from '../dest.js';
import { hash32 } from './hash.js';

const LOCALITY_TAB_BITS = 10;
const LOCALITY_TAB_SIZE = 1 << LOCALITY_TAB_BITS;
const TAB_MASK = LOCALITY_TAB_SIZE - 1;
/** CHECK_EXPIRE_INTERVAL. */
const CHECK_EXPIRE_INTERVAL_MS = 60_000;
/** ENTRY_TIMEOUT: idle time after which a full table may drop an entry. */
const ENTRY_TIMEOUT_MS = 6 * 60_000;
/** DEFAULT_EXPIRATION of the lblc_expiration / lblcr_expiration sysctls. */
export const DEFAULT_EXPIRATION_MS = 24 * 60 * 60_000;
/** COUNT_FOR_FULL_EXPIRATION. */
const COUNT_FOR_FULL_EXPIRATION = 30;
/** tbl->max_size = IP_VS_LBLC_TAB_SIZE × 16. */
export const LOCALITY_MAX_SIZE = LOCALITY_TAB_SIZE * 16;
/** Safety against clock jumps: more pending firings than this are not replayed one by one. */
const MAX_REPLAYED_FIRINGS = 1_000_000;

/** One cache entry: destination IP → a dest (lblc) or a dest set (lblcr). */
export class LocalityEntry {
  addr = 0;
  lastUseMs = 0;
  next: LocalityEntry | null = null;
  /** lblc: the cached dest. */
  dest: Dest | null = null;
  /**
   * lblcr: the dest set, oldest first; the kernel's list order (newest first, list_add at the
   * head) is this array read from the end.
   */
  readonly members: Dest[] = [];
  /** lblcr: set->lastmod. */
  lastModMs = 0;
}

export class LocalityTable {
  private readonly buckets: (LocalityEntry | null)[] = new Array<LocalityEntry | null>(LOCALITY_TAB_SIZE).fill(null);
  private readonly pool: LocalityEntry[] = [];
  /** tbl->entries. */
  entries = 0;
  /** Entries linked in the table. */
  size = 0;
  private rover = 0;
  private counter = 1;
  /** Due time of the next timer firing; -1 until the first call. */
  private nextCheckMs = -1;
  /** Idle time after which the full check drops an entry (the *_expiration sysctl). */
  expirationMs: number;

  constructor(expirationMs = DEFAULT_EXPIRATION_MS) {
    this.expirationMs = expirationMs;
  }

  find(addr: number): LocalityEntry | null {
    let en = this.buckets[hash32(addr, LOCALITY_TAB_BITS)];
    while (en !== null && en.addr !== addr) en = en.next;
    return en;
  }

  /** Links a fresh entry at the head of its bucket (hlist_add_head) and counts it. */
  insert(addr: number, nowMs: number): LocalityEntry {
    const en = this.pool.length > 0 ? (this.pool.pop() as LocalityEntry) : new LocalityEntry();
    const b = hash32(addr, LOCALITY_TAB_BITS);
    en.addr = addr;
    en.lastUseMs = nowMs;
    en.next = this.buckets[b];
    this.buckets[b] = en;
    this.entries++;
    this.size++;
    return en;
  }

  /** Unlinks an entry and returns it to the pool. Does not touch `entries` (callers decide). */
  unlink(en: LocalityEntry): void {
    const b = hash32(en.addr, LOCALITY_TAB_BITS);
    let p = this.buckets[b];
    if (p === en) this.buckets[b] = en.next;
    else {
      while (p !== null && p.next !== en) p = p.next;
      if (p === null) return;
      p.next = en.next;
    }
    this.size--;
    en.next = null;
    en.dest = null;
    en.members.length = 0;
    this.pool.push(en);
  }

  /** Runs every timer firing due at or before nowMs, each at its own due time. */
  catchUp(nowMs: number): void {
    if (this.nextCheckMs < 0) {
      this.nextCheckMs = nowMs + CHECK_EXPIRE_INTERVAL_MS;
      return;
    }
    if (nowMs - this.nextCheckMs > MAX_REPLAYED_FIRINGS * CHECK_EXPIRE_INTERVAL_MS) {
      this.nextCheckMs = nowMs - COUNT_FOR_FULL_EXPIRATION * CHECK_EXPIRE_INTERVAL_MS;
    }
    while (this.nextCheckMs <= nowMs) {
      this.checkExpire(this.nextCheckMs);
      this.nextCheckMs += CHECK_EXPIRE_INTERVAL_MS;
    }
  }

  /** ip_vs_lblc(r)_check_expire at time `now`. */
  private checkExpire(now: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      this.fullCheck(now);
      this.counter = 1;
      return;
    }
    if (this.entries <= LOCALITY_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LOCALITY_MAX_SIZE) * 4) / 3);
    if (goal > LOCALITY_MAX_SIZE / 2) goal = LOCALITY_MAX_SIZE / 2;
    let j = this.rover;
    for (let i = 0; i < LOCALITY_TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      let en = this.buckets[j];
      while (en !== null) {
        const next = en.next;
        if (now >= en.lastUseMs + ENTRY_TIMEOUT_MS) {
          this.unlink(en);
          this.entries--;
          goal--;
        }
        en = next;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  /** ip_vs_lblc(r)_full_check: drops every entry unused for expirationMs. */
  private fullCheck(now: number): void {
    let j = this.rover;
    for (let i = 0; i < LOCALITY_TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      let en = this.buckets[j];
      while (en !== null) {
        const next = en.next;
        if (now >= en.lastUseMs + this.expirationMs) {
          this.unlink(en);
          this.entries--;
        }
        en = next;
      }
    }
    this.rover = j;
  }

  /** Drops every entry (done_service → flush). */
  flush(): void {
    for (let j = 0; j < LOCALITY_TAB_SIZE; j++) {
      let en = this.buckets[j];
      while (en !== null) {
        const next = en.next;
        this.unlink(en);
        this.entries--;
        en = next;
      }
    }
  }
}
