/**
 * UDP_CHECK (check_udp.c payload_handler(), require_reply_handler(), min_length_handler(),
 * max_length_handler(); lib/parser.c read_hex_str()):
 * - `payload HEX…`: the datagram to send (default: keepalived's 32-byte text);
 * - `require_reply [HEX…]`: a reply must come, and begin with HEX, where an `x` nibble matches
 *   anything; without HEX any reply will do;
 * - `min_reply_length` / `max_reply_length` (0..65535, defaults 0 and 255) bound a required
 *   reply. A minimum above the maximum would always fail: an error (keepalived only warns).
 * HEX may hold blanks between groups; two digits make a byte, a lone digit before a blank or
 * the end is a byte too.
 */
import type { CheckerKind } from './checker-kind.js';
import type { DiagnosticSink } from './diagnostics.js';
import { field } from './statements.js';
import { readers } from './values.js';

export function udpCheck(diags: DiagnosticSink): CheckerKind {
  let payload: Uint8Array | null = null;
  let requireReply: string | null = null;
  let minReplyLength = 0;
  let maxReplyLength = 255;
  const r = readers(diags);
  return {
    keywords: {
      handlers: [
        [
          'payload',
          (st) => {
            const hex = parseHex(st.args.join(' '), false);
            if (hex === null) diags.error(st.at, `payload: '${st.args.join(' ')}' is not a hex string`);
            else payload = Uint8Array.from(hex.bytes);
          },
        ],
        [
          'require_reply',
          (st) => {
            const hex = st.args.length === 0 ? null : parseHex(st.args.join(' '), true);
            if (st.args.length === 0) requireReply = '';
            else if (hex === null) diags.error(st.at, `require_reply: '${st.args.join(' ')}' is not a hex string`);
            else requireReply = replyPattern(hex);
          },
        ],
        ['min_reply_length', field(diags, r.unsigned(0, 65535), (v) => (minReplyLength = v))],
        ['max_reply_length', field(diags, r.unsigned(0, 65535), (v) => (maxReplyLength = v))],
      ],
      blocks: [],
      unused: [],
    },
    complete(at, sink) {
      if (requireReply === null || minReplyLength <= maxReplyLength) return true;
      sink.error(
        at,
        `UDP_CHECK: min_reply_length ${minReplyLength} > max_reply_length ${maxReplyLength}: it would always fail`,
      );
      return false;
    },
    spec(common) {
      return { ...common, type: 'UDP_CHECK', payload, requireReply, minReplyLength, maxReplyLength };
    },
  };
}

export interface Hex {
  readonly bytes: number[];
  /** Per byte, its wildcard nibbles (0xf0, 0x0f or both). */
  readonly mask: number[];
}

/** read_hex_str(): null when a character is no hex digit (nor an allowed wildcard) or nothing is given. */
export function parseHex(text: string, wildcards: boolean): Hex | null {
  const bytes: number[] = [];
  const mask: number[] = [];
  const nibble = (c: string): { v: number; m: number } | null => {
    if (/^[0-9a-fA-F]$/.test(c)) return { v: Number.parseInt(c, 16), m: 0 };
    if (wildcards && (c === 'x' || c === 'X')) return { v: 0, m: 0xf };
    return null;
  };
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    const hi = nibble(text[i++]);
    if (hi === null) return null;
    let v = hi.v;
    let m = hi.m;
    if (i < text.length && text[i] !== ' ') {
      const lo = nibble(text[i++]);
      if (lo === null) return null;
      v = (v << 4) | lo.v;
      m = (m << 4) | lo.m;
    }
    bytes.push(v);
    mask.push(m);
  }
  return bytes.length === 0 ? null : { bytes, mask };
}

/** Two characters per byte: lowercase hex digits, `x` for a wildcard nibble. */
export function replyPattern(hex: Hex): string {
  let out = '';
  for (let i = 0; i < hex.bytes.length; i++) {
    for (const shift of [4, 0]) {
      out += ((hex.mask[i] >> shift) & 0xf) !== 0 ? 'x' : ((hex.bytes[i] >> shift) & 0xf).toString(16);
    }
  }
  return out;
}
