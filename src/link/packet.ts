/**
 * PacketLink: the director attached to an existing Ethernet interface through an AF_PACKET socket
 * of our addon (`native/packet.cc`), for a dual-NIC gateway VM: the fast way to do what PcapLink
 * does through libpcap. The kernel keeps the interface and its management addresses; the
 * director receives what it needs there and sends what it sends, owning VIP and DIP itself.
 *
 * Contract, on top of `Link`'s (see link.ts), and the same director semantics as PcapLink:
 * - `mac` is the director's MAC on this link. Default ('own'): a MAC of its own
 *   (`macFromName(iface)`, or `mac`), with the interface in promiscuous mode (a membership of our
 *   socket, PACKET_MR_PROMISC); the kernel sees those frames as PACKET_OTHERHOST and drops them
 *   before IP. `mac: 'nic'`: the interface's own MAC, no promiscuous mode, and the kernel's own
 *   IPv4 addresses on the interface (read at open) left to the kernel. See pcap.ts and the
 *   README's "Attaching to an existing NIC".
 * - Frames are selected in the kernel by a classic BPF program (packet-filter.ts): to `mac`, or
 *   multicast/broadcast, from neither `mac` nor the interface's MAC. PACKET_IGNORE_OUTGOING
 *   keeps every frame leaving the interface (ours, the kernel's) out of the ring.
 * - RX, two ways, both one JavaScript call per batch of up to `slots` frames:
 *   - default (`rxRing: false`): recvmmsg straight into the RX slots, one system call per batch;
 *     the socket polls readable as soon as one frame is queued (as a TAP does), with a receive
 *     buffer of blockSize x blockCount bytes.
 *   - `rxRing: true`: a TPACKET_V3 ring of `blockCount` blocks of `blockSize` bytes (default
 *     32 x 256 KiB = 8 MiB, the kernel's memory mapped into ours); a block is handed over when
 *     full, when the next frame does not fit, or `retireMs` (default 1, the kernel's smallest)
 *     after it was opened; the addon copies the frames of every handed-over block into `rx`. No
 *     system call per batch, but a lone frame (a ping, an ACK, a SYN) waits for its block to
 *     retire. Measured in the lab (docs/attachments.md): ring 0.80 ms ping RTT through the VIP,
 *     7.2 Gbit/s one iperf3 stream, 3,300 new conn/s; recvmmsg 0.25 ms, 12.5 Gbit/s, 7,000/s,
 *     since every frame is copied into our slots either way and TCP is latency-bound. tapvsd
 *     uses the ring only with TAPVS_PACKET_RX=ring (for measuring).
 * - `vnetHdr` (default false, tapvsd turns it on with its offloads): PACKET_VNET_HDR. RX and TX
 *   frames carry the TAP path's 12-byte virtio-net header (vnet-hdr.ts), GRO super-frames of up
 *   to 64 KB arrive whole and GSO frames leave whole, so frames move zero-copy between packet
 *   and TAP links. Without it, a super-frame does not fit a slot and is counted in `rxTruncated`
 *   (turn GRO off on the interface then: `offloadWarnings`).
 * - TX: `flush()` sends the queued frames with sendmmsg (one system call for the batch), with
 *   PACKET_QDISC_BYPASS; frames still queued when the batch handler returns are sent right after
 *   it by the addon (the TAP link's fused write). Refused frames are counted in `txDropped`.
 * - `fanoutGroup`: the socket's PACKET_FANOUT group (hash mode), made fresh by the kernel unless
 *   `fanout` names one to join: more PacketLinks on the interface (one per worker) can join it to
 *   share the traffic by flow. One socket per link today.
 *
 * What it does not do: no addresses, no interface configuration (the interface must exist, be
 * Ethernet and be up). Setup errors are TapvsError LINK_CONFIG (bad option, not Ethernet,
 * down), TAP_NO_DEVICE (no such interface) or TAP_PERMISSION (needs CAP_NET_RAW). An interface
 * that disappears while started is reported once, as TAP_GONE, to `start()`'s `onError`; one
 * that only goes down and up again is counted in `downEvents`.
 */
import { type ErrorCode, TapvsError } from '../errors.js';
import { fusedBatch, linkErrorHandler } from './fused-batch.js';
import type { BatchHandler, FrameRing, Link } from './link.js';
import { checkNic, sysfs } from './nic.js';
import { packetFilter } from './packet-filter.js';
import { captureOffloadsOn, hexMac, kernelAddresses } from './pcap.js';
import { formatMac, loadTapAddon, macFromName } from './tap.js';
import { VNET_HDR_LEN } from './vnet-hdr.js';

/** Ethernet header plus one 802.1Q tag: what a frame adds to the IP MTU. */
const ETH_OVERHEAD = 18;
const DEFAULT_SLOTS = 64;
const MIN_SLOT_SIZE = 2048;
/** Room for a 64 KB GSO frame: IP (65535) + Ethernet + VLAN + vnet header, 64-byte aligned. */
const VNET_SLOT_SIZE = 65536 + 64;
/** 256 KiB blocks: three 64 KB super-frames each (see the header). */
const DEFAULT_BLOCK_SIZE = 256 << 10;
const DEFAULT_BLOCK_COUNT = 32;
const DEFAULT_RETIRE_MS = 1;
/** The addon's fanout option: a new group made by the kernel. */
const FANOUT_NEW = -2;

