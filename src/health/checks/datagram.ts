/**
 * The UDP socket of UDP_CHECK and DNS_CHECK (keepalived layer4.c, udp_bind_connect(); check_dns.c):
 * bound to bindto:bind_port when either is set, and connected to connect_ip:connect_port, so that
 * the kernel reports an ICMP port unreachable (or another fatal ICMP error) back on it, which
 * fails the attempt. It is closed when the attempt ends.
 *
 * keepalived also sets IP_RECVERR, which surfaces the non-fatal errors too (net or host
 * unreachable, e.g. after ARP fails); Node's dgram cannot set it, so only fatal ones are seen.
 */
import dgram from 'node:dgram';
import type { CheckerCommon } from '../../keepalived/lvs-config.js';
import type { Attempt } from './attempt.js';
import { describeSocketError } from './socket-error.js';

/** Opens the socket for `a`; `onConnected` sends, `onMessage` judges each datagram that arrives. */
export function connectDatagram(
  spec: CheckerCommon,
  a: Attempt,
  onConnected: (sock: dgram.Socket) => void,
  onMessage: (msg: Buffer) => void,
): void {
  const sock = dgram.createSocket('udp4');
  a.defer(() => sock.close());
  sock.on('error', (err: NodeJS.ErrnoException) =>
    a.fail(err.code === 'ECONNREFUSED' ? 'port unreachable' : describeSocketError(err)),
  );
  sock.on('message', (msg) => a.guard(() => onMessage(msg)));
  const connect = (): void => sock.connect(spec.connectPort, spec.connectIp, () => a.guard(() => onConnected(sock)));
  if (spec.bindTo === null && spec.bindPort === 0) connect();
  else sock.bind({ address: spec.bindTo ?? '0.0.0.0', port: spec.bindPort }, connect);
}
