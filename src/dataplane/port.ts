/**
 * One attached link as the dataplane sees it: the views over its RX ring, its transmit queue,
 * its neighbour table and its counters.
 */
import { ArpCache } from '../host/arp-cache.js';
import type { Link } from '../link/link.js';
import { TxQueue } from '../link/tx-queue.js';
import { PacketViews } from '../packet/views.js';
import { DROP_COUNT } from './drops.js';

export class Port {
  readonly index: number;
  /** Logical name (ext, int, ...), used in status and traces. */
  readonly name: string;
  readonly link: Link;
  readonly mac: Uint8Array;
  /** The MAC as a big-endian int32 (bytes 0-3) and uint16 (bytes 4-5): two compares per frame. */
  readonly macHi: number;
  readonly macLo: number;
  /** The MAC's bytes 2-5 as one int32: the third word of an Ethernet header this link sends. */
  readonly macTail: number;
  readonly mtu: number;
  /** Bytes of virtio-net header in front of each RX and TX frame (0 without offloads). */
  readonly hdr: number;
  /** Views over the RX ring. */
  readonly rx: PacketViews;
  readonly tx: TxQueue;
  readonly arp: ArpCache;
  rxFrames = 0;
  rxBytes = 0;
  rxBatches = 0;
  /** Verdicts: frames forwarded or answered, frames taken by the host (e.g. ARP replies). */
  sentVerdicts = 0;
  consumedVerdicts = 0;
  readonly drops = new Float64Array(DROP_COUNT);

  constructor(index: number, name: string, link: Link) {
    this.index = index;
    this.name = name;
    this.link = link;
    this.mac = link.mac;
    this.macHi = (this.mac[0] << 24) | (this.mac[1] << 16) | (this.mac[2] << 8) | this.mac[3];
    this.macLo = (this.mac[4] << 8) | this.mac[5];
    this.macTail = (this.macHi << 16) | this.macLo;
    this.mtu = link.mtu;
    this.hdr = link.vnetHdrLen;
    this.rx = new PacketViews(link.rx.buf);
    this.tx = new TxQueue(link);
    this.arp = new ArpCache({ frameSize: Math.max(2048, link.tx.slotSize) });
  }
}
