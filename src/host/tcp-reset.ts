/**
 * The reset a host sends for a segment that reaches no listener (RFC 9293 §3.10.7.1): with ACK
 * set, <SEQ=SEG.ACK><CTL=RST>; otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never for a
 * segment that carries RST itself (the caller checks).
 */
import { IP_DF, IPPROTO_TCP, IPV4_MIN_HLEN, writeIpv4 } from '../packet/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_MIN_HLEN, TCP_RST, TCP_SYN, writeTcpReset } from '../packet/tcp.js';
import type { PacketViews } from '../packet/views.js';
import { DEFAULT_TTL, type LocalOutput } from './local-output.js';

/** Answers the TCP segment bound in `v` (ip and tcp views) with a reset. */
export function sendTcpReset(out: LocalOutput, v: PacketViews): void {
  const ip = v.ip,
    t = v.tcp;
  const flags = t.flags;
  let segLen = ip.payloadEnd - t.offset - t.headerLen;
  if ((flags & TCP_SYN) !== 0) segLen++;
  if ((flags & TCP_FIN) !== 0) segLen++;
  const src = ip.dst,
    dst = ip.src;
  const b = out.buf,
    dv = out.dv;
  const total = IPV4_MIN_HLEN + TCP_MIN_HLEN;
  const l4 = writeIpv4(dv, b, 0, total, out.nextIpId(), IP_DF, DEFAULT_TTL, IPPROTO_TCP, src, dst);
  if ((flags & TCP_ACK) !== 0) writeTcpReset(dv, b, l4, src, dst, t.dstPort, t.srcPort, t.ack, 0, TCP_RST);
  else writeTcpReset(dv, b, l4, src, dst, t.dstPort, t.srcPort, 0, t.seq + segLen, TCP_RST | TCP_ACK);
  out.send(total, dst);
}
