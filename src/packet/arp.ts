/**
 * ARP for IPv4 over Ethernet (RFC 826).
 *
 *   0 htype(1) 2 ptype(0x0800) 4 hlen(6) 5 plen(4) 6 oper 8 sha 14 spa 18 tha 24 tpa 28
 *
 * Only Ethernet/IPv4 ARP binds; anything else is BadHeader. Frames may carry Ethernet padding
 * after the 28 bytes: it is ignored.
 */
import { Parse } from './parse.js';

const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export class ArpView {
  private off = 0;
  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
  ) {}

  bind(off: number, limit: number): Parse {
    if (limit - off < ARP_LEN) return Parse.Truncated;
    const dv = this.dv;
    if (dv.getUint16(off) !== 1 || dv.getUint16(off + 2) !== 0x0800 || this.u8[off + 4] !== 6 || this.u8[off + 5] !== 4)
      return Parse.BadHeader;
    this.off = off;
    return Parse.Ok;
  }
  get op(): number {
    return this.dv.getUint16(this.off + 6);
  }
  get shaOff(): number {
    return this.off + 8;
  }
  /** Sender protocol address, int32. */
  get spa(): number {
    return this.dv.getInt32(this.off + 14);
  }
  get thaOff(): number {
    return this.off + 18;
  }
  /** Target protocol address, int32. */
  get tpa(): number {
    return this.dv.getInt32(this.off + 24);
  }
}

/**
 * Writes an ARP body at `off`: `tha` is copied from `thaBuf` at `thaOff` (pass an all-zero MAC
 * for requests). Returns the end offset.
 */
export function writeArp(
  dv: DataView,
  u8: Uint8Array,
  off: number,
  op: number,
  sha: Uint8Array,
  spa: number,
  thaBuf: Uint8Array,
  thaOff: number,
  tpa: number,
): number {
  dv.setUint16(off, 1);
  dv.setUint16(off + 2, 0x0800);
  u8[off + 4] = 6;
  u8[off + 5] = 4;
  dv.setUint16(off + 6, op);
  for (let i = 0; i < 6; i++) u8[off + 8 + i] = sha[i];
  dv.setInt32(off + 14, spa);
  for (let i = 0; i < 6; i++) u8[off + 18 + i] = thaBuf[thaOff + i];
  dv.setInt32(off + 24, tpa);
  return off + ARP_LEN;
}
