/**
 * TapLink: the director's attachment through a TAP device it creates (the default Link). The
 * native addon (`native/tap.cc`, built by `npm install` into `build/Release/tapvs_tap.node`)
 * owns the file descriptor, reads ready frames in batches into a Buffer shared with us and
 * writes queued TX frames with one call per batch.
 *
 * How frames move (`io`, reported per link by `tapvsd status`): with io_uring (Linux 6.7,
 * `native/tap-uring.cc`) one multishot read per TAP fills the RX slots directly and one
 * `io_uring_enter` per batch submits the writes and collects the frames that came meanwhile
 * (one more per wake-up when frames came while no call was in progress); otherwise one read()
 * and one write() per frame. `io: 'auto'` (the default, or $TAPVS_TAP_IO) takes
 * io_uring when the kernel allows it and falls back silently (`ioFallback` says why);
 * 'readwrite' forces the old path, 'uring' fails with LINK_CONFIG without io_uring. The contract
 * below is the same either way.
 *
 * Contract, on top of `Link`'s (see link.ts):
 * - The director speaks with its own MAC (`mac`), never the TAP device's. The device's MAC is
 *   the kernel side's: a bridge keeps each port's own address as a local fdb entry and would
 *   deliver frames to it to the host instead of forwarding them to us. `mac` defaults to
 *   `macFromName(name)`; if the kernel picked the same address for the device, the device's is
 *   changed.
 * - RX slot i is at `i * slotSize`. `rx.lengths` is the addon's own array, filled in native code;
 *   `rx.count` is set before the batch handler runs. A frame is at most `slotSize - 1` bytes: one
 *   that fills a slot was cut short by the read and is counted in `rxTruncated`, not delivered.
 * - Frames still queued in `tx` when the batch handler returns are sent right after it by the
 *   addon, in the same wake-up (a "fused" flush: one native call reads a batch and writes what the
 *   handler queued); calling `flush()` inside the handler is still right and costs one more
 *   native call.
 * - With `vnetHdr`, every RX and TX frame starts with a 12-byte virtio_net_hdr_v1
 *   (`vnetHdrLen`); the kernel then hands over TCP/UDP super-frames up to 64 KB (GSO) and
 *   accepts the same, and `offloads` lists what it agreed to (csum, tso4, tso6, uso4, uso6).
 *
 * What it does not do: no parsing and no addresses. Setup errors are `TapvsError`s
 * (TAP_NO_DEVICE, TAP_PERMISSION, TAP_BUSY, TAP_GONE, LINK_CONFIG); on the data path nothing
 * throws and refused frames are counted in `txDropped`. A device that disappears while started
 * (deleted, detached) is reported once, as TAP_GONE, to the `onError` given to `start()`.
 *
 * Errno mapping follows wireguard-go's tun_linux.go: ENOENT on /dev/net/tun is TAP_NO_DEVICE,
 * EPERM is TAP_PERMISSION, EBUSY is TAP_BUSY, a dead fd (EBADFD) is TAP_GONE.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, TapvsError } from '../errors.js';
import { fusedBatch, linkErrorHandler } from './fused-batch.js';
import type { BatchHandler, FrameRing, Link } from './link.js';
import { VNET_HDR_LEN } from './vnet-hdr.js';

/** Ethernet header plus one 802.1Q tag: what a frame adds to the IP MTU. */
const ETH_OVERHEAD = 18;
const DEFAULT_SLOTS = 64;
const DEFAULT_MTU = 1500;
const MIN_SLOT_SIZE = 2048;
/** Room for a 64 KB GSO frame: IP (65535) + Ethernet + VLAN + vnet header, 64-byte aligned. */
const VNET_SLOT_SIZE = 65536 + 64;
const IFNAMSIZ = 16;
/**
 * A TAP read returns at most the buffer's length, never the cut frame's real one: a slot one byte
 * longer than the largest legal frame makes a read that fills it a truncated frame (native/tap.cc).
 */
const RX_TRUNCATION_MARGIN = 1;

