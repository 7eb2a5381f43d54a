/**
 * One-line descriptions of Ethernet frames in the style of `tcpdump -n` (numeric addresses,
 * absolute TCP sequence numbers as with -S), for live traces, logs and test messages:
 *
 *   IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0
 *   ARP, Request who-has 192.168.222.131 tell 192.168.222.1, length 28
 *   IP 192.168.222.1 > 192.168.222.131: ICMP echo request, id 1, seq 1, length 64
 *
 * Lengths are tcpdump's: the TCP or UDP payload, the whole ICMP message, the ARP packet. A frame
 * cut short ends in tcpdump's `[|proto]` marker. describeFrame never throws on frame content.
 * Slow path only: it builds strings. Not here: IPv6 details, application protocols, -v fields.
 */
import { formatMac } from '../packet/eth.js';
import { formatIpv4 } from '../packet/ipv4.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_IPV6 = 0x86dd;

/** A tcpdump -n style line for the Ethernet frame u8[off, off+len). */
export function describeFrame(u8: Uint8Array, off: number, len: number): string {
  const end = Math.min(off + len, u8.length);
  if (off < 0 || end - off < 14) return `[|ether], length ${len}`;
  let type = rd16(u8, off + 12);
  let l3 = off + 14;
  let prefix = '';
  if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
    if (end - off < 18) return `${type === ETHERTYPE_VLAN ? 'vlan' : 'Q-in-Q'} [|vlan], length ${len}`;
    const tci = rd16(u8, off + 14);
    prefix = `vlan ${tci & 0x0fff}, p ${tci >>> 13}, `;
    type = rd16(u8, off + 16);
    l3 = off + 18;
  }
  if (type === ETHERTYPE_IPV4) return prefix + describeIpv4(u8, l3, end);
  if (type === ETHERTYPE_ARP) return prefix + describeArp(u8, l3, end);
  if (type === ETHERTYPE_IPV6) return `${prefix}IP6, length ${end - l3}`;
  if (type < 0x0600) return `${prefix}802.3 LLC, length ${type}`;
  return `${prefix}ethertype Unknown (0x${type.toString(16).padStart(4, '0')}), length ${len}`;
}

function describeArp(u8: Uint8Array, o: number, end: number): string {
  if (end - o < 8) return 'ARP, [|arp]';
  const htype = rd16(u8, o),
    ptype = rd16(u8, o + 2),
    hln = u8[o + 4],
    pln = u8[o + 5],
    op = rd16(u8, o + 6);
  const arpLen = 8 + 2 * hln + 2 * pln;
  if (htype !== 1 || ptype !== ETHERTYPE_IPV4 || hln !== 6 || pln !== 4) {
    return `ARP, htype ${htype}, ptype 0x${ptype.toString(16).padStart(4, '0')}, op ${op}, length ${arpLen}`;
  }
  if (end - o < 28) return 'ARP, [|arp]';
  const sha = formatMac(u8, o + 8),
    spa = formatIpv4(rd32(u8, o + 14));
  const tha = o + 18,
    tpa = formatIpv4(rd32(u8, o + 24));
  if (op === 1) {
    const known = !isZero(u8, tha, 6) && !isAllOnes(u8, tha, 6) ? ` (${formatMac(u8, tha)})` : '';
    return `ARP, Request who-has ${tpa}${known} tell ${spa}, length ${arpLen}`;
  }
  if (op === 2) return `ARP, Reply ${spa} is-at ${sha}, length ${arpLen}`;
  return `ARP, op ${op} ${spa} > ${tpa}, length ${arpLen}`;
}

function describeIpv4(u8: Uint8Array, o: number, end: number): string {
  if (end - o < 20) return 'IP [|ip]';
  const vihl = u8[o];
  const hlen = (vihl & 0x0f) << 2;
  if (vihl >>> 4 !== 4) return `IP bad-version ${vihl >>> 4}`;
  if (hlen < 20) return `IP bad-hlen ${hlen}`;
  const total = rd16(u8, o + 2);
  const src = formatIpv4(rd32(u8, o + 12)),
    dst = formatIpv4(rd32(u8, o + 16));
  if (total < hlen) return `IP ${src} > ${dst}: bad total length ${total}`;
  // Like tcpdump, trust the IP total length, never read past the captured bytes, and say so.
  const line = describeIpv4Body(u8, o, end, hlen, total, src, dst);
  const missing = o + total - end;
  return missing > 0 ? `IP truncated-ip - ${missing} bytes missing! ${line.slice(3)}` : line;
}

