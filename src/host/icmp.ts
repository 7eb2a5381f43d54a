/**
 * The director's ICMP: echo replies for its addresses and VIPs, and the errors a host or router
 * sends (port/protocol unreachable, time exceeded, fragmentation needed, reassembly timeout),
 * rate-limited by one token bucket like Linux's icmp_global_allow() / icmpv4_xrlim_allow(). Never
 * an error about an ICMP error, a non-first fragment or a broadcast (RFC 1122 §3.2.2).
 */

import { Drop } from '../dataplane/drops.js';
import type { Egress } from '../dataplane/egress.js';
import type { FrameContext } from '../dataplane/frame.js';
import { readI32 } from '../packet/bytes.js';
import {
  echoReplyInPlace,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HLEN,
  ICMP_TIME_EXCEEDED,
  writeIcmpError,
} from '../packet/icmp.js';
import { IP_OFFMASK, IPPROTO_ICMP, IPV4_MIN_HLEN, writeIpv4 } from '../packet/ipv4.js';
import type { HostRoutes } from './addresses.js';
import type { LocalAddresses } from './local-addresses.js';
import { DEFAULT_TTL, type LocalOutput } from './local-output.js';

/** Bytes of the offending datagram quoted in an error (RFC 1812 §4.3.2.3: 576 in all at most). */
const ICMP_QUOTE_MAX = 576 - IPV4_MIN_HLEN - ICMP_HLEN;
/** Time exceeded code 1: fragment reassembly time exceeded (RFC 792). */
const ICMP_EXC_FRAGTIME = 1;

export class HostIcmp {
  /** Errors not sent because of the rate limit. */
  rateLimited = 0;
  private tokens: number;
  private refillAt = 0;

  constructor(
    private readonly ctx: FrameContext,
    private readonly out: LocalOutput,
    private readonly egress: Egress,
    private readonly routes: HostRoutes,
    private readonly local: LocalAddresses,
    private readonly ratePerS: number,
  ) {
    this.tokens = ratePerS;
  }

  /**
   * An echo request to one of our addresses (the ICMP view is bound and its checksum verified):
   * answered in place and sent back the way it came. Returns the verdict.
   */
  echo(): number {
    const v = this.ctx.v,
      ip = v.ip;
    const src = ip.src;
    echoReplyInPlace(v.u8, ip.offset, ip.payloadOff, DEFAULT_TTL);
    if (!this.routes.route(src, this.ctx.route)) return Drop.NoRoute;
    return this.egress.forwardRx(ip.offset, ip.totalLen);
  }

  /** An error of `type`/`code` about the current frame's datagram, from our address `src`. */
  error(type: number, code: number, mtu: number, src: number): void {
    const v = this.ctx.v,
      ip = v.ip;
    if ((ip.fragWord & IP_OFFMASK) !== 0) return;
    if (ip.protocol === IPPROTO_ICMP) {
      const t = v.u8[ip.payloadOff];
      if (t !== ICMP_ECHO_REQUEST && t !== ICMP_ECHO_REPLY) return;
    }
    if (!this.takeToken()) return;
    const quote = Math.min(ip.totalLen, ICMP_QUOTE_MAX);
    this.build(type, code, mtu, src, ip.src, v.u8, ip.offset, quote);
  }

  /**
   * An error of `type`/`code` from `src` about the datagram quoted at quote[off, off + len), to
   * that datagram's source: for errors relayed from elsewhere (a router's error about a tunnelled
   * packet, turned into one about the client's own packet).
   */
  errorAbout(type: number, code: number, mtu: number, src: number, quote: Uint8Array, off: number, len: number): void {
    if (len < IPV4_MIN_HLEN || !this.takeToken()) return;
    this.build(type, code, mtu, src, readI32(quote, off + 12), quote, off, Math.min(len, ICMP_QUOTE_MAX));
  }

  /** Time exceeded (reassembly) to the sender of a datagram whose fragments never completed. */
  reassemblyTimeout(quote: Uint8Array, len: number): void {
    if (len < IPV4_MIN_HLEN + 8 || quote[9] === IPPROTO_ICMP) return;
    const src = readI32(quote, 16),
      dst = readI32(quote, 12); // the reply goes back to the quoted source
    if (!this.local.isLocal(src) || !this.takeToken()) return;
    this.build(ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0, src, dst, quote, 0, len);
  }

  private build(
    type: number,
    code: number,
    mtu: number,
    src: number,
    dst: number,
    quote: Uint8Array,
    quoteOff: number,
    quoteLen: number,
  ): void {
    const out = this.out;
    const total = IPV4_MIN_HLEN + ICMP_HLEN + quoteLen;
    const l4 = writeIpv4(out.dv, out.buf, 0, total, out.nextIpId(), 0, DEFAULT_TTL, IPPROTO_ICMP, src, dst);
    writeIcmpError(out.dv, out.buf, l4, type, code, mtu, quote, quoteOff, quoteLen);
    out.send(total, dst);
  }

  private takeToken(): boolean {
    const now = this.ctx.now;
    if (now - this.refillAt >= 1000) {
      this.tokens = this.ratePerS;
      this.refillAt = now;
    }
    if (this.tokens <= 0) {
      this.rateLimited++;
      return false;
    }
    this.tokens--;
    return true;
  }
}
