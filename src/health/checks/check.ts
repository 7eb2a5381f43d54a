/**
 * The contract between one health probe and the engine that schedules probes and keeps
 * keepalived's up/down state (src/health/engine.ts): a probe is one attempt, asynchronous, bounded
 * by the checker's connect_timeout (per connect and per read), and it never throws: every failure
 * is a result with a reason, worded for logs and `tapvsd status` ("HTTP_GET: status 503",
 * "TCP_CHECK: connect timeout after 3 s").
 */
import type { CheckerSpec } from '../../keepalived/lvs-config.js';

export interface CheckResult {
  readonly ok: boolean;
  /** Why it failed, or what it saw when it passed ("connected", "status 200"). */
  readonly reason: string;
  /**
   * MISC_CHECK only: the script's exit status (0..255), for misc_dynamic's weight; null when it
   * was killed or did not run. Undefined for the other types.
   */
  readonly exitStatus?: number | null;
}

/**
 * Runs one attempt of `spec` (for HTTP_GET/SSL_GET, of its url number `urlIndex`). `signal`
 * aborts it (reload, shutdown): the result is then a failure that the engine discards.
 */
export type RunCheck = (spec: CheckerSpec, urlIndex: number, signal: AbortSignal) => Promise<CheckResult>;
