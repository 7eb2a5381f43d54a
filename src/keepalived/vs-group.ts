/**
 * `virtual_server_group NAME { … }`: the addresses a `virtual_server group NAME` stands for,
 * one IPVS service each (check_data.c alloc_vsg_entry()). One entry per line:
 * - `A.B.C.D [PORT]`: one address;
 * - `A.B.C.D-E [PORT]`: last-octet range, E greater than D;
 * - `A.B.C.D-E.F.G.H [PORT]`: full range, ascending;
 * - `A.B.C.D/LEN [PORT]`: every address of the prefix, whose host bits must be zero.
 * A missing port or port 0 means "no port" (the virtual server is then made persistent, as
 * keepalived does). `fwmark N` entries and IPv6 are errors: tapvs has neither firewall marks
 * nor IPv6. Bad entries are errors (keepalived skips them).
 */
import type { ConfStatement } from './blocks.js';
import type { DiagnosticSink } from './diagnostics.js';
import type { ServiceAddress, SourceRef } from './lvs-config.js';
import { addressProblem, extraWords, parseIPv4, parseOptionalPort } from './values.js';

export interface VsGroup {
  readonly name: string;
  readonly at: SourceRef;
  /** In entry order; port 0 = no port. */
  readonly members: readonly ServiceAddress[];
}

/** Each address is an IPVS service: a /16 would be 65536 of them. */
export const MAX_GROUP_MEMBERS = 4096;

export function readVsGroup(st: ConfStatement, diags: DiagnosticSink): VsGroup | null {
  const name = st.args[0];
  if (name === undefined) {
    diags.error(st.at, 'virtual_server_group: missing name');
    return null;
  }
  extraWords(st, diags, 1);
  const members: ServiceAddress[] = [];
  for (const entry of st.block ?? []) {
    if (entry.block !== null) {
      diags.error(entry.at, `virtual_server_group ${name}: an entry takes no '{ … }' block`);
      continue;
    }
    const addrs = entryAddresses(entry, diags);
    if (addrs === null) continue;
    const port = parseOptionalPort(entry.args[0]);
    if (port === null) {
      diags.error(entry.at, `virtual_server_group ${name}: '${entry.args[0]}' is not a port (1..65535)`);
      continue;
    }
    extraWords(entry, diags, 1);
    if (members.length + addrs.length > MAX_GROUP_MEMBERS) {
      diags.error(entry.at, `virtual_server_group ${name}: more than ${MAX_GROUP_MEMBERS} addresses`);
      return null;
    }
    for (const a of addrs) members.push({ addr: dotted(a), port });
  }
  if (members.length === 0) diags.warning(st.at, `virtual_server_group ${name} has no entries`);
  return { name, at: st.at, members };
}

/** The entry's addresses as unsigned 32-bit numbers, or null after reporting the problem. */
function entryAddresses(entry: ConfStatement, diags: DiagnosticSink): number[] | null {
  const text = entry.keyword;
  if (text === 'fwmark') {
    diags.error(entry.at, 'fwmark group entries: tapvs has no firewall-mark services');
    return null;
  }
  const slash = text.indexOf('/');
  if (slash >= 0) return prefixAddresses(entry, text.slice(0, slash), text.slice(slash + 1), diags);
  const dash = text.indexOf('-');
  if (dash < 0) return single(entry, text, diags);
  const first = single(entry, text.slice(0, dash), diags);
  if (first === null) return null;
  const endText = text.slice(dash + 1);
  let last: number;
  if (endText.includes('.')) {
    const end = single(entry, endText, diags);
    if (end === null) return null;
    last = end[0];
    if (last < first[0]) {
      diags.error(entry.at, `${text}: the range ends before it starts`);
      return null;
    }
  } else {
    const octet = /^[0-9]{1,3}$/.test(endText) ? Number(endText) : 256;
    if (octet > 255 || octet <= (first[0] & 0xff)) {
      diags.error(
        entry.at,
        `${text}: the last octet of the range must be greater than ${first[0] & 0xff} and at most 255`,
      );
      return null;
    }
    last = first[0] - (first[0] % 256) + octet;
  }
  return span(entry, first[0], last, diags);
}

function prefixAddresses(entry: ConfStatement, base: string, lenText: string, diags: DiagnosticSink): number[] | null {
  const b = single(entry, base, diags);
  if (b === null) return null;
  const len = /^[0-9]{1,2}$/.test(lenText) ? Number(lenText) : 0;
  if (len < 1 || len > 32) {
    diags.error(entry.at, `${entry.keyword}: the prefix length must be 1..32`);
    return null;
  }
  const hostBits = len === 32 ? 0 : 2 ** (32 - len) - 1;
  if ((b[0] & hostBits) !== 0) {
    diags.error(entry.at, `${entry.keyword}: host bits are set (the base address must end the prefix with zeros)`);
    return null;
  }
  return span(entry, b[0], b[0] + hostBits, diags);
}

function single(entry: ConfStatement, text: string, diags: DiagnosticSink): number[] | null {
  const a = parseIPv4(text);
  if (a === null) {
    diags.error(entry.at, `virtual_server_group entry: ${addressProblem(text)}`);
    return null;
  }
  return [toNumber(a)];
}

function span(entry: ConfStatement, first: number, last: number, diags: DiagnosticSink): number[] | null {
  if (last - first + 1 > MAX_GROUP_MEMBERS) {
    diags.error(
      entry.at,
      `${entry.keyword}: ${last - first + 1} addresses (tapvs takes at most ${MAX_GROUP_MEMBERS} per group)`,
    );
    return null;
  }
  const out: number[] = [];
  for (let a = first; a <= last; a++) out.push(a);
  return out;
}

function toNumber(dottedQuad: string): number {
  return dottedQuad.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}
