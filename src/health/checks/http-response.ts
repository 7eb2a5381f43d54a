/**
 * What HTTP_GET and SSL_GET read from a response, byte for byte as keepalived reads it (lib/html.c
 * and check_http.c, http_process_response()), so that a digest printed by `keepalived --genhash`
 * matches ours:
 * - the header ends at the first CRLF CRLF; without one there is "no data";
 * - the status code is the token after the first space of the status line, and counts only as
 *   exactly three digits followed by a space (extract_status_code()): "HTTP/1.1 200\r\n" gives 0;
 * - the digest is the MD5 of every byte after the header up to the end of the stream: no chunked
 *   decoding, no charset. keepalived does look for "Content-Length:" to stop the digest there, but
 *   extract_content_length() accepts the number only when nothing follows it in the buffer, and a
 *   header line always goes on with CRLF, so in practice the digest runs to EOF; we do the same.
 */
import { createHash } from 'node:crypto';

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const SPACE = 0x20;
const CR = 0x0d;
const DIGIT_0 = 0x30;

/** Offset of the first body byte, or -1 when the response has no complete header. */
export function bodyOffset(response: Buffer): number {
  const at = response.indexOf(HEADER_END);
  return at < 0 ? -1 : at + HEADER_END.length;
}

/** keepalived's extract_status_code(): the 3-digit code of the status line, else 0. */
export function statusCode(response: Buffer): number {
  let i = 0;
  while (i < response.length && response[i] !== SPACE && response[i] !== CR) i++;
  if (response[i] !== SPACE) return 0;
  i++;
  if (i + 3 >= response.length || response[i + 3] !== SPACE) return 0;
  let code = 0;
  for (let k = i; k < i + 3; k++) {
    const d = response[k] - DIGIT_0;
    if (d < 0 || d > 9) return 0;
    code = code * 10 + d;
  }
  return code;
}

/** MD5 (lowercase hex) of the body as keepalived's genhash computes it; see the module comment. */
export function bodyDigest(response: Buffer): string {
  const at = bodyOffset(response);
  return createHash('md5')
    .update(at < 0 ? Buffer.alloc(0) : response.subarray(at))
    .digest('hex');
}

/** The status line for messages, printable and short. */
export function statusLine(response: Buffer): string {
  const end = response.indexOf('\r\n', 0, 'latin1');
  const line = response.toString('latin1', 0, Math.min(end < 0 ? response.length : end, 60));
  return line.replace(/[^\x20-\x7e]/g, '?');
}
