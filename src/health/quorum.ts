/**
 * A virtual server's quorum with hysteresis, as keepalived decides it (ipwrapper.c,
 * update_quorum_state() and weigh_live_realservers()): the weight that counts is the sum of the
 * effective weights of the real servers that are alive (in the pool or not).
 *
 * - Down -> up when that sum reaches quorum + hysteresis.
 * - Up -> down when it is 0 or falls below quorum - hysteresis.
 * - At start-up (and after a reload) a virtual server whose quorum is down and whose sorry server
 *   is not in yet "starts with quorum down": the sorry server goes in and quorum_down runs.
 *
 * Example (keepalived's doc/samples/keepalived.conf.quorum): 10 servers of weight 1, quorum 7,
 * hysteresis 2: quorum comes up with 9 alive and is lost with 4.
 *
 * Not here: what a change does (sorry server, scripts, IPVS): the engine acts on the verdict.
 */

export type QuorumChange = 'gained' | 'lost' | 'starting-down' | null;

export interface QuorumInput {
  readonly up: boolean;
  /** Σ effective weight of the alive real servers. */
  readonly weight: number;
  readonly quorum: number;
  readonly hysteresis: number;
  /** Start-up or reload (keepalived's `init`). */
  readonly init: boolean;
  /** A sorry server is configured and not in the table. */
  readonly sorryWaiting: boolean;
}

/** The change keepalived makes to a virtual server's quorum state, or null for none. */
export function quorumChange(q: QuorumInput): QuorumChange {
  const threshold = quorumThreshold(q.up, q.quorum, q.hysteresis);
  if (!q.up && q.weight >= threshold) return 'gained';
  if (q.up && (q.weight === 0 || q.weight < threshold)) return 'lost';
  if (q.init && !q.up && q.sorryWaiting) return 'starting-down';
  return null;
}

/** The weight to reach (while down) or to stay at or above (while up). */
export function quorumThreshold(up: boolean, quorum: number, hysteresis: number): number {
  return up ? quorum - hysteresis : quorum + hysteresis;
}
