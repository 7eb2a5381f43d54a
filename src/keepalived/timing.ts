/**
 * The timing settings a virtual server, a real server and a checker may each set, and that flow
 * from one to the next unless set (check_parser.c vs_*_handler() and rs_*_handler();
 * check_api.c install_checker_common_keywords()): retry, delay_before_retry, warmup,
 * connect_timeout and delay_loop. Unset is null; defaults come when resolving.
 *
 * Ranges as keepalived reads them: retry 1..2^32-1 on virtual and real servers but 0..2^32-1 on
 * a checker; delay_loop at least 1 µs; connect_timeout 1 µs..2^32-1 µs (an unsigned int of
 * microseconds in keepalived); delay_before_retry and warmup from 0. tapvs caps every timer at
 * 2^31-1 ms, the longest timeout Node can arm.
 */
import type { DiagnosticSink } from './diagnostics.js';
import { field, type Handler, into } from './statements.js';
import { readers, UINT_MAX } from './values.js';

export interface TimingDraft {
  retry: number | null;
  delayBeforeRetryUs: number | null;
  warmupUs: number | null;
  connectTimeoutUs: number | null;
  delayLoopUs: number | null;
}

export function emptyTiming(): TimingDraft {
  return { retry: null, delayBeforeRetryUs: null, warmupUs: null, connectTimeoutUs: null, delayLoopUs: null };
}

/** connect_timeout's largest value in microseconds. */
const MAX_CONNECT_TIMEOUT_US = UINT_MAX;

export function timingHandlers(
  t: TimingDraft,
  diags: DiagnosticSink,
  opts: { readonly retryMin: number; readonly connectTimeout: boolean },
): Array<[string, Handler]> {
  const r = readers(diags);
  const out: Array<[string, Handler]> = [
    ['retry', field(diags, r.unsigned(opts.retryMin, UINT_MAX), into(t, 'retry'))],
    ['delay_before_retry', field(diags, r.timer(0), into(t, 'delayBeforeRetryUs'))],
    ['warmup', field(diags, r.timer(0), into(t, 'warmupUs'))],
    ['delay_loop', field(diags, r.timer(1), into(t, 'delayLoopUs'))],
  ];
  if (opts.connectTimeout) {
    out.push(['connect_timeout', field(diags, r.timer(1, MAX_CONNECT_TIMEOUT_US), into(t, 'connectTimeoutUs'))]);
  }
  return out;
}
