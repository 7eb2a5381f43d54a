/**
 * Every header view over one buffer: the parse state of one frame. A link's RX ring has one set
 * (bound afresh for each frame) and the reassembly buffer another, so a reassembled datagram is
 * processed by switching sets, never by re-pointing views.
 */
import { ArpView } from './arp.js';
import { wordView } from './bytes.js';
import { EthView } from './eth.js';
import { IcmpView } from './icmp.js';
import { Ipv4View } from './ipv4.js';
import { TcpView } from './tcp.js';
import { UdpView } from './udp.js';

export class PacketViews {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** Word view for word-wise copies (null when the buffer is not 4-byte aligned). */
  readonly u32: Int32Array | null;
  readonly eth: EthView;
  readonly arp: ArpView;
  readonly ip: Ipv4View;
  readonly tcp: TcpView;
  readonly udp: UdpView;
  readonly icmp: IcmpView;

  constructor(u8: Uint8Array, dv: DataView = new DataView(u8.buffer, u8.byteOffset, u8.byteLength), words = true) {
    this.u8 = u8;
    this.dv = dv;
    this.u32 = words ? wordView(u8) : null;
    this.eth = new EthView(u8, dv);
    this.arp = new ArpView(u8, dv);
    this.ip = new Ipv4View(u8, dv);
    this.tcp = new TcpView(u8, dv);
    this.udp = new UdpView(dv);
    this.icmp = new IcmpView(u8, dv);
  }
}
