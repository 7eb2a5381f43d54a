/**
 * PcapLink: the director attached to an existing Ethernet interface through libpcap (npm `pcap`),
 * for a dual-NIC gateway VM. The kernel keeps the interface and its own management addresses;
 * the director captures what it needs there and injects what it sends, owning VIP and DIP itself.
 *
 * Contract, on top of `Link`'s (see link.ts):
 * - `mac` is the director's MAC on this link. Default ('own'): a MAC of its own
 *   (`macFromName(iface)`, or `mac`), with the interface in promiscuous mode so frames to it are
 *   captured at all. The kernel sees those frames as PACKET_OTHERHOST and drops them before IP,
 *   so its forwarding, rp_filter and firewall never act on the director's traffic. With
 *   `mac: 'nic'` the director speaks with the interface's own MAC and promiscuous mode stays
 *   off; that is for networks that drop unknown MACs (cloud vNICs, vSwitches with MAC spoof
 *   checks), and then the kernel sees the same frames and must be told to ignore them (no
 *   VIP/DIP on the interface, forwarding off): see the README's "libpcap attachment".
 * - Only frames the director needs are captured, selected in the kernel by a BPF filter:
 *   `not ether src <mac> and not ether src <nic mac> and (ether dst <mac> or ether broadcast)`.
 *   The npm package does not expose pcap_setdirection, so the source MACs stand for "inbound":
 *   a packet socket never gets its own injected frames back (the kernel skips the sending
 *   socket), and what else leaves the interface is the kernel's, from the NIC's MAC. Received,
 *   either source would be a loop or a MAC clash. (The filter keyword `inbound` would say it
 *   directly, but libpcap runs the first ring block through its userland BPF interpreter, which
 *   cannot read the packet type and rejects it: measured, the first frame after open was lost.)
 *   With mac=nic, IPv4 to the kernel's own addresses on the interface (read at open) is left
 *   out too: it is the kernel's, and the director would route it back onto the segment.
 * - RX: the npm binding calls back once per frame while libpcap drains the capture ring; each
 *   frame is copied into the next slot of `rx` and the batch handler runs once when the ring is
 *   full and once when the ring has been drained (one poll wake-up), never per frame. Frames
 *   longer than a slot (`len > caplen`: GRO/LRO super-frames) are not delivered but counted in
 *   `rxTruncated`: turn receive offloads off on the interface (README).
 * - TX: `flush()` injects the queued frames one pcap_inject each (the binding has no batch
 *   send), through a staging area and one Buffer view per frame length made at construction, so
 *   nothing is allocated per frame. A refused frame (full queue, interface down, too long) is
 *   counted in `txDropped`. Frames still queued when the batch handler returns are flushed
 *   right after it, as the TAP link's fused write does.
 * - `mtu` is read from /sys/class/net/<iface>/mtu; `vnetHdrLen` is 0 (libpcap has no offloads).
 *
 * What it does not do: no addresses, no interface configuration (the interface must exist, be
 * Ethernet and be up; promiscuous mode is a membership of our socket that ends with it).
 * Setup errors are TapvsError LINK_CONFIG (no such interface, not Ethernet, down, no
 * permission, binding not built). An interface that disappears while started is reported once,
 * as TAP_GONE, to `start()`'s `onError`.
 *
 * Limits of the npm binding (pcap 3.1.0), measured or read from its source: one JS call per frame
 * on receive; one dispatch() runs until the capture ring is empty, so frames arriving as fast as
 * they are handled would keep it (and timers, the control socket) going: past RX_BUDGET frames
 * in one wake-up, frames are dropped uncopied (`rxOverrun`), which drains the ring fast enough
 * to return (the kernel drops what the ring cannot hold: `captureStats().drop`); and
 * `close()` can only ask libpcap to stop (pcap_breakloop): in non-blocking mode libpcap notices
 * that at the next captured frame, and only then are the socket closed and the poll handle
 * released. A daemon exits anyway; a process that must exit by draining its event loop should
 * not open a PcapLink.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TapvsError } from '../errors.js';
import type { BatchHandler, FrameRing, Link } from './link.js';
import { checkNic, sysfs } from './nic.js';
import { formatMac, macFromName } from './tap.js';

/** Ethernet header plus one 802.1Q tag: what a frame adds to the IP MTU. */
const ETH_OVERHEAD = 18;
const ETH_HLEN = 14;
const DEFAULT_SLOTS = 64;
const MIN_SLOT_SIZE = 2048;
/** libpcap's buffer_size: the kernel capture ring. Room for ~5000 full frames between wake-ups. */
const DEFAULT_CAPTURE_BYTES = 8 << 20;
/** ARPHRD_ETHER in /sys/class/net/<if>/type. */
/** pcap_dispatch's "pcap_breakloop was called": the binding has closed the handle. */
const PCAP_ERROR_BREAK = -2;
/**
 * Frames handled in one poll wake-up before the rest are dropped (see the header): about 20-30 ms
 * of work here; a bulk TCP transfer stays far below it (its window limits what is in flight).
 */