function describeIpv4Body(
  u8: Uint8Array,
  o: number,
  end: number,
  hlen: number,
  total: number,
  src: string,
  dst: string,
): string {
  const proto = u8[o + 9];
  const ipEnd = Math.min(o + total, end);
  const frag = rd16(u8, o + 6);
  const fragOff = (frag & 0x1fff) << 3,
    more = (frag & 0x2000) !== 0;
  const l4 = o + hlen;
  const payloadLen = total - hlen;
  if (fragOff !== 0) {
    return `IP ${src} > ${dst}: ${protoName(proto)} (frag ${rd16(u8, o + 4)}:${payloadLen}@${fragOff}${more ? '+' : ''})`;
  }
  const fragNote = more ? ` (frag ${rd16(u8, o + 4)}:${payloadLen}@0+)` : '';
  if (proto === 6) return describeTcp(u8, src, dst, l4, ipEnd, o + total) + fragNote;
  if (proto === 17) {
    if (ipEnd - l4 < 8) return `IP ${src} > ${dst}: UDP [|udp]`;
    const ulen = rd16(u8, l4 + 4);
    const bad = ulen < 8 || (!more && ulen > payloadLen) ? ` (bad length ${ulen})` : '';
    return `IP ${src}.${rd16(u8, l4)} > ${dst}.${rd16(u8, l4 + 2)}: UDP, length ${ulen >= 8 ? ulen - 8 : 0}${bad}${fragNote}`;
  }
  if (proto === 1) return `IP ${src} > ${dst}: ${describeIcmp(u8, l4, ipEnd, payloadLen)}${fragNote}`;
  return `IP ${src} > ${dst}: ${protoName(proto)}, length ${payloadLen}${fragNote}`;
}

function protoName(p: number): string {
  return p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 1 ? 'icmp' : `ip-proto-${p}`;
}

/** tcpdump's flag letters in its order (print-tcp.c tcp_flag_values). */
const TCP_FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

function describeTcp(u8: Uint8Array, src: string, dst: string, t: number, end: number, ipEnd: number): string {
  if (end - t < 4) return `IP ${src} > ${dst}: tcp [|tcp]`;
  const head = `IP ${src}.${rd16(u8, t)} > ${dst}.${rd16(u8, t + 2)}: `;
  if (end - t < 20) return `${head}[|tcp]`;
  const doff = (u8[t + 12] >>> 4) << 2;
  if (doff < 20) return `${head}tcp bad-hlen ${doff}`;
  const flags = u8[t + 13];
  const seq = rd32(u8, t + 4) >>> 0,
    ack = rd32(u8, t + 8) >>> 0,
    win = rd16(u8, t + 14);
  const dataLen = Math.max(0, ipEnd - t - doff);
  let letters = '';
  for (const [bit, l] of TCP_FLAG_LETTERS) if ((flags & bit) !== 0) letters += l;
  let s = `${head}Flags [${letters === '' ? 'none' : letters}]`;
  if (dataLen > 0) s += `, seq ${seq}:${(seq + dataLen) >>> 0}`;
  else if ((flags & 0x07) !== 0) s += `, seq ${seq}`;
  if ((flags & 0x10) !== 0) s += `, ack ${ack}`;
  s += `, win ${win}`;
  if ((flags & 0x20) !== 0) s += `, urg ${rd16(u8, t + 18)}`;
  if (doff > 20) s += `, options [${end - t < doff ? '|tcp' : tcpOptions(u8, t + 20, t + doff)}]`;
  return `${s}, length ${dataLen}`;
}

