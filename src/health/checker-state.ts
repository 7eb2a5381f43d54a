/**
 * One checker's keepalived state and what it does with the result of one attempt: whether the
 * attempt changes the checker's verdict for its real server, and how long until the next attempt.
 *
 * State (keepalived's checker_t): `isUp` (starts true), `hasRun` (false until the first verdict),
 * `retryIt` (failed attempts in a row), for HTTP the url cursor and the url that failed, for
 * MISC_CHECK the last exit status and the misc_dynamic weight.
 *
 * The result handling is each type's epilog, which differ in small ways (all from keepalived's
 * sources, keepalived/check/):
 * - TCP_CHECK (check_tcp.c, tcp_epilog()): a failure while `retryIt < retry` retries after
 *   delay_before_retry, the next one is final; the counter also runs while the checker is down,
 *   so a down checker alternates delay_before_retry and delay_loop.
 * - UDP_CHECK, PING_CHECK, DNS_CHECK (check_udp.c udp_epilog(), check_ping.c icmp_epilog(),
 *   check_dns.c dns_final()): the same, but failures are counted only while up (or before the
 *   first verdict); a down checker polls every delay_loop.
 * - MISC_CHECK (check_misc.c, misc_check_child_thread()): like UDP, but the next run is timed
 *   from the previous start; exit 0 passes; with misc_dynamic 2..255 passes too and sets the
 *   server's weight to status - 2.
 * - HTTP_GET, SSL_GET (check_http.c, epilog() and timeout_epilog()): one url per attempt; see
 *   httpEpilog().
 * In every type the attempt that fails with `retryIt == retry` is final: down after retry + 1
 * failures in a row; one success brings a down checker back (HTTP: see httpEpilog()).
 *
 * Not here: what a verdict does to the real server (all its checkers must pass), quorum and IPVS.
 * The epilog hands its verdict to `ServerLink.report` at the point where keepalived calls
 * update_svr_checker_state(), which sets `isUp` and `hasRun` (the order matters for the
 * first-result notifications).
 */
import type { CheckerSpec } from '../keepalived/lvs-config.js';
import type { CheckResult } from './checks/check.js';

/** What a checker's epilog tells its real server. */
export interface ServerLink {
  /** keepalived's update_svr_checker_state(alive): must set `isUp` and `hasRun` on the checker. */
  report(alive: boolean): void;
  /** The misc_dynamic weight changed (ipwrapper.c, update_svr_wgt()). */
  reweigh(): void;
}

/** No url failed / no misc_dynamic weight / no exit status yet. */
export const NONE = -1;

export class CheckerState {
  isUp = true;
  hasRun = false;
  retryIt = 0;
  /** HTTP: the url the next attempt fetches. */
  url = 0;
  /** HTTP: the url that made the checker fail (polled until it passes), or NONE. */
  failedUrl = NONE;
  /** MISC_CHECK with misc_dynamic: the weight the script asked for (exit status - 2), or NONE. */
  dynamicWeight = NONE;
  /** MISC_CHECK: the exit status that last changed the weight or failed the checker, or NONE. */
  lastExitStatus = NONE;

  constructor(readonly spec: CheckerSpec) {}

  /**
   * keepalived's first start (check_data.c, validate_check_config()): an alpha checker starts
   * down, and the retry counter is preset so that the first failure is final.
   */
  startFresh(): void {
    this.isUp = !this.spec.alpha;
    this.retryIt = this.spec.retry;
  }

  /** The url index the next attempt is for (0 for types without urls). */
  get urlIndex(): number {
    return this.spec.type === 'HTTP_GET' || this.spec.type === 'SSL_GET' ? this.url : 0;
  }

  /**
   * Handles the result of one attempt that took `elapsedMs`; calls `link` where keepalived would,
   * and returns the delay in ms until the next attempt should start.
   */
  afterAttempt(result: CheckResult, elapsedMs: number, link: ServerLink): number {
    switch (this.spec.type) {
      case 'TCP_CHECK':
        return this.tcpEpilog(result.ok, link);
      case 'UDP_CHECK':
      case 'PING_CHECK':
      case 'DNS_CHECK':
        return this.datagramEpilog(result.ok, link);
      case 'MISC_CHECK':
        return this.miscEpilog(result, elapsedMs, link);
      case 'HTTP_GET':
      case 'SSL_GET':
        return this.httpEpilog(result.ok, link);
    }
  }