const RX_BUDGET = 16384;
/** Receive offloads that make the kernel hand libpcap frames longer than the MTU. */
const COALESCING_OFFLOADS = ['generic-receive-offload', 'large-receive-offload', 'rx-gro-hw'] as const;

export interface PcapLinkOptions {
  /** An existing Ethernet interface, e.g. `eth1` (at most 15 bytes). */
  iface: string;
  /**
   * The director's MAC: 'own' (default: `macFromName(iface)`, promiscuous mode on), an explicit
   * unicast MAC (promiscuous mode on), or 'nic' (the interface's MAC, promiscuous mode off).
   */
  mac?: Uint8Array | 'own' | 'nic';
  /** Frames per RX/TX batch. Default 64. */
  slots?: number;
  /** The kernel capture buffer (libpcap buffer_size) in bytes. Default 8 MiB. */
  captureBytes?: number;
}

/** The npm package's native PcapSession (node_modules/pcap/pcap_session.cc). */
interface NativePcapSession {
  open_live(
    device: string,
    filter: string,
    bufferSize: number,
    snapLength: number,
    outfile: string,
    packetReady: () => void,
    monitor: boolean,
    bufferTimeoutMs: number,
    warn: (msg: string) => void,
    promiscuous: boolean,
  ): string;
  /** Copies each ready frame into `buf` (at most buf.length bytes) and its header into `hdr`. */
  dispatch(buf: Buffer, hdr: Buffer): number;
  start_polling(): void;
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
  inject(frame: Buffer): void;
  /** Looked up by the binding's poll handler at every wake-up. */
  read_callback?: () => void;
}

interface PcapBinding {
  PcapSession: new () => NativePcapSession;
}

let binding: PcapBinding | undefined;

/**
 * Loads the npm package's compiled binding once. We drive the binding directly rather than
 * through pcap.js, whose wrapper allocates an object and emits an event per frame.
 */
function loadPcapBinding(): PcapBinding {
  if (binding !== undefined) return binding;
  const require = createRequire(import.meta.url);
  try {
    binding = require('pcap/build/Release/pcap_binding.node') as PcapBinding;
  } catch (e) {
    throw new TapvsError(
      'LINK_CONFIG',
      'libpcap support is not built: npm install (it builds the pcap package with node-gyp against libpcap-dev)',
      { cause: e },
    );
  }
  return binding;
}

/**
 * Offloads that are on and spoil capture: the kernel coalesces TCP segments (GRO, LRO, hardware
 * GRO) into super-frames the director cannot forward. Empty when ethtool is missing.
 */
export function captureOffloadsOn(iface: string): string[] {
  let out: string;
  try {
    out = execFileSync('ethtool', ['-k', iface], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return [];
  }
  const on: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*([a-z0-9-]+):\s+on\b/.exec(line);
    if (m !== null && (COALESCING_OFFLOADS as readonly string[]).includes(m[1])) on.push(m[1]);
  }
  return on;
}

/**
 * The BPF program source that selects the frames the director needs (see the header): to `mac`
 * or broadcast, from neither `mac` nor `nicMac`. `exclude` lists IPv4 destinations to leave to
 * the kernel: with mac=nic, its own addresses on the interface, which the director would
 * otherwise route back onto the segment.
 */
function captureFilter(mac: Uint8Array, nicMac: Uint8Array, exclude: readonly string[] = []): string {
  const m = formatMac(mac),
    n = formatMac(nicMac);
  let f = `not ether src ${m}${n !== m ? ` and not ether src ${n}` : ''} and (ether dst ${m} or ether broadcast)`;
  for (const a of exclude) f += ` and not ip dst host ${a}`;
  return f;
}

