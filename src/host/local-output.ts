/**
 * Packets the director originates (ICMP errors, TCP resets): one scratch buffer to build them in
 * (IP header first), the IP identification counter, and sending by copy along the director's
 * own route to the destination (its own Route, so building one never disturbs the decision made
 * for the frame that caused it).
 */
import type { Egress } from '../dataplane/egress.js';
import { type HostRoutes, Route } from './addresses.js';

/** TTL of the packets the director builds (Linux's default ip_default_ttl). */
export const DEFAULT_TTL = 64;

export class LocalOutput {
  readonly buf = Buffer.alloc(2048);
  readonly dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private readonly route = new Route();
  private ipId = 1;

  constructor(
    private readonly routes: HostRoutes,
    private readonly egress: Egress,
  ) {}

  /** The next IP identification. */
  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  /** Routes and sends the `len`-byte packet built at buf[0]; silently nothing without a route. */
  send(len: number, dst: number): void {
    if (this.routes.route(dst, this.route)) this.egress.transmit(this.buf, null, 0, len, this.route);
  }
}
