/**
 * lblcr: locality-based least connection with replication (ip_vs_lblcr.c,
 * ip_vs_lblcr_schedule(); docs/ipvs-behaviour.md#lblcr).
 *
 * Like lblc, keyed by the packet's destination IP, but each entry holds a *set* of dests (kernel
 * list order: newest member first) with a last-modified time.
 * - Hit: lastuse := now. dest := least loaded member by the wlc rule (members must be available
 *   and not OVERLOAD; the first candidate also needs weight > 0). Then, if the set has more than
 *   one member and now > lastmod + expiration, the most loaded member (max overhead/weight among
 *   weight > 0 members, OVERLOAD and availability not considered) is removed (lastmod := now).
 *   If dest exists and is not lblc-overloaded it is used; otherwise the wlc rule over the whole
 *   service picks a dest, which joins the set (lastmod := now) unless already a member.
 * - Miss: wlc rule over the service; a new entry with a one-member set.
 * - Expiry: see locality.ts (same GC as lblc with `expirationMs`, default 24 h).
 */
import type { Dest } from '../dest.js';
import type { FlowKey, Service } from '../service.js';
import type { LocalityOptions } from './lblc.js';
import { connOverhead, lblcOverloaded, leastWeightedConn } from './load.js';
import { DEFAULT_EXPIRATION_MS, type LocalityEntry, LocalityTable } from './locality.js';
import type { Scheduler } from './scheduler.js';

/** ip_vs_dest_set_min: members are scanned newest first (the end of the array). */
function setMin(members: readonly Dest[]): Dest | null {
  let k = members.length - 1;
  let least: Dest | null = null;
  for (; k >= 0; k--) {
    const d = members[k];
    if (d.overloaded) continue;
    if (d.weight > 0 && d.available) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let loh = connOverhead(least);
  for (k--; k >= 0; k--) {
    const d = members[k];
    if (d.overloaded) continue;
    const doh = connOverhead(d);
    if (loh * d.weight > doh * least.weight && d.available) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_dest_set_max: the most loaded member with weight > 0, newest first, first wins ties. */
function setMax(members: readonly Dest[]): Dest | null {
  let k = members.length - 1;
  let most: Dest | null = null;
  for (; k >= 0; k--) {
    if (members[k].weight > 0) {
      most = members[k];
      break;
    }
  }
  if (most === null) return null;
  let moh = connOverhead(most);
  for (k--; k >= 0; k--) {
    const d = members[k];
    const doh = connOverhead(d);
    if (moh * d.weight < doh * most.weight && d.weight > 0) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

/** ip_vs_dest_set_insert with check: adds at the head unless already a member. */
function setInsert(en: LocalityEntry, dest: Dest, nowMs: number): void {
  const m = en.members;
  for (let k = 0; k < m.length; k++) if (m[k] === dest) return;
  m.push(dest);
  en.lastModMs = nowMs;
}

/** ip_vs_dest_set_erase. */
function setErase(en: LocalityEntry, dest: Dest, nowMs: number): void {
  const m = en.members;
  for (let k = m.length - 1; k >= 0; k--) {
    if (m[k] !== dest) continue;
    for (let j = k; j + 1 < m.length; j++) m[j] = m[j + 1];
    m.pop();
    en.lastModMs = nowMs;
    return;
  }
}

export class LocalityLeastConnReplicated implements Scheduler {
  readonly name = 'lblcr';
  readonly table: LocalityTable;

  constructor(opts: LocalityOptions = {}) {
    this.table = new LocalityTable(opts.expirationMs ?? DEFAULT_EXPIRATION_MS);
  }

  destsChanged(): void {} // no add/del/upd hooks in the kernel: sets keep deleted dests

  schedule(svc: Service, flow: FlowKey, nowMs: number): Dest | null {
    const tbl = this.table;
    tbl.catchUp(nowMs);
    const daddr = flow.vaddr;
    const en = tbl.find(daddr);
    if (en !== null) {
      en.lastUseMs = nowMs;
      let dest = setMin(en.members);
      if (en.members.length > 1 && nowMs > en.lastModMs + tbl.expirationMs) {
        const m = setMax(en.members);
        if (m !== null) setErase(en, m, nowMs);
      }
      if (dest !== null && !lblcOverloaded(dest, svc.dests)) return dest;
      dest = leastWeightedConn(svc.dests);
      if (dest === null) return null;
      setInsert(en, dest, nowMs);
      return dest;
    }
    const dest = leastWeightedConn(svc.dests);
    if (dest === null) return null;
    const fresh = tbl.insert(daddr, nowMs);
    fresh.members.push(dest);
    fresh.lastModMs = nowMs;
    return dest;
  }

  /** The 60 s garbage-collection timer; safe to call at any rate (firings replay by due time). */
  tick(_svc: Service, nowMs: number): void {
    this.table.catchUp(nowMs);
  }

  done(): void {
    this.table.flush();
  }

  /** The dest set cached for a destination IP, newest first (tests and diagnostics). */
  membersOf(daddr: number): Dest[] {
    const en = this.table.find(daddr);
    return en === null ? [] : en.members.slice().reverse();
  }
}
