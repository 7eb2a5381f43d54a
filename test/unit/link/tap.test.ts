/**
 * TapLink and the native addon against the real kernel TUN driver.
 *
 * Every device and every frame lives in a network namespace this file creates
 * (`tapvs-t-<pid>-<n>`): each root test runs this same file as a child process under
 * `ip netns exec`, with TAPVS_TAP_TEST_CHILD naming the scenario; the child prints one JSON line
 * of observations and the parent asserts on them. Namespaces (and any process left in them) are
 * removed in `t.after`, even on failure. Nothing is configured in the root namespace.
 *
 * Without root, or without /dev/net/tun, the kernel tests skip with a reason; the pure ones
 * (MAC derivation, option validation) always run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TapvsError } from '../../../src/errors.js';
import { formatMac, macFromName, TapLink, tapIoFromEnv } from '../../../src/link/tap.js';
import { VNET_HDR_LEN } from '../../../src/link/vnet-hdr.js';
import { removeNamespace } from '../../helpers/netns.js';

const CHILD_ENV = 'TAPVS_TAP_TEST_CHILD';
const THIS_FILE = fileURLToPath(import.meta.url);
const DEV = 'tapvs-t0';
const KERNEL_IP = '10.77.0.1';
const PEER_IP = '10.77.0.2'; // the address the director answers for in these tests
const UDP_PORT = 9999;

// ---------------------------------------------------------------------------------------------
// Frame helpers (test-only; allocation is fine here)

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function inetChecksum(b: Buffer, start: number, end: number): number {
  let s = 0;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) & 1) s += b[end - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function arpFrame(op: number, ethDst: Uint8Array, sha: Uint8Array, spa: string, tha: Uint8Array, tpa: string): Buffer {
  return Buffer.from([
    ...ethDst,
    ...sha,
    0x08,
    0x06,
    0x00,
    0x01,
    0x08,
    0x00,
    6,
    4,
    0x00,
    op,
    ...sha,
    ...ipBytes(spa),
    ...tha,
    ...ipBytes(tpa),
  ]);
}

/** The ICMP echo reply to an echo request frame, sent from `mac`. */
function echoReply(req: Buffer, mac: Uint8Array): Buffer {
  const r = Buffer.from(req);
  req.copy(r, 0, 6, 12);
  r.set(mac, 6);
  req.copy(r, 26, 30, 34);
  req.copy(r, 30, 26, 30);
  const ihl = (r[14] & 0x0f) * 4;
  const end = 14 + r.readUInt16BE(16);
  r[14 + ihl] = 0;
  r.writeUInt16BE(0, 14 + ihl + 2);
  r.writeUInt16BE(inetChecksum(r, 14 + ihl, end), 14 + ihl + 2);
  return r;
}

function isArpRequestFor(f: Buffer, tpa: string): boolean {
  return (
    f.length >= 42 &&
    f.readUInt16BE(12) === 0x0806 &&
    f.readUInt16BE(20) === 1 &&
    f.subarray(38, 42).equals(Buffer.from(ipBytes(tpa)))
  );
}

function isEchoRequestTo(f: Buffer, dst: string): boolean {
  return (
    f.length >= 42 &&
    f.readUInt16BE(12) === 0x0800 &&
    f[23] === 1 &&
    f.subarray(30, 34).equals(Buffer.from(ipBytes(dst))) &&
    f[14 + (f[14] & 0x0f) * 4] === 8
  );
}

/** UDP payload index of a frame to PEER_IP:UDP_PORT, or -1. */
function udpIndex(f: Buffer): number {
  if (f.length < 46 || f.readUInt16BE(12) !== 0x0800 || f[23] !== 17) return -1;
  const l4 = 14 + (f[14] & 0x0f) * 4;
  if (f.readUInt16BE(l4 + 2) !== UDP_PORT) return -1;
  return f.readUInt32BE(l4 + 8);
}

/** Queues one frame (after `vnetHdr` bytes of virtio-net header, zero: no offload asked). */
function queue(link: TapLink, frame: Buffer): void {
  const slot = link.tx.count;
  const off = link.tx.offsets[slot];
  link.tx.buf.fill(0, off, off + link.vnetHdrLen);
  frame.copy(link.tx.buf, off + link.vnetHdrLen);
  link.tx.lengths[slot] = link.vnetHdrLen + frame.length;
  link.tx.count = slot + 1;
}