function tcpOptions(u8: Uint8Array, o: number, end: number): string {
  const out: string[] = [];
  while (o < end) {
    const kind = u8[o];
    if (kind === 0) {
      out.push('eol');
      break;
    }
    if (kind === 1) {
      out.push('nop');
      o++;
      continue;
    }
    if (o + 1 >= end) {
      out.push('[|tcp]');
      break;
    }
    const olen = u8[o + 1];
    if (olen < 2 || o + olen > end) {
      out.push(`bad opt ${kind}`);
      break;
    }
    if (kind === 2 && olen === 4) out.push(`mss ${rd16(u8, o + 2)}`);
    else if (kind === 3 && olen === 3) out.push(`wscale ${u8[o + 2]}`);
    else if (kind === 4 && olen === 2) out.push('sackOK');
    else if (kind === 5) {
      const blocks: string[] = [];
      for (let b = o + 2; b + 8 <= o + olen; b += 8) blocks.push(`{${rd32(u8, b) >>> 0}:${rd32(u8, b + 4) >>> 0}}`);
      out.push(`sack ${blocks.length} ${blocks.join('')}`);
    } else if (kind === 8 && olen === 10) out.push(`TS val ${rd32(u8, o + 2) >>> 0} ecr ${rd32(u8, o + 6) >>> 0}`);
    else out.push(`unknown-${kind}`);
    o += olen;
  }
  return out.join(',');
}

const UNREACH_CODES: readonly string[] = [
  'net',
  'host',
  'protocol',
  'port',
  'need to frag',
  'source route failed',
  'net unknown',
  'host unknown',
  'src host isolated',
  'net prohibited',
  'host prohibited',
  'net tos',
  'host tos',
  'admin prohibited',
];

function describeIcmp(u8: Uint8Array, o: number, end: number, icmpLen: number): string {
  if (end - o < 4) return 'ICMP [|icmp]';
  const type = u8[o],
    code = u8[o + 1];
  const hasRest = end - o >= 8;
  const id = hasRest ? rd16(u8, o + 4) : 0,
    seq = hasRest ? rd16(u8, o + 6) : 0;
  let what: string;
  switch (type) {
    case 0:
      what = hasRest ? `echo reply, id ${id}, seq ${seq}` : 'echo reply [|icmp]';
      break;
    case 8:
      what = hasRest ? `echo request, id ${id}, seq ${seq}` : 'echo request [|icmp]';
      break;
    case 3:
      what = describeUnreach(u8, o, end, code);
      break;
    case 11:
      what = code === 0 ? 'time exceeded in-transit' : 'ip reassembly time exceeded';
      break;
    case 5:
      what = `redirect to ${hasRest ? formatIpv4(rd32(u8, o + 4)) : '[|icmp]'}`;
      break;
    case 12:
      what = `parameter problem - octet ${hasRest ? u8[o + 4] : '?'}`;
      break;
    case 4:
      what = 'source quench';
      break;
    default:
      what = `type ${type}, code ${code}`;
  }
  return `ICMP ${what}, length ${icmpLen}`;
}

/** tcpdump's wording for destination unreachable, naming the quoted datagram when there is one. */
function describeUnreach(u8: Uint8Array, o: number, end: number, code: number): string {
  const q = o + 8;
  const quoted = end - q >= 20 && u8[q] >>> 4 === 4;
  const qdst = quoted ? formatIpv4(rd32(u8, q + 16)) : '';
  if (code === 3 && quoted) {
    const qp = u8[q + 9],
      ql4 = q + ((u8[q] & 0x0f) << 2);
    if ((qp === 6 || qp === 17) && ql4 + 4 <= end)
      return `${qdst} ${protoName(qp)} port ${rd16(u8, ql4 + 2)} unreachable`;
    return `${qdst} protocol ${qp} port unreachable`;
  }
  if (code === 4)
    return `${quoted ? `${qdst} ` : ''}unreachable - need to frag (mtu ${end - o >= 8 ? rd16(u8, o + 6) : 0})`;
  if (code === 2 && quoted) return `${qdst} protocol ${u8[q + 9]} unreachable`;
  const name = code < UNREACH_CODES.length ? UNREACH_CODES[code] : `code ${code}`;
  return quoted ? `${name} ${qdst} unreachable` : `${name} unreachable`;
}

function isZero(u8: Uint8Array, o: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (u8[o + i] !== 0) return false;
  return true;
}

function isAllOnes(u8: Uint8Array, o: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (u8[o + i] !== 0xff) return false;
  return true;
}

function rd16(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

function rd32(u8: Uint8Array, o: number): number {
  return (u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3];
}
