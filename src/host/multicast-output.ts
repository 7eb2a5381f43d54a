/**
 * Packets the director sends to link-local multicast groups for its own protocols: VRRP adverts
 * (224.0.0.18, built whole by the VRRP engine) and IPVS sync messages (UDP to 224.0.0.81:8848,
 * built here around the sync daemon's payload). No route and no ARP: the Ethernet destination is
 * the group's MAC (RFC 1112 §6.4: 01:00:5e and the group's low 23 bits), on the one link the
 * protocol was configured for, as the kernel does for a socket with IP_MULTICAST_IF. Datagrams
 * larger than the link's MTU leave in fragments (the sync daemon's socket has PMTU discovery off,
 * so its messages carry no DF: ip_vs_sync.c, make_send_sock()).
 *
 * Called by the control plane (timers, after a batch), never on the packet path; each call
 * flushes the link so the packet leaves now.
 */

import { FragmentBuffer, fragmentInto } from '../dataplane/fragment.js';
import type { Port } from '../dataplane/port.js';
import { copyBytes } from '../packet/bytes.js';
import { csumFinish, onesSum, pseudoHeaderSum } from '../packet/checksum.js';
import { ETH_HLEN, ETHERTYPE_IPV4, writeEth } from '../packet/eth.js';
import { IPPROTO_UDP, IPV4_MIN_HLEN, writeIpv4 } from '../packet/ipv4.js';

const UDP_HLEN = 8;
/** The largest datagram: 65535 bytes of IPv4. */
const MAX_DATAGRAM = 65535;

export class MulticastOutput {
  /** Packets sent, and packets that could not be (too big for a TX slot, fragmentation refused). */
  sent = 0;
  failed = 0;
  private readonly mac = new Uint8Array([0x01, 0x00, 0x5e, 0, 0, 0]);
  private readonly buf = new Uint8Array(MAX_DATAGRAM);
  private readonly dv = new DataView(this.buf.buffer);
  private readonly frags = new FragmentBuffer(MAX_DATAGRAM + 64 * 64, 64);
  private ipId = 1;

  /** Sends the IPv4 packet src[off, off + len) (header included, multicast destination) on `port`. */
  sendIp(port: Port, src: Uint8Array, off: number, len: number): boolean {
    if (len < IPV4_MIN_HLEN || len > MAX_DATAGRAM) {
      this.failed++;
      return false;
    }
    const group = (src[off + 16] << 24) | (src[off + 17] << 16) | (src[off + 18] << 8) | src[off + 19];
    this.mac[3] = (group >>> 16) & 0x7f;
    this.mac[4] = (group >>> 8) & 0xff;
    this.mac[5] = group & 0xff;
    let ok = true;
    if (len <= port.mtu) {
      ok = this.frame(port, src, off, len);
    } else {
      const fb = this.frags;
      fb.reset();
      if (fragmentInto(src, off, len, port.mtu, fb) < 0) ok = false;
      else for (let i = 0; i < fb.count; i++) ok = this.frame(port, fb.buf, fb.offsets[i], fb.lengths[i]) && ok;
    }
    port.tx.flush();
    if (ok) this.sent++;
    else this.failed++;
    return ok;
  }

  /**
   * Sends a UDP datagram with `payload[0, len)` from src:srcPort to group:port with `ttl`, no DF,
   * the UDP checksum filled in.
   */
  sendUdp(
    port: Port,
    src: number,
    srcPort: number,
    group: number,
    dstPort: number,
    ttl: number,
    payload: Uint8Array,
    len: number,
  ): boolean {
    const total = IPV4_MIN_HLEN + UDP_HLEN + len;
    if (total > MAX_DATAGRAM) {
      this.failed++;
      return false;
    }
    const b = this.buf,
      dv = this.dv;
    this.ipId = (this.ipId + 1) & 0xffff;
    const u = writeIpv4(dv, b, 0, total, this.ipId, 0, ttl, IPPROTO_UDP, src, group);
    dv.setUint16(u, srcPort);
    dv.setUint16(u + 2, dstPort);
    dv.setUint16(u + 4, UDP_HLEN + len);
    dv.setUint16(u + 6, 0);
    copyBytes(payload, null, 0, b, null, u + UDP_HLEN, len);
    const sum = onesSum(b, u, u + UDP_HLEN + len, pseudoHeaderSum(src, group, IPPROTO_UDP, UDP_HLEN + len));
    dv.setUint16(u + 6, csumFinish(sum) || 0xffff);
    return this.sendIp(port, b, 0, total);
  }

  /** One frame: Ethernet header to the group's MAC, then the IP bytes, into a TX slot. */
  private frame(port: Port, src: Uint8Array, off: number, len: number): boolean {
    const tx = port.tx;
    if (ETH_HLEN + len > tx.maxFrame) return false;
    const e = tx.reserve();
    writeEth(tx.buf, e, this.mac, 0, port.mac, ETHERTYPE_IPV4);
    copyBytes(src, null, off, tx.buf, null, e + ETH_HLEN, len);
    tx.commit(ETH_HLEN + len);
    return true;
  }
}