export interface TapLinkOptions {
  /** Device name (at most 15 bytes), created if it does not exist. */
  name: string;
  /** The director's MAC on this link. Default: `macFromName(name)`. */
  mac?: Uint8Array;
  /** IP MTU, also set on the device. Default 1500. */
  mtu?: number;
  /** IFF_VNET_HDR with checksum/TSO/USO offloads. Default false. */
  vnetHdr?: boolean;
  /** IFF_MULTI_QUEUE: several TapLinks (one per worker) may attach the same name. */
  multiQueue?: boolean;
  /** Frames per RX/TX batch. Default 64. */
  slots?: number;
  /** A bridge to enslave the device to (`ip link set dev <name> master <bridge>`). */
  bridge?: string;
  /** Set the device up. Default true. */
  up?: boolean;
  /**
   * How frames move (see the header): 'auto' (io_uring when the kernel has it), 'uring' (fail
   * with LINK_CONFIG without it), 'readwrite'. Default: $TAPVS_TAP_IO, else 'auto'.
   */
  io?: TapIoMode;
}

/** What TapLinkOptions.io asks for. */
export type TapIoMode = 'auto' | 'uring' | 'readwrite';
const IO_MODES: readonly string[] = ['auto', 'uring', 'readwrite'];

/** The io mode from the environment ($TAPVS_TAP_IO): the escape hatch and the bench's switch. */
export function tapIoFromEnv(env: NodeJS.ProcessEnv = process.env): TapIoMode {
  const v = env.TAPVS_TAP_IO;
  if (v === undefined || v === '') return 'auto';
  if (!IO_MODES.includes(v)) {
    throw new TapvsError('LINK_CONFIG', `TAPVS_TAP_IO=${v}: must be one of ${IO_MODES.join(', ')}`);
  }
  return v as TapIoMode;
}

/** The addon's TapDevice (native/tap.cc). */
interface NativeTapDevice {
  readonly name: string;
  readonly ifindex: number;
  readonly slots: number;
  readonly slotSize: number;
  readonly vnetHdrLen: number;
  readonly offloads: string[];
  readonly rxBuf: Buffer;
  readonly rxLengths: Uint32Array;
  readonly txBuf: Buffer;
  readonly txLengths: Uint32Array;
  /** Zero-copy TX: per slot, 0 = the slot itself, k = source k-1 at txSrcOffsets[slot]. */
  readonly txSrc: Uint8Array;
  readonly txSrcOffsets: Uint32Array;
  setTxSources(buffers: Buffer[]): void;
  readonly rxFrames: number;
  readonly rxBatches: number;
  readonly rxTruncated: number;
  readonly txFrames: number;
  readonly txDropped: number;
  readonly polling: boolean;
  readonly closed: boolean;
  /** How frames move: 'uring' (native/tap-uring.cc) or 'readwrite'. */
  readonly io: 'uring' | 'readwrite';
  /** Why io is 'readwrite', else ''. */
  readonly ioFallback: string;
  start(onBatch: (count: number) => number, onError?: (err: Error) => void): void;
  stop(): void;
  write(count: number): number;
  close(): void;
  ref(): void;
  unref(): void;
  getMac(): Buffer;
  setMac(mac: Uint8Array): void;
  getMtu(): number;
  setMtu(mtu: number): void;
  setUp(up: boolean): void;
}

interface NativeTapOptions {
  vnetHdr: boolean;
  multiQueue: boolean;
  slots: number;
  slotSize: number;
  io: TapIoMode;
}

interface TapAddon {
  TapDevice: new (name: string, opts: NativeTapOptions) => NativeTapDevice;
  /** sd_notify(3): one datagram to an AF_UNIX socket ('@' = abstract); 0 or an errno. */
  sdNotify(path: string, message: string): number;
  /** Adaptive polling of the event loop (native/poll-spin.cc; src/link/polling.ts). */
  setPolling(mode: 'off' | 'adaptive' | 'busy', budgetUs: number): void;
  pollingStats(): PollingStats;
}

export interface PollingStats {
  mode: 'off' | 'adaptive' | 'busy';
  budgetUs: number;
  /** Times the loop began polling instead of sleeping. */
  started: number;
  /** Turns of the loop spent polling. */
  turns: number;
  /** Reads that found frames while polling: the wake-ups from sleep saved. */
  rxWhileSpinning: number;
}

let addon: TapAddon | undefined;

