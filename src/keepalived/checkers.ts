/**
 * Checker blocks of a real_server (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, PING_CHECK,
 * UDP_CHECK, DNS_CHECK): the keywords every checker has, read into a draft, then resolved
 * against its real and virtual server into the CheckerSpec the health-check engine runs. What
 * each type adds lives in http-check.ts, misc-check.ts, udp-check.ts and dns-check.ts.
 *
 * Common keywords (check_api.c install_checker_common_keywords()): every type but MISC_CHECK
 * has connect_ip, connect_port, bindto, bind_port and connect_timeout (bind_if and fwmark are
 * read, not used); every type has retry, delay_before_retry, warmup, delay_loop, alpha and
 * log_all_failures.
 *
 * Resolution (check_data.c validate_check_config(); per-type defaults from check_api.c
 * queue_checker(), check_http.c, check_misc.c, check_dns.c):
 * - retry = checker > real server > type default (TCP, UDP, PING, HTTP, SSL 1; MISC 0; DNS 3);
 * - delay_before_retry = checker > real server > type default (1 s; HTTP and SSL 3 s; DNS
 *   none) > the checker's delay_loop;
 * - warmup = checker > real server > the checker's delay_loop;
 * - connect_timeout, delay_loop and alpha = checker > real server > virtual server;
 * - the probe goes to connect_ip (else the real server's address) and connect_port (else the
 *   port written on the real_server line). A type that connects to a port and ends up with
 *   none is an error: keepalived would probe port 0 and fail forever.
 * A checker with any error is left out (and the configuration is refused anyway).
 */
import type { ConfStatement } from './blocks.js';
import type { CheckerInheritance, CheckerKind, CheckerType } from './checker-kind.js';
import { NO_KEYWORDS } from './checker-kind.js';
import type { DiagnosticSink } from './diagnostics.js';
import { dnsCheck } from './dns-check.js';
import { httpCheck } from './http-check.js';
import type { CheckerCommon, CheckerSpec, SourceRef } from './lvs-config.js';
import { miscCheck } from './misc-check.js';
import { field, type Handler, into, walkBlock } from './statements.js';
import { emptyTiming, type TimingDraft, timingHandlers } from './timing.js';
import { udpCheck } from './udp-check.js';
import { extraWords, msFromUs, readers } from './values.js';

export const CHECKER_TYPES: ReadonlySet<string> = new Set<CheckerType>([
  'TCP_CHECK',
  'HTTP_GET',
  'SSL_GET',
  'MISC_CHECK',
  'PING_CHECK',
  'UDP_CHECK',
  'DNS_CHECK',
]);

export interface CheckerDraft {
  readonly type: CheckerType;
  readonly at: SourceRef;
  readonly connection: {
    connectIp: string | null;
    connectPort: number | null;
    bindTo: string | null;
    bindPort: number;
  };
  readonly timing: TimingDraft;
  readonly flags: { alpha: boolean | null; logAllFailures: boolean | null };
  readonly kind: CheckerKind;
}

const TYPE_DEFAULTS: Readonly<Record<CheckerType, { retry: number; delayBeforeRetryUs: number | null }>> = {
  TCP_CHECK: { retry: 1, delayBeforeRetryUs: 1e6 },
  HTTP_GET: { retry: 1, delayBeforeRetryUs: 3e6 },
  SSL_GET: { retry: 1, delayBeforeRetryUs: 3e6 },
  MISC_CHECK: { retry: 0, delayBeforeRetryUs: 1e6 },
  PING_CHECK: { retry: 1, delayBeforeRetryUs: 1e6 },
  UDP_CHECK: { retry: 1, delayBeforeRetryUs: 1e6 },
  // check_dns.c sets no default delay before retry: it falls back to delay_loop.
  DNS_CHECK: { retry: 3, delayBeforeRetryUs: null },
};

/** Types that open a connection to a port. */
const NEEDS_PORT: ReadonlySet<CheckerType> = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'UDP_CHECK', 'DNS_CHECK']);

const CONNECTION_UNUSED: ReadonlyArray<readonly [string, string]> = [
  ['bind_if', 'probes are bound by address only'],
  ['fwmark', 'tapvs marks no probe sockets'],
];

const HINTS: ReadonlyMap<string, string> = new Map([
  ['nb_get_retry', 'keepalived accepts nb_get_retry only in HTTP_GET and SSL_GET (elsewhere it ignores it): use retry'],
]);

