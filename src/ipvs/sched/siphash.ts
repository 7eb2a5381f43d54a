/**
 * SipHash (Aumasson & Bernstein, 2012) on 32-bit halves, for the mh scheduler.
 *
 * The kernel's mh hashes with hsiphash(), which on 64-bit kernels is SipHash-1-3 (one
 * compression round, three finalisation rounds) truncated to its low 32 bits (lib/siphash.c:
 * "on 64-bit, we make HalfSipHash1-3 actually be SipHash1-3"); 32-bit kernels run the real
 * HalfSipHash-1-3 and give other values. We match the 64-bit kernels (docs/ipvs-behaviour.md#mh).
 *
 * Two entry points:
 * - `hsiphashU32(key, x)`: the hot path. SipHash-1-3 of the 4-byte little-endian encoding of x,
 *   low 32 bits, returned as int32 (callers do `>>> 0` before `%`). Sixteen int32 locals, no
 *   allocation, no BigInt.
 * - `siphash(c, d, key, msg)`: any rounds, any message, for tests against the published vectors
 *   (the SipHash paper's appendix and the kernel's lib/siphash_kunit.c). Allocates; not for the
 *   data path.
 *
 * A 64-bit word is a pair (hi, lo) of int32. Addition carries from lo to hi; rotations by n < 32
 * move bits between the halves; a rotation by 32 swaps them.
 */

const C0H = 0x736f6d65 | 0,
  C0L = 0x70736575 | 0; // "somepseu"
const C1H = 0x646f7261 | 0,
  C1L = 0x6e646f6d | 0; // "dorandom"
const C2H = 0x6c796765 | 0,
  C2L = 0x6e657261 | 0; // "lygenera"
const C3H = 0x74656462 | 0,
  C3L = 0x79746573 | 0; // "tedbytes"
const TWO32 = 4294967296;

/**
 * A 128-bit key as two 64-bit words k0, k1 (each as hi/lo uint32), folded once into the initial
 * state v0..v3 so the hot path starts from precomputed numbers.
 */
export class SipKey {
  readonly v0h: number;
  readonly v0l: number;
  readonly v1h: number;
  readonly v1l: number;
  readonly v2h: number;
  readonly v2l: number;
  readonly v3h: number;
  readonly v3l: number;
  constructor(k0hi: number, k0lo: number, k1hi: number, k1lo: number) {
    this.v0h = C0H ^ k0hi;
    this.v0l = C0L ^ k0lo;
    this.v1h = C1H ^ k1hi;
    this.v1l = C1L ^ k1lo;
    this.v2h = C2H ^ k0hi;
    this.v2l = C2L ^ k0lo;
    this.v3h = C3H ^ k1hi;
    this.v3l = C3L ^ k1lo;
  }

  /** A key given as 16 bytes, k0 = bytes 0..7 little-endian, k1 = bytes 8..15 (SipHash's layout). */
  static fromBytes(key: Uint8Array): SipKey {
    const w = (o: number): number => key[o] | (key[o + 1] << 8) | (key[o + 2] << 16) | (key[o + 3] << 24) | 0;
    return new SipKey(w(4), w(0), w(12), w(8));
  }
}

/**
 * hsiphash(&x, 4, key) of a 64-bit kernel: SipHash-1-3 over the 4 bytes of x (little-endian), low
 * 32 bits, as int32. The final (and only) block is b = (4 << 56) | x.
 */
export function hsiphashU32(key: SipKey, x: number): number {
  let v0h = key.v0h,
    v0l = key.v0l,
    v1h = key.v1h,
    v1l = key.v1l;
  let v2h = key.v2h,
    v2l = key.v2l,
    v3h = key.v3h,
    v3l = key.v3l;
  const bh = 0x04000000,
    bl = x | 0;
  let s = 0,
    t = 0;
  v3h ^= bh;
  v3l ^= bl;
  for (let r = 0; r < 4; r++) {
    // r = 0 is the compression round; then the finalisation (v0 ^= b, v2 ^= 0xff, 3 rounds).
    if (r === 1) {
      v0h ^= bh;
      v0l ^= bl;
      v2l ^= 0xff;
    }
    // SipRound, in 32-bit halves.
    s = (v0l >>> 0) + (v1l >>> 0);
    v0h = (v0h + v1h + (s >= TWO32 ? 1 : 0)) | 0;
    v0l = s | 0;
    t = v1h;
    v1h = (v1h << 13) | (v1l >>> 19);
    v1l = (v1l << 13) | (t >>> 19);
    v1h ^= v0h;
    v1l ^= v0l;
    t = v0h;
    v0h = v0l;
    v0l = t;
    s = (v2l >>> 0) + (v3l >>> 0);
    v2h = (v2h + v3h + (s >= TWO32 ? 1 : 0)) | 0;
    v2l = s | 0;
    t = v3h;
    v3h = (v3h << 16) | (v3l >>> 16);
    v3l = (v3l << 16) | (t >>> 16);
    v3h ^= v2h;
    v3l ^= v2l;
    s = (v0l >>> 0) + (v3l >>> 0);
    v0h = (v0h + v3h + (s >= TWO32 ? 1 : 0)) | 0;
    v0l = s | 0;
    t = v3h;
    v3h = (v3h << 21) | (v3l >>> 11);
    v3l = (v3l << 21) | (t >>> 11);
    v3h ^= v0h;
    v3l ^= v0l;
    s = (v2l >>> 0) + (v1l >>> 0);
    v2h = (v2h + v1h + (s >= TWO32 ? 1 : 0)) | 0;
    v2l = s | 0;
    t = v1h;
    v1h = (v1h << 17) | (v1l >>> 15);
    v1l = (v1l << 17) | (t >>> 15);
    v1h ^= v2h;
    v1l ^= v2l;
    t = v2h;
    v2h = v2l;
    v2l = t;
  }
  return v0l ^ v1l ^ v2l ^ v3l;
}

