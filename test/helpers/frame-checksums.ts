/**
 * Full recomputation of every checksum in frames a director sent, independent of the
 * dataplane's incremental updates: the IPv4 header checksum, the TCP/UDP checksum with its
 * pseudo-header (over the reassembled datagram when the frames are fragments of it), the ICMP
 * checksum and, in ICMP errors, the quoted IPv4 header's checksum.
 *
 * A frame behind a virtio-net header marked NEEDS_CSUM holds a partial L4 checksum (the
 * pseudo-header sum): it is completed first, from csum_start and csum_offset, as the kernel would
 * complete it, and the result must then be valid.
 */
import { checksum, csumFinish, onesSum } from '../../src/packet/checksum.js';
import { decode, ICMP, TCP, UDP } from './frames.js';

const ETH_HLEN = 14;
const NEEDS_CSUM = 1;
/** ICMP types whose body quotes the offending datagram (RFC 792). */
const ICMP_ERRORS = new Set([3, 4, 5, 11, 12]);

/**
 * The checksum problems of `frames` (empty when all are valid). Fragments are checked together:
 * pass all the frames one input caused, so that every datagram's fragments are present.
 */
export function checksumProblems(frames: readonly Uint8Array[], vnetLen = 0): string[] {
  const problems: string[] = [];
  const datagrams = new Map<string, Buffer[]>();
  frames.forEach((raw, n) => {
    const f = completePartial(raw, vnetLen);
    if (f.length < ETH_HLEN + 20 || f.readUInt16BE(12) !== 0x0800 || f[ETH_HLEN] >>> 4 !== 4) return;
    const hl = (f[ETH_HLEN] & 15) * 4;
    if (checksum(f, ETH_HLEN, ETH_HLEN + hl) !== 0) problems.push(`frame ${n}: IPv4 header checksum`);
    const fragWord = f.readUInt16BE(ETH_HLEN + 6);
    if ((fragWord & 0x3fff) !== 0) {
      const key = `${f.readInt32BE(ETH_HLEN + 12)} ${f.readInt32BE(ETH_HLEN + 16)} ${f.readUInt16BE(ETH_HLEN + 4)} ${f[ETH_HLEN + 9]}`;
      datagrams.set(key, [...(datagrams.get(key) ?? []), f]);
      return;
    }
    problems.push(...l4Problems(f, `frame ${n}`));
  });
  for (const [key, parts] of datagrams) {
    const whole = reassemble(parts);
    if (whole === null) problems.push(`fragments ${key}: the datagram is incomplete`);
    else problems.push(...l4Problems(whole, `datagram of ${parts.length} fragments`));
  }
  return problems;
}

/** The Ethernet frame without its virtio-net header, with a NEEDS_CSUM checksum completed. */
function completePartial(raw: Uint8Array, vnetLen: number): Buffer {
  const f = Buffer.from(raw.subarray(vnetLen));
  if (vnetLen === 0 || (raw[0] & NEEDS_CSUM) === 0) return f;
  const start = raw[6] | (raw[7] << 8),
    field = start + (raw[8] | (raw[9] << 8));
  const end = ETH_HLEN + f.readUInt16BE(ETH_HLEN + 2);
  let c = csumFinish(onesSum(f, start, end, 0));
  if (f[ETH_HLEN + 9] === UDP && c === 0) c = 0xffff;
  f.writeUInt16BE(c, field);
  return f;
}

function l4Problems(f: Buffer, what: string): string[] {
  const d = decode(f);
  const out: string[] = [];
  if (d.proto !== TCP && d.proto !== UDP && d.proto !== ICMP) return out;
  if (d.l4CsumOk !== true) out.push(`${what}: ${d.proto === TCP ? 'TCP' : d.proto === UDP ? 'UDP' : 'ICMP'} checksum`);
  if (d.proto === ICMP && ICMP_ERRORS.has(d.icmpType!) && d.payload !== undefined && d.payload.length >= 20) {
    const q = d.payload,
      qhl = (q[0] & 15) * 4;
    if (q[0] >>> 4 === 4 && qhl >= 20 && qhl <= q.length && checksum(q, 0, qhl) !== 0)
      out.push(`${what}: quoted IPv4 header checksum`);
  }
  return out;
}

/** The datagram the fragments make up, as an unfragmented frame; null when a piece is missing. */
function reassemble(frames: Buffer[]): Buffer | null {
  const parts = frames
    .map((f) => {
      const hl = (f[ETH_HLEN] & 15) * 4;
      const fw = f.readUInt16BE(ETH_HLEN + 6);
      return {
        off: (fw & 0x1fff) * 8,
        mf: (fw & 0x2000) !== 0,
        f,
        hl,
        data: f.subarray(ETH_HLEN + hl, ETH_HLEN + f.readUInt16BE(ETH_HLEN + 2)),
      };
    })
    .sort((a, b) => a.off - b.off);
  let next = 0;
  for (const p of parts) {
    if (p.off !== next) return null;
    next += p.data.length;
  }
  if (parts[0].off !== 0 || parts[parts.length - 1].mf) return null;
  const first = parts[0];
  const h = Buffer.from(first.f.subarray(0, ETH_HLEN + first.hl));
  const data = Buffer.concat(parts.map((p) => p.data));
  h.writeUInt16BE(first.hl + data.length, ETH_HLEN + 2);
  h.writeUInt16BE(0, ETH_HLEN + 6);
  h.writeUInt16BE(0, ETH_HLEN + 10);
  h.writeUInt16BE(checksum(h, ETH_HLEN, ETH_HLEN + first.hl), ETH_HLEN + 10);
  return Buffer.concat([h, data]);
}
