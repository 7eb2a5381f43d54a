/**
 * Small integer helpers shared by the hashing schedulers (dh, sh, lblc, lblcr): the kernel's
 * generic `hash_32()` (include/linux/hash.h) and gcd (lib/math/gcd.c, used by wrr and mh).
 *
 * Contract: inputs are IPv4 addresses and ports as plain numbers (int32 / 0..65535, host order);
 * results are small non-negative integers (Smis), so callers can index tables with them without
 * allocating. IPv6 folding (XOR of the four words) is not needed: tapvs is IPv4 only.
 * Behaviour: docs/ipvs-behaviour.md#common-rules.
 */

/** GOLDEN_RATIO_32 of include/linux/hash.h. */
const GOLDEN_RATIO_32 = 0x61c88647;

/**
 * hash_32(val, bits): the top `bits` bits of val × GOLDEN_RATIO_32 mod 2^32 (the generic kernel
 * version; x86 and arm64 have no arch override). `bits` is 1..31.
 * Example (worked from the definition): hash32(0x0a000001, 8) === 39.
 */
export function hash32(val: number, bits: number): number {
  return Math.imul(val, GOLDEN_RATIO_32) >>> (32 - bits);
}

/** Greatest common divisor of two positive integers (Euclid; same result as the kernel's gcd()). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** fls(): 1-based index of the highest set bit, 0 for 0 (include/asm-generic/bitops/fls.h). */
export function fls(x: number): number {
  return 32 - Math.clz32(x);
}

/** IPPROTO numbers whose first 4 payload bytes are the ports (ip_vs_sh_get_port / mh_get_port). */
export function protoHasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 132;
}
