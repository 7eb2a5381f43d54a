/**
 * The PROXY protocol in a full NAT stream: the header (packet/proxy-protocol.ts) goes in front of
 * the client's first payload byte, so every later client -> real server sequence number grows by
 * H (the header's length) and every real server -> client acknowledgement (and SACK edge) shrinks
 * by H. The facts follow DPVS (ip_vs_proxy_proto.c proxy_proto_insert(), and the fnat_seq delta
 * that ip_vs_proto_tcp.c tcp_in_adjust_seq()/tcp_out_adjust_seq() apply) and the kernel's
 * application helpers (ip_vs_app.c vs_fix_seq(), vs_fix_ack_seq()).
 *
 * Unlike those, the mapping here has no per-packet state: with S = Ic + 1 (the client's ISN + 1)
 *   client -> RS  seq:  s < S unchanged; s == S with data (or FIN): header inserted, seq stays S;
 *                       s > S: s + H
 *   RS -> client  ack:  a <= S unchanged; S < a <= S + H: S; a > S + H: a - H
 * (modulo 2^32, comparisons as RFC 1982 serial numbers). Every retransmission of the first data
 * gets the same header again, so losses on either side need no bookkeeping.
 *
 * Callers: inbound() after the full NAT rewrite of addresses and ports (the inserted/standalone
 * segments are built from the packet's own addresses); outbound() before or after the reply's
 * rewrite (it reads no address). A return > 0 from inbound() means "send out[outOff..+n) instead":
 * that packet carries a complete TCP checksum, so a NEEDS_CSUM frame must go out without the flag.
 * A return < 0 means "send out[outOff..+(-n)) first, then the original" (shifted in place).
 *
 * Hostile input (short buffers, bad IHL or data offset, fragments, non-TCP) is left alone; nothing
 * here throws on the per-packet path or allocates. Not handled: data on the SYN (TCP Fast Open:
 * the SYN is left alone, so its data would reach the server before the header), IPv6.
 */
import { readI32, writeI32 } from '../../packet/bytes.js';
import { checksum, csumFinish, csumUpdate16, csumUpdate32, onesSum, pseudoHeaderSum } from '../../packet/checksum.js';
import { IP_MF, IP_OFFMASK, IPPROTO_TCP } from '../../packet/ipv4.js';
import { PROXY_V1_TCP4_MAX_LEN, writeProxyHeader } from '../../packet/proxy-protocol.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../packet/tcp.js';

const TCPOPT_EOL = 0,
  TCPOPT_NOP = 1,
  TCPOPT_SACK = 5;

/** Room a caller's `out` needs at outOff for the standalone segment: IPv4 + TCP + the longest header. */
export const PROXY_STANDALONE_MAX_LEN = 40 + PROXY_V1_TCP4_MAX_LEN;

export class ProxySeq {
  readonly capacity: number;
  /** 0 = inactive, else the PROXY protocol version (1 or 2). */
  private readonly version: Uint8Array;
  private readonly hdrLen: Uint8Array;
  /** S = client ISN + 1 as int32: the sequence number of the first payload byte. */
  private readonly firstSeq: Int32Array;
  private readonly caddr: Int32Array;
  private readonly vaddr: Int32Array;
  private readonly cport: Uint16Array;
  private readonly vport: Uint16Array;
  private readonly scratch = new Uint8Array(PROXY_V1_TCP4_MAX_LEN);

