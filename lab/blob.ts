/**
 * The lab's deterministic payloads: one endless pseudo-random byte stream that both real servers
 * serve, so a client can check what it received without asking which server sent it.
 *
 * Contract:
 * - The stream is xorshift32 (Marsaglia 2003, shifts 13/17/5) from seed `PATTERN_SEED`; each
 *   step emits the new 32-bit state as 4 bytes, little-endian. `patternBytes(n)` is the first n
 *   bytes of that stream, whatever n is, on every machine and every run.
 * - `/blob` on a real server is `patternBytes(BLOB_SIZE)`; `/bytes?n=N` is `patternBytes(N)`. So
 *   every `/bytes` body is a prefix of the blob, or extends it.
 * - `blobSha256()` and `patternSha256(n)` give the hex digest without keeping n bytes in memory.
 *
 * Not here: HTTP (see rs-server.ts) and any cryptographic claim; the PRNG only has to be cheap
 * and reproducible (about 10 ms per 50 MB here), not unpredictable.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';

/** Size of `GET /blob` in bytes: 50 MiB. */
export const BLOB_SIZE = 50 * 1024 * 1024;
/** Any non-zero 32-bit value works for xorshift32; this one is fixed forever. */
const PATTERN_SEED = 0x2545f491;
/** Bytes produced per step of the generator. */
const WORD_BYTES = 4;
/** Chunk size for streamed generation and hashing. A multiple of WORD_BYTES. */
export const PATTERN_CHUNK_BYTES = 256 * 1024;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * The pattern stream as a generator object: `fill()` writes the next bytes into a buffer and
 * carries the position over, so consecutive fills equal one big fill.
 */
export class PatternStream {
  private state = PATTERN_SEED | 0;
  /** Bytes of the current word not yet emitted (after a fill that ended mid-word). */
  private pending = 0;
  private pendingWord = 0;

  /** Writes the next `buf.length` bytes of the stream into `buf`. */
  fill(buf: Uint8Array): void {
    let i = 0;
    const n = buf.length;
    // Finish a word a previous fill cut in two.
    while (this.pending > 0 && i < n) {
      buf[i++] = (this.pendingWord >>> (8 * (WORD_BYTES - this.pending))) & 0xff;
      this.pending--;
    }
    let x = this.state;
    const whole = (n - i) >>> 2;
    if (LITTLE_ENDIAN_HOST && ((buf.byteOffset + i) & 3) === 0 && whole > 0) {
      const words = new Int32Array(buf.buffer, buf.byteOffset + i, whole);
      for (let w = 0; w < whole; w++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[w] = x;
      }
      i += whole * WORD_BYTES;
    } else {
      for (let w = 0; w < whole; w++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        buf[i] = x & 0xff;
        buf[i + 1] = (x >>> 8) & 0xff;
        buf[i + 2] = (x >>> 16) & 0xff;
        buf[i + 3] = (x >>> 24) & 0xff;
        i += WORD_BYTES;
      }
    }
    if (i < n) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.pendingWord = x;
      this.pending = WORD_BYTES;
      while (i < n) {
        buf[i++] = (this.pendingWord >>> (8 * (WORD_BYTES - this.pending))) & 0xff;
        this.pending--;
      }
    }
    this.state = x;
  }
}

/** The first `n` bytes of the pattern stream, in a new Buffer. */
export function patternBytes(n: number): Buffer {
  checkLength(n);
  const buf = Buffer.allocUnsafe(n);
  new PatternStream().fill(buf);
  return buf;
}

/** Hex sha256 of `patternBytes(n)`, computed in chunks (constant memory). */
export function patternSha256(n: number): string {
  checkLength(n);
  const hash = createHash('sha256');
  const gen = new PatternStream();
  const chunk = Buffer.allocUnsafe(Math.min(PATTERN_CHUNK_BYTES, Math.max(n, 1)));
  let left = n;
  while (left > 0) {
    const len = Math.min(left, chunk.length);
    const part = len === chunk.length ? chunk : chunk.subarray(0, len);
    gen.fill(part);
    hash.update(part);
    left -= len;
  }
  return hash.digest('hex');
}

let blobShaMemo = '';
/** Hex sha256 of the 50 MiB `/blob` body (memoized). */
export function blobSha256(): string {
  if (blobShaMemo === '') blobShaMemo = patternSha256(BLOB_SIZE);
  return blobShaMemo;
}

/** Hex sha256 of any buffer, for comparing a received body with `blobSha256()`. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function checkLength(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`pattern length must be a non-negative integer, got ${n}`);
}
