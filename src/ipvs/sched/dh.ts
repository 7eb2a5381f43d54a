/**
 * dh: destination hashing (ip_vs_dh.c, ip_vs_dh_schedule(); docs/ipvs-behaviour.md#dh). A
 * 256-bucket table maps hash_32(destination IP of the packet, 8) to a dest. The table is filled
 * round-robin over the dest list in list order, one bucket per dest per round, weights ignored, and
 * rebuilt in destsChanged() (the kernel rebuilds on add and delete; an edit keeps the list, so
 * rebuilding then gives the same table).
 *
 * The bucket's dest is returned only if it is available, has weight > 0 and no OVERLOAD;
 * otherwise there is no destination (no fallback). For a plain VIP service the destination IP is
 * always the VIP, so every new connection of the service goes to the same dest: dh is meant for
 * fwmark / transparent cache setups, and tapvs keeps the kernel's behaviour.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import { hash32 } from './hash.js';
import type { Scheduler } from './scheduler.js';

const DH_TAB_BITS = 8;
const DH_TAB_SIZE = 1 << DH_TAB_BITS;

export class DestinationHashing implements Scheduler {
  readonly name = 'dh';
  /** bucket → dest; null while the service has no dests. */
  private readonly buckets: (Dest | null)[] = new Array<Dest | null>(DH_TAB_SIZE).fill(null);

  destsChanged(svc: Service): void {
    const dests = svc.dests;
    const n = dests.length;
    for (let i = 0; i < DH_TAB_SIZE; i++) this.buckets[i] = n === 0 ? null : dests[i % n];
  }

  schedule(_svc: Service, flow: FlowKey, _nowMs?: number): Dest | null {
    const d = this.buckets[hash32(flow.vaddr, DH_TAB_BITS)];
    if (d === null || !d.available || d.weight <= 0 || d.overloaded) return null;
    return d;
  }

  /** The dest in a bucket (tests and diagnostics). */
  bucket(i: number): Dest | null {
    return this.buckets[i];
  }
}
