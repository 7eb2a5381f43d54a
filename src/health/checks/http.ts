/**
 * HTTP_GET and SSL_GET (keepalived check_http.c, check_ssl.c): one connection per attempt for the
 * url `urlIndex`, the request written exactly as keepalived writes it, the response read until the
 * server closes (connect_timeout per read), then judged in keepalived's order: a complete header
 * ("no data" otherwise), the status code against the url's ranges, the digest when one is set.
 *
 * Not done: `regex` (HttpUrl does not carry it) and keep-alive. The response is capped at 1 MiB
 * (the attempt fails beyond it) where keepalived would read on.
 */
import type { HttpCheck, HttpUrl } from '../../keepalived/lvs-config.js';
import { type Attempt, runAttempt, seconds } from './attempt.js';
import type { CheckResult } from './check.js';
import { connectStream } from './connect.js';
import { bodyDigest, bodyOffset, statusCode, statusLine } from './http-response.js';

/** The most an attempt reads; a health page is far smaller. */
export const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * The request of check_http.c's request template: HTTP/1.1 only for http_protocol 1.1,
 * "Connection: close" for 1.0C and 1.1, and a Host of the url's virtualhost (no port) or ip:port.
 */
export function httpRequest(spec: HttpCheck, url: HttpUrl): string {
  const minor = spec.httpProtocol === '1.1' ? 1 : 0;
  const connection = spec.httpProtocol === '1.0' ? '' : 'Connection: close\r\n';
  const host = url.virtualhost ?? `${spec.connectIp}:${spec.connectPort}`;
  return `GET ${url.path} HTTP/1.${minor}\r\nUser-Agent: KeepAliveClient\r\n${connection}Host: ${host}\r\n\r\n`;
}

export function httpCheck(spec: HttpCheck, urlIndex: number, signal: AbortSignal): Promise<CheckResult> {
  return runAttempt(spec.type, signal, (a) => {
    const url = spec.urls[urlIndex];
    if (url === undefined) {
      a.fail(`no url #${urlIndex} (the checker has ${spec.urls.length})`);
      return;
    }
    const tlsOptions = spec.type === 'SSL_GET' ? { servername: spec.sniName } : null;
    connectStream(spec, a, tlsOptions, (sock) => {
      const timeoutMs = spec.connectTimeoutMs;
      const armRead = (): void => a.deadline(timeoutMs, () => a.fail(`read timeout after ${seconds(timeoutMs)}`));
      const chunks: Buffer[] = [];
      let received = 0;
      sock.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES) {
          a.fail(`response larger than ${MAX_RESPONSE_BYTES >> 20} MiB`);
          return;
        }
        chunks.push(chunk);
        armRead();
      });
      sock.on('end', () => a.guard(() => judge(a, url, Buffer.concat(chunks))));
      armRead();
      sock.write(httpRequest(spec, url));
    });
  });
}

function judge(a: Attempt, url: HttpUrl, response: Buffer): void {
  if (bodyOffset(response) < 0) {
    a.fail(response.length === 0 ? 'no data' : `no data (no end of header in ${response.length} bytes)`);
    return;
  }
  const code = statusCode(response);
  if (code === 0) {
    a.fail(`no status code in "${statusLine(response)}"`);
    return;
  }
  if (!url.statusCodes.some(([low, high]) => code >= low && code <= high)) {
    a.fail(`status ${code}`);
    return;
  }
  if (url.digest === null) {
    a.pass(`status ${code}`);
    return;
  }
  const got = bodyDigest(response);
  const want = url.digest.toLowerCase();
  if (got !== want) a.fail(`digest mismatch (got ${got}, want ${want})`);
  else a.pass(`status ${code}, digest ok`);
}