/** The kernel's IPv4 addresses on `iface` (`ip -4 -o addr show dev IFACE`); empty without iproute2. */
export function kernelAddresses(iface: string): string[] {
  let out: string;
  try {
    out = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', iface], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return [];
  }
  const addrs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /\binet (\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\//.exec(line);
    if (m !== null) addrs.push(m[1]);
  }
  return addrs;
}

class PcapRing implements FrameRing {
  count = 0;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  constructor(
    readonly buf: Buffer,
    readonly slotSize: number,
    readonly slots: number,
  ) {
    this.offsets = new Uint32Array(slots);
    this.lengths = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.offsets[i] = i * slotSize;
  }
}

export class PcapLink implements Link {
  readonly kind = 'pcap';
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vnetHdrLen = 0;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  /** Whether the interface was put in promiscuous mode (own MAC) or not ('nic'). */
  readonly promiscuous: boolean;
  /** The BPF filter in use. */
  readonly filter: string;
  /** Coalescing receive offloads found on at open (see `captureOffloadsOn`); should be empty. */
  readonly offloadWarnings: readonly string[];

  private readonly session: NativePcapSession;
  /** Where libpcap copies each frame: one slot past the RX ring, inside `rx.buf`. */
  private readonly rxStageOff: number;
  private readonly rxStage: Buffer;
  /** pcap_pkthdr as the binding writes it: tv_sec, tv_usec, caplen, len (host order u32). */
  private readonly hdr: Buffer;
  private readonly hdr32: Uint32Array;
  /** Where a TX frame is moved before injection, and a view of each length over that place. */
  private readonly txStageOff: number;
  private readonly txViews: Buffer[];
  private onBatch: BatchHandler | null = null;
  private onError: ((err: TapvsError) => void) | null = null;
  private started = false;
  private closed = false;
  /** The binding has pcap_close()d the handle: never call into it again. */
  private released = false;
  private failed = false;
  private rxFramesN = 0;
  private rxBatchesN = 0;
  private rxTruncatedN = 0;
  private rxOverrunN = 0;
  /** Frames seen in the current dispatch() (RX_BUDGET). */
  private dispatchFrames = 0;
  private txFramesN = 0;
  private txDroppedN = 0;

