/**
 * Makes a mutated frame's checksums right again, so the fuzzer's mutations get past the checksum
 * checks and reach what lies behind them: fragment reassembly, the quoted header of ICMP errors,
 * IP options, the transport state machines. Handles one 802.1Q tag; an IPv4 header whose IHL or
 * length does not fit the frame gets its header checksum only; a first (or only) fragment's
 * TCP/UDP/ICMP checksum is computed over the bytes the IP total length names, clamped to the frame.
 * Returns the frame (changed in place).
 */
import { checksum, csumFinish, onesSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/packet/ipv4.js';

export function fixChecksums(b: Buffer): Buffer {
  if (b.length < 14) return b;
  let ipOff = 14;
  let type = b.readUInt16BE(12);
  if (type === 0x8100 && b.length >= 18) {
    type = b.readUInt16BE(16);
    ipOff = 18;
  }
  if (type !== 0x0800 || b.length < ipOff + 20) return b;
  const ihl = (b[ipOff] & 0x0f) * 4;
  if (ihl < 20 || ipOff + ihl > b.length) return b;
  b.writeUInt16BE(0, ipOff + 10);
  b.writeUInt16BE(checksum(b, ipOff, ipOff + ihl), ipOff + 10);
  const fragOffset = b.readUInt16BE(ipOff + 6) & 0x1fff;
  if (fragOffset !== 0) return b;
  const end = Math.min(b.length, ipOff + Math.max(ihl, b.readUInt16BE(ipOff + 2)));
  const l4 = ipOff + ihl;
  const len = end - l4;
  const src = b.readInt32BE(ipOff + 12),
    dst = b.readInt32BE(ipOff + 16);
  const proto = b[ipOff + 9];
  if (proto === IPPROTO_TCP && len >= 20) {
    b.writeUInt16BE(0, l4 + 16);
    b.writeUInt16BE(csumFinish(onesSum(b, l4, end, pseudoHeaderSum(src, dst, IPPROTO_TCP, len))), l4 + 16);
  } else if (proto === IPPROTO_UDP && len >= 8) {
    b.writeUInt16BE(0, l4 + 6);
    const c = csumFinish(onesSum(b, l4, end, pseudoHeaderSum(src, dst, IPPROTO_UDP, len)));
    b.writeUInt16BE(c === 0 ? 0xffff : c, l4 + 6);
  } else if (proto === IPPROTO_ICMP && len >= 4) {
    b.writeUInt16BE(0, l4 + 2);
    b.writeUInt16BE(checksum(b, l4, end), l4 + 2);
  }
  return b;
}