/** State of the generic implementation: [v0h, v0l, v1h, v1l, v2h, v2l, v3h, v3l]. */
function sipRound(v: Int32Array): void {
  let s = 0,
    t = 0;
  s = (v[1] >>> 0) + (v[3] >>> 0);
  v[0] = (v[0] + v[2] + (s >= TWO32 ? 1 : 0)) | 0;
  v[1] = s | 0;
  t = v[2];
  v[2] = (v[2] << 13) | (v[3] >>> 19);
  v[3] = (v[3] << 13) | (t >>> 19);
  v[2] ^= v[0];
  v[3] ^= v[1];
  t = v[0];
  v[0] = v[1];
  v[1] = t;
  s = (v[5] >>> 0) + (v[7] >>> 0);
  v[4] = (v[4] + v[6] + (s >= TWO32 ? 1 : 0)) | 0;
  v[5] = s | 0;
  t = v[6];
  v[6] = (v[6] << 16) | (v[7] >>> 16);
  v[7] = (v[7] << 16) | (t >>> 16);
  v[6] ^= v[4];
  v[7] ^= v[5];
  s = (v[1] >>> 0) + (v[7] >>> 0);
  v[0] = (v[0] + v[6] + (s >= TWO32 ? 1 : 0)) | 0;
  v[1] = s | 0;
  t = v[6];
  v[6] = (v[6] << 21) | (v[7] >>> 11);
  v[7] = (v[7] << 21) | (t >>> 11);
  v[6] ^= v[0];
  v[7] ^= v[1];
  s = (v[5] >>> 0) + (v[3] >>> 0);
  v[4] = (v[4] + v[2] + (s >= TWO32 ? 1 : 0)) | 0;
  v[5] = s | 0;
  t = v[2];
  v[2] = (v[2] << 17) | (v[3] >>> 15);
  v[3] = (v[3] << 17) | (t >>> 15);
  v[2] ^= v[4];
  v[3] ^= v[5];
  t = v[4];
  v[4] = v[5];
  v[5] = t;
}

/**
 * SipHash-c-d of `msg` under `key`: the full 64-bit result as [hi, lo] uint32. Test and tooling
 * use only (allocates).
 */
export function siphash(cRounds: number, dRounds: number, key: SipKey, msg: Uint8Array): [number, number] {
  const v = new Int32Array([key.v0h, key.v0l, key.v1h, key.v1l, key.v2h, key.v2l, key.v3h, key.v3l]);
  const len = msg.length;
  const end = len - (len % 8);
  const le32 = (o: number): number => msg[o] | (msg[o + 1] << 8) | (msg[o + 2] << 16) | (msg[o + 3] << 24) | 0;
  const compress = (mh: number, ml: number): void => {
    v[6] ^= mh;
    v[7] ^= ml;
    for (let r = 0; r < cRounds; r++) sipRound(v);
    v[0] ^= mh;
    v[1] ^= ml;
  };
  for (let o = 0; o < end; o += 8) compress(le32(o + 4), le32(o));
  // Last block: the remaining bytes, little-endian, with len mod 256 in the top byte.
  let bh = (len & 0xff) << 24,
    bl = 0;
  for (let k = end; k < len; k++) {
    const sh = (k - end) * 8;
    if (sh < 32) bl |= msg[k] << sh;
    else bh |= msg[k] << (sh - 32);
  }
  compress(bh, bl);
  v[5] ^= 0xff;
  for (let r = 0; r < dRounds; r++) sipRound(v);
  return [(v[0] ^ v[2] ^ v[4] ^ v[6]) >>> 0, (v[1] ^ v[3] ^ v[5] ^ v[7]) >>> 0];
}
