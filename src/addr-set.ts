/**
 * A small set of IPv4 addresses (int32) with a non-negative int32 value per address, for the
 * question the fast path asks of every packet: "is this one of ours?" (owned addresses, VIPs).
 *
 * Open addressing over two Int32Arrays (multiplicative hash, linear probing, load <= 1/4), so a
 * lookup is a multiply, a shift and one or two typed-array reads instead of a `Map<number, …>`
 * lookup (part of what took bench/micro/fastpath.ts from 238 to 130 ns per packet). Keys are
 * int32 addresses, as everywhere in tapvs (V8 keeps them small integers; a u32 above 2^31 would
 * be a heap number and would not match its int32 twin). Address 0 (0.0.0.0, never an address of
 * ours) marks an empty slot and cannot be stored. Deletion rebuilds the table: sets change only
 * when the configuration does.
 */
export class AddrSet {
  private keys: Int32Array;
  private vals: Int32Array;
  private shift: number;
  private mask: number;
  private n = 0;

  constructor(initialSlots = 16) {
    let bits = 4;
    while (1 << bits < initialSlots) bits++;
    this.keys = new Int32Array(1 << bits);
    this.vals = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
  }

  get size(): number {
    return this.n;
  }

  /** The value stored for `a`, or -1 when `a` is not in the set. */
  get(a: number): number {
    const keys = this.keys;
    let i = Math.imul(a, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const k = keys[i];
      if (k === a) return a === 0 ? -1 : this.vals[i];
      if (k === 0) return -1;
      i = (i + 1) & this.mask;
    }
  }

  has(a: number): boolean {
    return this.get(a) >= 0;
  }

  /** Inserts or replaces `a` -> `value` (value >= 0: -1 means "absent" to get()). */
  set(a: number, value: number): void {
    a |= 0;
    if (a === 0) throw new RangeError('AddrSet cannot hold 0.0.0.0');
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff)
      throw new RangeError(`AddrSet value ${value} out of range`);
    if ((this.n + 1) * 4 > this.keys.length) this.grow();
    const i = this.slotOf(a);
    if (this.keys[i] !== a) {
      this.keys[i] = a;
      this.n++;
    }
    this.vals[i] = value;
  }

  /** Removes `a` (rebuilds the table). */
  delete(a: number): boolean {
    a |= 0;
    if (a === 0 || this.keys[this.slotOf(a)] !== a) return false;
    const keys = this.keys,
      vals = this.vals;
    this.keys = new Int32Array(keys.length);
    this.vals = new Int32Array(keys.length);
    this.n = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0 && keys[i] !== a) this.set(keys[i], vals[i]);
    return true;
  }

  /** The slot holding `a`, or the empty slot where it would go. */
  private slotOf(a: number): number {
    let i = Math.imul(a, 0x9e3779b1) >>> this.shift;
    while (this.keys[i] !== 0 && this.keys[i] !== a) i = (i + 1) & this.mask;
    return i;
  }

  private grow(): void {
    const keys = this.keys,
      vals = this.vals;
    const bits = 32 - this.shift + 1;
    this.keys = new Int32Array(1 << bits);
    this.vals = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.n = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.set(keys[i], vals[i]);
  }
}
