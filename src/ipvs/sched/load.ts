/**
 * Load rules shared by several schedulers (docs/ipvs-behaviour.md#common-rules, #wlc, #lblc):
 * the connection overhead of ip_vs.h, the "wlc rule" used by wlc, lblc and lblcr, and lblc's own
 * notion of "overloaded" (a cached server with more active connections than its weight while
 * some server is below half its weight).
 *
 * Not here: the OVERLOAD threshold flag itself, which lives on Dest (ip_vs_bind_dest).
 * Weighted comparisons use cross multiplication, as the kernel does in s64: a/b < c/d is tested
 * as a·d < c·b, exact in doubles while the products stay below 2^53.
 */
import type { Dest } from '../dest.js';

/** ip_vs_dest_conn_overhead(): active × 256 + inactive. */
export function connOverhead(d: Dest): number {
  return d.activeConns * 256 + d.inactConns;
}

/**
 * The wlc rule (ip_vs_wlc.c, and __ip_vs_lblc_schedule / __ip_vs_lblcr_schedule): the first
 * dest with no OVERLOAD and weight > 0 is the first candidate; every later non-OVERLOAD dest
 * replaces it when overhead_best × w_d > overhead_d × w_best (strictly, so the earlier dest wins
 * ties and a weight-0 dest never wins). Returns null when no candidate exists.
 */
export function leastWeightedConn(dests: readonly Dest[]): Dest | null {
  const n = dests.length;
  let i = 0;
  let least: Dest | null = null;
  for (; i < n; i++) {
    const d = dests[i];
    if (!d.overloaded && d.weight > 0) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let loh = connOverhead(least);
  for (i++; i < n; i++) {
    const d = dests[i];
    if (d.overloaded) continue;
    const doh = connOverhead(d);
    if (loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/**
 * lblc/lblcr is_overloaded(): the cached dest has more active connections than its weight AND
 * some dest of the service (any, including quiesced or OVERLOADed ones) has active × 2 < weight.
 */
export function lblcOverloaded(dest: Dest, dests: readonly Dest[]): boolean {
  if (dest.activeConns > dest.weight) {
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i];
      if (d.activeConns * 2 < d.weight) return true;
    }
  }
  return false;
}
