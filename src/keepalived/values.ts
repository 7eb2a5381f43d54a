/**
 * Values of keepalived statements, read as keepalived reads them (lib/parser.c read_unsigned(),
 * read_timer(), check_true_false(); lib/utils.c inet_stosockaddr()) and reported on the
 * statement's line when they are wrong. Every reader returns null after reporting an error, so
 * the caller keeps its default and carries on.
 *
 * - numbers are decimal, no sign (keepalived reports a negative number);
 * - timers are seconds with up to 6 decimals (microseconds), e.g. `delay_loop 0.5`; more
 *   decimals are rounded with a warning. Timers end up in milliseconds;
 * - booleans are on/off, true/false, yes/no (lowercase); a flag without a value means on;
 * - addresses are dotted quads as inet_pton() takes them (no leading zeros, no shorthand).
 *   tapvs is IPv4-only: an IPv6 address is an error that says so.
 */

import type { ConfStatement } from './blocks.js';
import type { DiagnosticSink } from './diagnostics.js';

/** The largest timer tapvs can arm: setTimeout() takes at most 2^31 - 1 ms (24.8 days). */
export const MAX_TIMER_US = 2_147_483_647 * 1000;
export const UINT_MAX = 4_294_967_295;
/** IPVS weights are signed 32-bit: keepalived's IPVS_WEIGHT_LIMIT is INT_MAX. */
export const WEIGHT_MAX = 2_147_483_647;

/** Argument `index` (0 = the first after the keyword), or null after reporting that it is missing. */
export function argument(st: ConfStatement, diags: DiagnosticSink, index = 0): string | null {
  const v = st.args[index];
  if (v === undefined) {
    diags.error(st.at, `${st.keyword}: missing value`);
    return null;
  }
  return v;
}

/** Warns about words after the first `count` arguments: keepalived ignores them. */
export function extraWords(st: ConfStatement, diags: DiagnosticSink, count: number): void {
  if (st.args.length > count) {
    diags.warning(st.at, `${st.keyword}: extra words ignored: ${st.args.slice(count).join(' ')}`);
  }
}

export function parseUnsigned(text: string): number | null {
  return /^[ \t]*\+?[0-9]+$/.test(text) ? Number(text.trim()) : null;
}

export function readUnsigned(
  st: ConfStatement,
  diags: DiagnosticSink,
  min: number,
  max: number,
  index = 0,
): number | null {
  const text = argument(st, diags, index);
  if (text === null) return null;
  const n = parseUnsigned(text);
  if (n === null) {
    diags.error(st.at, `${st.keyword}: ${text.trim().startsWith('-') ? 'negative' : 'invalid'} number '${text}'`);
    return null;
  }
  if (n < min || n > max) {
    diags.error(st.at, `${st.keyword}: ${text} is outside [${min}, ${max}]`);
    return null;
  }
  return n;
}

/** A timer in microseconds within [minUs, maxUs]. */
export function readTimerUs(
  st: ConfStatement,
  diags: DiagnosticSink,
  minUs: number,
  maxUs = MAX_TIMER_US,
): number | null {
  const text = argument(st, diags, 0);
  if (text === null) return null;
  const m = /^\+?([0-9]*)(?:\.([0-9]*))?$/.exec(text);
  if (m === null || (m[1] === '' && (m[2] ?? '') === '')) {
    diags.error(st.at, `${st.keyword}: '${text}' is not a number of seconds`);
    return null;
  }
  const fraction = m[2] ?? '';
  if (fraction.length > 6)
    diags.warning(st.at, `${st.keyword}: ${text}: more than 6 decimals, rounded to microseconds`);
  const whole = m[1] === '' ? 0 : Number(m[1]);
  // Integer arithmetic on the first 7 decimals: 0.0000015 * 1e6 is 1.4999… in floating point.
  const micro = Math.round(Number(fraction.padEnd(7, '0').slice(0, 7)) / 10);
  const us = whole * 1e6 + micro;
  if (!Number.isFinite(us) || us < minUs || us > maxUs) {
    diags.error(st.at, `${st.keyword}: ${text} s is outside [${minUs / 1e6}, ${maxUs / 1e6}] s`);
    return null;
  }
  return us;
}

