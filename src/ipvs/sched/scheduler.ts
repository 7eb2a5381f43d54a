/**
 * The scheduler plug-in interface, modelled on IPVS's ip_vs_scheduler (ip_vs_sched.c):
 * one instance per service, tables rebuilt on destination changes, schedule() a scan or lookup.
 *
 * Contract:
 * - `schedule()` is called only for a new flow (never for packets of existing connections),
 *   never allocates, and returns null when no destination is available.
 * - Every scheduler skips dests with weight 0 (quiesced) or `overloaded` set, unless its section
 *   of docs/ipvs-behaviour.md#schedulers (and its kernel file) says otherwise.
 * - Schedulers see services, dests and a flow key, never frames.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';

export interface Scheduler {
  /** The `-s` name. */
  readonly name: string;
  /** Dests were added, removed or re-weighted: rebuild tables here (IPVS add/del/upd_dest). */
  destsChanged(svc: Service): void;
  /** Picks a dest for a new connection, or null when none is available. Never allocates. */
  schedule(svc: Service, flow: FlowKey, nowMs: number): Dest | null;
  /**
   * Periodic housekeeping (lblc/lblcr's 60 s cache GC timer). Optional; the daemon may call it at
   * any rate with the batch clock. Schedulers with expiry also catch up lazily in schedule(), so
   * skipping ticks never changes a decision; ticks only release memory earlier.
   */
  tick?(svc: Service, nowMs: number): void;
  /** The service is going away: drop tables and timers. */
  done?(svc: Service): void;
}

/** Scheduler flags as given with `-b` (already mapped to IP_VS_SVC_F_SCHED* bits). */
export interface SchedOptions {
  flags: number;
}
