/**
 * The TCP connection of TCP_CHECK, HTTP_GET and SSL_GET: from bindto:bind_port when set, to
 * connect_ip:connect_port, within connect_timeout (keepalived's layer4.c, socket_bind_connect()
 * and socket_state()). For SSL_GET the TLS handshake follows under a fresh connect_timeout, with no
 * certificate verification and SNI only when the checker names one (check_ssl.c sets no peer
 * verification). The socket is destroyed when the attempt ends: a plain close(), so a FIN unless
 * unread data makes the kernel send a reset, as keepalived's close() does.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { CheckerCommon } from '../../keepalived/lvs-config.js';
import { type Attempt, seconds } from './attempt.js';
import { describeSocketError } from './socket-error.js';

/** TLS for SSL_GET: the SNI name, or null to send none. */
export interface TlsOptions {
  readonly servername: string | null;
}

/** Connects for `a`; `onConnected` runs once the stream is usable. Errors and timeouts fail `a`. */
export function connectStream(
  spec: CheckerCommon,
  a: Attempt,
  tlsOptions: TlsOptions | null,
  onConnected: (sock: net.Socket) => void,
): void {
  const target: net.TcpNetConnectOpts = { host: spec.connectIp, port: spec.connectPort };
  if (spec.bindTo !== null) target.localAddress = spec.bindTo;
  if (spec.bindPort !== 0) target.localPort = spec.bindPort;
  const timeoutMs = spec.connectTimeoutMs;
  a.deadline(timeoutMs, () => a.fail(`connect timeout after ${seconds(timeoutMs)}`));
  let sock: net.Socket;
  if (tlsOptions === null) {
    sock = net.connect(target);
    sock.once('connect', () => {
      a.clearDeadline();
      a.guard(() => onConnected(sock));
    });
  } else {
    const options: tls.ConnectionOptions = { ...target, rejectUnauthorized: false };
    if (tlsOptions.servername !== null) options.servername = tlsOptions.servername;
    sock = tls.connect(options);
    sock.once('connect', () =>
      a.deadline(timeoutMs, () => a.fail(`TLS handshake timeout after ${seconds(timeoutMs)}`)),
    );
    sock.once('secureConnect', () => {
      a.clearDeadline();
      a.guard(() => onConnected(sock));
    });
  }
  a.defer(() => sock.destroy());
  sock.on('error', (err) => a.fail(describeSocketError(err)));
}
