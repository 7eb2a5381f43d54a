/**
 * A virtual service: <protocol, VIP, vport> (or port 0: every port of the VIP), its scheduler,
 * persistence settings and its real servers.
 *
 * `dests` is kept in IPVS's order: a newly added destination goes to the head, an edit keeps its
 * position (ip_vs_ctl.c, __ip_vs_update_dest()), so "first wins" tie-breaks match the kernel.
 */
import type { Dest } from './dest.js';
import { LaddrPool } from './laddr-pool.js';
import type { Scheduler } from './sched/scheduler.js';
import { Stats } from './stats.js';

/** Scheduler flag bits (uapi IP_VS_SVC_F_SCHED1..3): the one definition schedulers and -b share. */
export const SCHED_FLAG_1 = 0x0008;
export const SCHED_FLAG_2 = 0x0010;
export const SCHED_FLAG_3 = 0x0020;

export class Service {
  /** Index in the director's service registry. */
  id = -1;
  readonly proto: number;
  /** VIP, int32 host order. */
  readonly addr: number;
  readonly port: number;
  scheduler: Scheduler;
  /** IP_VS_SVC_F_SCHED* bits. */
  schedFlags = 0;
  persistent = false;
  /** Persistence timeout in seconds (meaningful when persistent). */
  timeoutS = 360;
  /** Persistence netmask, int32 host order (-1 = 255.255.255.255). */
  netmask = -1;
  /** One-packet scheduling (UDP). */
  ops = false;
  /** Full NAT: PROXY protocol version (1, 2) for TCP connections; 0 = none. */
  proxyProtocol = 0;
  /** Full NAT local addresses. */
  readonly laddrs = new LaddrPool();
  /** Most recently added first (IPVS list order). */
  dests: Dest[] = [];
  readonly stats = new Stats();

  constructor(proto: number, addr: number, port: number, scheduler: Scheduler) {
    this.proto = proto;
    this.addr = addr | 0;
    this.port = port;
    this.scheduler = scheduler;
  }

  findDest(addr: number, port: number): Dest | undefined {
    for (let i = 0; i < this.dests.length; i++) {
      const d = this.dests[i];
      if (d.addr === (addr | 0) && d.port === port) return d;
    }
    return undefined;
  }
}

/**
 * The flow a scheduler decides for: the first packet of a new connection. One instance lives per
 * dataplane and is overwritten for every decision (schedulers must not keep it).
 */
export class FlowKey {
  proto = 0;
  /** Client address/port (int32 host order / number). */
  caddr = 0;
  cport = 0;
  /** Destination the client used: VIP and the packet's destination port. */
  vaddr = 0;
  vport = 0;
}
