/**
 * TCP_CHECK (keepalived check_tcp.c): passes when a connection to connect_ip:connect_port is
 * established within connect_timeout; nothing is sent, and the socket is closed at once.
 */
import type { TcpCheck } from '../../keepalived/lvs-config.js';
import { runAttempt } from './attempt.js';
import type { CheckResult } from './check.js';
import { connectStream } from './connect.js';

export function tcpCheck(spec: TcpCheck, signal: AbortSignal): Promise<CheckResult> {
  return runAttempt(spec.type, signal, (a) => connectStream(spec, a, null, () => a.pass('connected')));
}
