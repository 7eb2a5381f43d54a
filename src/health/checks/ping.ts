/**
 * PING_CHECK (keepalived check_ping.c): one ICMP echo request to connect_ip; passes when the
 * matching echo reply arrives within connect_timeout. bindto does not apply (keepalived's ping
 * socket is not bound either). The socket is shared: see icmp-socket.ts.
 */
import type { PingCheck } from '../../keepalived/lvs-config.js';
import { runAttempt, seconds } from './attempt.js';
import type { CheckResult } from './check.js';
import { icmpSocket } from './icmp-socket.js';

export function pingCheck(spec: PingCheck, signal: AbortSignal): Promise<CheckResult> {
  return runAttempt(spec.type, signal, (a) => {
    const timeoutMs = spec.connectTimeoutMs;
    a.deadline(timeoutMs, () => a.fail(`no echo reply within ${seconds(timeoutMs)}`));
    const forget = icmpSocket.echo(spec.connectIp, (error) => (error === null ? a.pass('echo reply') : a.fail(error)));
    a.defer(forget);
  });
}