  /** `capacity` is the connection table's: ids are its connection ids. */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.version = new Uint8Array(capacity);
    this.hdrLen = new Uint8Array(capacity);
    this.firstSeq = new Int32Array(capacity);
    this.caddr = new Int32Array(capacity);
    this.vaddr = new Int32Array(capacity);
    this.cport = new Uint16Array(capacity);
    this.vport = new Uint16Array(capacity);
  }

  /**
   * A full NAT connection of a `--proxy-protocol` service was created by the client's SYN, whose
   * seq is `clientIsn`. The header will say caddr:cport -> vaddr:vport. Returns H.
   */
  start(
    id: number,
    version: number,
    clientIsn: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
  ): number {
    if (!this.valid(id)) throw new RangeError(`connection id ${id} out of range 0..${this.capacity - 1}`);
    if (version !== 1 && version !== 2) throw new RangeError(`PROXY protocol version ${version} (want 1 or 2)`);
    this.version[id] = version;
    this.firstSeq[id] = (clientIsn + 1) | 0;
    this.caddr[id] = caddr | 0;
    this.vaddr[id] = vaddr | 0;
    this.cport[id] = cport;
    this.vport[id] = vport;
    const h = writeProxyHeader(version, this.scratch, 0, caddr, vaddr, cport & 0xffff, vport & 0xffff);
    this.hdrLen[id] = h;
    return h;
  }

  stop(id: number): void {
    if (this.valid(id)) this.version[id] = 0;
  }

  active(id: number): boolean {
    return this.valid(id) && this.version[id] !== 0;
  }

  /** H for an active connection, else 0. */
  headerLen(id: number): number {
    return this.active(id) ? this.hdrLen[id] : 0;
  }

  /**
   * A client -> real server segment, addresses and ports already rewritten: IPv4 at u8[ipOff],
   * ipLen bytes. `partial`: the TCP checksum field holds only the pseudo-header sum (NEEDS_CSUM).
   * `gso`: a GSO super-packet (never grown). `mtu` bounds the grown packet's IP length.
   * Returns 0 (changed in place or unchanged), n > 0 (send out[outOff..+n) instead) or n < 0
   * (send out[outOff..+(-n)) first, then the original, which was shifted in place).
   */
  inbound(
    id: number,
    u8: Uint8Array,
    ipOff: number,
    ipLen: number,
    partial: boolean,
    gso: boolean,
    mtu: number,
    out: Uint8Array,
    outOff: number,
  ): number {
    if (!this.active(id)) return 0;
    const t = tcpOffset(u8, ipOff, ipLen);
    if (t < 0) return 0;
    const s0 = this.firstSeq[id],
      h = this.hdrLen[id];
    const seq = readI32(u8, t + 4);
    const d = (seq - s0) | 0;
    if (d < 0) return 0;
    if (d > 0) {
      setSeq(u8, t, seq, (seq + h) | 0, partial);
      return 0;
    }
    const flags = u8[t + 13];
    const doff = (u8[t + 12] >>> 4) << 2;
    const ihl = t - ipOff;
    const payload = ipLen - ihl - doff;
    // A FIN before any data still gets the header: the server acks S + H + 1, which maps to S + 1.
    if ((flags & (TCP_SYN | TCP_RST)) !== 0 || (payload === 0 && (flags & TCP_FIN) === 0)) return 0;
    if (!Number.isInteger(outOff) || outOff < 0) return 0;
    if (!gso && ipLen + h <= mtu && outOff + ipLen + h <= out.length) {
      return this.grow(id, u8, ipOff, ihl, doff, ipLen, out, outOff);
    }
    if (outOff + 40 + h > out.length) return 0;
    const n = this.standalone(id, u8, ipOff, t, out, outOff);
    setSeq(u8, t, seq, (seq + h) | 0, partial);
    return -n;
  }

  /**
   * A real server -> client segment (addresses rewritten or not: none is read). Maps the ack
   * field and SACK edges back into the client's sequence space, fixing the checksum incrementally
   * (or not at all when `partial`: the pseudo-header sum does not cover them).
   */
  outbound(id: number, u8: Uint8Array, ipOff: number, ipLen: number, partial: boolean): void {
    if (!this.active(id)) return;
    const t = tcpOffset(u8, ipOff, ipLen);
    if (t < 0 || (u8[t + 13] & TCP_ACK) === 0) return;
    const s0 = this.firstSeq[id],
      h = this.hdrLen[id];
    const ack = readI32(u8, t + 8);
    const a = mapAck(s0, h, ack);
    if (a !== ack) patch32(u8, t, t + 8, a, partial);
    const end = t + ((u8[t + 12] >>> 4) << 2);
    let i = t + 20;
    while (i < end) {
      const kind = u8[i];
      if (kind === TCPOPT_EOL) break;
      if (kind === TCPOPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) break;
      const len = u8[i + 1];
      if (len < 2 || i + len > end) break;
      // RFC 2018 §3: 2 + 8n bytes, n blocks of (left edge, right edge).
      if (kind === TCPOPT_SACK && len >= 10 && ((len - 2) & 7) === 0) {
        for (let e = i + 2; e < i + len; e += 4) {
          const old = readI32(u8, e);
          const now = mapAck(s0, h, old);
          if (now !== old) patch32(u8, t, e, now, partial);
        }
      }
      i += len;
    }
  }

  private valid(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.capacity;
  }

  /** The whole segment again with the header between the TCP header and the payload. */
  private grow(
    id: number,
    u8: Uint8Array,
    ipOff: number,
    ihl: number,
    doff: number,
    ipLen: number,
    out: Uint8Array,
    outOff: number,
  ): number {
    const hdrs = ihl + doff;
    for (let i = 0; i < hdrs; i++) out[outOff + i] = u8[ipOff + i];
    const h = this.writeHeader(id, out, outOff + hdrs);
    for (let i = hdrs; i < ipLen; i++) out[outOff + h + i] = u8[ipOff + i];
    const total = ipLen + h;
    finishChecksums(out, outOff, ihl, total);
    return total;
  }

  /** A segment holding only the header: seq S, the original's ack, ACK as the original, PSH. */
  private standalone(id: number, u8: Uint8Array, ipOff: number, t: number, out: Uint8Array, outOff: number): number {
    const o = outOff,
      ot = o + 20;
    out[o] = 0x45;
    out[o + 1] = u8[ipOff + 1];
    out[o + 4] = u8[ipOff + 4];
    out[o + 5] = u8[ipOff + 5];
    // Keep DF only: this segment is never a fragment.
    out[o + 6] = u8[ipOff + 6] & 0x40;
    out[o + 7] = 0;
    out[o + 8] = u8[ipOff + 8];
    out[o + 9] = IPPROTO_TCP;
    for (let i = 12; i < 20; i++) out[o + i] = u8[ipOff + i];
    for (let i = 0; i < 12; i++) out[ot + i] = u8[t + i];
    out[ot + 12] = 5 << 4;
    out[ot + 13] = (u8[t + 13] & TCP_ACK) | TCP_PSH;
    out[ot + 14] = u8[t + 14];
    out[ot + 15] = u8[t + 15];
    out[ot + 18] = 0;
    out[ot + 19] = 0;
    const h = this.writeHeader(id, out, ot + 20);
    const total = 40 + h;
    finishChecksums(out, o, 20, total);
    return total;
  }

  private writeHeader(id: number, b: Uint8Array, off: number): number {
    return writeProxyHeader(this.version[id], b, off, this.caddr[id], this.vaddr[id], this.cport[id], this.vport[id]);
  }
}