/** A checker block's draft, or null when it has an error. */
export function readChecker(st: ConfStatement, diags: DiagnosticSink): CheckerDraft | null {
  const type = st.keyword as CheckerType;
  const timing = emptyTiming();
  const d: CheckerDraft = {
    type,
    at: st.at,
    connection: { connectIp: null, connectPort: null, bindTo: null, bindPort: 0 },
    timing,
    flags: { alpha: null, logAllFailures: null },
    kind: kindOf(type, (v) => (timing.retry = v), diags),
  };
  extraWords(st, diags, 0);
  const before = diags.list.length;
  const r = readers(diags);
  const connects = type !== 'MISC_CHECK';
  const handlers = new Map<string, Handler>([
    ...timingHandlers(d.timing, diags, { retryMin: 0, connectTimeout: connects }),
    ['alpha', field(diags, r.flag, into(d.flags, 'alpha'))],
    ['log_all_failures', field(diags, r.flag, into(d.flags, 'logAllFailures'))],
  ]);
  if (connects) {
    handlers.set('connect_ip', field(diags, r.address, into(d.connection, 'connectIp')));
    handlers.set('connect_port', field(diags, r.unsigned(1, 65535), into(d.connection, 'connectPort')));
    handlers.set('bindto', field(diags, r.address, into(d.connection, 'bindTo')));
    handlers.set('bind_port', field(diags, r.unsigned(1, 65535), into(d.connection, 'bindPort')));
  }
  const own = d.kind.keywords;
  for (const [k, h] of own.handlers) handlers.set(k, h);
  const unused = new Map([...(connects ? CONNECTION_UNUSED : []), ...own.unused]);
  walkBlock(st.block ?? [], { handlers, blocks: new Set(own.blocks), unused, hints: HINTS }, type, diags);
  if (!d.kind.complete(st.at, diags)) return null;
  return diags.list.slice(before).some((x) => x.severity === 'error') ? null : d;
}

function kindOf(type: CheckerType, retry: (v: number) => void, diags: DiagnosticSink): CheckerKind {
  switch (type) {
    case 'HTTP_GET':
    case 'SSL_GET':
      return httpCheck(type, retry, diags);
    case 'MISC_CHECK':
      return miscCheck(diags);
    case 'UDP_CHECK':
      return udpCheck(diags);
    case 'DNS_CHECK':
      return dnsCheck(diags);
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return {
        keywords: NO_KEYWORDS,
        complete: () => true,
        spec: (common: CheckerCommon): CheckerSpec => ({ ...common, type }),
      };
  }
}

/** The CheckerSpec for a draft, with inheritance applied; null after reporting an error. */
export function resolveChecker(d: CheckerDraft, inh: CheckerInheritance, diags: DiagnosticSink): CheckerSpec | null {
  const t = d.timing;
  const delayLoopUs = t.delayLoopUs ?? inh.delayLoopUs;
  const typeDefault = TYPE_DEFAULTS[d.type];
  const connectPort = d.connection.connectPort ?? inh.rsPortAsWritten;
  if (NEEDS_PORT.has(d.type) && connectPort === 0) {
    const why = 'the real_server line has none and there is no connect_port (keepalived would probe port 0)';
    diags.error(d.at, `${d.type} has no port to probe: ${why}`);
    return null;
  }
  const delayBeforeRetryUs = t.delayBeforeRetryUs ?? inh.delayBeforeRetryUs ?? typeDefault.delayBeforeRetryUs;
  const common: CheckerCommon = {
    at: d.at,
    connectIp: d.connection.connectIp ?? inh.rsAddr,
    connectPort,
    bindTo: d.connection.bindTo,
    bindPort: d.connection.bindPort,
    connectTimeoutMs: msFromUs(t.connectTimeoutUs ?? inh.connectTimeoutUs),
    retry: t.retry ?? inh.retry ?? typeDefault.retry,
    delayBeforeRetryMs: msFromUs(delayBeforeRetryUs ?? delayLoopUs),
    delayLoopMs: msFromUs(delayLoopUs),
    warmupMs: msFromUs(t.warmupUs ?? inh.warmupUs ?? delayLoopUs),
    alpha: d.flags.alpha ?? inh.alpha,
    logAllFailures: d.flags.logAllFailures ?? inh.logAllFailures,
  };
  return d.kind.spec(common, inh);
}
