/**
 * The Link interface: one attachment of the director to an Ethernet segment (a TAP device we
 * create, a NIC captured with libpcap, or an in-memory loopback for tests).
 *
 * Contract (batched, allocation-free, WireGuard-go tun.Device style):
 * - Frames arrive in batches. The link reads every ready frame (up to `rx.slots`) into
 *   `rx.buf`, frame i at `rx.offsets[i]` with `rx.lengths[i]` bytes (Ethernet header first,
 *   after `vnetHdrLen` bytes of virtio-net header when offloads are on), then calls the
 *   batch handler once with the count. The frames stay valid until the handler returns.
 * - To send, the dataplane writes a frame into TX slot `tx.count` (at `tx.offsets[slot]`, at
 *   most `tx.slotSize` bytes), stores its length in `tx.lengths[slot]` and increments
 *   `tx.count`; `flush()` hands all queued frames to the device in one call and resets the
 *   count. When `tx.count === tx.slots` the writer must flush before queueing more.
 * - A link never throws on the data path: frames the device refuses are counted in
 *   `txDropped`.
 */
export interface FrameRing {
  /** Shared memory; one DataView over it lives as long as the link. */
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Bytes reserved for one frame. */
  readonly slotSize: number;
  /** Number of frames the ring holds (the batch size). */
  readonly slots: number;
  /** Frames queued (TX) or delivered in the current batch (RX). */
  count: number;
  /**
   * Zero-copy TX (optional; links that have it also have `setTxSources`): per slot, 0 means the
   * frame is in the slot itself; k > 0 means it lies in source buffer k-1 at `srcOffsets[slot]`
   * (e.g. another link's RX ring, rewritten in place). The writer sets both for every slot.
   */
  readonly src?: Uint8Array | undefined;
  readonly srcOffsets?: Uint32Array | undefined;
}

export type BatchHandler = (count: number) => void;

export interface Link {
  /** How it is attached, for status: 'tap', 'packet' (AF_PACKET), 'pcap' (libpcap), 'loopback'. */
  readonly kind?: string;
  /** How frames move, where the attachment has a choice, for status: TAP 'uring' or 'readwrite'. */
  readonly io?: string;
  /** Device name, e.g. `tapvs-ext`. */
  readonly name: string;
  /** The link's own MAC address, 6 bytes. */
  readonly mac: Uint8Array;
  /** IP MTU of the link in bytes (1500 on Ethernet). */
  readonly mtu: number;
  /** Bytes of virtio-net header in front of every RX and TX frame (0 without offloads). */
  readonly vnetHdrLen: number;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  /** Starts delivering RX batches to `onBatch`; `onError` hears of a device that went away. */
  start(onBatch: BatchHandler, onError?: (err: Error) => void): void;
  /** Sends the queued TX frames (one device call for the batch) and resets `tx.count`. */
  flush(): void;
  /** Registers the buffers that TX slots may point into (see FrameRing.src). Optional. */
  setTxSources?(buffers: Buffer[]): void;
  /** Frames the device refused to take (full queue, link down). */
  readonly txDropped: number;
  /** Stops delivery and releases the device. Idempotent. */
  close(): void;
}
