/**
 * Capture filters for packet traces: a small tcpdump-like language compiled once into typed
 * arrays, so that matching a frame reads bytes and compares numbers, allocating nothing (it runs
 * per packet while tracing is on).
 *
 * Grammar (whitespace-separated tokens, case-insensitive):
 *   filter := "" | term (("and" | "&&") term)*
 *   term   := ["src" | "dst"] "host" A.B.C.D
 *           | ["src" | "dst"] "net" A.B.C.D/LEN
 *           | ["src" | "dst"] "port" N
 *           | ["proto"] ("tcp" | "udp" | "icmp" | "arp")
 * `tcp` or `udp` may be followed directly by a port term, as in tcpdump's `tcp port 80`, read as
 * `tcp and port 80`. `or`, `not` and parentheses are refused by name. The empty filter matches
 * every frame.
 *
 * Matching rules, as tcpdump's: `host` and `net` look at the IPv4 source and destination (the
 * outer header only, never an ICMP quote) and at an ARP packet's sender and target addresses;
 * `port` matches TCP or UDP source or destination ports of an unfragmented (or first-fragment)
 * datagram; one 802.1Q or 802.1ad tag is skipped. A frame too short for a field a term needs
 * does not match that term, and match() never throws.
 *
 * Not here: `or`, `not`, parentheses, IPv6, byte offsets (use tshark on the pcapng for those).
 */
import { TapvsError } from '../errors.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../packet/eth.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../packet/ipv4.js';

/** Term kinds in the compiled program. */
const K_HOST = 0,
  K_NET = 1,
  K_PORT = 2,
  K_IPPROTO = 3,
  K_ARP = 4;
/** Which address or port a term looks at. */
const D_ANY = 0,
  D_SRC = 1,
  D_DST = 2;

const PROTOS = new Map<string, number>([
  ['tcp', IPPROTO_TCP],
  ['udp', IPPROTO_UDP],
  ['icmp', IPPROTO_ICMP],
  ['arp', -1],
]);

export class CaptureFilter {
  /** The filter as parsed, normalised (lower case, single spaces, `and` between terms). */
  readonly text: string;
  private readonly n: number;
  private readonly kind: Int32Array;
  private readonly dir: Int32Array;
  /** Address, port or protocol number. */
  private readonly value: Int32Array;
  /** Netmask for `net` (-1 for `host`). */
  private readonly mask: Int32Array;

  /** Compiles `expr`; throws TapvsError('BAD_ARGUMENT') naming the offending token. */
  constructor(expr: string) {
    const terms = parseFilter(expr);
    this.n = terms.length;
    this.kind = Int32Array.from(terms, (t) => t.kind);
    this.dir = Int32Array.from(terms, (t) => t.dir);
    this.value = Int32Array.from(terms, (t) => t.value);
    this.mask = Int32Array.from(terms, (t) => t.mask);
    this.text = terms.map((t) => t.text).join(' and ');
  }

  /** True when the filter is empty and accepts everything. */
  get matchesAll(): boolean {
    return this.n === 0;
  }

  /** Does the Ethernet frame u8[off, off+len) pass every term? Allocation-free, never throws. */
  match(u8: Uint8Array, off: number, len: number): boolean {
    const n = this.n;
    if (n === 0) return true;
    let end = off + len;
    if (end > u8.length) end = u8.length;
    if (off < 0 || end - off < 14) return false;
    let type = (u8[off + 12] << 8) | u8[off + 13];
    let l3 = off + 14;
    if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
      if (end - off < 18) return false;
      type = (u8[off + 16] << 8) | u8[off + 17];
      l3 = off + 18;
    }
    // The facts the terms test, read once: -1 / false where the frame lacks the header.
    let isIp = false,
      isArp = false,
      src = 0,
      dst = 0,
      proto = -1,
      hasPorts = false,
      sport = 0,
      dport = 0;
    if (type === ETHERTYPE_IPV4) {
      if (end - l3 >= 20 && u8[l3] >>> 4 === 4) {
        const hlen = (u8[l3] & 0x0f) << 2;
        isIp = hlen >= 20;
        if (isIp) {
          src = rd32(u8, l3 + 12);
          dst = rd32(u8, l3 + 16);
          proto = u8[l3 + 9];
          const fragOff = ((u8[l3 + 6] & 0x1f) << 8) | u8[l3 + 7];
          const l4 = l3 + hlen;
          if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && fragOff === 0 && l4 + 4 <= end) {
            hasPorts = true;
            sport = (u8[l4] << 8) | u8[l4 + 1];
            dport = (u8[l4 + 2] << 8) | u8[l4 + 3];
          }
        }
      }
    } else if (type === ETHERTYPE_ARP) {
      // Ethernet/IPv4 ARP only (hln 6, pln 4): sender at 14, target at 24.
      if (end - l3 >= 28 && u8[l3 + 4] === 6 && u8[l3 + 5] === 4) {
        isArp = true;
        src = rd32(u8, l3 + 14);
        dst = rd32(u8, l3 + 24);
      }
    }
    const kind = this.kind,
      dirs = this.dir,
      value = this.value,
      mask = this.mask;
    for (let i = 0; i < n; i++) {
      const k = kind[i];
      if (k === K_HOST || k === K_NET) {
        if (!isIp && !isArp) return false;
        const m = mask[i],
          v = value[i],
          d = dirs[i];
        const hit = (d !== D_DST && (src & m) === v) || (d !== D_SRC && (dst & m) === v);
        if (!hit) return false;
      } else if (k === K_PORT) {
        if (!hasPorts) return false;
        const v = value[i],
          d = dirs[i];
        const hit = (d !== D_DST && sport === v) || (d !== D_SRC && dport === v);
        if (!hit) return false;
      } else if (k === K_IPPROTO) {
        if (proto !== value[i]) return false;
      } else if (!isArp) {
        return false;
      }
    }
    return true;
  }
}

