/** Big-endian 32-bit fields (addresses as int32) read and written without a DataView. */

export function readI32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

export function writeI32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/**
 * Copies len bytes without allocating (Buffer#copy creates a view per call). When both sides
 * have word views and the same alignment, whole 32-bit words are moved, starting at the word that
 * holds `srcOff`: up to 3 bytes before `dstOff` and after the end are overwritten too, so the
 * destination must have room there (a TX slot whose Ethernet header is written afterwards).
 */
export function copyBytes(
  src: Uint8Array,
  src32: Int32Array | null,
  srcOff: number,
  dst: Uint8Array,
  dst32: Int32Array | null,
  dstOff: number,
  len: number,
): void {
  if (src32 !== null && dst32 !== null && ((srcOff - dstOff) & 3) === 0) {
    const lead = srcOff & 3;
    let s = srcOff >> 2,
      d = (dstOff - lead) >> 2;
    const end = (srcOff + len + 3) >> 2;
    const limit = Math.min(end, src32.length);
    for (; s < limit; s++, d++) dst32[d] = src32[s];
    return;
  }
  for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
}

/** A word view of a buffer, or null when it is not 4-byte aligned. */
export function wordView(b: Uint8Array): Int32Array | null {
  if ((b.byteOffset & 3) !== 0 || (b.byteLength & 3) !== 0) return null;
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
}
