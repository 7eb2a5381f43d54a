/**
 * The PROXY protocol header (HAProxy doc/proxy-protocol.txt), IPv4 over TCP only: what full NAT
 * puts in front of a client's first payload byte so a real server that sees only the director's
 * local address still learns the client's (as DPVS's ip_vs_proxy_proto.c does).
 *
 *   v1 (§2.1, text):    "PROXY TCP4 <src> <dst> <sport> <dport>\r\n"   (at most 56 bytes here)
 *   v2 (§2.2, binary):  12-byte signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A,
 *                       0x21 (version 2, PROXY), 0x11 (TCP over IPv4), length 12 (big endian),
 *                       src(4) dst(4) sport(2) dport(2)                   (28 bytes)
 *
 * The writers fill a caller's buffer and allocate nothing (the dataplane calls them per
 * connection). The parser is for tests and the lab: it allocates, never throws, and says why
 * input was refused. Not here: TCP6/UNKNOWN families on the writing side, TLVs (the parser skips
 * them), where the header goes in the stream (dataplane/xmit/proxy-seq.ts).
 */
import { readI32, writeI32 } from './bytes.js';

export const PROXY_V2_IPV4_LEN = 28;
/** §2.1: a v1 line is at most 107 bytes including CRLF. */
export const PROXY_V1_MAX_LEN = 107;
/** The longest TCP4 line this file writes: two 15-character addresses and two 5-digit ports. */
export const PROXY_V1_TCP4_MAX_LEN = 56;

const V2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a] as const;
/** "PROXY TCP4 " */
const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20, 0x54, 0x43, 0x50, 0x34, 0x20] as const;
const SPACE = 0x20,
  DOT = 0x2e,
  CR = 0x0d,
  LF = 0x0a,
  ZERO = 0x30;

/** Writes the decimal form of 0 <= n <= 65535 at off; returns the end. */
function writeDecimal(b: Uint8Array, off: number, n: number): number {
  let o = off;
  if (n >= 10000) b[o++] = ZERO + ((n / 10000) | 0);
  if (n >= 1000) b[o++] = ZERO + (((n / 1000) | 0) % 10);
  if (n >= 100) b[o++] = ZERO + (((n / 100) | 0) % 10);
  if (n >= 10) b[o++] = ZERO + (((n / 10) | 0) % 10);
  b[o++] = ZERO + (n % 10);
  return o;
}

function writeDotted(b: Uint8Array, off: number, a: number): number {
  let o = writeDecimal(b, off, (a >>> 24) & 0xff);
  b[o++] = DOT;
  o = writeDecimal(b, o, (a >>> 16) & 0xff);
  b[o++] = DOT;
  o = writeDecimal(b, o, (a >>> 8) & 0xff);
  b[o++] = DOT;
  return writeDecimal(b, o, a & 0xff);
}

/**
 * Writes a v1 TCP4 line for src:sport -> dst:dport (int32 addresses) at `off`; returns its length
 * (28..56). The caller provides PROXY_V1_TCP4_MAX_LEN bytes of room.
 */
export function writeProxyV1(
  b: Uint8Array,
  off: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
): number {
  let o = off;
  for (let i = 0; i < V1_PREFIX.length; i++) b[o++] = V1_PREFIX[i];
  o = writeDotted(b, o, src);
  b[o++] = SPACE;
  o = writeDotted(b, o, dst);
  b[o++] = SPACE;
  o = writeDecimal(b, o, sport & 0xffff);
  b[o++] = SPACE;
  o = writeDecimal(b, o, dport & 0xffff);
  b[o++] = CR;
  b[o++] = LF;
  return o - off;
}

/** Writes a v2 PROXY TCP-over-IPv4 header at `off`; returns PROXY_V2_IPV4_LEN. */
export function writeProxyV2(
  b: Uint8Array,
  off: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
): number {
  for (let i = 0; i < 12; i++) b[off + i] = V2_SIG[i];
  b[off + 12] = 0x21;
  b[off + 13] = 0x11;
  b[off + 14] = 0;
  b[off + 15] = 12;
  writeI32(b, off + 16, src);
  writeI32(b, off + 20, dst);
  b[off + 24] = (sport >>> 8) & 0xff;
  b[off + 25] = sport & 0xff;
  b[off + 26] = (dport >>> 8) & 0xff;
  b[off + 27] = dport & 0xff;
  return PROXY_V2_IPV4_LEN;
}

/** Version 1 or 2, as `--proxy-protocol v1|v2` names them. */
export function writeProxyHeader(
  version: number,
  b: Uint8Array,
  off: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
): number {
  return version === 2 ? writeProxyV2(b, off, src, dst, sport, dport) : writeProxyV1(b, off, src, dst, sport, dport);
}