export interface PacketLinkOptions {
  /** An existing Ethernet interface, e.g. `eth1` (at most 15 bytes). */
  iface: string;
  /** 'own' (default: `macFromName(iface)`, promiscuous), an explicit unicast MAC, or 'nic'. */
  mac?: Uint8Array | 'own' | 'nic';
  /** PACKET_VNET_HDR: 64 KB super-frames in and out, 12-byte virtio-net headers. Default false. */
  vnetHdr?: boolean;
  /** Frames per RX/TX batch. Default 64. */
  slots?: number;
  /** RX ring block size in bytes (a page multiple, 128 KiB..4 MiB). Default 256 KiB. */
  blockSize?: number;
  /** RX ring blocks. Default 32. */
  blockCount?: number;
  /** Longest a frame waits in a block not yet full, in ms (1..1000). Default 1. */
  retireMs?: number;
  /** A PACKET_FANOUT group to join (0..65535); default: a new one, or -1 for none. */
  fanout?: number;
  /** RX through the TPACKET_V3 ring (true) or recvmmsg into the slots (false, the default: see the header). */
  rxRing?: boolean;
}

/** The addon's PacketSocket (native/packet.cc). */
interface NativePacketSocket {
  readonly ifindex: number;
  readonly slots: number;
  readonly slotSize: number;
  readonly vnetHdrLen: number;
  readonly rxBuf: Buffer;
  readonly rxLengths: Uint32Array;
  readonly txBuf: Buffer;
  readonly txLengths: Uint32Array;
  readonly txSrc: Uint8Array;
  readonly txSrcOffsets: Uint32Array;
  readonly rxFrames: number;
  readonly rxBatches: number;
  readonly rxBlocks: number;
  readonly rxTruncated: number;
  readonly txFrames: number;
  readonly txDropped: number;
  readonly txCalls: number;
  readonly downEvents: number;
  readonly fanoutGroup: number;
  readonly ignoreOutgoing: boolean;
  readonly qdiscBypass: boolean;
  readonly ringBytes: number;
  start(onBatch: (count: number) => number, onError?: (err: Error) => void): void;
  stop(): void;
  write(count: number): number;
  setTxSources(buffers: Buffer[]): void;
  stats(): { packets: number; drops: number; freezes: number };
  close(): void;
  ref(): void;
  unref(): void;
}

type PacketSocketCtor = new (
  iface: string,
  opts: {
    slots: number;
    slotSize: number;
    vnetHdr: boolean;
    promiscuous: boolean;
    blockSize: number;
    blockCount: number;
    retireMs: number;
    filter: Uint32Array;
    fanout: number;
    rxRing: boolean;
  },
) => NativePacketSocket;

const CODES: ReadonlySet<string> = new Set<ErrorCode>(['TAP_NO_DEVICE', 'TAP_PERMISSION', 'TAP_GONE', 'LINK_CONFIG']);

