/**
 * What a reload carries over from a checker of the old configuration to its counterpart in the
 * new one (ipwrapper.c, migrate_checkers(), and the checkers' compare/migrate functions).
 *
 * A new checker takes over an old one of the same real server when both are the same type and
 * probe the same way: the connection options (destination, source, timeout) and the type's own
 * settings (HTTP urls with their status codes, digests and virtual hosts; MISC script and
 * misc_dynamic; DNS query; UDP payload and expected reply). Timing options (delay_loop, retry,
 * ...) may change without losing state. What moves: up/down, whether it has run, the retry
 * count (clamped to the new retry), HTTP's failed url and MISC's exit status and weight.
 *
 * Real servers are matched by address and port, virtual servers by their key; the engine does
 * that and decides what the carried-over state means for the server.
 */
import type { CheckerSpec, HttpUrl } from '../keepalived/lvs-config.js';
import type { CheckerState } from './checker-state.js';

/** keepalived's "same checker" test: type, connection options and type settings. */
export function sameChecker(a: CheckerSpec, b: CheckerSpec): boolean {
  if (a.type !== b.type) return false;
  if (a.type !== 'MISC_CHECK' && !sameConnection(a, b)) return false;
  switch (a.type) {
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return true;
    case 'HTTP_GET':
    case 'SSL_GET': {
      const o = b as typeof a;
      return (
        a.httpProtocol === o.httpProtocol &&
        a.sniName === o.sniName &&
        a.urls.length === o.urls.length &&
        a.urls.every((u, i) => sameUrl(u, o.urls[i]))
      );
    }
    case 'MISC_CHECK': {
      const o = b as typeof a;
      return a.dynamic === o.dynamic && a.argv.length === o.argv.length && a.argv.every((w, i) => w === o.argv[i]);
    }
    case 'DNS_CHECK': {
      const o = b as typeof a;
      return a.queryType === o.queryType && a.name === o.name;
    }
    case 'UDP_CHECK': {
      const o = b as typeof a;
      return (
        sameBytes(a.payload, o.payload) &&
        a.requireReply === o.requireReply &&
        a.minReplyLength === o.minReplyLength &&
        a.maxReplyLength === o.maxReplyLength
      );
    }
  }
}

/**
 * Moves the old checker's state into the new one (which starts up, not run, retry count 0).
 * `setUp` is the real server's set_checker_state(), which keeps its failure count.
 */
export function migrateCheckerState(from: CheckerState, to: CheckerState, setUp: (up: boolean) => void): void {
  if (from.hasRun && from.isUp !== to.isUp) setUp(from.isUp);
  to.hasRun = from.hasRun;
  const retry = to.spec.retry;
  // Down: one more failure is final anyway. Up: retries already spent count, up to the new retry.
  if (!to.isUp) to.retryIt = retry + 1;
  else to.retryIt = Math.min(from.retryIt, retry);
  to.url = from.url;
  to.failedUrl = from.failedUrl;
  to.lastExitStatus = from.lastExitStatus;
  to.dynamicWeight = from.dynamicWeight;
}

function sameConnection(a: CheckerSpec, b: CheckerSpec): boolean {
  return (
    a.connectIp === b.connectIp &&
    a.connectPort === b.connectPort &&
    a.bindTo === b.bindTo &&
    a.bindPort === b.bindPort &&
    a.connectTimeoutMs === b.connectTimeoutMs
  );
}

function sameUrl(a: HttpUrl, b: HttpUrl | undefined): boolean {
  return (
    b !== undefined &&
    a.path === b.path &&
    a.digest === b.digest &&
    a.virtualhost === b.virtualhost &&
    a.statusCodes.length === b.statusCodes.length &&
    a.statusCodes.every(([lo, hi], i) => lo === b.statusCodes[i][0] && hi === b.statusCodes[i][1])
  );
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
