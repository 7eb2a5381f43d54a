/**
 * The virtio-net header (struct virtio_net_hdr_v1, include/uapi/linux/virtio_net.h) that a TAP
 * device with IFF_VNET_HDR puts in front of every frame. Only link code and the helpers here read
 * or write its bytes; the dataplane asks for the two facts it acts on (a partial checksum, a GSO
 * super-frame) and moves a header when a frame's start moves.
 *
 *   0 flags (bit 0 NEEDS_CSUM)  1 gso_type (0 = none)  2 hdr_len (LE)  4 gso_size (LE)
 *   6 csum_start (LE, from the frame's first byte)  8 csum_offset (LE)  10 num_buffers (LE)
 */

/** Bytes of virtio_net_hdr_v1 (the mergeable-rx-buffers layout). */
export const VNET_HDR_LEN = 12;

/** Decoded header facts, as bits (one small integer, no object per frame). */
export const VNET_NEEDS_CSUM = 1;
export const VNET_GSO = 2;

const CSUM_START = 6;

/** The header at u8[off]: VNET_NEEDS_CSUM when the L4 checksum holds only the pseudo-header sum, VNET_GSO for a super-frame. */
export function vnetFlags(u8: Uint8Array, off: number): number {
  return ((u8[off] & 1) !== 0 ? VNET_NEEDS_CSUM : 0) | (u8[off + 1] !== 0 ? VNET_GSO : 0);
}

/** gso_size of the header at u8[off]: the segment size a GSO super-frame is to be cut to. */
export function vnetGsoSize(u8: Uint8Array, off: number): number {
  return u8[off + 4] | (u8[off + 5] << 8);
}

/** A header for a frame the director builds: no offload requested. */
export function clearVnetHdr(u8: Uint8Array, off: number, hdrLen: number): void {
  u8.fill(0, off, off + hdrLen);
}

/**
 * Moves the header that preceded the frame at `from` so that it precedes the frame at `to`
 * (the frame starts later after a VLAN tag is removed), keeping csum_start pointed at the same
 * byte: it counts from the frame's start.
 */
export function moveVnetHdr(u8: Uint8Array, from: number, to: number, hdrLen: number): void {
  if (from === to) return;
  const src = from - hdrLen,
    dst = to - hdrLen;
  if (dst > src) for (let i = hdrLen - 1; i >= 0; i--) u8[dst + i] = u8[src + i];
  else for (let i = 0; i < hdrLen; i++) u8[dst + i] = u8[src + i];
  const cs = (u8[dst + CSUM_START] | (u8[dst + CSUM_START + 1] << 8)) - (to - from);
  u8[dst + CSUM_START] = cs & 0xff;
  u8[dst + CSUM_START + 1] = (cs >>> 8) & 0xff;
}
