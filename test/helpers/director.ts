/**
 * An in-process director on two loopback links with the textbook addresses, for pipeline,
 * hostile and benchmark use. No root, no devices.
 */
import { ControlDispatcher } from '../../src/control/dispatch.js';
import type { Command, Request } from '../../src/control/protocol.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Ipvs } from '../../src/ipvs/ipvs.js';
import { LoopbackLink } from '../../src/link/loopback.js';
import { arpFrame, ip, mac } from './frames.js';

export const VIP = ip('192.168.222.131');
export const DIP = ip('192.168.2.136');
export const CLIENT = ip('192.168.222.1');
export const RS1 = ip('192.168.2.129');
export const RS2 = ip('192.168.2.130');
export const EXT_MAC = mac('02:00:00:00:00:01');
export const INT_MAC = mac('02:00:00:00:00:02');
export const CLIENT_MAC = mac('52:54:00:00:00:01');
export const RS1_MAC = mac('52:54:00:00:01:29');
export const RS2_MAC = mac('52:54:00:00:01:30');
const ZERO = new Uint8Array(6);

export interface TestDirector {
  ipvs: Ipvs;
  dp: Dataplane;
  ext: LoopbackLink;
  int: LoopbackLink;
  ctl: ControlDispatcher;
  now: number;
  /** Runs a control request (throws TapvsError like the daemon would answer). */
  run(req: Command): unknown;
  /** Injects frames on a link with the director clock at `now`. */
  send(link: 'ext' | 'int', frames: Uint8Array[]): void;
  /**
   * True (the default): a frame that throws in the dataplane fails the test. The daemon catches
   * such faults and goes on (dataplane/frame-faults.ts); tests must not let one pass unseen.
   */
  strictFaults: boolean;
}

export interface DirectorOptions {
  maxConns?: number;
  capture?: boolean;
  /** MTU of the internal (real server) link. */
  mtu?: number;
  vnetHdr?: boolean;
  /** Bytes per ring slot of both links (default 2,048); a TAP with offloads has 65,600 for GSO super-frames. */
  slotSize?: number;
  fastPath?: boolean;
  /** Dataplane options: routing without a connection (--no-forward is false), ICMP budget, copying TX. */
  forward?: boolean;
  icmpRatePerS?: number;
  zeroCopy?: boolean;
  /** Default gateway on the external link (int32); none by default. */
  extGateway?: number;
}

export function makeDirector(opts: DirectorOptions = {}): TestDirector {
  const ipvs = new Ipvs({ maxConns: opts.maxConns ?? 4096 });
  const capture = opts.capture ?? true;
  const vnetHdr = opts.vnetHdr === true;
  const slots = opts.slotSize !== undefined ? { slotSize: opts.slotSize } : {};
  const ext = new LoopbackLink({ name: 'ext0', mac: EXT_MAC, capture, vnetHdr, ...slots });
  const int = new LoopbackLink({
    name: 'int0',
    mac: INT_MAC,
    capture,
    vnetHdr,
    ...slots,
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
  });
  const dp = new Dataplane(
    ipvs,
    [
      { name: 'ext', link: ext, addrs: [{ addr: VIP, prefixLen: 24 }], gateway: opts.extGateway ?? 0 },
      { name: 'int', link: int, addrs: [{ addr: DIP, prefixLen: 24 }], gateway: 0 },
    ],
    {
      fastPath: opts.fastPath ?? true,
      ...(opts.forward !== undefined ? { forward: opts.forward } : {}),
      ...(opts.icmpRatePerS !== undefined ? { icmpRatePerS: opts.icmpRatePerS } : {}),
      ...(opts.zeroCopy !== undefined ? { zeroCopy: opts.zeroCopy } : {}),
    },
  );
  const ctl = new ControlDispatcher(ipvs, { rulesChanged: () => dp.rulesChanged() });
  const td: TestDirector = {
    ipvs,
    dp,
    ext,
    int,
    ctl,
    now: 1_000_000,
    run: (req) => ctl.handle({ id: 1, ...req } as Request),
    send: (link, frames) => {
      const l = link === 'ext' ? ext : int;
      const port = dp.ports[link === 'ext' ? 0 : 1];
      l.start((count) => {
        const before = dp.faults.exceptions;
        dp.processBatch(port, count, td.now);
        if (td.strictFaults && dp.faults.exceptions !== before) throw faultError(dp);
      });
      l.inject(frames);
    },
    strictFaults: true,
  };
  return td;
}

/** The error a strict test director throws when the dataplane caught a fault (the last one reported). */
export function faultError(dp: Dataplane): Error {
  const f = dp.faults.last;
  return new Error(
    f === null
      ? 'dataplane fault (not reported)'
      : `dataplane fault on link ${f.link}: ${f.frame === '' ? 'after the frames' : f.frame}\n${f.error}`,
  );
}

/**
 * Counts the frames that reach `td`'s general pipeline (the classifier's entry), for tests that
 * check the fast path took a flow: returns the running count.
 */
export function countGeneralPath(td: TestDirector): () => number {
  const cls = (td.dp as unknown as { classifier: { frame: (...a: unknown[]) => number } }).classifier;
  const orig = cls.frame.bind(cls);
  let general = 0;
  cls.frame = (...a: unknown[]) => {
    general++;
    return orig(...a);
  };
  return () => general;
}

/** Teaches the director the MACs of the client and both real servers (they ask for VIP/DIP). */
export function resolveNeighbours(td: TestDirector): void {
  td.send('ext', [arpFrame(1, CLIENT_MAC, CLIENT, ZERO, VIP)]);
  td.send('int', [arpFrame(1, RS1_MAC, RS1, ZERO, DIP), arpFrame(1, RS2_MAC, RS2, ZERO, DIP)]);
  td.ext.take();
  td.int.take();
}

/** The textbook service: -A -t VIP:80 -s rr; -a ... -r RS2 -m; -a ... -r RS1 -m. */
export function textbookService(td: TestDirector, sched = 'rr'): void {
  const service = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
  td.run({
    op: 'addService',
    service,
    config: { scheduler: sched, schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129']) {
    td.run({
      op: 'addDest',
      service,
      dest: { addr: rs, port: 80 },
      config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
    });
  }
}