// ---------------------------------------------------------------------------------------------
// Child side: runs inside the test's namespace

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quietNamespace(): void {
  // No IPv6 autoconfiguration chatter (RS, MLD, DAD) in the frames we look at.
  writeFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
  writeFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1');
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Capture {
  frames: Buffer[];
  batches: number[];
  errors: TapvsError[];
}

/**
 * Starts the link, copying every RX frame (without the vnet header) and each batch's size.
 * `onFrame` may queue TX frames without flushing: the addon sends them when the handler returns.
 */
function capture(link: TapLink, keepVnetHdr = false, onFrame?: (f: Buffer) => void): Capture {
  const c: Capture = { frames: [], batches: [], errors: [] };
  link.start(
    (count) => {
      assert.equal(link.rx.count, count);
      c.batches.push(count);
      for (let i = 0; i < count; i++) {
        const off = link.rx.offsets[i] + (keepVnetHdr ? 0 : link.vnetHdrLen);
        const f = Buffer.from(link.rx.buf.subarray(off, link.rx.offsets[i] + link.rx.lengths[i]));
        c.frames.push(f);
        onFrame?.(f);
      }
    },
    (err) => c.errors.push(err),
  );
  return c;
}

function sendUdp(count: number): Promise<void> {
  return sendUdpSized(new Array<number>(count).fill(4));
}

/** One datagram per payload size to PEER_IP:UDP_PORT, in order, the first 4 bytes its index. */
function sendUdpSized(sizes: number[]): Promise<void> {
  const sock = createSocket('udp4');
  return new Promise((resolve, reject) => {
    let done = 0;
    sizes.forEach((size, i) => {
      const payload = Buffer.alloc(size);
      payload.writeUInt32BE(i);
      sock.send(payload, UDP_PORT, PEER_IP, (err) => {
        if (err) reject(err);
        if (++done === sizes.length) {
          sock.close();
          resolve();
        }
      });
    });
  });
}

function rxPacketsOf(dev: string): number {
  return Number(sh('cat', `/sys/class/net/${dev}/statistics/rx_packets`).trim());
}

function errorInfo(e: unknown): object {
  return e instanceof TapvsError
    ? { isTapvsError: true, code: e.code, message: e.message }
    : { isTapvsError: false, message: String(e) };
}

const scenarios: Record<string, () => Promise<object>> = {
  /**
   * The kernel ARPs for PEER_IP; we answer with an explicit flush(). It then sends the echo
   * request to our MAC; the handler queues the reply and returns (the fused flush sends it).
   */
  async 'arp-ping'() {
    quietNamespace();
    const link = new TapLink({ name: DEV });
    try {
      sh('ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', DEV);
      let echoQueued = 0;
      const cap = capture(link, false, (f) => {
        if (isEchoRequestTo(f, PEER_IP)) {
          queue(link, echoReply(f, link.mac));
          echoQueued++;
        }
      });
      const ping = spawn('ping', ['-n', '-c1', '-W5', PEER_IP], { stdio: 'ignore' });
      const pingExit = new Promise<number | null>((r) => ping.on('exit', (code) => r(code)));
      const req = await waitFor('an ARP request', () => cap.frames.find((f) => isArpRequestFor(f, PEER_IP)));
      const devMac = link.deviceMac;
      queue(link, arpFrame(2, devMac, link.mac, PEER_IP, devMac, KERNEL_IP));
      const arpSent = link.flush();
      const echo = await waitFor('an echo request', () => cap.frames.find((f) => isEchoRequestTo(f, PEER_IP)));
      const pingCode = await pingExit;
      return {
        name: link.name,
        mac: formatMac(link.mac),
        deviceMac: formatMac(devMac),
        ifindex: link.ifindex,
        mtu: link.mtu,
        deviceMtu: Number(sh('cat', `/sys/class/net/${DEV}/mtu`)),
        operstate: sh('cat', `/sys/class/net/${DEV}/flags`).trim(),
        arpReq: {
          dst: formatMac(req.subarray(0, 6)),
          src: formatMac(req.subarray(6, 12)),
          sha: formatMac(req.subarray(22, 28)),
          spa: [...req.subarray(28, 32)].join('.'),
        },
        arpSent,
        echoDst: formatMac(echo.subarray(0, 6)),
        echoQueued,
        txCountAfter: link.tx.count,
        pingCode,
        neigh: sh('ip', 'neigh', 'show', PEER_IP, 'dev', DEV).trim(),
        rxFrames: link.rxFrames,
        rxBatches: link.rxBatches,
        txFrames: link.txFrames,
        txDropped: link.txDropped,
        errors: cap.errors.length,
        io: link.io,
        ioFallback: link.ioFallback,
      };
    } finally {
      link.close();
    }
  },

  /**
   * stop() with frames arriving and a write made while stopped (with io_uring the read stays
   * armed and the write's submission may read frames): nothing is delivered until start(), then
   * everything, in order.
   */
  async 'stop-start'() {
    quietNamespace();
    const link = new TapLink({ name: DEV });
    try {
      sh('ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', DEV);
      sh('ip', 'neigh', 'replace', PEER_IP, 'lladdr', formatMac(link.mac), 'dev', DEV, 'nud', 'permanent');
      const first = capture(link);
      await sendUdp(10);
      await waitFor('10 datagrams', () => (first.frames.length >= 10 ? true : undefined));
      link.stop();
      await sendUdp(100);
      const junk = Buffer.alloc(60);
      junk.fill(0xff, 0, 6);
      junk.set(link.mac, 6);
      junk.writeUInt16BE(0x88b5, 12);
      queue(link, junk);
      const sentWhileStopped = link.flush();
      await new Promise((r) => setTimeout(r, 100));
      const deliveredWhileStopped = first.frames.length - 10;
      const second = capture(link);
      await waitFor('100 datagrams after start()', () => (second.frames.length >= 100 ? true : undefined));
      return {
        io: link.io,
        ioFallback: link.ioFallback,
        deliveredWhileStopped,
        sentWhileStopped,
        indexes: second.frames.map(udpIndex),
        errors: first.errors.length + second.errors.length,
      };
    } finally {
      link.close();
    }
  },

  /**
   * Frames longer than the link's MTU allows, sent by the kernel after its side raised the
   * device's MTU: the largest frame a slot holds (slotSize - 1 bytes) is delivered, one that fills
   * the slot and one longer than it are cut short by the read, counted and not delivered.
   */
  async truncated() {
    quietNamespace();
    const link = new TapLink({ name: DEV });
    try {
      sh('ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', DEV);
      sh('ip', 'link', 'set', 'dev', DEV, 'mtu', '4000');
      sh('ip', 'neigh', 'replace', PEER_IP, 'lladdr', formatMac(link.mac), 'dev', DEV, 'nud', 'permanent');
      const cap = capture(link);
      const slot = link.rx.slotSize;
      const udpFrame = 14 + 20 + 8; // Ethernet + IPv4 + UDP headers
      await sendUdpSized([slot - 1 - udpFrame, slot - udpFrame, 3000 - udpFrame, 4]);
      await waitFor('the last datagram', () => cap.frames.find((f) => udpIndex(f) === 3));
      return {
        io: link.io,
        ioFallback: link.ioFallback,
        slotSize: slot,
        delivered: cap.frames.filter((f) => udpIndex(f) >= 0).map((f) => [udpIndex(f), f.length]),
        rxTruncated: link.rxTruncated,
        errors: cap.errors.length,
      };
    } finally {
      link.close();
    }
  },

  /** The io path each way of asking gets; 'uring' where the kernel lacks it is LINK_CONFIG. */
  async io() {
    quietNamespace();
    const out: Record<string, unknown> = {};
    for (const io of ['auto', 'readwrite', 'uring'] as const) {
      try {
        const link = new TapLink({ name: DEV, io });
        out[io] = { io: link.io, fallback: link.ioFallback };
        link.close();
      } catch (e) {
        out[io] = { code: (e as TapvsError).code, message: (e as Error).message };
      }
    }
    try {
      tapIoFromEnv({ TAPVS_TAP_IO: 'fast' });
    } catch (e) {
      out.badEnv = (e as TapvsError).code;
    }
    out.envDefault = tapIoFromEnv({});
    out.envReadwrite = tapIoFromEnv({ TAPVS_TAP_IO: 'readwrite' });
    return out;
  },

  /** 300 datagrams queued in the TAP before start(): delivered in order, 64 per batch. */
  async burst() {
    quietNamespace();
    const link = new TapLink({ name: DEV });
    try {
      sh('ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', DEV);
      sh('ip', 'neigh', 'replace', PEER_IP, 'lladdr', formatMac(link.mac), 'dev', DEV, 'nud', 'permanent');
      await sendUdp(300);
      const cap = capture(link);
      await waitFor('300 datagrams', () => (cap.frames.length >= 300 ? true : undefined));
      const indexes = cap.frames.map(udpIndex);
      const first = cap.frames[0];
      return {
        indexes,
        batches: cap.batches,
        rxFrames: link.rxFrames,
        rxBatches: link.rxBatches,
        firstDst: formatMac(first.subarray(0, 6)),
        firstLen: first.length,
        slots: link.rx.slots,
        slotSize: link.rx.slotSize,
        offsets: [...link.rx.offsets.subarray(0, 3)],
        io: link.io,
        ioFallback: link.ioFallback,
      };
    } finally {
      link.close();
    }
  },

  /** A full TX batch goes out in one flush; bad slots and a down link are counted, not thrown. */
  async 'full-batch'() {
    quietNamespace();
    const link = new TapLink({ name: DEV });
    try {
      // Local experimental EtherType, broadcast: the kernel takes the frame and drops it quietly.
      const frame = Buffer.alloc(60);
      frame.fill(0xff, 0, 6);
      frame.set(link.mac, 6);
      frame.writeUInt16BE(0x88b5, 12);
      const before = rxPacketsOf(DEV);
      for (let i = 0; i < link.tx.slots; i++) queue(link, frame);
      const full = link.tx.count;
      const sentFull = link.flush();
      const countAfterFlush = link.tx.count;
      const kernelGot = rxPacketsOf(DEV) - before;
      for (let i = 0; i < link.tx.slots; i++) queue(link, frame);
      link.tx.lengths[3] = 0;
      link.tx.lengths[5] = link.tx.slotSize + 1;
      const sentBad = link.flush();
      const droppedBad = link.txDropped;
      sh('ip', 'link', 'set', 'dev', DEV, 'down');
      for (let i = 0; i < 8; i++) queue(link, frame);
      let threwDown = false;
      let sentDown = -1;
      try {
        sentDown = link.flush();
      } catch {
        threwDown = true;
      }
      return {
        full,
        sentFull,
        countAfterFlush,
        kernelGot,
        sentBad,
        droppedBad,
        sentDown,
        threwDown,
        droppedTotal: link.txDropped,
        txFrames: link.txFrames,
        emptyFlush: link.flush(),
      };
    } finally {
      link.close();
    }
  },

  /** A second open of an attached TAP is TAP_BUSY; the first keeps working. */
  async busy() {
    const link = new TapLink({ name: DEV });
    let second: object = { created: true };
    try {
      const again = new TapLink({ name: DEV });
      again.close();
    } catch (e) {
      second = errorInfo(e);
    }
    const stillThere = existsSync(`/sys/class/net/${DEV}`);
    link.close();
    link.close(); // idempotent
    const reopened = new TapLink({ name: DEV });
    reopened.close();
    return { second, stillThere };
  },

  /** bridge: the device is enslaved; a missing bridge fails clearly and leaves no device. */
  async bridge() {
    sh('ip', 'link', 'add', 'tapvs-br0', 'type', 'bridge');
    const link = new TapLink({ name: DEV, bridge: 'tapvs-br0' });
    const master = sh('ip', '-o', 'link', 'show', 'dev', DEV);
    link.close();
    let bad: object = { created: true };
    try {
      new TapLink({ name: 'tapvs-t1', bridge: 'tapvs-nobr' }).close();
    } catch (e) {
      bad = errorInfo(e);
    }
    return { master: /master (\S+)/.exec(master)?.[1] ?? '', bad, leftover: existsSync('/sys/class/net/tapvs-t1') };
  },

  /** multiQueue: several links (one per worker) attach the same device. */
  async multiqueue() {
    const a = new TapLink({ name: DEV, multiQueue: true });
    const b = new TapLink({ name: DEV, multiQueue: true });
    const sameIfindex = a.ifindex === b.ifindex;
    a.close();
    const afterFirst = existsSync(`/sys/class/net/${DEV}`);
    b.close();
    return { sameIfindex, afterFirst, afterBoth: existsSync(`/sys/class/net/${DEV}`) };
  },

  /** close() removes the (non-persistent) device; the data path stays quiet afterwards. */
  async close() {
    const link = new TapLink({ name: DEV, mtu: 1400 });
    const existed = existsSync(`/sys/class/net/${DEV}`);
    const mtu = Number(sh('cat', `/sys/class/net/${DEV}/mtu`));
    capture(link);
    link.close();
    const exists = existsSync(`/sys/class/net/${DEV}`);
    link.close();
    queue(link, Buffer.alloc(60));
    let threw = false;
    let sent = -1;
    try {
      sent = link.flush();
    } catch {
      threw = true;
    }
    return { existed, mtu, exists, sent, threw, txDropped: link.txDropped };
  },

  /** `ip link del` under a started link: onError gets TAP_GONE once, delivery stops. */
  async gone() {
    quietNamespace();
    const link = new TapLink({ name: DEV });
    try {
      const cap = capture(link);
      sh('ip', 'link', 'del', 'dev', DEV);
      await waitFor('the TAP_GONE report', () => (cap.errors.length > 0 ? true : undefined));
      await new Promise((r) => setTimeout(r, 100));
      queue(link, Buffer.alloc(60));
      let threw = false;
      try {
        link.flush();
      } catch {
        threw = true;
      }
      const err = cap.errors[0];
      return {
        errors: cap.errors.length,
        ...errorInfo(err),
        flushThrew: threw,
        io: link.io,
        ioFallback: link.ioFallback,
      };
    } finally {
      link.close();
    }
  },

  /** IFF_VNET_HDR: offloads reported, a 12-byte header on RX, and TX with a zero header works. */
  async vnet() {
    quietNamespace();
    const link = new TapLink({ name: DEV, vnetHdr: true });
    try {
      sh('ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', DEV);
      const cap = capture(link, true);
      sh('ip', 'neigh', 'replace', PEER_IP, 'lladdr', formatMac(link.mac), 'dev', DEV, 'nud', 'permanent');
      await sendUdp(1);
      const f = await waitFor('the datagram', () => cap.frames.find((x) => udpIndex(x.subarray(VNET_HDR_LEN)) === 0));
      // TX behind an all-zero virtio-net header: an ARP request from 10.77.0.3. The kernel
      // answers it and caches the sender (neigh_event_ns), which proves it parsed the frame.
      queue(link, arpFrame(1, new Uint8Array(6).fill(0xff), link.mac, '10.77.0.3', new Uint8Array(6), KERNEL_IP));
      const sent = link.flush();
      const reply = await waitFor('the ARP reply', () =>
        cap.frames.find(
          (x) =>
            x.length >= VNET_HDR_LEN + 42 &&
            x.readUInt16BE(VNET_HDR_LEN + 12) === 0x0806 &&
            x.readUInt16BE(VNET_HDR_LEN + 20) === 2,
        ),
      );
      const neigh = sh('ip', 'neigh', 'show', '10.77.0.3', 'dev', DEV).trim();
      return {
        offloads: link.offloads,
        vnetHdrLen: link.vnetHdrLen,
        slotSize: link.rx.slotSize,
        hdr: [...f.subarray(0, VNET_HDR_LEN)],
        etherType: f.readUInt16BE(VNET_HDR_LEN + 12),
        sent,
        txDropped: link.txDropped,
        neigh,
        replyTo: formatMac(reply.subarray(VNET_HDR_LEN, VNET_HDR_LEN + 6)),
      };
    } finally {
      link.close();
    }
  },

  /** Run as nobody: /dev/net/tun refuses, and the message says what is missing. */
  async permission() {
    try {
      new TapLink({ name: DEV }).close();
      return { created: true };
    } catch (e) {
      return errorInfo(e);
    }
  },

  /** Run with /dev/net hidden by an empty tmpfs (private mount namespace). */
  async 'no-device'() {
    try {
      new TapLink({ name: DEV }).close();
      return { created: true };
    } catch (e) {
      return errorInfo(e);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Parent side

const isRoot = process.getuid?.() === 0;
const haveTun = existsSync('/dev/net/tun');
const haveIp = spawnSync('ip', ['-V']).status === 0;
const skipReason: string | false = !isRoot
  ? 'needs root (creates TAP devices in a network namespace)'
  : !haveTun
    ? 'needs /dev/net/tun (modprobe tun)'
    : !haveIp
      ? 'needs iproute2 (ip)'
      : false;

let nsSeq = 0;

/** A fresh namespace, deleted (with anything still running in it) when the test ends. */
function makeNamespace(t: { after: (fn: () => void) => void }): string {
  const ns = `tapvs-t-${process.pid}-${++nsSeq}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.after(() => removeNamespace(ns));
  return ns;
}

/** Runs one scenario of this file inside `ns` (optionally wrapped) and returns its JSON. */
function runChild(
  ns: string,
  scenario: string,
  wrap: string[] = [],
  extraEnv: NodeJS.ProcessEnv = {},
): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, [CHILD_ENV]: scenario };
  delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test-runner child
  const r = spawnSync('ip', ['netns', 'exec', ns, ...wrap, process.execPath, THIS_FILE], {
    env,
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  assert.equal(
    r.status,
    0,
    `child '${scenario}' failed (status ${r.status}, signal ${r.signal}):\n` + `${r.stderr}\n${r.stdout}`,
  );
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

const IO_VARIANTS = ['auto', 'readwrite'] as const;

/** A child's link used the io path asked for: io_uring by default unless the kernel refused it. */
function assertIo(r: Record<string, unknown>, asked: (typeof IO_VARIANTS)[number]): void {
  if (asked === 'readwrite') {
    assert.equal(r.io, 'readwrite');
  } else if (r.io !== 'uring') {
    assert.match(r.ioFallback as string, /^io_uring unavailable: /);
  }
}

function defineTests(): void {
  test('tap: the default MAC is locally administered, unicast and fixed by the name', () => {
    const a = macFromName('tapvs-ext');
    assert.equal(a.length, 6);
    assert.equal(a[0], 0x02);
    assert.equal(a[1], 0x74);
    assert.deepEqual(macFromName('tapvs-ext'), a);
    assert.notDeepEqual(macFromName('tapvs-int'), a);
    assert.match(formatMac(a), /^02:74(:[0-9a-f]{2}){4}$/);
  });

  test('tap: bad options are LINK_CONFIG errors before any device is touched', () => {
    const bad = [
      { name: 'x'.repeat(16) },
      { name: '' },
      { name: 'tapvs-x', mtu: 20 },
      { name: 'tapvs-x', mac: Uint8Array.of(1, 0, 0, 0, 0, 1) }, // multicast
      { name: 'tapvs-x', mac: Uint8Array.of(2, 0, 0) },
      { name: 'tapvs-x', slots: 0 },
    ];
    for (const opts of bad) {
      assert.throws(
        () => new TapLink(opts),
        (e: unknown) => e instanceof TapvsError && e.code === 'LINK_CONFIG' && e.message.includes('TAP'),
        JSON.stringify(opts),
      );
    }
  });

  // Each data-path test runs with the default io (io_uring where the kernel has it) and with the
  // read()/write() path forced as tapvsd's escape hatch does it (TAPVS_TAP_IO=readwrite).
  for (const io of IO_VARIANTS) {
    const label = io === 'readwrite' ? 'tap (TAPVS_TAP_IO=readwrite)' : 'tap';
    const ioEnv = io === 'readwrite' ? { TAPVS_TAP_IO: 'readwrite' } : {};
    test(`${label}: the kernel ARPs through the link, learns our reply and gets its ping answered (fused flush)`, {
      skip: skipReason,
    }, (t) => {
      const r = runChild(makeNamespace(t), 'arp-ping', [], ioEnv);
      assertIo(r, io);
      const mac = formatMac(macFromName(DEV));
      assert.equal(r.name, DEV);
      assert.equal(r.mac, mac);
      assert.notEqual(r.deviceMac, mac, 'the director MAC must differ from the device MAC');
      assert.ok((r.ifindex as number) > 0);
      assert.equal(r.deviceMtu, 1500);
      assert.equal(Number(r.operstate) & 1, 1, 'device is up');
      assert.deepEqual(r.arpReq, {
        dst: 'ff:ff:ff:ff:ff:ff',
        src: r.deviceMac,
        sha: r.deviceMac,
        spa: KERNEL_IP,
      });
      assert.equal(r.arpSent, 1);
      assert.equal(r.echoDst, mac, 'the echo request goes to the MAC we announced');
      assert.equal(r.echoQueued, 1);
      assert.equal(r.txCountAfter, 0);
      assert.equal(r.pingCode, 0, 'ping got our echo reply');
      assert.match(r.neigh as string, new RegExp(`lladdr ${mac}`));
      assert.equal(r.txFrames, 2);
      assert.equal(r.txDropped, 0);
      assert.ok((r.rxFrames as number) >= 2 && (r.rxBatches as number) >= 1);
      assert.equal(r.errors, 0);
    });

    test(`${label}: a backlog is read in full batches, in order, at most four per wake-up`, {
      skip: skipReason,
    }, (t) => {
      const r = runChild(makeNamespace(t), 'burst', [], ioEnv);
      assertIo(r, io);
      assert.deepEqual(
        r.indexes,
        Array.from({ length: 300 }, (_, i) => i),
      );
      // 4 batches of 64 per wake-up, then the level-triggered poll fires again for the rest.
      assert.deepEqual(r.batches, [64, 64, 64, 64, 44]);
      assert.equal(r.rxFrames, 300);
      assert.equal(r.rxBatches, 5);
      assert.equal(r.firstDst, formatMac(macFromName(DEV)));
      assert.equal(r.firstLen, 14 + 20 + 8 + 4);
      assert.equal(r.slots, 64);
      assert.equal(r.slotSize, 2048);
      assert.deepEqual(r.offsets, [0, 2048, 4096]);
    });

    test(`${label}: stop() holds frames (and a write while stopped changes nothing); start() delivers them in order`, {
      skip: skipReason,
    }, (t) => {
      const r = runChild(makeNamespace(t), 'stop-start', [], ioEnv);
      assertIo(r, io);
      assert.equal(r.deliveredWhileStopped, 0);
      assert.equal(r.sentWhileStopped, 1);
      assert.deepEqual(
        r.indexes,
        Array.from({ length: 100 }, (_, i) => i),
      );
      assert.equal(r.errors, 0);
    });

    test(`${label}: a frame that fills its RX slot was cut short: counted in rxTruncated, not delivered`, {
      skip: skipReason,
    }, (t) => {
      const r = runChild(makeNamespace(t), 'truncated', [], ioEnv);
      assertIo(r, io);
      assert.equal(r.slotSize, 2048);
      assert.deepEqual(r.delivered, [
        [0, 2047],
        [3, 14 + 20 + 8 + 4],
      ]);
      assert.equal(r.rxTruncated, 2);
      assert.equal(r.errors, 0);
    });

    test(`${label}: deleting the device under a started link reports TAP_GONE once`, { skip: skipReason }, (t) => {
      const r = runChild(makeNamespace(t), 'gone', [], ioEnv);
      assertIo(r, io);
      assert.equal(r.errors, 1);
      assert.equal(r.isTapvsError, true);
      assert.equal(r.code, 'TAP_GONE');
      assert.match(r.message as string, new RegExp(`^TAP ${DEV} is gone`));
      assert.equal(r.flushThrew, false);
    });
  }

  test('tap: the io path is reported: io_uring where the kernel has it, readwrite when asked', {
    skip: skipReason,
  }, (t) => {
    const r = runChild(makeNamespace(t), 'io');
    const auto = r.auto as { io: string; fallback: string };
    assert.deepEqual(r.readwrite, { io: 'readwrite', fallback: 'io readwrite asked for' });
    if (auto.io === 'uring') {
      assert.equal(auto.fallback, '');
      assert.deepEqual(r.uring, { io: 'uring', fallback: '' });
    } else {
      // An older kernel or kernel.io_uring_disabled: the reason is kept, and insisting fails.
      assert.match(auto.fallback, /^io_uring unavailable: /);
      assert.equal((r.uring as { code: string }).code, 'LINK_CONFIG');
    }
    assert.equal(r.badEnv, 'LINK_CONFIG');
    assert.equal(r.envDefault, 'auto');
    assert.equal(r.envReadwrite, 'readwrite');
  });

  test('tap: one flush writes a full batch; bad slots and a down device only count drops', {
    skip: skipReason,
  }, (t) => {
    const r = runChild(makeNamespace(t), 'full-batch');
    assert.equal(r.full, 64);
    assert.equal(r.sentFull, 64);
    assert.equal(r.countAfterFlush, 0);
    assert.equal(r.kernelGot, 64);
    assert.equal(r.sentBad, 62);
    assert.equal(r.droppedBad, 2);
    assert.equal(r.threwDown, false);
    assert.equal(r.sentDown, 0, 'a down TAP refuses frames (EIO)');
    assert.equal(r.droppedTotal, 10);
    assert.equal(r.txFrames, 126);
    assert.equal(r.emptyFlush, 0);
  });

  test('tap: a second open of the same name is TAP_BUSY with a clear message', { skip: skipReason }, (t) => {
    const r = runChild(makeNamespace(t), 'busy');
    assert.deepEqual(r.second, {
      isTapvsError: true,
      code: 'TAP_BUSY',
      message: `TAP ${DEV} is in use by another process (TUNSETIFF: Device or resource busy)`,
    });
    assert.equal(r.stillThere, true);
  });

  test('tap: bridge attaches the device, and a missing bridge is LINK_CONFIG without leftovers', {
    skip: skipReason,
  }, (t) => {
    const r = runChild(makeNamespace(t), 'bridge');
    assert.equal(r.master, 'tapvs-br0');
    const bad = r.bad as Record<string, unknown>;
    assert.equal(bad.code, 'LINK_CONFIG');
    assert.match(bad.message as string, /^TAP tapvs-t1: cannot attach to bridge tapvs-nobr: /);
    assert.equal(r.leftover, false);
  });

  test('tap: multiQueue links share one device until the last one closes', { skip: skipReason }, (t) => {
    const r = runChild(makeNamespace(t), 'multiqueue');
    assert.deepEqual(r, { sameIfindex: true, afterFirst: true, afterBoth: false });
  });

  test('tap: close() removes the device and is idempotent', { skip: skipReason }, (t) => {
    const r = runChild(makeNamespace(t), 'close');
    assert.deepEqual(r, { existed: true, mtu: 1400, exists: false, sent: 0, threw: false, txDropped: 1 });
  });

  test('tap: vnetHdr reports offloads and frames carry a 12-byte virtio-net header', { skip: skipReason }, (t) => {
    const r = runChild(makeNamespace(t), 'vnet');
    const offloads = r.offloads as string[];
    for (const o of ['csum', 'tso4', 'tso6']) assert.ok(offloads.includes(o), `offload ${o}`);
    assert.equal(r.vnetHdrLen, 12);
    assert.ok((r.slotSize as number) >= 12 + 18 + 65535);
    assert.equal(r.etherType, 0x0800);
    const hdr = r.hdr as number[];
    assert.equal(hdr[1], 0, 'gso_type NONE for one small datagram');
    assert.equal(r.sent, 1);
    assert.equal(r.txDropped, 0);
    assert.equal(r.replyTo, formatMac(macFromName(DEV)));
    assert.match(r.neigh as string, new RegExp(`lladdr ${formatMac(macFromName(DEV))}`));
  });

  test('tap: without CAP_NET_ADMIN the error is TAP_PERMISSION', {
    skip: skipReason || (spawnSync('setpriv', ['--version']).status !== 0 && 'needs setpriv (util-linux)'),
  }, (t) => {
    const r = runChild(makeNamespace(t), 'permission', [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all',
    ]);
    assert.equal(r.isTapvsError, true);
    assert.equal(r.code, 'TAP_PERMISSION');
    assert.match(r.message as string, /needs CAP_NET_ADMIN/);
  });

  test('tap: without /dev/net/tun the error is TAP_NO_DEVICE', {
    skip: skipReason || (spawnSync('unshare', ['--version']).status !== 0 && 'needs unshare (util-linux)'),
  }, (t) => {
    const r = runChild(makeNamespace(t), 'no-device', [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount -t tmpfs tapvs-t /dev/net && exec "$@"',
      'sh',
    ]);
    assert.equal(r.isTapvsError, true);
    assert.equal(r.code, 'TAP_NO_DEVICE');
    assert.match(r.message as string, /\/dev\/net\/tun is missing/);
  });
}

const childScenario = process.env[CHILD_ENV];
if (childScenario !== undefined) {
  const run = scenarios[childScenario];
  if (run === undefined) throw new Error(`unknown scenario ${childScenario}`);
  const result = await run();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  defineTests();
}
