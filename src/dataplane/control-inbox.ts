/**
 * Multicast packets for the director's own protocols (VRRP adverts, IPVS sync messages): the
 * dataplane only recognises them and copies them aside; the control plane reads them after the
 * batch, off the packet path. A subscription names a link, an IPv4 group, a protocol and (for UDP)
 * a destination port, like a socket that joined the group on that device (IP_ADD_MEMBERSHIP).
 *
 * The copies go to one preallocated arena used as a queue: `take` appends (nothing allocated per
 * packet), `drain` hands every queued packet to the control plane and empties it. A packet that
 * does not fit is dropped and counted (a full socket receive buffer, in kernel terms).
 */
import { copyBytes } from '../packet/bytes.js';
import { IPPROTO_UDP } from '../packet/ipv4.js';

/** Bytes of queued packets the arena holds (about 1,400 sync messages of 1,500 bytes). */
const ARENA_BYTES = 2 << 20;
const MAX_QUEUED = 4096;
const MAX_SUBSCRIPTIONS = 64;

export type InboxReader = (link: number, buf: Uint8Array, off: number, len: number, nowMs: number) => void;

export class ControlInbox {
  /** Packets dropped because the queue was full. */
  overflows = 0;
  private readonly arena = new Uint8Array(ARENA_BYTES);
  private readonly qLink = new Int32Array(MAX_QUEUED);
  private readonly qOff = new Int32Array(MAX_QUEUED);
  private readonly qLen = new Int32Array(MAX_QUEUED);
  private readonly qTime = new Float64Array(MAX_QUEUED);
  private queued = 0;
  private used = 0;
  /** Subscriptions as parallel arrays: link, group, protocol, UDP port (0 for other protocols). */
  private readonly sLink = new Int32Array(MAX_SUBSCRIPTIONS);
  private readonly sGroup = new Int32Array(MAX_SUBSCRIPTIONS);
  private readonly sProto = new Int32Array(MAX_SUBSCRIPTIONS);
  private readonly sPort = new Int32Array(MAX_SUBSCRIPTIONS);
  private subs = 0;
  /** Per link: number of subscriptions (multicast frames are looked at only where this is > 0). */
  private readonly perLink: Int32Array;

  constructor(links: number) {
    this.perLink = new Int32Array(links);
  }

  /** Joins `group` for `proto` (and UDP `port`) on `link`. Idempotent. */
  subscribe(link: number, group: number, proto: number, port: number): void {
    if (this.find(link, group, proto, port) >= 0) return;
    if (this.subs === MAX_SUBSCRIPTIONS) throw new RangeError('too many multicast subscriptions');
    const i = this.subs++;
    this.sLink[i] = link;
    this.sGroup[i] = group | 0;
    this.sProto[i] = proto;
    this.sPort[i] = proto === IPPROTO_UDP ? port : 0;
    this.perLink[link]++;
  }

  /** Leaves a subscription made by `subscribe` (no-op when absent). */
  unsubscribe(link: number, group: number, proto: number, port: number): void {
    const i = this.find(link, group, proto, port);
    if (i < 0) return;
    const last = --this.subs;
    this.sLink[i] = this.sLink[last];
    this.sGroup[i] = this.sGroup[last];
    this.sProto[i] = this.sProto[last];
    this.sPort[i] = this.sPort[last];
    this.perLink[link]--;
  }

  /** True when some protocol of the director listens for multicast on `link`. */
  listensOn(link: number): boolean {
    return this.perLink[link] > 0;
  }

  /** True when a subscription takes this packet; `udpPort` is the UDP destination port or 0. */
  wants(link: number, group: number, proto: number, udpPort: number): boolean {
    return this.find(link, group, proto, proto === IPPROTO_UDP ? udpPort : 0) >= 0;
  }

  /** Queues a copy of the IPv4 packet b[off, off + len). False (counted) when the queue is full. */
  take(link: number, b: Uint8Array, off: number, len: number, nowMs: number): boolean {
    if (this.queued === MAX_QUEUED || this.used + len > ARENA_BYTES) {
      this.overflows++;
      return false;
    }
    const q = this.queued++;
    this.qLink[q] = link;
    this.qOff[q] = this.used;
    this.qLen[q] = len;
    this.qTime[q] = nowMs;
    copyBytes(b, null, off, this.arena, null, this.used, len);
    this.used += len;
    return true;
  }

  get pending(): number {
    return this.queued;
  }

  /** Hands every queued packet to `read` in arrival order, then empties the queue. */
  drain(read: InboxReader): void {
    const n = this.queued;
    try {
      for (let i = 0; i < n; i++) read(this.qLink[i], this.arena, this.qOff[i], this.qLen[i], this.qTime[i]);
    } finally {
      this.queued = 0;
      this.used = 0;
    }
  }

  private find(link: number, group: number, proto: number, port: number): number {
    for (let i = 0; i < this.subs; i++) {
      if (
        this.sLink[i] === link &&
        this.sGroup[i] === (group | 0) &&
        this.sProto[i] === proto &&
        this.sPort[i] === port
      )
        return i;
    }
    return -1;
  }
}
