/**
 * The decision notes a trace attaches to a frame (its pcapng comment): built only while a trace
 * runs (ctx.tracing), so the packet path builds no string otherwise.
 */
import type { ConnTable } from '../ipvs/conn-table.js';
import type { Dest } from '../ipvs/dest.js';
import { TCP_STATE_NAMES } from '../ipvs/tcp-state.js';
import { IPPROTO_TCP } from '../packet/ipv4.js';
import { destLoad, methodComment } from '../trace/tracer.js';
import type { FrameContext } from './frame.js';

/**
 * Trace only: what the health checks say about a service's real servers that the scheduler could
 * not pick ("skipped 192.168.2.129:80 (down: HTTP_GET: status 503)"), or null. Set by the daemon.
 */
export type ServiceHealthNote = (proto: number, vaddr: number, vport: number) => string | null;

/** Why the scheduler picked `dest` for a new connection (its load after binding, servers skipped as down). */
export function noteSchedule(
  ctx: FrameContext,
  sched: string,
  dest: Dest | null,
  proto: number,
  vaddr: number,
  vport: number,
): void {
  if (dest === null) {
    ctx.traceSched = null;
    return;
  }
  const skipped = ctx.healthNote?.(proto, vaddr, vport) ?? null;
  const load = destLoad(dest.weight, dest.activeConns, dest.inactConns);
  ctx.traceSched = { name: sched, reason: skipped === null ? load : `${load}; ${skipped}` };
}

/** The comment of connection `id`'s packet in direction `dir`, by the connection's method. */
export function noteNat(ctx: FrameContext, c: ConnTable, dir: 'in' | 'out', id: number, proto: number): void {
  const state = proto === IPPROTO_TCP ? TCP_STATE_NAMES[c.state[id]] : 'UDP';
  ctx.traceNote = methodComment(
    c.fwd[id],
    dir,
    proto,
    c.caddr[id],
    c.cport[id],
    c.vaddr[id],
    c.vport[id],
    c.daddr[id],
    c.dport[id],
    c.laddr[id],
    c.lport[id],
    state,
    ctx.traceSched ?? undefined,
  );
}
