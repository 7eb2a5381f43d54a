/**
 * Two in-process directors on two shared LANs, for failover tests without root: each director
 * has an external and an internal loopback link; a `Lan` hub carries every frame a member sends
 * to every other member, and plays the plain hosts on it (client, real servers): they answer ARP
 * for their addresses and record what reaches them. Time is virtual (VRRP timers, sync flushes).
 */
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { DirectorHa } from '../../src/ha/director-ha.js';
import { Ipvs } from '../../src/ipvs/ipvs.js';
import { LoopbackLink } from '../../src/link/loopback.js';
import type { VrrpConfig } from '../../src/vrrp/vrrp-config.js';
import { faultError } from './director.js';
import { arpFrame, ip, mac } from './frames.js';
import type { VirtualClock } from './virtual-clock.js';

/** A simulated host on a LAN: answers ARP for `addr`, keeps what is sent to its MAC. */
export interface LanHost {
  readonly name: string;
  readonly addr: number;
  readonly mac: Uint8Array;
  readonly received: Buffer[];
}

export class Lan {
  private readonly members: LoopbackLink[] = [];
  readonly hosts: LanHost[] = [];
  /** Members that are switched off (a killed director's links): they neither send nor receive. */
  readonly down = new Set<LoopbackLink>();

  join(link: LoopbackLink): void {
    this.members.push(link);
  }

  host(name: string, addr: string, hwaddr: string): LanHost {
    const h: LanHost = { name, addr: ip(addr), mac: mac(hwaddr), received: [] };
    this.hosts.push(h);
    return h;
  }

  /** Sends a frame from a host onto the LAN (to every live member). */
  fromHost(frame: Buffer): void {
    for (const m of this.members) if (!this.down.has(m)) m.inject([frame]);
  }

  /**
   * Moves frames until the LAN is quiet: what each live member sent goes to the other live members
   * and to the hosts (ARP requests for a host are answered by it). Returns the frames moved.
   */
  pump(): number {
    let moved = 0;
    for (let round = 0; round < 50; round++) {
      let any = false;
      for (const from of this.members) {
        const frames = from.take();
        if (this.down.has(from)) continue;
        for (const f of frames) {
          any = true;
          moved++;
          for (const to of this.members) if (to !== from && !this.down.has(to)) to.inject([f]);
          this.toHosts(f);
        }
      }
      if (!any) break;
    }
    return moved;
  }

  private toHosts(f: Buffer): void {
    const broadcast = f[0] === 0xff && f[1] === 0xff;
    for (const h of this.hosts) {
      if (broadcast && f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && f.readInt32BE(38) === h.addr) {
        const reply = arpFrame(2, h.mac, h.addr, f.subarray(22, 28), f.readInt32BE(28), f.subarray(6, 12));
        this.fromHost(reply);
      } else if (!broadcast && Buffer.compare(f.subarray(0, 6), Buffer.from(h.mac)) === 0) {
        h.received.push(f);
      }
    }
  }
}

export interface PairedDirector {
  readonly ipvs: Ipvs;
  readonly dp: Dataplane;
  readonly ext: LoopbackLink;
  readonly int: LoopbackLink;
  readonly ha: DirectorHa;
}

/** One director: its own MACs and addresses on both LANs, VRRP and sync from `config`. */
export function pairedDirector(n: 1 | 2, config: VrrpConfig, clock: VirtualClock, ext: Lan, int: Lan): PairedDirector {
  const ipvs = new Ipvs({ maxConns: 4096 });
  const extLink = new LoopbackLink({ name: `ext${n}`, mac: mac(`02:00:00:00:0${n}:01`) });
  const intLink = new LoopbackLink({ name: `int${n}`, mac: mac(`02:00:00:00:0${n}:02`) });
  const dp = new Dataplane(ipvs, [
    { name: 'ext', link: extLink, addrs: [{ addr: ip(`192.168.222.13${1 + n}`), prefixLen: 24 }], gateway: 0 },
    { name: 'int', link: intLink, addrs: [{ addr: ip(`192.168.2.13${1 + n}`), prefixLen: 24 }], gateway: 0 },
  ]);
  // Batches are driven by the LAN; the clock is the virtual one.
  // A frame that throws fails the test (the daemon would count it and go on).
  const batch = (port: number, count: number): void => {
    const before = dp.faults.exceptions;
    dp.processBatch(dp.ports[port], count, clock.now());
    if (dp.faults.exceptions !== before) throw faultError(dp);
  };
  extLink.start((count) => batch(0, count));
  intLink.start((count) => batch(1, count));
  ext.join(extLink);
  int.join(intLink);
  const ha = new DirectorHa(dp, ipvs, config, clock, { defer: (fn) => fn() });
  return { ipvs, dp, ext: extLink, int: intLink, ha };
}