function fromNative(e: unknown): unknown {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) return new TapvsError(code as ErrorCode, e.message, { cause: e });
  }
  return e;
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Dotted IPv4 to the uint32 the BPF program compares with. */
function ipv4Number(a: string): number {
  const p = a.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

class PacketRing implements FrameRing {
  count = 0;
  readonly offsets: Uint32Array;
  constructor(
    readonly buf: Buffer,
    readonly lengths: Uint32Array,
    readonly slotSize: number,
    readonly slots: number,
    readonly src?: Uint8Array,
    readonly srcOffsets?: Uint32Array,
  ) {
    this.offsets = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.offsets[i] = i * slotSize;
  }
}

export class PacketLink implements Link {
  readonly kind = 'packet';
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vnetHdrLen: number;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  readonly ifindex: number;
  /** Whether the interface was put in promiscuous mode (own MAC) or not ('nic'). */
  readonly promiscuous: boolean;
  /** The classic BPF program attached (4 words per instruction). */
  readonly filter: Uint32Array;
  /** Without vnetHdr: coalescing receive offloads found on at open (their frames are lost). */
  readonly offloadWarnings: readonly string[];
  private readonly sock: NativePacketSocket;
  private closed = false;

  constructor(opts: PacketLinkOptions) {
    const iface = opts.iface;
    const slots = opts.slots ?? DEFAULT_SLOTS;
    const mtu = checkNic('packet', iface, slots, 'TAP_NO_DEVICE');
    const nicMac = hexMac(sysfs(iface, 'address'));
    const want = opts.mac ?? 'own';
    const mac = want === 'nic' ? nicMac : want === 'own' ? macFromName(iface) : Uint8Array.from(want);
    if (mac.length !== 6 || (mac[0] & 1) !== 0 || mac.every((b) => b === 0)) {
      throw new TapvsError('LINK_CONFIG', `packet ${iface}: MAC ${formatMac(mac)} is not a unicast Ethernet address`);
    }
    const promiscuous = want !== 'nic';
    if (promiscuous && sameMac(mac, nicMac)) {
      throw new TapvsError(
        'LINK_CONFIG',
        `packet ${iface}: MAC ${formatMac(mac)} is the interface's own; use mac=nic for that`,
      );
    }
    const vnetHdr = opts.vnetHdr ?? false;
    const vnetHdrLen = vnetHdr ? VNET_HDR_LEN : 0;
    const slotSize = vnetHdr
      ? Math.max(VNET_SLOT_SIZE, (mtu + ETH_OVERHEAD + vnetHdrLen + 63) & ~63)
      : Math.max(MIN_SLOT_SIZE, (mtu + ETH_OVERHEAD + 63) & ~63);
    const exclude = promiscuous ? [] : kernelAddresses(iface).map(ipv4Number);
    const filter = packetFilter(mac, nicMac, exclude);

    const { PacketSocket } = loadTapAddon() as unknown as { PacketSocket?: PacketSocketCtor };
    if (PacketSocket === undefined) {
      throw new TapvsError('LINK_CONFIG', 'the native addon has no AF_PACKET support: rebuild it with npm install');
    }
    try {
      this.sock = new PacketSocket(iface, {
        slots,
        slotSize,
        vnetHdr,
        promiscuous,
        blockSize: opts.blockSize ?? DEFAULT_BLOCK_SIZE,
        blockCount: opts.blockCount ?? DEFAULT_BLOCK_COUNT,
        retireMs: opts.retireMs ?? DEFAULT_RETIRE_MS,
        filter,
        fanout: opts.fanout ?? FANOUT_NEW,
        rxRing: opts.rxRing ?? false,
      });
    } catch (e) {
      throw fromNative(e);
    }
    const s = this.sock;
    this.name = iface;
    this.ifindex = s.ifindex;
    this.mac = mac;
    this.mtu = mtu;
    this.vnetHdrLen = vnetHdrLen;
    this.promiscuous = promiscuous;
    this.filter = filter;
    this.rx = new PacketRing(s.rxBuf, s.rxLengths, s.slotSize, s.slots);
    this.tx = new PacketRing(s.txBuf, s.txLengths, s.slotSize, s.slots, s.txSrc, s.txSrcOffsets);
    this.offloadWarnings = Object.freeze(vnetHdr ? [] : captureOffloadsOn(iface));
  }

  setTxSources(buffers: Buffer[]): void {
    this.sock.setTxSources(buffers);
  }

  /** Starts delivering RX batches; `onError` hears once of an interface that disappeared (TAP_GONE). */
  start(onBatch: BatchHandler, onError?: (err: TapvsError) => void): void {
    if (this.closed) throw new TapvsError('LINK_CONFIG', `packet ${this.name}: link is closed`);
    const onBatchFused = fusedBatch(this.rx, this.tx, onBatch, () => this.flush());
    const onNativeError = linkErrorHandler(fromNative, onError);
    try {
      this.sock.start(onBatchFused, onNativeError);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Stops RX delivery; TX still works and start() may be called again. */
  stop(): void {
    this.sock.stop();
  }

  /** Sends the queued TX frames with sendmmsg; returns how many the kernel took. */
  flush(): number {
    const count = this.tx.count;
    if (count === 0) return 0;
    this.tx.count = 0;
    return this.sock.write(count);
  }

  get txDropped(): number {
    return this.sock.txDropped;
  }
  get txFrames(): number {
    return this.sock.txFrames;
  }
  /** sendmmsg calls made: txFrames / txCalls is the batch actually achieved. */
  get txCalls(): number {
    return this.sock.txCalls;
  }
  get rxFrames(): number {
    return this.sock.rxFrames;
  }
  get rxBatches(): number {
    return this.sock.rxBatches;
  }
  /** Ring blocks handed back to the kernel. */
  get rxBlocks(): number {
    return this.sock.rxBlocks;
  }
  /** Frames larger than a slot or a ring block: never delivered. */
  get rxTruncated(): number {
    return this.sock.rxTruncated;
  }
  /** Times the interface went down (and polling carried on). */
  get downEvents(): number {
    return this.sock.downEvents;
  }
  get fanoutGroup(): number {
    return this.sock.fanoutGroup;
  }
  /** Socket options the kernel accepted besides the required ones. */
  get features(): { ignoreOutgoing: boolean; qdiscBypass: boolean; ringBytes: number } {
    return {
      ignoreOutgoing: this.sock.ignoreOutgoing,
      qdiscBypass: this.sock.qdiscBypass,
      ringBytes: this.sock.ringBytes,
    };
  }
  /** The kernel's counters since the last call: frames that passed the filter, and drops (ring full). */
  captureStats(): { packets: number; drops: number } {
    const s = this.sock.stats();
    return { packets: s.packets, drops: s.drops };
  }

  ref(): void {
    this.sock.ref();
  }
  unref(): void {
    this.sock.unref();
  }

  /** Stops delivery and closes the socket (promiscuous and fanout memberships end). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}
