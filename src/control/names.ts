/**
 * Host and service names for tapvsadm, the way ipvsadm gets them from the C library, but read
 * from the local files only: /etc/hosts (gethostbyname / gethostbyaddr, IPv4) and /etc/services
 * (getservbyname / getservbyport for "tcp" and "udp").
 *
 * Contract: lookups are synchronous and never throw; a missing or unreadable file is an empty
 * database. Each file is read and parsed once per process (cached).
 *
 * What it does not do: DNS, NIS or any other NSS source, and IPv6 entries. ipvsadm resolves
 * through NSS, so a name that only DNS knows works there and not here; the listing then falls
 * back to numbers, as ipvsadm does for an address without a name.
 *
 * Also here: inet_aton(3), because ipvsadm accepts every IPv4 form it accepts ("10.1" is
 * 10.0.0.1, "0x0a.0.0.1", "012.0.0.1" is octal), and the strtol-based number rule of ipvsadm's
 * string_to_number() (base 10, whole string, range).
 */
import { readFileSync } from 'node:fs';
import { formatIpv4 } from '../packet/ipv4.js';

export type NameProto = 'tcp' | 'udp' | 'sctp';

/** The lookups tapvsadm needs. Tests pass their own; the default reads the system files. */
export interface NameDb {
  /** gethostbyname for AF_INET: the first IPv4 address of `name`, dotted, or null. */
  hostToAddr(name: string): string | null;
  /** gethostbyaddr: the canonical name of a dotted IPv4 address, or null. */
  addrToHost(addr: string): string | null;
  /** getservbyname(name, proto): the port, or null. */
  serviceToPort(name: string, proto: NameProto): number | null;
  /** getservbyport(port, proto): the official service name, or null. */
  portToService(port: number, proto: NameProto): string | null;
}

interface HostEntry {
  addr: string;
  names: string[];
}
interface ServiceEntry {
  name: string;
  port: number;
  proto: string;
  aliases: string[];
}

/** Parses hosts(5) text: "address canonical [aliases...]", '#' starts a comment. IPv4 only. */
function parseHostsFile(text: string): HostEntry[] {
  const out: HostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = stripComment(raw);
    const f = line.split(/[ \t\r]+/).filter((w) => w.length > 0);
    if (f.length < 2) continue;
    const a = inetAton(f[0]);
    // inet_aton alone would also take "10.1"; hosts files use strict dotted quads.
    if (a === null || !/^\d+\.\d+\.\d+\.\d+$/.test(f[0])) continue;
    out.push({ addr: formatIpv4(a), names: f.slice(1) });
  }
  return out;
}

/** Parses services(5) text: "name port/proto [aliases...]", '#' starts a comment. */
function parseServicesFile(text: string): ServiceEntry[] {
  const out: ServiceEntry[] = [];
  for (const raw of text.split('\n')) {
    const f = stripComment(raw)
      .split(/[ \t\r]+/)
      .filter((w) => w.length > 0);
    if (f.length < 2) continue;
    const m = /^(\d+)\/([A-Za-z0-9]+)$/.exec(f[1]);
    if (m === null) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    out.push({ name: f[0], port, proto: m[2], aliases: f.slice(2) });
  }
  return out;
}

function stripComment(line: string): string {
  const i = line.indexOf('#');
  return i < 0 ? line : line.slice(0, i);
}

/** A NameDb over already-read file contents (used by tests and by the system default). */
export function nameDbFromText(hostsText: string, servicesText: string): NameDb {
  const hosts = parseHostsFile(hostsText);
  const services = parseServicesFile(servicesText);
  return {
    hostToAddr(name: string): string | null {
      const lower = name.toLowerCase(); // glibc compares host names case-insensitively
      for (const h of hosts) if (h.names.some((n) => n.toLowerCase() === lower)) return h.addr;
      return null;
    },
    addrToHost(addr: string): string | null {
      for (const h of hosts) if (h.addr === addr) return h.names[0];
      return null;
    },
    serviceToPort(name: string, proto: NameProto): number | null {
      for (const s of services) {
        if (s.proto === proto && (s.name === name || s.aliases.includes(name))) return s.port;
      }
      return null;
    },
    portToService(port: number, proto: NameProto): string | null {
      for (const s of services) if (s.proto === proto && s.port === port) return s.name;
      return null;
    },
  };
}

let systemDb: NameDb | null = null;

/** The system's /etc/hosts and /etc/services, read once. */
export function systemNameDb(): NameDb {
  if (systemDb === null) systemDb = nameDbFromText(readOr('/etc/hosts'), readOr('/etc/services'));
  return systemDb;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A database that knows no names: what `-n` amounts to, and a neutral default for tests. */
export const EMPTY_NAME_DB: NameDb = nameDbFromText('', '');

// ------------------------------------------------------------------ numbers and addresses

const C_SPACE = /^[ \t\n\v\f\r]$/;

/**
 * ipvsadm's string_to_number(): strtol(s, 10) must consume the whole string (leading blanks and
 * a sign are allowed, as strtol allows them) and land in [min, max]. Returns -1 otherwise.
 */
export function stringToNumber(s: string, min: number, max: number): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(s);
  if (m === null) return -1;
  let n = Number(m[2]);
  if (m[1] === '-') n = -n;
  if (!Number.isSafeInteger(n) || n < min || n > max) return -1;
  return n;
}

/** strtoul(s, base 0) prefix: returns [value, chars consumed]; consumed 0 if no digits. */
function strtoul0(s: string, at: number): [number, number] {
  let i = at;
  let base = 10;
  if (s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  const digits = base === 16 ? /[0-9a-fA-F]/ : base === 8 ? /[0-7]/ : /[0-9]/;
  let v = 0;
  const start = i;
  while (i < s.length && digits.test(s[i])) {
    v = v * base + parseInt(s[i], 16);
    i++;
  }
  return [v, i === start && base !== 8 ? 0 : i - at];
}

/**
 * inet_aton(3) as glibc implements it: 1 to 4 parts, each decimal, octal (leading 0) or hex
 * (0x); the last part fills the remaining bytes; trailing blanks end the address. Returns the
 * address as an unsigned 32-bit number, or null.
 */
export function inetAton(s: string): number | null {
  const parts: number[] = [];
  let i = 0;
  for (;;) {
    if (!/[0-9]/.test(s[i] ?? '')) return null;
    const [v, used] = strtoul0(s, i);
    if (used === 0) return null;
    i += used;
    if (s[i] === '.') {
      if (parts.length > 2 || v > 0xff) return null;
      parts.push(v);
      i++;
      continue;
    }
    parts.push(v);
    break;
  }
  if (i < s.length && !C_SPACE.test(s[i])) return null;
  const last = parts[parts.length - 1];
  const maxLast = [0xffffffff, 0xffffff, 0xffff, 0xff][parts.length - 1];
  if (last > maxLast) return null;
  let a = 0;
  for (let k = 0; k < parts.length - 1; k++) a += parts[k] * 2 ** (24 - 8 * k);
  return a + last;
}

/** Unsigned 32-bit value of a canonical dotted quad (as the daemon reports addresses), or null. */
export function dottedToU32(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  const b = [m[1], m[2], m[3], m[4]].map(Number);
  if (b.some((x) => x > 255)) return null;
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}
