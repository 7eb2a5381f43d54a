/**
 * The probes, one attempt each, behind the RunCheck contract of check.ts: the engine calls
 * `runCheck(spec, urlIndex, signal)` and gets a CheckResult, never an exception.
 */
import type { RunCheck } from './check.js';
import { dnsCheck } from './dns.js';
import { httpCheck } from './http.js';
import { miscCheck } from './misc.js';
import { pingCheck } from './ping.js';
import { tcpCheck } from './tcp.js';
import { udpCheck } from './udp.js';

export type { CheckResult, RunCheck } from './check.js';
export { bodyDigest } from './http-response.js';

export const runCheck: RunCheck = (spec, urlIndex, signal) => {
  switch (spec.type) {
    case 'TCP_CHECK':
      return tcpCheck(spec, signal);
    case 'HTTP_GET':
    case 'SSL_GET':
      return httpCheck(spec, urlIndex, signal);
    case 'MISC_CHECK':
      return miscCheck(spec, signal);
    case 'PING_CHECK':
      return pingCheck(spec, signal);
    case 'UDP_CHECK':
      return udpCheck(spec, signal);
    case 'DNS_CHECK':
      return dnsCheck(spec, signal);
    default:
      // Unreachable for a typed spec; a malformed one still gets a result, not an exception.
      return Promise.resolve({ ok: false, reason: `unknown checker type ${String((spec as { type: unknown }).type)}` });
  }
};
