/**
 * The state of the frame being processed, in one object the stages share instead of scratch
 * fields scattered over them. One instance per dataplane, reset for each frame; nothing in it is
 * allocated per frame.
 */
import { Route } from '../host/addresses.js';
import type { PacketViews } from '../packet/views.js';
import type { SchedNote } from '../trace/tracer.js';
import type { Port } from './port.js';
import type { ServiceHealthNote } from './trace-notes.js';

/** Told of each client -> VIP packet of a connection, after its counters and state moved. Must not allocate. */
export interface InboundObserver {
  afterInbound(id: number, nowMs: number): void;
}

export class FrameContext {
  /** The link the frame arrived on. */
  port!: Port;
  /** Views over the frame's bytes: the port's RX ring, or the reassembled datagram. */
  v!: PacketViews;
  /** The batch clock (ms), read once per batch. */
  now = 0;
  /** Offloads (virtio-net header): the L4 checksum holds only the pseudo-header sum. */
  csumPartial = false;
  /** Offloads: a GSO super-frame, cut to MSS-sized segments by the receiving side. */
  gso = false;
  /** Offloads: the segment size of a GSO super-frame (its virtio-net header's gso_size). */
  gsoSize = 0;
  /** The frame is a datagram reassembled from fragments (sent by copying, fragmented again). */
  reassembled = false;
  /** Size of the largest fragment of a reassembled datagram. */
  reasmMaxFrag = 0;
  /** Set by the router's checks: fragment the packet to this size (0 = send whole). */
  fragMtu = 0;
  /** Where the packet goes, filled by the router. */
  readonly route = new Route();
  /** A trace is running (sampled once per batch): stages write notes only then. */
  tracing = false;
  /** What the frame's trace comment says. */
  traceNote: string | null = null;
  /** The scheduler's decision for the frame, for its trace comment. */
  traceSched: SchedNote | null = null;
  /** The running sync master (connection sync), told of every client -> VIP packet; null when none. */
  syncMaster: InboundObserver | null = null;
  /** Trace only: the health checks' word on a service's servers (Dataplane.setHealthNote). */
  healthNote: ServiceHealthNote | null = null;

  /** Prepares for the next frame of `port`, with the virtio-net facts of its header. */
  begin(port: Port, csumPartial: boolean, gso: boolean, gsoSize = 0): void {
    this.port = port;
    this.v = port.rx;
    this.csumPartial = csumPartial;
    this.gso = gso;
    this.gsoSize = gsoSize;
    this.fragMtu = 0;
  }
}
