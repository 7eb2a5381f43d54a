/**
 * One readable line per test frame, for golden files and assertion messages: the MACs, the
 * virtio-net header when there is one, tcpdump's description (src/trace/describe.ts) and the IPv4
 * fields tcpdump leaves out without -v (TTL, ID, DF, total length).
 *
 *   02:00:00:00:00:02 > 52:54:00:00:01:29, IP 192.168.222.1.40000 > 192.168.2.129.80: Flags [S],
 *   seq 1000, win 64240, length 0 (ttl 63, id 0x1234, DF, len 40)
 *
 * For people reading diffs; tests compare bytes, never these lines.
 */
import { formatMac } from '../../src/packet/eth.js';
import { describeFrame } from '../../src/trace/describe.js';

/** Bytes of the virtio-net header in front of frames on links with offloads (see LoopbackLink). */
export const VNET_HDR_LEN = 12;
const NEEDS_CSUM = 1;

/** Describes `frame`, which starts with a virtio-net header when `vnetLen` > 0. */
export function summarizeFrame(frame: Uint8Array, vnetLen = 0): string {
  if (frame.length < vnetLen) return `[|vnet], length ${frame.length}`;
  const vnet = vnetLen > 0 ? `${describeVnet(frame)} ` : '';
  const f = frame.subarray(vnetLen);
  if (f.length < 14) return `${vnet}${describeFrame(f, 0, f.length)}`;
  return `${vnet}${formatMac(f, 6)} > ${formatMac(f, 0)}, ${describeFrame(f, 0, f.length)}${ipv4Fields(f)}`;
}

function describeVnet(h: Uint8Array): string {
  const flags = h[0],
    gso = h[1];
  const rd = (o: number): number => h[o] | (h[o + 1] << 8);
  const parts: string[] = [];
  if ((flags & NEEDS_CSUM) !== 0) parts.push(`needs-csum ${rd(6)}+${rd(8)}`);
  if (gso !== 0) parts.push(`gso ${gso} size ${rd(4)}`);
  return `vnet[${parts.join(', ')}]`;
}

function ipv4Fields(f: Uint8Array): string {
  let l3 = 14,
    type = (f[12] << 8) | f[13];
  if (type === 0x8100 && f.length >= 18) {
    type = (f[16] << 8) | f[17];
    l3 = 18;
  }
  if (type !== 0x0800 || f.length < l3 + 20 || f[l3] >>> 4 !== 4) return '';
  const id = (f[l3 + 4] << 8) | f[l3 + 5];
  const df = (f[l3 + 6] & 0x40) !== 0 ? ', DF' : '';
  return ` (ttl ${f[l3 + 8]}, id 0x${id.toString(16).padStart(4, '0')}${df}, len ${(f[l3 + 2] << 8) | f[l3 + 3]})`;
}
