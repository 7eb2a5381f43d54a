/**
 * A real server (IPVS "destination") of one virtual service: RIP:rport, forwarding method,
 * weight, connection thresholds, live connection gauges and statistics.
 *
 * Gauges follow ip_vs_conn.c, ip_vs_bind_dest() and ip_vs_unbind_dest(): a new connection is
 * counted inactive, TCP state changes move it between active and inactive, templates count in
 * persistConns. The OVERLOAD flag is set/cleared here from the u/l thresholds. See
 * docs/ipvs-behaviour.md#activeconn-inactconn-persistconn-and-overload.
 */
import { Stats } from './stats.js';

/**
 * Forwarding methods, numbered as the kernel's IP_VS_CONN_F_FWD_MASK values (include/uapi/linux/
 * ip_vs.h) so a connection's method travels in sync messages as is; FULLNAT is DPVS's value
 * (include/conf/conn.h), which the kernel never uses.
 */
export const Fwd = { MASQ: 0, LOCAL: 1, TUNNEL: 2, ROUTE: 3, FULLNAT: 5 } as const;
export type FwdMethod = (typeof Fwd)[keyof typeof Fwd];

/** --tun-type, as the kernel's IP_VS_CONN_F_TUNNEL_TYPE_* values. */
export const TunType = { IPIP: 0, GUE: 1, GRE: 2 } as const;
/** --tun-nocsum / --tun-csum / --tun-remcsum, as IP_VS_TUNNEL_ENCAP_FLAG_* bits. */
export const TunFlag = { CSUM: 1, REMCSUM: 2 } as const;

export class Dest {
  /** Index in the director's dest registry; connection entries refer to dests by it. */
  id = -1;
  /** RIP, int32 host order. */
  addr: number;
  /** rport; 0 means "the packet's port" (port-0 services). */
  port: number;
  fwd: FwdMethod = Fwd.MASQ;
  /** Tunnels (-i): TunType, GUE's UDP port, TunFlag bits. */
  tunType = 0;
  tunPort = 0;
  tunFlags = 0;
  weight = 1;
  /** The last non-zero weight (IPVS's last_weight; mh gives a quiesced dest its slots back by it). */
  lastWeight = 1;
  uThreshold = 0;
  lThreshold = 0;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  /** Set by the upper threshold; every scheduler skips an overloaded dest. */
  overloaded = false;
  /** False once deleted (in IPVS's trash): its connections' packets are dropped. */
  available = true;
  /** Connection entries still bound to this dest (the trash frees it once 0 for long enough). */
  refs = 0;
  /** The service this dest belongs to (by id); -1 when deleted. */
  svcId = -1;
  /** Scratch slot for schedulers that keep per-dest numbers (e.g. wrr, lblcr); never read outside sched/. */
  schedScratch = 0;
  readonly stats = new Stats();

  constructor(addr: number, port: number) {
    this.addr = addr | 0;
    this.port = port;
  }

  /** ip_vs_bind_dest: a new entry (connection or template) now points at this dest. */
  bind(template: boolean): void {
    this.refs++;
    if (template) this.persistConns++;
    else this.inactConns++;
    if (this.uThreshold !== 0 && this.activeConns + this.inactConns >= this.uThreshold) {
      this.overloaded = true;
    }
  }

  /** ip_vs_unbind_dest: an entry went away; `active` says which gauge it was counted in. */
  unbind(template: boolean, active: boolean): void {
    this.refs--;
    if (template) this.persistConns--;
    else if (active) this.activeConns--;
    else this.inactConns--;
    const total = this.activeConns + this.inactConns;
    if (this.lThreshold !== 0) {
      if (total < this.lThreshold) this.overloaded = false;
    } else if (this.uThreshold !== 0) {
      if (total * 4 < this.uThreshold * 3) this.overloaded = false;
    } else {
      this.overloaded = false;
    }
  }

  /** A TCP state change moved the connection between the gauges. */
  moveActive(toActive: boolean): void {
    if (toActive) {
      this.inactConns--;
      this.activeConns++;
    } else {
      this.activeConns--;
      this.inactConns++;
    }
  }
}
