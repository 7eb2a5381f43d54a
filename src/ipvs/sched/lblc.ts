/**
 * lblc: locality-based least connection (ip_vs_lblc.c, ip_vs_lblc_schedule();
 * docs/ipvs-behaviour.md#lblc).
 *
 * A cache maps the packet's destination IP to a dest. For a plain VIP service that IP is always
 * the VIP, so the whole service shares one entry; lblc is meant for fwmark / transparent-cache
 * setups where destination IPs vary.
 * - Hit: lastuse := now; the cached dest is used if it is available (not deleted), has weight > 0
 *   and is not lblc-overloaded (active > weight while some dest has active × 2 < weight). The
 *   OVERLOAD threshold flag is *not* checked on a hit.
 * - Otherwise the wlc rule over the service picks a dest (skipping OVERLOAD) and the mapping is
 *   stored. Replacing a mapping unlinks the old entry and links a new one; like Linux
 *   (ip_vs_lblc_new: ip_vs_lblc_del without atomic_dec, then ip_vs_lblc_hash with atomic_inc) the
 *   GC's entry counter is not decremented for the replaced entry, so it drifts upwards by one per
 *   replacement. Easy to miss when reading the kernel source, but it is what the kernel does, and
 *   it decides when the 16384-entry rule of the GC starts to apply.
 * - Expiry: see locality.ts (60 s timer replayed lazily; full check every 30 minutes drops
 *   entries unused for `expirationMs`, default 24 h).
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import { lblcOverloaded, leastWeightedConn } from './load.js';
import { DEFAULT_EXPIRATION_MS, LocalityTable } from './locality.js';
import type { Scheduler } from './scheduler.js';

export interface LocalityOptions {
  /** The lblc_expiration / lblcr_expiration sysctl, in ms (default 24 h). */
  expirationMs?: number;
}

export class LocalityLeastConn implements Scheduler {
  readonly name = 'lblc';
  readonly table: LocalityTable;

  constructor(opts: LocalityOptions = {}) {
    this.table = new LocalityTable(opts.expirationMs ?? DEFAULT_EXPIRATION_MS);
  }

  destsChanged(): void {} // the kernel has no add/del/upd hooks for lblc: entries keep their dest

  schedule(svc: Service, flow: FlowKey, nowMs: number): Dest | null {
    const tbl = this.table;
    tbl.catchUp(nowMs);
    const daddr = flow.vaddr;
    const en = tbl.find(daddr);
    if (en !== null) {
      en.lastUseMs = nowMs;
      const d = en.dest as Dest;
      if (d.available && d.weight > 0 && !lblcOverloaded(d, svc.dests)) return d;
    }
    const dest = leastWeightedConn(svc.dests);
    if (dest === null) return null;
    if (en !== null) {
      if (en.dest === dest) return dest;
      tbl.unlink(en); // no entries-- here: the kernel's counter drift (see above)
    }
    tbl.insert(daddr, nowMs).dest = dest;
    return dest;
  }

  /** The 60 s garbage-collection timer; safe to call at any rate (firings replay by due time). */
  tick(_svc: Service, nowMs: number): void {
    this.table.catchUp(nowMs);
  }

  done(): void {
    this.table.flush();
  }
}