/** Compiles a filter expression (see the module comment). Throws TapvsError('BAD_ARGUMENT'). */
export function compileFilter(expr: string): CaptureFilter {
  return new CaptureFilter(expr);
}

interface Term {
  kind: number;
  dir: number;
  value: number;
  mask: number;
  text: string;
}

function parseFilter(expr: string): Term[] {
  const tokens = expr
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .filter((t) => t.length > 0);
  const terms: Term[] = [];
  let i = 0;
  const bad = (msg: string): never => {
    throw new TapvsError('BAD_ARGUMENT', `bad trace filter "${expr.trim()}": ${msg}`);
  };
  const unsupported = (t: string): void => {
    if (t === 'or' || t === '||' || t === 'not' || t.startsWith('!') || t.startsWith('(') || t.startsWith(')')) {
      bad(`"${t}" is not supported; terms can only be combined with "and"`);
    }
  };
  while (i < tokens.length) {
    if (terms.length > 0) {
      const t = tokens[i];
      const prev = terms[terms.length - 1];
      unsupported(t);
      if (t === 'and' || t === '&&') {
        i++;
        if (i === tokens.length) bad('expected a term after "and"');
      } else if (
        !(
          prev.kind === K_IPPROTO &&
          (prev.value === IPPROTO_TCP || prev.value === IPPROTO_UDP) &&
          (t === 'port' || t === 'src' || t === 'dst')
        )
      ) {
        // Only tcpdump's `tcp port 80` (a protocol qualifying a port) may omit the "and".
        bad(`expected "and" before "${t}"`);
      }
    }
    let dir = D_ANY,
      dirText = '';
    let t = tokens[i++];
    unsupported(t);
    if (t === 'src' || t === 'dst') {
      dir = t === 'src' ? D_SRC : D_DST;
      dirText = `${t} `;
      if (i === tokens.length) bad(`expected host, net or port after "${t}"`);
      t = tokens[i++];
      if (t !== 'host' && t !== 'net' && t !== 'port')
        bad(`expected host, net or port after "${dirText.trim()}", not "${t}"`);
    }
    if (t === 'host' || t === 'net' || t === 'port') {
      if (i === tokens.length) bad(`"${t}" needs a value`);
      const arg = tokens[i++];
      if (t === 'host') {
        const a = parseIpv4(arg);
        if (a === null) bad(`"${arg}" is not an IPv4 address (host A.B.C.D)`);
        terms.push({ kind: K_HOST, dir, value: a as number, mask: -1, text: `${dirText}host ${arg}` });
      } else if (t === 'net') {
        const m = /^([0-9.]+)\/(\d{1,2})$/.exec(arg);
        const a = m === null ? null : parseIpv4(m[1]);
        const plen = m === null ? -1 : Number(m[2]);
        if (m === null || a === null || plen > 32) bad(`"${arg}" is not a network (net A.B.C.D/LEN, LEN 0..32)`);
        const mask = plen === 0 ? 0 : (-1 << (32 - plen)) | 0;
        if (((a as number) & ~mask) !== 0) bad(`"${arg}" has host bits set beyond /${plen}`);
        terms.push({ kind: K_NET, dir, value: a as number, mask, text: `${dirText}net ${arg}` });
      } else {
        const p = /^\d{1,5}$/.test(arg) ? Number(arg) : -1;
        if (p < 0 || p > 65535) bad(`"${arg}" is not a port number (0..65535)`);
        terms.push({ kind: K_PORT, dir, value: p, mask: 0, text: `${dirText}port ${p}` });
      }
      continue;
    }
    if (t === 'proto') {
      if (i === tokens.length) bad('"proto" needs tcp, udp, icmp or arp');
      t = tokens[i++];
      if (!PROTOS.has(t)) bad(`unknown protocol "${t}" (tcp, udp, icmp or arp)`);
    }
    const p = PROTOS.get(t);
    if (p === undefined) bad(`unknown term "${t}" (host, net, port, proto, tcp, udp, icmp, arp)`);
    if (p === -1) terms.push({ kind: K_ARP, dir: D_ANY, value: 0, mask: 0, text: 'arp' });
    else terms.push({ kind: K_IPPROTO, dir: D_ANY, value: p as number, mask: 0, text: t });
  }
  return terms;
}

function rd32(u8: Uint8Array, o: number): number {
  return (u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3];
}
