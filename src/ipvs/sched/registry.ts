/**
 * The only list of schedulers (like the kernel's Makefile): `-s` name -> factory. A Map, so
 * "toString" is no scheduler. Each service gets its own instance; the caller binds it and then
 * calls destsChanged(svc) once (IPVS init_service sees the dests already present), and again
 * after every add, delete or edit of a dest.
 *
 * An unknown name is the control path's SCHED_NOT_FOUND, as ip_vs_scheduler_get() failing makes
 * ip_vs_ctl.c answer -ENOENT.
 */
import { TapvsError } from '../../errors.js';
import { DestinationHashing } from './dh.js';
import { WeightedFailover } from './fo.js';
import { LocalityLeastConn } from './lblc.js';
import { LocalityLeastConnReplicated } from './lblcr.js';
import { LeastConn } from './lc.js';
import { MaglevHashing } from './mh.js';
import { NeverQueue } from './nq.js';
import { WeightedOverflow } from './ovf.js';
import { RoundRobin } from './rr.js';
import type { SchedOptions, Scheduler } from './scheduler.js';
import { ShortestExpectedDelay } from './sed.js';
import { SourceHashing } from './sh.js';
import { TwoChoices } from './twos.js';
import { WeightedLeastConn } from './wlc.js';
import { WeightedRoundRobin } from './wrr.js';

/** In ipvsadm's SCHEDULERS order, then twos (newer than ipvsadm 1.31's list). */
const FACTORIES = new Map<string, (opts: SchedOptions) => Scheduler>([
  ['rr', () => new RoundRobin()],
  ['wrr', () => new WeightedRoundRobin()],
  ['lc', () => new LeastConn()],
  ['wlc', () => new WeightedLeastConn()],
  ['lblc', () => new LocalityLeastConn()],
  ['lblcr', () => new LocalityLeastConnReplicated()],
  ['dh', () => new DestinationHashing()],
  ['sh', (o) => new SourceHashing(o.flags)],
  ['sed', () => new ShortestExpectedDelay()],
  ['nq', () => new NeverQueue()],
  ['fo', () => new WeightedFailover()],
  ['ovf', () => new WeightedOverflow()],
  ['mh', (o) => new MaglevHashing(o.flags)],
  ['twos', () => new TwoChoices()],
]);

export function createScheduler(name: string, opts: SchedOptions = { flags: 0 }): Scheduler {
  const make = FACTORIES.get(name);
  if (make === undefined) {
    throw new TapvsError('SCHED_NOT_FOUND', `Scheduler or persistence engine not found: ${name}`);
  }
  return make(opts);
}

export function schedulerNames(): string[] {
  return [...FACTORIES.keys()];
}

/**
 * ipvsadm's default scheduler (ipvsadm.c DEF_SCHED): what `-A` without `-s` gets, and what `-b`
 * words are checked against then.
 */
export const DEFAULT_SCHEDULER = 'wlc';