export function parseBool(text: string): boolean | null {
  if (text === 'true' || text === 'on' || text === 'yes') return true;
  if (text === 'false' || text === 'off' || text === 'no') return false;
  return null;
}

/** `keyword [BOOL]`: on without a value. */
export function readFlag(st: ConfStatement, diags: DiagnosticSink): boolean | null {
  if (st.args.length === 0) return true;
  const b = parseBool(st.args[0]);
  if (b === null) diags.error(st.at, `${st.keyword}: '${st.args[0]}' is not on/off, true/false or yes/no`);
  return b;
}

/**
 * A flag keepalived sets whatever follows it (its handler ignores the value): `off` would turn
 * it on, so anything but nothing or an "on" word is an error.
 */
export function readBareFlag(st: ConfStatement, diags: DiagnosticSink): boolean | null {
  if (st.args.length === 0 || parseBool(st.args[0]) === true) return true;
  diags.error(st.at, `${st.keyword} takes no value here: keepalived turns it on whatever follows ('${st.args[0]}')`);
  return null;
}

/** A dotted quad as inet_pton(AF_INET) reads it, or null. */
export function parseIPv4(text: string): string | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
  }
  return text;
}

/** Why `text` is no IPv4 address, worded for an error message. */
export function addressProblem(text: string): string {
  return text.includes(':')
    ? `'${text}' is an IPv6 address: tapvs forwards IPv4 only`
    : `'${text}' is not an IPv4 address (want A.B.C.D)`;
}

/** An IPv4 address argument, or null after reporting it. */
export function readAddress(st: ConfStatement, diags: DiagnosticSink, index = 0): string | null {
  const text = argument(st, diags, index);
  if (text === null) return null;
  const a = parseIPv4(text);
  if (a === null) diags.error(st.at, `${st.keyword}: ${addressProblem(text)}`);
  return a;
}

/**
 * An optional port word: absent or all zeros means "no port" (0), as keepalived reads
 * `real_server IP [PORT]` since v2.0.7; else 1..65535. Null after an error.
 */
export function parseOptionalPort(text: string | undefined): number | null {
  if (text === undefined || /^0+$/.test(text)) return 0;
  const n = parseUnsigned(text);
  return n !== null && n >= 1 && n <= 65535 ? n : null;
}

/** `IP [PORT]` at argument `index`: the address and port (0 = none), or null after reporting. */
export function readAddressPort(
  st: ConfStatement,
  diags: DiagnosticSink,
  index = 0,
): { addr: string; port: number } | null {
  const addr = readAddress(st, diags, index);
  if (addr === null) return null;
  const port = parseOptionalPort(st.args[index + 1]);
  if (port === null) {
    diags.error(st.at, `${st.keyword}: '${st.args[index + 1]}' is not a port (1..65535)`);
    return null;
  }
  extraWords(st, diags, index + 2);
  return { addr, port };
}

export function msFromUs(us: number): number {
  return us / 1000;
}

/** The readers bound to one sink, as `(st) => value | null` for statements.ts's field(). */
export function readers(diags: DiagnosticSink) {
  return {
    unsigned: (min: number, max: number) => (st: ConfStatement) => readUnsigned(st, diags, min, max),
    timer:
      (minUs: number, maxUs = MAX_TIMER_US) =>
      (st: ConfStatement) =>
        readTimerUs(st, diags, minUs, maxUs),
    flag: (st: ConfStatement) => readFlag(st, diags),
    bareFlag: (st: ConfStatement) => readBareFlag(st, diags),
    text: (st: ConfStatement) => argument(st, diags),
    address: (st: ConfStatement) => readAddress(st, diags),
  };
}
