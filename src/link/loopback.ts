/**
 * An in-memory Link for tests and benchmarks: frames are injected by the test (as if received)
 * and whatever the dataplane flushes is collected in `sent`. Same ring layout as the TAP link.
 */

import type { BatchHandler, FrameRing, Link } from './link.js';
import { VNET_HDR_LEN } from './vnet-hdr.js';

export interface LoopbackOptions {
  name?: string;
  mac: Uint8Array;
  mtu?: number;
  slots?: number;
  slotSize?: number;
  /** Keep copies of sent frames (tests); benchmarks turn it off. */
  capture?: boolean;
  /** Frames carry a 12-byte virtio-net header, like a TAP with offloads. */
  vnetHdr?: boolean;
}

function ring(slots: number, slotSize: number): FrameRing {
  const offsets = new Uint32Array(slots);
  for (let i = 0; i < slots; i++) offsets[i] = i * slotSize;
  return {
    buf: Buffer.alloc(slots * slotSize),
    offsets,
    lengths: new Uint32Array(slots),
    slotSize,
    slots,
    count: 0,
    src: new Uint8Array(slots),
    srcOffsets: new Uint32Array(slots),
  };
}

export class LoopbackLink implements Link {
  readonly kind = 'loopback';
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vnetHdrLen: number;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  readonly sent: Buffer[] = [];
  txDropped = 0;
  /** Frames flushed (also counted when not captured). */
  txCount = 0;
  flushes = 0;
  private handler: BatchHandler | null = null;
  private readonly capture: boolean;

  constructor(opts: LoopbackOptions) {
    this.name = opts.name ?? 'lo0';
    this.mac = opts.mac;
    this.mtu = opts.mtu ?? 1500;
    this.vnetHdrLen = opts.vnetHdr === true ? VNET_HDR_LEN : 0;
    const slots = opts.slots ?? 64,
      slotSize = opts.slotSize ?? 2048;
    this.rx = ring(slots, slotSize);
    this.tx = ring(slots, slotSize);
    this.capture = opts.capture ?? true;
  }

  start(onBatch: BatchHandler): void {
    this.handler = onBatch;
  }

  /** Delivers frames as one RX batch (at most `rx.slots`). */
  inject(frames: Uint8Array[]): void {
    if (this.handler === null) throw new Error(`loopback link ${this.name} not started`);
    let n = 0;
    for (const f of frames) {
      if (n === this.rx.slots) {
        this.rx.count = n;
        this.handler(n);
        n = 0;
      }
      const len = Math.min(f.length, this.rx.slotSize);
      this.rx.buf.set(f.subarray(0, len), this.rx.offsets[n]);
      this.rx.lengths[n] = len;
      n++;
    }
    this.rx.count = n;
    if (n > 0) this.handler(n);
  }

  /** Delivers `count` frames already written into the RX ring (benchmarks). */
  deliver(count: number): void {
    this.rx.count = count;
    this.handler?.(count);
  }

  private sources: Buffer[] = [];
  setTxSources(buffers: Buffer[]): void {
    this.sources = buffers.slice();
  }

  flush(): void {
    const tx = this.tx;
    this.flushes++;
    for (let i = 0; i < tx.count; i++) {
      const k = tx.src![i];
      const len = tx.lengths[i];
      if (k > 0 && (this.sources[k - 1] === undefined || tx.srcOffsets![i] + len > this.sources[k - 1].length)) {
        this.txDropped++;
        continue;
      }
      if (this.capture) {
        const from = k === 0 ? tx.buf : this.sources[k - 1];
        const off = k === 0 ? tx.offsets[i] : tx.srcOffsets![i];
        this.sent.push(Buffer.from(from.subarray(off, off + len)));
      }
      this.txCount++;
    }
    tx.count = 0;
  }

  /** Returns and forgets the frames sent so far. */
  take(): Buffer[] {
    return this.sent.splice(0, this.sent.length);
  }

  close(): void {
    this.handler = null;
  }
}