  constructor(opts: PcapLinkOptions) {
    const iface = opts.iface;
    const slots = opts.slots ?? DEFAULT_SLOTS;
    const mtu = checkNic('pcap', iface, slots, 'LINK_CONFIG');
    const captureBytes = opts.captureBytes ?? DEFAULT_CAPTURE_BYTES;
    if (!Number.isInteger(captureBytes) || captureBytes < 65536 || captureBytes > 1 << 30) {
      throw new TapvsError('LINK_CONFIG', `pcap ${iface}: capture buffer ${captureBytes} is not in 64 KiB..1 GiB`);
    }
    const nicMac = hexMac(sysfs(iface, 'address'));
    const want = opts.mac ?? 'own';
    const mac = want === 'nic' ? nicMac : want === 'own' ? macFromName(iface) : Uint8Array.from(want);
    if (mac.length !== 6 || (mac[0] & 1) !== 0 || mac.every((b) => b === 0)) {
      throw new TapvsError('LINK_CONFIG', `pcap ${iface}: MAC ${formatMac(mac)} is not a unicast Ethernet address`);
    }
    const promiscuous = want !== 'nic';
    if (promiscuous && sameMac(mac, nicMac)) {
      // Then the kernel would take the director's frames as its own: say mac=nic if that is meant.
      throw new TapvsError(
        'LINK_CONFIG',
        `pcap ${iface}: MAC ${formatMac(mac)} is the interface's own; use mac=nic for that`,
      );
    }

    const slotSize = Math.max(MIN_SLOT_SIZE, (mtu + ETH_OVERHEAD + 63) & ~63);
    // One spare slot at the end of each buffer: RX staging (libpcap's copy) and TX staging.
    const rxBuf = Buffer.from(new ArrayBuffer((slots + 1) * slotSize));
    const txBuf = Buffer.from(new ArrayBuffer((slots + 1) * slotSize));
    this.rxStageOff = slots * slotSize;
    this.rxStage = rxBuf.subarray(this.rxStageOff, this.rxStageOff + slotSize);
    this.txStageOff = slots * slotSize;
    this.txViews = [];
    for (let len = 0; len <= slotSize; len++) this.txViews.push(txBuf.subarray(this.txStageOff, this.txStageOff + len));
    const hdrAb = new ArrayBuffer(16);
    this.hdr = Buffer.from(hdrAb);
    this.hdr32 = new Uint32Array(hdrAb);

    // With the NIC's MAC the kernel's own traffic arrives to the same MAC: leave it to the kernel.
    const filter = captureFilter(mac, nicMac, promiscuous ? [] : kernelAddresses(iface));
    const { PcapSession } = loadPcapBinding();
    const session = new PcapSession();
    try {
      // Timeout 0 asks the binding for immediate mode (pcap_set_immediate_mode): no batching
      // delay in the kernel; batches come from what is ready at each wake-up. pcap_lookupnet's
      // complaint about an interface without IPv4 address is expected here and ignored.
      const linkType = session.open_live(
        iface,
        filter,
        captureBytes,
        slotSize,
        '',
        this.onFrame,
        false,
        0,
        () => {},
        promiscuous,
      );
      if (linkType !== 'LINKTYPE_ETHERNET') {
        throw new TapvsError('LINK_CONFIG', `pcap ${iface}: libpcap reports link type ${linkType}, not Ethernet`);
      }
    } catch (e) {
      if (e instanceof TapvsError) throw e;
      throw openError(iface, e);
    }

    this.session = session;
    this.name = iface;
    this.mac = mac;
    this.mtu = mtu;
    this.promiscuous = promiscuous;
    this.filter = filter;
    this.rx = new PcapRing(rxBuf, slotSize, slots);
    this.tx = new PcapRing(txBuf, slotSize, slots);
    this.offloadWarnings = Object.freeze(captureOffloadsOn(iface));
  }

  /**
   * Starts delivering RX batches. `onError` hears once of an interface that disappeared
   * (TAP_GONE); without it the error is thrown from the event loop.
   */
  start(onBatch: BatchHandler, onError?: (err: TapvsError) => void): void {
    if (this.closed) throw new TapvsError('LINK_CONFIG', `pcap ${this.name}: link is closed`);
    if (this.started) throw new TapvsError('LINK_CONFIG', `pcap ${this.name}: already started`);
    this.started = true;
    this.onBatch = onBatch;
    this.onError = onError ?? null;
    this.session.read_callback = this.onReadable;
    try {
      this.session.start_polling();
    } catch (e) {
      throw new TapvsError('LINK_CONFIG', `pcap ${this.name}: cannot poll the capture: ${(e as Error).message}`, {
        cause: e,
      });
    }
    // Frames captured between open and start() are already waiting: look once now rather than
    // count on the first readiness report.
    setImmediate(this.onReadable);
  }

  /** The binding's poll handler: drain the capture ring, then hand over what is left. */
  private readonly onReadable = (): void => {
    if (this.released) return;
    this.dispatchFrames = 0;
    const r = this.session.dispatch(this.rxStage, this.hdr);
    if (r === PCAP_ERROR_BREAK) {
      this.released = true;
      this.rx.count = 0;
      return;
    }
    if (this.rx.count > 0) this.deliver();
    if (r < 0 && !this.failed && !this.closed) this.fail();
  };

  /** Called by libpcap (through the binding) for each captured frame, inside dispatch(). */
  private readonly onFrame = (): void => {
    if (this.closed) return;
    if (++this.dispatchFrames > RX_BUDGET) {
      this.rxOverrunN++;
      return;
    }
    const caplen = this.hdr32[2];
    if (this.hdr32[3] > caplen) {
      this.rxTruncatedN++;
      return;
    }
    const rx = this.rx;
    const slot = rx.count;
    rx.buf.copyWithin(rx.offsets[slot], this.rxStageOff, this.rxStageOff + caplen);
    rx.lengths[slot] = caplen;
    rx.count = slot + 1;
    this.rxFramesN++;
    if (slot + 1 === rx.slots) this.deliver();
  };

