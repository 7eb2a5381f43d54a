/**
 * tunnel-endpoint: a user-space tunnel end for a tunnelling real server (`tapvsadm -a ... -i`),
 * for kernels without ipip, gre or fou. Run it inside the real server's network namespace:
 *
 *   node dist/lab/tunnel-endpoint.js --dev tvs-tun0 --type ipip|gre|gue [--port 6080]
 *
 *   --dev NAME    the TUN device to create (IFF_TUN | IFF_NO_PI; at most 15 bytes); it is set up
 *                 and deleted again when the endpoint exits.
 *   --type T      ipip: a raw IPv4 socket for IP protocol 4;
 *                 gre:  a raw IPv4 socket for IP protocol 47 (flags 0 or C with checksum,
 *                       protocol 0x0800);
 *                 gue:  a UDP socket on --port (GUE version 0, C = 0, protocol 4; hlen 0, or 2
 *                       with the remote-checksum private fields, whose checksum it completes).
 *   --port N      the GUE UDP port (default 6080); only with --type gue.
 *
 * Each inner IPv4 packet is written to the TUN device, so the namespace's kernel receives it as
 * if it had arrived there: the VIP must be a local address (on the TUN device or lo) and
 * rp_filter off for the TUN device (`all` and the device). It configures nothing else: no
 * address, route or sysctl. Bad outer or inner packets are dropped and counted (lab/tunnel-decap.ts).
 *
 * Output: one line `tunnel-endpoint: ready dev=<dev> type=<type>[ port=<n>]` when it receives;
 * SIGUSR1 prints the counters; SIGTERM/SIGINT print them and exit 0. Exit 1 (with the reason)
 * when the TUN device or the socket cannot be opened (needs root / CAP_NET_ADMIN + CAP_NET_RAW),
 * 2 on bad arguments. Packets the kernel routes out of the TUN device are read and discarded.
 */
import { createSocket as createUdpSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DECAP_OK, Decapsulator, DROP_REASONS, type TunnelType } from './tunnel-decap.js';

const DEFAULT_GUE_PORT = 6080;
/** An IPv4 packet is at most 64 KiB; the largest any socket here can hand us. */
const MAX_PACKET = 65536;
const TUN_SLOTS = 4;
const IPPROTO_IPIP = 4;
const IPPROTO_GRE = 47;