/** The package root: the nearest directory above this module with tapvs's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'tapvs') return dir;
      } catch {
        // not ours; keep climbing
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new TapvsError('LINK_CONFIG', 'cannot find the tapvs package root');
    dir = up;
  }
}

/** Loads build/Release/tapvs_tap.node once. Throws LINK_CONFIG when it was not built. */
export function loadTapAddon(): TapAddon {
  if (addon !== undefined) return addon;
  const path = join(packageRoot(), 'build', 'Release', 'tapvs_tap.node');
  if (!existsSync(path)) {
    throw new TapvsError('LINK_CONFIG', `native addon not built: run npm install (missing ${path})`);
  }
  const require = createRequire(import.meta.url);
  try {
    addon = require(path) as TapAddon;
  } catch (e) {
    throw new TapvsError('LINK_CONFIG', `native addon ${path} failed to load: rebuild it with npm install`, {
      cause: e,
    });
  }
  return addon;
}

const TAP_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'TAP_NO_DEVICE',
  'TAP_PERMISSION',
  'TAP_BUSY',
  'TAP_GONE',
  'LINK_CONFIG',
]);

/** The addon's coded Error as a TapvsError; anything else (a TypeError: our bug) as it is. */
function fromNative(e: unknown): unknown {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TAP_CODES.has(code)) {
      return new TapvsError(code as ErrorCode, e.message, { cause: e });
    }
  }
  return e;
}

/**
 * A locally administered unicast MAC that depends only on the device name: 02:74 ('t') then
 * the 32-bit FNV-1a hash of the name's UTF-8 bytes. Stable across restarts, so neighbours'
 * ARP caches stay right when the daemon comes back.
 */
export function macFromName(name: string): Uint8Array {
  const bytes = Buffer.from(name, 'utf8');
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  const mac = new Uint8Array(6);
  mac[0] = 0x02;
  mac[1] = 0x74;
  mac[2] = (h >>> 24) & 0xff;
  mac[3] = (h >>> 16) & 0xff;
  mac[4] = (h >>> 8) & 0xff;
  mac[5] = h & 0xff;
  return mac;
}