  private deliver(): void {
    const rx = this.rx;
    const n = rx.count;
    this.rxBatchesN++;
    try {
      if (this.onBatch !== null && !this.closed) this.onBatch(n);
    } finally {
      // Also when the handler threw: what it queued goes out, and the next batch starts empty.
      rx.count = 0;
      if (this.tx.count > 0) this.flush();
    }
  }

  private fail(): void {
    this.failed = true;
    // libpcap's own message is not exposed. Its error comes while the interface is being
    // unregistered, before sysfs lets go of it: look a little later to say which it was.
    setTimeout(() => {
      const gone = !existsSync(`/sys/class/net/${this.name}`);
      const err = new TapvsError(
        'TAP_GONE',
        gone
          ? `pcap ${this.name}: the interface disappeared`
          : `pcap ${this.name}: capture failed (libpcap reported an error on the interface)`,
      );
      if (this.onError === null) throw err;
      this.onError(err);
    }, 200);
  }

  /** Injects the queued TX frames, one pcap_inject each; returns how many the device took. */
  flush(): number {
    const tx = this.tx;
    const n = tx.count;
    if (n === 0) return 0;
    tx.count = 0;
    if (this.closed || this.released) {
      this.txDroppedN += n;
      return 0;
    }
    const buf = tx.buf;
    const stage = this.txStageOff;
    const slotSize = tx.slotSize;
    let sent = 0;
    for (let i = 0; i < n; i++) {
      const len = tx.lengths[i];
      if (len < ETH_HLEN || len > slotSize) {
        this.txDroppedN++;
        continue;
      }
      const off = tx.offsets[i];
      buf.copyWithin(stage, off, off + len);
      try {
        this.session.inject(this.txViews[len]);
        sent++;
      } catch {
        // pcap_inject failed: ENOBUFS (queue full), ENETDOWN, EMSGSIZE. Counted, never thrown.
        this.txDroppedN++;
      }
    }
    this.txFramesN += sent;
    return sent;
  }

  get txDropped(): number {
    return this.txDroppedN;
  }
  get txFrames(): number {
    return this.txFramesN;
  }
  get rxFrames(): number {
    return this.rxFramesN;
  }
  get rxBatches(): number {
    return this.rxBatchesN;
  }
  /** Frames longer than a slot (offload super-frames): captured cut short, so never delivered. */
  get rxTruncated(): number {
    return this.rxTruncatedN;
  }
  /** Frames dropped because one wake-up had already handled RX_BUDGET frames (overload). */
  get rxOverrun(): number {
    return this.rxOverrunN;
  }

  /** libpcap's counters: frames that passed the filter (`recv`) and that the kernel dropped for want of ring space (`drop`). */
  captureStats(): { recv: number; drop: number; ifdrop: number } {
    if (this.released) return { recv: 0, drop: 0, ifdrop: 0 };
    const s = this.session.stats();
    return { recv: s.ps_recv, drop: s.ps_drop, ifdrop: s.ps_ifdrop };
  }

  /**
   * Stops delivery and asks libpcap to release the interface (promiscuous membership, socket,
   * poll handle), which it does at the next captured frame (see the header). Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onBatch = null;
    this.rx.count = 0;
    this.tx.count = 0;
    if (this.released) return;
    this.session.close();
    if (!this.started) return; // never polled: nothing holds the event loop
    // A frame already waiting makes libpcap see the break now and close the handle.
    this.onReadable();
  }
}

export function hexMac(s: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  const out = new Uint8Array(6);
  if (m !== null) for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1], 16);
  return out;
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** libpcap's open/activate/filter errors as LINK_CONFIG with the way out. */
function openError(iface: string, e: unknown): TapvsError {
  const msg = e instanceof Error ? e.message : String(e);
  if (/permission|not permitted/i.test(msg)) {
    return new TapvsError(
      'LINK_CONFIG',
      `pcap ${iface}: no permission to capture (needs CAP_NET_RAW: run as root or grant the capability): ${msg}`,
      { cause: e },
    );
  }
  if (/no such device|doesn't exist/i.test(msg)) {
    return new TapvsError('LINK_CONFIG', `pcap ${iface}: no such interface: ${msg}`, { cause: e });
  }
  return new TapvsError('LINK_CONFIG', `pcap ${iface}: cannot open the capture: ${msg}`, { cause: e });
}
