/**
 * The one raw ICMP socket that every PING_CHECK of the process shares (the `raw-socket` addon;
 * needs root or CAP_NET_RAW). It opens on the first echo request and closes when no request is
 * waiting, so an idle daemon or a finished test holds nothing open. Replies are matched to
 * requests by source address, identifier (this process's, like ping) and sequence number; anything
 * else the socket sees (other hosts' traffic, our own requests to a local address) is ignored.
 *
 * Requests carry keepalived's 128-byte payload (check_ping.c, ping_it(): the text
 * "keepalived check - " repeated). keepalived uses an unprivileged ICMP datagram socket per check
 * instead; the wire format is the same. If the socket cannot be opened, every echo fails at once
 * with the reason, e.g. "cannot open a raw ICMP socket (Operation not permitted): needs root or
 * CAP_NET_RAW".
 */
import { createRequire } from 'node:module';
import { checksum } from '../../packet/checksum.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HLEN } from '../../packet/icmp.js';

/** The part of the raw-socket package used here (it ships no types). */
interface RawSocket {
  on(event: 'message', listener: (packet: Buffer, source: string) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  send(
    buf: Buffer,
    offset: number,
    length: number,
    address: string,
    done: (err: Error | null, bytes: number) => void,
  ): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(options: { protocol: number }): RawSocket;
  readonly Protocol: { readonly ICMP: number };
}

/** keepalived's ICMP_BUFSIZE. */
export const ECHO_PAYLOAD_BYTES = 128;
/** Identifies our requests among all ICMP on the host; the sequence number tells them apart. */
export const ECHO_ID = process.pid & 0xffff;
const FILLER = 'keepalived check - ';
const IPV4_MIN_HLEN = 20;
const SEQ_SPACE = 0x10000;

/** Called once per echo: null when the matching reply arrived, else why it cannot arrive. */
export type EchoDone = (error: string | null) => void;

interface Waiter {
  readonly dst: string;
  readonly done: EchoDone;
}

export class IcmpEchoSocket {
  private sock: RawSocket | null = null;
  private readonly waiters = new Map<number, Waiter>();
  private nextSeq = 0;

  /**
   * Sends one echo request to `dst` (dotted quad). Returns a function that forgets the request
   * (the attempt ended first); `done` is not called after it.
   */
  echo(dst: string, done: EchoDone): () => void {
    const sock = this.open();
    if (typeof sock === 'string') {
      done(sock);
      return () => {};
    }
    const seq = this.allocateSeq();
    const waiter = { dst, done };
    this.waiters.set(seq, waiter);
    sock.send(echoRequest(seq), 0, ICMP_HLEN + ECHO_PAYLOAD_BYTES, dst, (err) => {
      if (err !== null) this.settle(seq, waiter, `cannot send the echo request: ${err.message}`);
    });
    return () => {
      if (this.waiters.get(seq) === waiter) {
        this.waiters.delete(seq);
        this.closeIfIdle();
      }
    };
  }

  /** Requests waiting for a reply. */
  get waiting(): number {
    return this.waiters.size;
  }

  get isOpen(): boolean {
    return this.sock !== null;
  }

  private open(): RawSocket | string {
    if (this.sock !== null) return this.sock;
    let raw: RawSocketModule;
    try {
      raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    } catch (err) {
      return `the raw-socket addon is not available (${(err as Error).message}): run npm install`;
    }
    let sock: RawSocket;
    try {
      sock = raw.createSocket({ protocol: raw.Protocol.ICMP });
    } catch (err) {
      return `cannot open a raw ICMP socket (${(err as Error).message}): needs root or CAP_NET_RAW`;
    }
    sock.on('message', (packet, source) => this.receive(packet, source));
    sock.on('error', (err) => this.onSocketError(sock, err));
    this.sock = sock;
    return sock;
  }

  /** The socket's message handler: settles the request a packet answers, if any. */
  receive(packet: Buffer, source: string): void {
    // A raw IPv4 socket hands over the IP header too.
    if (packet.length < IPV4_MIN_HLEN) return;
    const l4 = (packet[0] & 0x0f) << 2;
    if (packet.length < l4 + ICMP_HLEN || packet[l4] !== ICMP_ECHO_REPLY || packet[l4 + 1] !== 0) return;
    if (packet.readUInt16BE(l4 + 4) !== ECHO_ID) return;
    const seq = packet.readUInt16BE(l4 + 6);
    const waiter = this.waiters.get(seq);
    if (waiter !== undefined && waiter.dst === source) this.settle(seq, waiter, null);
  }

  /** raw-socket closes the socket after an error: every waiter fails with it. */
  private onSocketError(sock: RawSocket, err: Error): void {
    if (this.sock !== sock) return;
    this.sock = null;
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of waiters) w.done(`ICMP socket error: ${err.message}`);
  }

  private settle(seq: number, waiter: Waiter, error: string | null): void {
    if (this.waiters.get(seq) !== waiter) return;
    this.waiters.delete(seq);
    this.closeIfIdle();
    waiter.done(error);
  }

  private closeIfIdle(): void {
    if (this.waiters.size > 0 || this.sock === null) return;
    const sock = this.sock;
    this.sock = null;
    sock.close();
  }

  private allocateSeq(): number {
    let seq = this.nextSeq;
    while (this.waiters.has(seq)) seq = (seq + 1) % SEQ_SPACE;
    this.nextSeq = (seq + 1) % SEQ_SPACE;
    return seq;
  }
}

function echoRequest(seq: number): Buffer {
  const b = Buffer.alloc(ICMP_HLEN + ECHO_PAYLOAD_BYTES);
  b[0] = ICMP_ECHO_REQUEST;
  b.writeUInt16BE(ECHO_ID, 4);
  b.writeUInt16BE(seq, 6);
  for (let i = 0; i < ECHO_PAYLOAD_BYTES; i++) b[ICMP_HLEN + i] = FILLER.charCodeAt(i % FILLER.length);
  b.writeUInt16BE(checksum(b, 0, b.length), 2);
  return b;
}

/** The process's ICMP echo socket. */
export const icmpSocket = new IcmpEchoSocket();