/** A parsed header. `local` is v2's LOCAL command or v1's UNKNOWN: no addresses follow. */
export interface ProxyHeader {
  version: 1 | 2;
  /** Bytes the header occupies in the stream (v2: 16 + its length field, TLVs included). */
  length: number;
  local: boolean;
  /** int32 addresses and ports; 0 when `local`. */
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

export type ProxyParse = { ok: true; header: ProxyHeader } | { ok: false; incomplete: boolean; reason: string };

const incomplete = (reason: string): ProxyParse => ({ ok: false, incomplete: true, reason });
const invalid = (reason: string): ProxyParse => ({ ok: false, incomplete: false, reason });

/**
 * Reads a v1 or v2 header at b[off..end). `incomplete` means more bytes could still make it
 * valid; any other refusal is final. Strict on what this file writes: TCP4 (v1) / TCP over
 * IPv4 (v2) and, for completeness, v1 UNKNOWN and v2 LOCAL.
 */
export function parseProxyHeader(b: Uint8Array, off: number, end: number): ProxyParse {
  const avail = end - off;
  if (avail <= 0) return incomplete('empty');
  if (b[off] === V2_SIG[0]) return parseV2(b, off, end);
  if (b[off] === V1_PREFIX[0]) return parseV1(b, off, end);
  return invalid('neither a v1 nor a v2 signature');
}

function parseV2(b: Uint8Array, off: number, end: number): ProxyParse {
  const avail = end - off;
  for (let i = 0; i < 12; i++) {
    if (i >= avail) return incomplete('short v2 signature');
    if (b[off + i] !== V2_SIG[i]) return invalid('bad v2 signature');
  }
  if (avail < 16) return incomplete('short v2 header');
  const verCmd = b[off + 12],
    fam = b[off + 13];
  const len = (b[off + 14] << 8) | b[off + 15];
  if (verCmd >>> 4 !== 2) return invalid(`v2 version nibble ${verCmd >>> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid(`v2 command ${cmd}`);
  if (avail < 16 + len) return incomplete('v2 address block not all there');
  if (cmd === 0) {
    return { ok: true, header: { version: 2, length: 16 + len, local: true, src: 0, dst: 0, sport: 0, dport: 0 } };
  }
  if (fam !== 0x11) return invalid(`v2 family/protocol 0x${fam.toString(16)} is not TCP over IPv4`);
  if (len < 12) return invalid(`v2 length ${len} < 12 for TCP over IPv4`);
  return {
    ok: true,
    header: {
      version: 2,
      length: 16 + len,
      local: false,
      src: readI32(b, off + 16),
      dst: readI32(b, off + 20),
      sport: (b[off + 24] << 8) | b[off + 25],
      dport: (b[off + 26] << 8) | b[off + 27],
    },
  };
}

function parseV1(b: Uint8Array, off: number, end: number): ProxyParse {
  const limit = Math.min(end, off + PROXY_V1_MAX_LEN);
  let lf = -1;
  for (let i = off; i < limit; i++) {
    const c = b[i];
    if (c === LF) {
      lf = i;
      break;
    }
    // §2.1: the line is US-ASCII; a NUL or high byte can never become valid.
    if (c === 0 || c > 0x7e) return invalid('v1 line holds a non-printable byte');
  }
  const prefix = 'PROXY ';
  for (let i = 0; i < prefix.length && off + i < limit; i++) {
    if (b[off + i] !== prefix.charCodeAt(i)) return invalid('bad v1 signature');
  }
  if (lf < 0) return end - off >= PROXY_V1_MAX_LEN ? invalid('v1 line longer than 107 bytes') : incomplete('no LF yet');
  if (lf === off || b[lf - 1] !== CR) return invalid('v1 line does not end in CRLF');
  let line = '';
  for (let i = off; i < lf - 1; i++) line += String.fromCharCode(b[i]);
  const parts = line.split(' ');
  const length = lf + 1 - off;
  if (parts[0] !== 'PROXY') return invalid('bad v1 signature');
  if (parts[1] === 'UNKNOWN') {
    return { ok: true, header: { version: 1, length, local: true, src: 0, dst: 0, sport: 0, dport: 0 } };
  }
  if (parts[1] !== 'TCP4') return invalid(`v1 protocol '${parts[1] ?? ''}' is not TCP4`);
  if (parts.length !== 6) return invalid('v1 TCP4 wants exactly four fields after the protocol');
  const src = dotted(parts[2]),
    dst = dotted(parts[3]);
  const sport = port(parts[4]),
    dport = port(parts[5]);
  if (src === null || dst === null) return invalid('v1 address is not a dotted quad');
  if (sport === null || dport === null) return invalid('v1 port is not a decimal 0..65535');
  return { ok: true, header: { version: 1, length, local: false, src, dst, sport, dport } };
}

/** Decimal without leading zeros (§2.1 gives ports and octets in their plain decimal form). */
function decimal(s: string, max: number): number | null {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(s)) return null;
  const v = Number(s);
  return v <= max ? v : null;
}

function port(s: string): number | null {
  return decimal(s, 65535);
}

function dotted(s: string): number | null {
  const q = s.split('.');
  if (q.length !== 4) return null;
  let a = 0;
  for (const part of q) {
    const v = decimal(part, 255);
    if (v === null) return null;
    a = (a << 8) | v;
  }
  return a | 0;
}