  private tcpEpilog(ok: boolean, link: ServerLink): number {
    const s = this.spec;
    let delay: number;
    if (ok || this.retryIt >= s.retry) {
      delay = s.delayLoopMs;
      this.retryIt = 0;
      this.verdict(ok, link);
    } else {
      delay = s.delayBeforeRetryMs;
      this.retryIt++;
    }
    this.hasRun = true;
    return delay;
  }

  private datagramEpilog(ok: boolean, link: ServerLink): number {
    const s = this.spec;
    let delay = s.delayLoopMs;
    if (ok || ((this.isUp || !this.hasRun) && this.retryIt >= s.retry)) {
      this.retryIt = 0;
      this.verdict(ok, link);
    } else if (this.isUp) {
      delay = s.delayBeforeRetryMs;
      this.retryIt++;
    }
    this.hasRun = true;
    return delay;
  }

  /** A final result: report it if it changes the verdict or is the first one. */
  private verdict(ok: boolean, link: ServerLink): void {
    if (ok ? !this.isUp || !this.hasRun : this.isUp || !this.hasRun) link.report(ok);
  }

  private miscEpilog(result: CheckResult, elapsedMs: number, link: ServerLink): number {
    const s = this.spec;
    const dynamic = s.type === 'MISC_CHECK' && s.dynamic;
    const status = typeof result.exitStatus === 'number' ? result.exitStatus : null;
    // Exit status table of check_misc.c: 0 passes; with misc_dynamic 2..255 pass and set the weight.
    const ok = status === null ? result.ok : status === 0 || (dynamic && status >= 2 && status <= 255);
    if (ok) {
      if (status !== null && status !== this.lastExitStatus) {
        this.lastExitStatus = status;
        this.dynamicWeight = dynamic && status >= 2 ? status - 2 : NONE;
        link.reweigh();
      }
      if (!this.isUp || !this.hasRun) link.report(true);
      this.retryIt = 0;
    } else if (this.isUp || !this.hasRun) {
      if (this.retryIt < s.retry) {
        this.retryIt++;
      } else {
        this.retryIt = 0;
        this.lastExitStatus = status ?? NONE;
        // A failed checker no longer sets the weight: the server comes back at its own weight.
        this.dynamicWeight = NONE;
        link.report(false);
      }
    }
    this.hasRun = true;
    // Timed from the previous start, not from the end (check_misc.c: last_ran + delay).
    return Math.max(0, (this.retryIt !== 0 ? s.delayBeforeRetryMs : s.delayLoopMs) - elapsedMs);
  }

  /**
   * check_http.c, epilog(). While up, one url per delay_loop, cycling through the list; a failed
   * url is retried after delay_before_retry, and after retry + 1 failures in a row the checker
   * goes down and remembers that url. While down, the failed url is polled every
   * max(delay_before_retry, delay_loop); when it passes, the list is walked again from the first
   * url and the checker comes up only when every url has passed. fast_recovery runs the next
   * attempt at once while the checker has no verdict yet or is down without a failed url.
   */
  private httpEpilog(ok: boolean, link: ServerLink): number {
    const s = this.spec;
    if (s.type !== 'HTTP_GET' && s.type !== 'SSL_GET') return s.delayLoopMs;
    const urls = Math.max(1, s.urls.length);
    // keepalived's three ways in: a pass (REGISTER_CHECKER_NEW), a failure that counts
    // (timeout_epilog() while up or before the first verdict: RETRY) and one that does not (FAILED).
    const counts = !ok && (this.isUp || !this.hasRun);
    if (counts) this.hasRun = true;
    let walkDone = false;
    if (ok) {
      this.url++;
      walkDone = this.url >= urls;
      this.retryIt = 0;
    } else if (counts) {
      this.retryIt++;
    }
    if (ok && walkDone && this.failedUrl === NONE) {
      if (!this.isUp || !this.hasRun) {
        link.report(true);
        this.hasRun = true;
      }
      this.url = 0;
      this.retryIt = 0;
    } else if (counts && this.retryIt > s.retry) {
      if (this.isUp || !this.hasRun) link.report(false);
      this.failedUrl = this.url;
    } else if (ok && this.failedUrl !== NONE) {
      this.failedUrl = NONE;
      this.url = 0;
      this.retryIt = 0;
    }
    let delay: number;
    if (ok) {
      delay = s.delayLoopMs;
      if (!this.hasRun) this.retryIt = s.retry;
    } else if (this.failedUrl !== NONE) {
      delay = Math.max(s.delayBeforeRetryMs, s.delayLoopMs);
    } else {
      delay = s.delayBeforeRetryMs;
    }
    if (s.fastRecovery && (!this.hasRun || (!this.isUp && this.failedUrl === NONE))) delay = 0;
    return delay;
  }
}
