/**
 * UDP_CHECK (keepalived check_udp.c, layer4.c udp_socket_state()): sends `payload` (by default
 * 32 bytes of "keepalived check - " repeated) on a connected UDP socket.
 * - Without require_reply: passes unless an ICMP error comes back within connect_timeout (a silent
 *   server passes; any reply passes at once).
 * - With require_reply: a reply must arrive within connect_timeout. When the pattern is not empty,
 *   the reply's length must be within min/max_reply_length and its start must match the pattern.
 *   keepalived checks the lengths only together with a pattern; so do we.
 */
import type { UdpCheck } from '../../keepalived/lvs-config.js';
import { runAttempt, seconds } from './attempt.js';
import type { CheckResult } from './check.js';
import { connectDatagram } from './datagram.js';
import { parseReplyPattern, replyMismatch } from './reply-pattern.js';

const FILLER = 'keepalived check - ';
/** keepalived's UDP_BUFSIZE. */
const DEFAULT_PAYLOAD_BYTES = 32;

/** The payload sent when the checker sets none. */
export const DEFAULT_UDP_PAYLOAD: Buffer = Buffer.from(
  FILLER.repeat(Math.ceil(DEFAULT_PAYLOAD_BYTES / FILLER.length)).slice(0, DEFAULT_PAYLOAD_BYTES),
  'latin1',
);

export function udpCheck(spec: UdpCheck, signal: AbortSignal): Promise<CheckResult> {
  return runAttempt(spec.type, signal, (a) => {
    const pattern =
      spec.requireReply === null || spec.requireReply === '' ? null : parseReplyPattern(spec.requireReply);
    if (spec.requireReply !== null && spec.requireReply !== '' && pattern === null) {
      a.fail(`invalid require_reply pattern "${spec.requireReply}"`);
      return;
    }
    const timeoutMs = spec.connectTimeoutMs;
    const payload = spec.payload ?? DEFAULT_UDP_PAYLOAD;
    a.deadline(timeoutMs, () =>
      spec.requireReply === null
        ? a.pass(`no ICMP error within ${seconds(timeoutMs)}`)
        : a.fail(`no reply within ${seconds(timeoutMs)}`),
    );
    connectDatagram(
      spec,
      a,
      (sock) => sock.send(payload),
      (reply) => {
        const mismatch =
          pattern === null ? null : replyMismatch(reply, pattern, spec.minReplyLength, spec.maxReplyLength);
        if (mismatch === null) a.pass(`reply of ${reply.length} bytes`);
        else a.fail(mismatch);
      },
    );
  });
}
