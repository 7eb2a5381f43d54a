/**
 * Ethernet II (IEEE 802.3 with EtherType), tolerating one 802.1Q tag.
 *
 *   0      6      12          14 (16, 18 with a tag)
 *   | dst  | src  | type/TPID | [TCI | type] | payload ...
 *
 * The view never allocates; MAC addresses are compared and copied as bytes.
 * A frame with two or more tags (QinQ) is reported as BadHeader: a director on an access link
 * sees at most one tag.
 */
import { Parse } from './parse.js';

export const ETH_HLEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_HLEN = 4;

export class EthView {
  private off = 0;
  /** EtherType of the payload (after the tag, if any). */
  etherType = 0;
  /** 802.1Q VLAN id, or -1 without a tag. */
  vlanId = -1;
  /** Offset of the payload (the L3 header). */
  payloadOff = 0;
  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
  ) {}

  /** Re-points the view at another buffer (a link's RX memory). */

  bind(off: number, limit: number): Parse {
    if (limit - off < ETH_HLEN) return Parse.Truncated;
    let type = this.dv.getUint16(off + 12);
    let pay = off + ETH_HLEN;
    this.vlanId = -1;
    if (type === ETHERTYPE_VLAN) {
      if (limit - off < ETH_HLEN + VLAN_HLEN) return Parse.Truncated;
      this.vlanId = this.dv.getUint16(off + 14) & 0x0fff;
      type = this.dv.getUint16(off + 16);
      pay += VLAN_HLEN;
      if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) return Parse.BadHeader;
    } else if (type === ETHERTYPE_QINQ) {
      return Parse.BadHeader;
    }
    this.off = off;
    this.etherType = type;
    this.payloadOff = pay;
    return Parse.Ok;
  }

  get offset(): number {
    return this.off;
  }
  /** Destination MAC starts at offset; source MAC at offset + 6. */
  get dstOff(): number {
    return this.off;
  }
  get srcOff(): number {
    return this.off + 6;
  }
  isBroadcastDst(): boolean {
    const u = this.u8,
      o = this.off;
    return (u[o] & u[o + 1] & u[o + 2] & u[o + 3] & u[o + 4] & u[o + 5]) === 0xff;
  }
  isMulticastDst(): boolean {
    return (this.u8[this.off] & 1) === 1;
  }
  dstIs(mac: Uint8Array): boolean {
    return macEquals(this.u8, this.off, mac);
  }
}

function macEquals(b: Uint8Array, off: number, mac: Uint8Array): boolean {
  return (
    b[off] === mac[0] &&
    b[off + 1] === mac[1] &&
    b[off + 2] === mac[2] &&
    b[off + 3] === mac[3] &&
    b[off + 4] === mac[4] &&
    b[off + 5] === mac[5]
  );
}

/** Writes an untagged Ethernet header; returns the payload offset. */
export function writeEth(
  b: Uint8Array,
  off: number,
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  type: number,
): number {
  for (let i = 0; i < 6; i++) {
    b[off + i] = dst[dstOff + i];
    b[off + 6 + i] = src[i];
  }
  b[off + 12] = type >>> 8;
  b[off + 13] = type & 0xff;
  return off + ETH_HLEN;
}

export function formatMac(b: Uint8Array, off = 0): string {
  const p: string[] = [];
  for (let i = 0; i < 6; i++) p.push(b[off + i].toString(16).padStart(2, '0'));
  return p.join(':');
}

export function parseMac(s: string): Uint8Array | null {
  const m =
    /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (m === null) return null;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1], 16);
  return out;
}
