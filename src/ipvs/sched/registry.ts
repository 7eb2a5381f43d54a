/**
 * The only list of schedulers (like the kernel's Makefile): `-s` name -> factory. A Map, so
 * "toString" is no scheduler. Each service gets its own instance.
 */
import { TapvsError } from '../../errors.js';
import type { Scheduler, SchedOptions } from './scheduler.js';
import { RoundRobin } from './rr.js';

const FACTORIES = new Map<string, (opts: SchedOptions) => Scheduler>([
  ['rr', () => new RoundRobin()],
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
