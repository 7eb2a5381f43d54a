/**
 * A PROXY protocol header reader (HAProxy's doc/proxy-protocol.txt, versions 1 and 2) for
 * rs-server's PROXY port: what a real server behind a full NAT service with
 * `--proxy-protocol v1|v2` must parse before the application's bytes.
 *
 * `parseProxyHeader(buf)` looks at the start of a connection's bytes:
 * - `{ kind: 'need-more' }` while the bytes could still be a header (v1 ends within 107 bytes);
 * - `{ kind: 'bad', why }` when they are not one (the connection must be refused);
 * - `{ kind: 'ok', version, client, length }`: `client` is `addr:port` of the original client
 *   (null for v1 UNKNOWN / v2 LOCAL, sent by the director's own health checks), `length` how many
 *   bytes the header took; the application's data follow.
 *
 * It is deliberately not src/packet/proxy-protocol.ts (the director's writer and parser): the
 * real server reads what tapvsd sent with a reader of its own, so a mistake shared by both sides
 * cannot pass the lab's tests.
 */

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** A v1 line is at most 107 bytes, CRLF included. */
const V1_MAX = 107;

export type ProxyHeader =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'bad'; readonly why: string }
  | { readonly kind: 'ok'; readonly version: 1 | 2; readonly client: string | null; readonly length: number };

function isPrefixOf(have: Buffer, want: Buffer): boolean {
  const n = Math.min(have.length, want.length);
  return have.subarray(0, n).equals(want.subarray(0, n));
}

export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (isPrefixOf(buf, V2_SIGNATURE)) return buf.length < 16 ? { kind: 'need-more' } : parseV2(buf);
  if (isPrefixOf(buf, V1_PREFIX)) return parseV1(buf);
  return { kind: 'bad', why: 'no PROXY protocol header' };
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { kind: 'bad', why: 'PROXY v1 line too long' } : { kind: 'need-more' };
  const words = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (words[1] === 'UNKNOWN') return { kind: 'ok', version: 1, client: null, length };
  if (words.length !== 6 || (words[1] !== 'TCP4' && words[1] !== 'TCP6'))
    return { kind: 'bad', why: 'bad PROXY v1 line' };
  const port = Number(words[4]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return { kind: 'bad', why: 'bad PROXY v1 source port' };
  return { kind: 'ok', version: 1, client: `${words[2]}:${port}`, length };
}

function parseV2(buf: Buffer): ProxyHeader {
  const verCmd = buf[12] ?? 0;
  if (verCmd >> 4 !== 2) return { kind: 'bad', why: 'PROXY v2: version is not 2' };
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return { kind: 'need-more' };
  const cmd = verCmd & 0x0f;
  if (cmd === 0) return { kind: 'ok', version: 2, client: null, length };
  if (cmd !== 1) return { kind: 'bad', why: 'PROXY v2: unknown command' };
  const fam = buf[13] ?? 0;
  if (fam >> 4 === 1) {
    if (length < 16 + 12) return { kind: 'bad', why: 'PROXY v2: short IPv4 addresses' };
    const src = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { kind: 'ok', version: 2, client: `${src}:${buf.readUInt16BE(24)}`, length };
  }
  if (fam >> 4 === 0) return { kind: 'ok', version: 2, client: null, length };
  return { kind: 'bad', why: 'PROXY v2: address family not supported here' };
}
