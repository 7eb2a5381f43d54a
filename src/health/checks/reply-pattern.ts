/**
 * UDP_CHECK's `require_reply HEX`: the bytes a reply must start with, where an X (or x) nibble
 * matches anything. Read as keepalived's read_hex_str() (lib/utils.c) reads it: spaces and tabs
 * separate groups; a group is one or two hex digits (a lone digit is a whole byte, "1 23" is
 * 01 23), so "0123" and "01 23" are the same; any other character makes the pattern invalid.
 * Matching follows check_udp.c, check_udp_reply(): the length must be within
 * min_reply_length..max_reply_length, then the first min(reply length, pattern length) bytes must
 * match.
 */

export interface ReplyPattern {
  readonly bytes: Uint8Array;
  /** Set bits are wildcards. */
  readonly mask: Uint8Array;
}

const WILDCARD = 0x10;

function nibble(ch: string): number {
  const c = ch.toLowerCase();
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 0x30;
  if (c >= 'a' && c <= 'f') return c.charCodeAt(0) - 0x57;
  return c === 'x' ? WILDCARD : -1;
}

/** The pattern, or null when `hex` is not a valid pattern (keepalived rejects it as a config error). */
export function parseReplyPattern(hex: string): ReplyPattern | null {
  const bytes: number[] = [];
  const mask: number[] = [];
  let i = 0;
  for (;;) {
    while (hex[i] === ' ' || hex[i] === '\t') i++;
    if (i >= hex.length) break;
    const high = nibble(hex[i++]);
    if (high < 0) return null;
    let value = high === WILDCARD ? 0 : high;
    let wild = high === WILDCARD ? 0x0f : 0;
    // A group ends at a space only: a tab right after a digit is an error, as in read_hex_str().
    if (i < hex.length && hex[i] !== ' ') {
      const low = nibble(hex[i++]);
      if (low < 0) return null;
      value = (value << 4) | (low === WILDCARD ? 0 : low);
      wild = (wild << 4) | (low === WILDCARD ? 0x0f : 0);
    }
    bytes.push(value);
    mask.push(wild);
  }
  return bytes.length === 0 ? null : { bytes: Uint8Array.from(bytes), mask: Uint8Array.from(mask) };
}

/** Why `reply` does not satisfy the pattern and length bounds, or null when it does. */
export function replyMismatch(
  reply: Uint8Array,
  pattern: ReplyPattern,
  minLength: number,
  maxLength: number,
): string | null {
  if (reply.length < minLength || reply.length > maxLength) {
    return `reply of ${reply.length} bytes, outside ${minLength}..${maxLength}`;
  }
  const n = Math.min(reply.length, pattern.bytes.length);
  for (let i = 0; i < n; i++) {
    if (((reply[i] ^ pattern.bytes[i]) & ~pattern.mask[i] & 0xff) !== 0)
      return `reply differs from require_reply at byte ${i}`;
  }
  return null;
}
