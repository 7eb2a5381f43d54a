/**
 * User-facing IPv4 address and prefix parsing (daemon options, control requests), validated
 * with the `ip-address` package so every input gets the same strict rules and a clear error.
 * The hot path never parses text: it works on int32 addresses.
 *
 * tapvsadm keeps ipvsadm's own inet_aton rules (it accepts `10.1` and hex forms, as ipvsadm
 * does) and sends the daemon dotted quads, which land here.
 */
import { Address4 } from 'ip-address';
import { TapvsError } from './errors.js';

/** A dotted-quad IPv4 address as an int32, or null: for callers that word the error themselves. */
export function tryParseAddress(text: unknown): number | null {
  if (typeof text !== 'string' || !Address4.isValid(text) || text.includes('/')) return null;
  return Number(new Address4(text).bigInt()) | 0;
}

/** Parses a dotted-quad IPv4 address into an int32; throws BAD_ARGUMENT naming `what`. */
export function parseAddress(text: unknown, what: string): number {
  const a = tryParseAddress(text);
  if (a === null) {
    throw new TapvsError('BAD_ARGUMENT', `${what}: '${String(text)}' is not an IPv4 address (want A.B.C.D)`);
  }
  return a;
}

/** Parses A.B.C.D/LEN (LEN 1..32) into an int32 address and a prefix length. */
export function parsePrefix(text: unknown, what: string): { addr: number; prefixLen: number } {
  if (typeof text !== 'string' || !/^[^/]+\/\d{1,2}$/.test(text) || !Address4.isValid(text)) {
    throw new TapvsError('BAD_ARGUMENT', `${what}: '${String(text)}' is not an IPv4 prefix (want A.B.C.D/LEN)`);
  }
  const a = new Address4(text);
  const prefixLen = a.subnetMask;
  if (prefixLen < 1 || prefixLen > 32) {
    throw new TapvsError('BAD_ARGUMENT', `${what}: prefix length ${prefixLen} out of range 1..32`);
  }
  return { addr: Number(new Address4(a.addressMinusSuffix).bigInt()) | 0, prefixLen };
}