/** The part of native/tap.cc's TapDevice used here (opened with `tun: true`). */
interface NativeTun {
  readonly name: string;
  /** Absent in an addon built before `tun: true` existed (it would have opened a TAP). */
  readonly tun?: boolean;
  readonly txBuf: Buffer;
  readonly txLengths: Uint32Array;
  readonly rxFrames: number;
  readonly txDropped: number;
  start(onBatch: (count: number) => number, onError?: (err: Error) => void): void;
  write(count: number): number;
  close(): void;
  setUp(up: boolean): void;
}
interface TapAddon {
  TapDevice: new (name: string, opts: { tun: boolean; slots: number; slotSize: number }) => NativeTun;
}
/** The part of the raw-socket package used here (it ships no types). */
interface RawSocket {
  on(event: 'message', listener: (packet: Buffer, source: string) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(options: { protocol: number; bufferSize: number }): RawSocket;
}

export interface EndpointOptions {
  dev: string;
  type: TunnelType;
  port: number;
}

/** Parses the command line; throws an Error with a usage message when it is wrong. */
export function parseEndpointArgs(argv: string[]): EndpointOptions {
  const { values } = parseArgs({
    args: argv,
    options: { dev: { type: 'string' }, type: { type: 'string' }, port: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const dev = values.dev;
  if (dev === undefined || dev.length === 0 || Buffer.byteLength(dev) > 15 || dev.includes('/')) {
    throw new Error('--dev NAME is required (at most 15 bytes, no "/")');
  }
  const type = values.type;
  if (type !== 'ipip' && type !== 'gre' && type !== 'gue') throw new Error('--type must be ipip, gre or gue');
  let port = DEFAULT_GUE_PORT;
  if (values.port !== undefined) {
    if (type !== 'gue') throw new Error('--port is for --type gue only');
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port < 1 || port > 65535) throw new Error('--port must be 1..65535');
  }
  return { dev, type, port };
}

function loadTapAddon(): TapAddon {
  // dist/lab/tunnel-endpoint.js -> the package root is two levels up.
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'tapvs_tap.node');
  if (!existsSync(path)) throw new Error(`native addon not built: run npm install (missing ${path})`);
  return createRequire(import.meta.url)(path) as TapAddon;
}

function main(): void {
  let opts: EndpointOptions;
  try {
    opts = parseEndpointArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(
      `tunnel-endpoint: ${(err as Error).message}\n` +
        'usage: tunnel-endpoint --dev NAME --type ipip|gre|gue [--port N]\n',
    );
    process.exit(2);
  }
  const decap = new Decapsulator();
  let tunRead = 0;
  let tun: NativeTun;
  try {
    tun = new (loadTapAddon().TapDevice)(opts.dev, { tun: true, slots: TUN_SLOTS, slotSize: MAX_PACKET + 64 });
    if (tun.tun !== true) {
      tun.close();
      fail('the native addon predates TUN support: rebuild it (npm ci, or npx node-gyp rebuild)');
    }
    tun.setUp(true);
    // What the kernel routes out of the device has nowhere to go: read and count it.
    tun.start(
      (count) => {
        tunRead += count;
        return 0;
      },
      (err) => fail(`TUN ${opts.dev} failed: ${err.message}`),
    );
  } catch (err) {
    fail(`cannot open TUN ${opts.dev}: ${(err as Error).message}`);
  }
  const txBuf = tun.txBuf;
  const txLengths = tun.txLengths;
  let written = 0;
  let refused = 0;

  const onPacket = (packet: Buffer): void => {
    if (decap.decap(opts.type, packet, packet.length) !== DECAP_OK) return;
    const len = decap.innerLen;
    packet.copy(txBuf, 0, decap.innerOff, decap.innerOff + len);
    txLengths[0] = len;
    if (tun.write(1) === 1) written++;
    else refused++;
  };

  const counters = (): string => {
    const parts = [`decapsulated=${decap.drops[DECAP_OK]}`, `written=${written}`, `refused=${refused}`];
    for (let i = 1; i < DROP_REASONS.length; i++) parts.push(`drop-${DROP_REASONS[i]}=${decap.drops[i]}`);
    parts.push(`remcsum-completed=${decap.remcsumCompleted}`, `tun-read=${tunRead}`);
    return `tunnel-endpoint: ${parts.join(' ')}\n`;
  };

  let close: () => void;
  if (opts.type === 'gue') {
    const udp = createUdpSocket('udp4');
    udp.on('message', (msg) => onPacket(msg));
    udp.on('error', (err) => fail(`UDP port ${opts.port}: ${err.message}`));
    udp.bind(opts.port, () => ready());
    close = () => udp.close();
  } else {
    let raw: RawSocketModule;
    try {
      raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    } catch (err) {
      fail(`the raw-socket addon is not available (${(err as Error).message}): run npm install`);
    }
    let sock: RawSocket;
    try {
      sock = raw.createSocket({ protocol: opts.type === 'gre' ? IPPROTO_GRE : IPPROTO_IPIP, bufferSize: MAX_PACKET });
    } catch (err) {
      fail(`cannot open a raw socket (${(err as Error).message}): needs root or CAP_NET_RAW`);
    }
    sock.on('message', (packet) => onPacket(packet));
    sock.on('error', (err) => fail(`raw socket: ${err.message}`));
    close = () => sock.close();
    setImmediate(ready);
  }

  function ready(): void {
    const port = opts.type === 'gue' ? ` port=${opts.port}` : '';
    process.stdout.write(`tunnel-endpoint: ready dev=${opts.dev} type=${opts.type}${port}\n`);
  }
  function fail(message: string): never {
    process.stderr.write(`tunnel-endpoint: ${message}\n`);
    process.exit(1);
  }
  process.on('SIGUSR1', () => process.stdout.write(counters()));
  const stop = (): void => {
    process.stdout.write(counters());
    close();
    tun.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
