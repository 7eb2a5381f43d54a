/**
 * sh: source hashing. One client address always reaches the same real server
 * (ip_vs_sh.c, ip_vs_sh_schedule(); docs/ipvs-behaviour.md#sh).
 *
 * The 256-bucket table is filled by walking the dest list cyclically, each dest taking `weight`
 * consecutive buckets (a quiesced dest still takes one), and rebuilt in destsChanged() (add,
 * delete and edit). schedule() is one hash and one read:
 *   bucket = hash_32(port + client address, 8), port = the client's source port with `sh-port`
 *   (TCP, UDP and SCTP only), else 0.
 * Without `sh-fallback` the bucket's dest is returned unless it has weight ≤ 0 or OVERLOAD (then
 * no destination). With `sh-fallback` an unusable dest makes the scan go round the table from the
 * original hash: for i = 0..255, bucket = ((i + h) mod 256 + h) & 255 (the kernel adds the base
 * hash twice), stopping with no destination at an empty bucket.
 *
 * Flags come from SchedOptions at construction (IP_VS_SVC_F_SCHED_SH_FALLBACK = 0x08,
 * IP_VS_SVC_F_SCHED_SH_PORT = 0x10).
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../service.js';
import { hash32, protoHasPorts } from './hash.js';
import type { Scheduler } from './scheduler.js';

const SH_TAB_BITS = 8;
const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;
const SH_FLAG_FALLBACK = SCHED_FLAG_1;
const SH_FLAG_PORT = SCHED_FLAG_2;

export class SourceHashing implements Scheduler {
  readonly name = 'sh';
  private readonly buckets: (Dest | null)[] = new Array<Dest | null>(SH_TAB_SIZE).fill(null);
  private readonly fallback: boolean;
  private readonly usePort: boolean;

  constructor(flags = 0) {
    this.fallback = (flags & SH_FLAG_FALLBACK) !== 0;
    this.usePort = (flags & SH_FLAG_PORT) !== 0;
  }

  destsChanged(svc: Service): void {
    const dests = svc.dests;
    const n = dests.length;
    let p = 0,
      count = 0;
    for (let i = 0; i < SH_TAB_SIZE; i++) {
      if (n === 0) {
        this.buckets[i] = null;
        continue;
      }
      const d = dests[p];
      this.buckets[i] = d;
      if (++count >= d.weight) {
        p = p + 1 === n ? 0 : p + 1;
        count = 0;
      }
    }
  }

  schedule(_svc: Service, flow: FlowKey, _nowMs?: number): Dest | null {
    const port = this.usePort && protoHasPorts(flow.proto) ? flow.cport : 0;
    const h = hash32((port + flow.caddr) | 0, SH_TAB_BITS);
    const d = this.buckets[h];
    if (d === null) return null;
    if (d.weight > 0 && !d.overloaded) return d;
    if (!this.fallback) return null;
    for (let i = 0; i < SH_TAB_SIZE; i++) {
      const dd = this.buckets[(((i + h) & SH_TAB_MASK) + h) & SH_TAB_MASK];
      if (dd === null) return null;
      if (dd.weight > 0 && !dd.overloaded) return dd;
    }
    return null;
  }

  /** The dest in a bucket (tests and diagnostics). */
  bucket(i: number): Dest | null {
    return this.buckets[i];
  }
}