/** Maps an acknowledged client sequence number (or SACK edge) from the server's view back. */
export function mapAck(firstSeq: number, hdrLen: number, a: number): number {
  const d = (a - firstSeq) | 0;
  if (d <= 0) return a;
  if (d <= hdrLen) return firstSeq;
  return (a - hdrLen) | 0;
}

/**
 * The TCP header's offset for an unfragmented IPv4/TCP datagram whose headers fit in
 * u8[ipOff..ipOff+ipLen), or -1.
 */
function tcpOffset(u8: Uint8Array, ipOff: number, ipLen: number): number {
  if (!Number.isInteger(ipOff) || !Number.isInteger(ipLen) || ipOff < 0 || ipLen < 40) return -1;
  if (ipOff + ipLen > u8.length) return -1;
  const vihl = u8[ipOff];
  const ihl = (vihl & 0x0f) << 2;
  if (vihl >>> 4 !== 4 || ihl < 20 || ihl + 20 > ipLen) return -1;
  if (u8[ipOff + 9] !== IPPROTO_TCP) return -1;
  if ((((u8[ipOff + 6] << 8) | u8[ipOff + 7]) & (IP_MF | IP_OFFMASK)) !== 0) return -1;
  const t = ipOff + ihl;
  const doff = (u8[t + 12] >>> 4) << 2;
  if (doff < 20 || ihl + doff > ipLen) return -1;
  return t;
}

function setSeq(u8: Uint8Array, t: number, old: number, now: number, partial: boolean): void {
  writeI32(u8, t + 4, now);
  if (!partial) writeCsum(u8, t, csumUpdate32(readCsum(u8, t), old, now));
}

/**
 * Writes a 32-bit value at `pos` inside the TCP segment at `t`, updating its checksum (RFC 1624).
 * A SACK block after a single NOP sits at an odd offset, straddling three 16-bit words.
 */
function patch32(u8: Uint8Array, t: number, pos: number, now: number, partial: boolean): void {
  if (partial) {
    writeI32(u8, pos, now);
    return;
  }
  if (((pos - t) & 1) === 0) {
    const old = readI32(u8, pos);
    writeI32(u8, pos, now);
    writeCsum(u8, t, csumUpdate32(readCsum(u8, t), old, now));
    return;
  }
  const w = pos - 1;
  const o0 = (u8[w] << 8) | u8[w + 1],
    o1 = (u8[w + 2] << 8) | u8[w + 3],
    o2 = (u8[w + 4] << 8) | u8[w + 5];
  writeI32(u8, pos, now);
  let c = readCsum(u8, t);
  c = csumUpdate16(c, o0, (u8[w] << 8) | u8[w + 1]);
  c = csumUpdate16(c, o1, (u8[w + 2] << 8) | u8[w + 3]);
  c = csumUpdate16(c, o2, (u8[w + 4] << 8) | u8[w + 5]);
  writeCsum(u8, t, c);
}

function readCsum(u8: Uint8Array, t: number): number {
  return (u8[t + 16] << 8) | u8[t + 17];
}

function writeCsum(u8: Uint8Array, t: number, c: number): void {
  u8[t + 16] = c >>> 8;
  u8[t + 17] = c & 0xff;
}

/** Total length, then full IPv4 and TCP checksums, for a packet built at b[o..o+total). */
function finishChecksums(b: Uint8Array, o: number, ihl: number, total: number): void {
  b[o + 2] = total >>> 8;
  b[o + 3] = total & 0xff;
  b[o + 10] = 0;
  b[o + 11] = 0;
  const ipc = checksum(b, o, o + ihl);
  b[o + 10] = ipc >>> 8;
  b[o + 11] = ipc & 0xff;
  const t = o + ihl,
    l4 = total - ihl;
  b[t + 16] = 0;
  b[t + 17] = 0;
  const src = readI32(b, o + 12),
    dst = readI32(b, o + 16);
  writeCsum(b, t, csumFinish(onesSum(b, t, o + total, pseudoHeaderSum(src, dst, IPPROTO_TCP, l4))));
}
