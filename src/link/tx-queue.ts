/**
 * Transmit side of one link: the only code that claims TX slots. Three ways to queue a frame:
 * - `reserve()` + write the frame at the returned offset + `commit(len)`: a frame built or
 *   copied into the slot itself;
 * - `forward(...)`: zero-copy, the slot points at a frame rewritten in place in another link's
 *   RX ring (links with FrameRing.src only; the frame stays valid until the batch's flush).
 * A full ring is flushed before a slot is claimed. The virtio-net header in front of a built
 * frame is cleared here (no offload requested); a forwarded frame keeps the one it arrived with.
 */

import { wordView } from '../packet/bytes.js';
import type { Link } from './link.js';
import { clearVnetHdr } from './vnet-hdr.js';

/** Sees every frame queued on the link (packet tracing); null when nobody watches. */
export type TxObserver = (buf: Uint8Array, off: number, len: number) => void;

export class TxQueue {
  readonly buf: Buffer;
  readonly dv: DataView;
  /** Word view of the slots for word-wise copies (null when the buffer is not 4-byte aligned). */
  readonly buf32: Int32Array | null;
  /** Bytes of virtio-net header in front of each frame. */
  readonly hdr: number;
  /** Largest frame (Ethernet header included) a slot holds. */
  readonly maxFrame: number;
  /** True when slots can point into other links' RX rings (see forward). */
  readonly zeroCopy: boolean;
  frames = 0;
  bytes = 0;
  observer: TxObserver | null = null;
  private readonly link: Link;
  private readonly src: Uint8Array | null;
  private readonly srcOff: Uint32Array | null;

  constructor(link: Link) {
    this.link = link;
    const tx = link.tx;
    this.buf = tx.buf;
    this.dv = new DataView(tx.buf.buffer, tx.buf.byteOffset, tx.buf.byteLength);
    this.buf32 = wordView(tx.buf);
    this.hdr = link.vnetHdrLen;
    this.maxFrame = tx.slotSize - link.vnetHdrLen;
    this.src = link.setTxSources !== undefined && tx.src !== undefined ? tx.src : null;
    this.srcOff = this.src !== null && tx.srcOffsets !== undefined ? tx.srcOffsets : null;
    this.zeroCopy = this.srcOff !== null;
  }

  /** Claims the next slot; returns where its frame's Ethernet header goes in `buf`. */
  reserve(): number {
    const tx = this.link.tx;
    if (tx.count === tx.slots) this.link.flush();
    const base = tx.offsets[tx.count];
    if (this.hdr > 0) clearVnetHdr(this.buf, base, this.hdr);
    return base + this.hdr;
  }

  /** Queues the reserved slot's frame of `len` bytes (Ethernet header included). */
  commit(len: number): void {
    const tx = this.link.tx;
    const slot = tx.count;
    if (this.src !== null) this.src[slot] = 0;
    tx.lengths[slot] = this.hdr + len;
    tx.count = slot + 1;
    this.frames++;
    this.bytes += len;
    if (this.observer !== null) this.observer(this.buf, tx.offsets[slot] + this.hdr, len);
  }

  /**
   * Queues, without copying, the frame of `len` bytes at `frameOff` in source buffer `source`
   * (its index in the list given to Link.setTxSources), its virtio-net header just before it.
   */
  forward(source: number, sourceBuf: Uint8Array, frameOff: number, len: number): void {
    const tx = this.link.tx;
    if (tx.count === tx.slots) this.link.flush();
    const slot = tx.count;
    this.src![slot] = source + 1;
    this.srcOff![slot] = frameOff - this.hdr;
    tx.lengths[slot] = this.hdr + len;
    tx.count = slot + 1;
    this.frames++;
    this.bytes += len;
    if (this.observer !== null) this.observer(sourceBuf, frameOff, len);
  }

  /** Hands the queued frames to the device (one call) when there are any. */
  flush(): void {
    if (this.link.tx.count > 0) this.link.flush();
  }
}