export function formatMac(mac: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < mac.length; i++) parts.push(mac[i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One direction's ring over the addon's memory. `count` is the only field that changes. */
class TapRing implements FrameRing {
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

export class TapLink implements Link {
  readonly kind = 'tap';
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vnetHdrLen: number;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  /** Offloads the kernel accepted (vnetHdr only): 'csum', 'tso4', 'tso6', 'uso4', 'uso6'. */
  readonly offloads: readonly string[];
  readonly ifindex: number;
  private readonly dev: NativeTapDevice;
  private closed = false;

  constructor(opts: TapLinkOptions) {
    const { name } = opts;
    if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) >= IFNAMSIZ) {
      throw new TapvsError('LINK_CONFIG', `TAP name '${String(name)}' must be 1..${IFNAMSIZ - 1} bytes`);
    }
    const mtu = opts.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new TapvsError('LINK_CONFIG', `TAP ${name}: MTU ${mtu} is not in 68..65535`);
    }
    const mac = opts.mac !== undefined ? Uint8Array.from(opts.mac) : macFromName(name);
    if (mac.length !== 6 || (mac[0] & 1) !== 0 || mac.every((b) => b === 0)) {
      throw new TapvsError('LINK_CONFIG', `TAP ${name}: MAC ${formatMac(mac)} is not a unicast Ethernet address`);
    }
    const slots = opts.slots ?? DEFAULT_SLOTS;
    if (!Number.isInteger(slots) || slots < 1 || slots > 4096) {
      throw new TapvsError('LINK_CONFIG', `TAP ${name}: slots ${slots} is not in 1..4096`);
    }
    const vnetHdr = opts.vnetHdr ?? false;
    const vnetHdrLen = vnetHdr ? VNET_HDR_LEN : 0;
    // One byte beyond the largest legal frame: a read that fills a slot was cut short
    // (RX_TRUNCATION_MARGIN), and slots start 64-byte aligned.
    const largestFrame = mtu + ETH_OVERHEAD + vnetHdrLen;
    const slotSize = Math.max(
      vnetHdr ? VNET_SLOT_SIZE : MIN_SLOT_SIZE,
      (largestFrame + RX_TRUNCATION_MARGIN + 63) & ~63,
    );

    const { TapDevice } = loadTapAddon();
    let dev: NativeTapDevice;
    try {
      const io = opts.io ?? tapIoFromEnv();
      dev = new TapDevice(name, { vnetHdr, multiQueue: opts.multiQueue ?? false, slots, slotSize, io });
    } catch (e) {
      throw fromNative(e);
    }
    try {
      // The kernel gives a new TAP a random local MAC; keep it apart from ours (see header).
      const devMac = dev.getMac();
      if (sameMac(devMac, mac)) {
        devMac[5] ^= 0x01;
        dev.setMac(devMac);
      }
      if (dev.getMtu() !== mtu) dev.setMtu(mtu);
      if (opts.bridge !== undefined) attachToBridge(dev.name, opts.bridge);
      if (opts.up ?? true) dev.setUp(true);
    } catch (e) {
      dev.close();
      throw fromNative(e);
    }

    this.dev = dev;
    this.name = dev.name;
    this.ifindex = dev.ifindex;
    this.mac = mac;
    this.mtu = mtu;
    this.vnetHdrLen = vnetHdrLen;
    this.offloads = Object.freeze(dev.offloads.slice());
    this.rx = new TapRing(dev.rxBuf, dev.rxLengths, dev.slotSize, dev.slots);
    this.tx = new TapRing(dev.txBuf, dev.txLengths, dev.slotSize, dev.slots, dev.txSrc, dev.txSrcOffsets);
  }

  /** Registers the buffers TX slots may point into (zero-copy forwarding, see FrameRing.src). */
  setTxSources(buffers: Buffer[]): void {
    this.dev.setTxSources(buffers);
  }

  /**
   * Starts delivering RX batches. `onError` gets a TapvsError (TAP_GONE when the device was
   * deleted or detached) once, after which delivery has stopped; without it the error is
   * thrown from the event loop (process 'uncaughtException').
   */
  start(onBatch: BatchHandler, onError?: (err: TapvsError) => void): void {
    const onBatchFused = fusedBatch(this.rx, this.tx, onBatch, () => this.flush());
    const onNativeError = linkErrorHandler(fromNative, onError);
    try {
      this.dev.start(onBatchFused, onNativeError);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Stops RX delivery; the device stays open and TX still works. start() may be called again. */
  stop(): void {
    this.dev.stop();
  }

  /** Sends the queued TX frames with one native call; returns how many the device took. */
  flush(): number {
    const count = this.tx.count;
    if (count === 0) return 0;
    this.tx.count = 0;
    return this.dev.write(count);
  }

  get txDropped(): number {
    return this.dev.txDropped;
  }
  get txFrames(): number {
    return this.dev.txFrames;
  }
  get rxFrames(): number {
    return this.dev.rxFrames;
  }
  get rxBatches(): number {
    return this.dev.rxBatches;
  }
  /** Frames that filled a whole RX slot: longer than the MTU allows, cut short by the read, never delivered. */
  get rxTruncated(): number {
    return this.dev.rxTruncated;
  }

  /** How frames move: 'uring' (io_uring, one ring per device) or 'readwrite' (a call per frame). */
  get io(): 'uring' | 'readwrite' {
    return this.dev.io;
  }
  /** Why `io` is 'readwrite' ('' when it is 'uring'): the kernel's refusal, or that it was asked for. */
  get ioFallback(): string {
    return this.dev.ioFallback;
  }

  /** The TAP device's own (kernel-side) MAC. Not the director's: see `mac`. */
  get deviceMac(): Uint8Array {
    return this.dev.getMac();
  }

  /** Whether a started link keeps the process alive (default: it does). */
  ref(): void {
    this.dev.ref();
  }
  unref(): void {
    this.dev.unref();
  }

  /** Stops delivery and closes the fd, which deletes a non-persistent TAP. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dev.close();
  }
}

function attachToBridge(dev: string, bridge: string): void {
  try {
    execFileSync('ip', ['link', 'set', 'dev', dev, 'master', bridge], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new TapvsError('LINK_CONFIG', `TAP ${dev}: cannot attach to bridge ${bridge}: ${stderr || String(e)}`, {
      cause: e,
    });
  }
}
