/**
 * mh: Maglev hashing (ip_vs_mh.c, ip_vs_mh_schedule(), after Eisenbud et al., NSDI 2016 §3.4;
 * docs/ipvs-behaviour.md#mh).
 *
 * A lookup table of M = 4093 slots (the kernel's default CONFIG_IP_VS_MH_TAB_INDEX 12, a prime)
 * maps h1(port + client address) mod M to a dest. Each dest has a permutation of the slots,
 * offset = h1(port + addr) mod M and skip = h2(port + addr) mod (M − 1) + 1 of its own RIP:rport;
 * the table is populated in rounds over the list in list order, each dest claiming `turns` slots
 * per round, always its next free preferred slot. Removing one of N dests therefore moves about
 * 1/N of the clients. h1/h2 are the 64-bit kernel's hsiphash (SipHash-1-3, low 32 bits) with the
 * kernel's fixed keys, so a client maps to the same slot index as on Linux.
 *
 * Weights: turns come from each dest's *last non-zero weight* (ctl keeps `last_weight`), divided
 * by their gcd and shifted right so the largest fits in 6 bits. Setting a weight to 0 therefore
 * leaves the table unchanged; the dest just becomes unusable. A dest added with weight 0 takes no
 * slot. last_weight is tracked here from what destsChanged() observes: a dest seen for the first
 * time takes its current weight (IPVS "add"), a known dest takes a new weight only when non-zero.
 *
 * Lookup: port = client source port with `mh-port` (TCP/UDP/SCTP), else 0. A dest with weight ≤ 0
 * or OVERLOAD is unusable → no destination, unless `mh-fallback`: then for i = 0..M−1 the slot
 * h1(((i + slot) mod M) + port + addr) mod M is tried, an empty slot ending the search.
 *
 * The table is rebuilt in destsChanged() (add, delete, edit). With more than M dests the kernel's
 * rebuild fails and keeps the old table; so does this one.
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../service.js';
import { fls, gcd, protoHasPorts } from './hash.js';
import type { Scheduler } from './scheduler.js';
import { hsiphashU32, SipKey } from './siphash.js';

/** IP_VS_MH_TAB_SIZE for CONFIG_IP_VS_MH_TAB_INDEX = 12: primes[12 − 8]. */
export const MH_TAB_SIZE = 4093;
/** IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2: the weight shift target. */
const MH_TAB_BITS = 6;
const MH_FLAG_FALLBACK = SCHED_FLAG_1;
const MH_FLAG_PORT = SCHED_FLAG_2;

/** generate_hash_secret(): each key is two 64-bit words (unsigned long) with the same value. */
export const MH_KEY1 = new SipKey(0, 2654435761 | 0, 0, 2654435761 | 0);
export const MH_KEY2 = new SipKey(0, 2654446892 | 0, 0, 2654446892 | 0);

export class MaglevHashing implements Scheduler {
  readonly name = 'mh';
  private readonly lookup: (Dest | null)[] = new Array<Dest | null>(MH_TAB_SIZE).fill(null);
  private readonly fallback: boolean;
  private readonly usePort: boolean;
  /** ip_vs_dest.last_weight as seen by this scheduler. */
  private lastWeights = new Map<Dest, number>();

  constructor(flags = 0) {
    this.fallback = (flags & MH_FLAG_FALLBACK) !== 0;
    this.usePort = (flags & MH_FLAG_PORT) !== 0;
  }

  destsChanged(svc: Service): void {
    const dests = svc.dests;
    const n = dests.length;
    const lw = new Int32Array(n);
    const seen = new Map<Dest, number>();
    let g = 0,
      max = 0;
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      const prev = this.lastWeights.get(d);
      const w = prev === undefined || d.weight !== 0 ? d.weight : prev;
      seen.set(d, w);
      lw[i] = w;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > max) max = w;
    }
    this.lastWeights = seen;
    if (n > MH_TAB_SIZE) return; // ip_vs_mh_reassign: -EINVAL, the old table stays
    if (g < 1) {
      this.lookup.fill(null);
      return;
    }
    const shift = Math.max(0, fls(Math.trunc(max / g)) - MH_TAB_BITS);

    const skip = new Int32Array(n);
    const perm = new Int32Array(n);
    const turns = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      const v = (d.port + d.addr) | 0;
      perm[i] = (hsiphashU32(MH_KEY1, v) >>> 0) % MH_TAB_SIZE;
      skip[i] = ((hsiphashU32(MH_KEY2, v) >>> 0) % (MH_TAB_SIZE - 1)) + 1;
      const t = Math.trunc(lw[i] / g) >> shift;
      turns[i] = t !== 0 ? t : lw[i] !== 0 ? 1 : 0;
    }

    const taken = new Uint8Array(MH_TAB_SIZE);
    let filled = 0,
      dtCount = 0,
      p = 0;
    fill: for (;;) {
      p = 0;
      while (p < n) {
        if (turns[p] < 1) {
          p++;
          continue;
        } // added with weight 0: no slots
        let c = perm[p];
        while (taken[c] !== 0) {
          c += skip[p];
          if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
        }
        perm[p] = c;
        taken[c] = 1;
        this.lookup[c] = dests[p];
        if (++filled === MH_TAB_SIZE) break fill;
        if (++dtCount >= turns[p]) {
          dtCount = 0;
          p++;
        }
      }
    }
  }

  schedule(_svc: Service, flow: FlowKey, _nowMs?: number): Dest | null {
    const port = this.usePort && protoHasPorts(flow.proto) ? flow.cport : 0;
    const base = (port + flow.caddr) | 0;
    const slot = (hsiphashU32(MH_KEY1, base) >>> 0) % MH_TAB_SIZE;
    const d = this.lookup[slot];
    if (d === null) return null;
    if (d.weight > 0 && !d.overloaded) return d;
    if (!this.fallback) return null;
    for (let i = 0; i < MH_TAB_SIZE; i++) {
      let r = i + slot;
      if (r >= MH_TAB_SIZE) r -= MH_TAB_SIZE;
      const dd = this.lookup[(hsiphashU32(MH_KEY1, (r + base) | 0) >>> 0) % MH_TAB_SIZE];
      if (dd === null) return null;
      if (dd.weight > 0 && !dd.overloaded) return dd;
    }
    return null;
  }

  /** The dest in a slot (tests and diagnostics). */
  slot(i: number): Dest | null {
    return this.lookup[i];
  }

  /** The slot a client maps to (tests and diagnostics). */
  slotOf(caddr: number, port: number): number {
    return (hsiphashU32(MH_KEY1, (port + caddr) | 0) >>> 0) % MH_TAB_SIZE;
  }
}
