/**
 * The only list of schedulers (like the kernel's Makefile): `-s` name -> factory. A Map, so
 * "toString" is no scheduler. Each service gets its own instance; the caller binds it and then
 * calls destsChanged(svc) once (IPVS init_service sees the dests already present), and again
 * after every add, delete or edit of a dest.
 *
 * Also here: ipvsadm's `-b` word rules (ipvsadm.c, parse_sched_flags() and print_sched_flags();
 * docs/ipvsadm.md#scheduler-flags), since which words are legal depends on the scheduler.
 */
import { TapvsError } from '../../errors.js';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from '../service.js';
import type { Scheduler, SchedOptions } from './scheduler.js';
import { RoundRobin } from './rr.js';
import { WeightedRoundRobin } from './wrr.js';
import { LeastConn } from './lc.js';
import { WeightedLeastConn } from './wlc.js';
import { LocalityLeastConn } from './lblc.js';
import { LocalityLeastConnReplicated } from './lblcr.js';
import { DestinationHashing } from './dh.js';
import { SourceHashing } from './sh.js';
import { ShortestExpectedDelay } from './sed.js';
import { NeverQueue } from './nq.js';
import { WeightedFailover } from './fo.js';
import { WeightedOverflow } from './ovf.js';
import { MaglevHashing } from './mh.js';
import { TwoChoices } from './twos.js';

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

/** ipvsadm's default scheduler (DEF_SCHED), also the one `-b` words are checked against. */
export const DEFAULT_SCHEDULER = 'wlc';

/**
 * `-b` words → IP_VS_SVC_F_SCHED* bits, with ipvsadm's checks: `sh-*` only with sh, `mh-*` only
 * with mh (checked against the `-s` value, or wlc when it is empty), anything else unknown is
 * invalid. Words are taken left to right and the first bad one is reported, as ipvsadm's strtok
 * loop does; empty words (",," or a trailing comma) are skipped, and a word still holding commas is
 * split. Throws TapvsError('BAD_ARGUMENT') with ipvsadm's message (it exits 2 with it).
 */
export function schedFlagsFromWords(sched: string, words: readonly string[]): number {
  const s = sched.length > 0 ? sched : DEFAULT_SCHEDULER;
  let flags = 0;
  for (const word of words) {
    for (const w of word.split(',')) {
      if (w === '') continue;
      switch (w) {
        case 'flag-1': flags |= SCHED_FLAG_1; break;
        case 'flag-2': flags |= SCHED_FLAG_2; break;
        case 'flag-3': flags |= SCHED_FLAG_3; break;
        case 'sh-fallback': flags |= need(s, 'sh', w, SCHED_FLAG_1); break;
        case 'sh-port': flags |= need(s, 'sh', w, SCHED_FLAG_2); break;
        case 'mh-fallback': flags |= need(s, 'mh', w, SCHED_FLAG_1); break;
        case 'mh-port': flags |= need(s, 'mh', w, SCHED_FLAG_2); break;
        default:
          throw new TapvsError('BAD_ARGUMENT', `invalid scheduler flag \`${w}'`);
      }
    }
  }
  return flags;
}

function need(sched: string, want: string, word: string, bit: number): number {
  if (sched !== want) throw new TapvsError('BAD_ARGUMENT', `incompatible scheduler flag \`${word}'`);
  return bit;
}

/**
 * IP_VS_SVC_F_SCHED* bits → the words ipvsadm lists in parentheses (print_sched_flags): sh and mh
 * name their two flags, every other scheduler shows flag-1..flag-3. Bits the scheduler has no word
 * for (flag-3 on sh/mh) are not listed. Empty when no word applies.
 */
export function schedFlagWords(sched: string, flags: number): string[] {
  const out: string[] = [];
  if (sched === 'sh' || sched === 'mh') {
    if (flags & SCHED_FLAG_1) out.push(`${sched}-fallback`);
    if (flags & SCHED_FLAG_2) out.push(`${sched}-port`);
  } else {
    if (flags & SCHED_FLAG_1) out.push('flag-1');
    if (flags & SCHED_FLAG_2) out.push('flag-2');
    if (flags & SCHED_FLAG_3) out.push('flag-3');
  }
  return out;
}
