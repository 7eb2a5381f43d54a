/**
 * Seed frames for the fuzzer's deeper parsers, built the way their senders build them: virtio-net
 * headers as a TAP with offloads hands them over (GSO super-frames, partial checksums), VRRP
 * adverts (v2 and v3, src/vrrp/vrrp-packet.ts writeAdvert) and IPVS sync messages (v1 through
 * src/sync/sync-message.ts MessageWriter; v0 by hand, as ip_vs_sync.c's struct ip_vs_sync_conn_v0).
 * Also the mutation of a virtio-net header's fields.
 */
import { csumFold, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { MessageWriter, WireFlag } from '../../src/sync/sync-message.js';
import { type AdvertSpec, writeAdvert } from '../../src/vrrp/vrrp-packet.js';
import { ipFrame, TCP, UDP } from './frames.js';

/** virtio_net_hdr_v1 (include/uapi/linux/virtio_net.h): its length and the values used here. */
export const VNET_HDR_LEN = 12;
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_GSO_TCPV4 = 1;
const GSO_TYPES = [0, 1, 3, 4, 5, 0x81, 0x80];

export interface VnetOpts {
  /** NEEDS_CSUM: the L4 checksum field gets the folded pseudo-header sum, csum_start/offset point at it. */
  needsCsum?: boolean;
  gsoType?: number;
  gsoSize?: number;
}

/** `frame` (Ethernet + IPv4) behind a virtio-net header, as a TAP with IFF_VNET_HDR delivers it. */
export function withVnetHdr(frame: Buffer, o: VnetOpts = {}): Buffer {
  const h = Buffer.alloc(VNET_HDR_LEN);
  const f = Buffer.from(frame);
  const l4 = 14 + (f[14] & 0x0f) * 4;
  const proto = f[23];
  if (o.needsCsum === true && f.readUInt16BE(12) === 0x0800 && (proto === TCP || proto === UDP)) {
    const field = proto === TCP ? 16 : 6;
    const l4Len = f.readUInt16BE(16) - (l4 - 14);
    f.writeUInt16BE(csumFold(pseudoHeaderSum(f.readInt32BE(26), f.readInt32BE(30), proto, l4Len)), l4 + field);
    h[0] = VNET_F_NEEDS_CSUM;
    h.writeUInt16LE(l4, 6); // csum_start, from the frame's first byte
    h.writeUInt16LE(field, 8); // csum_offset, from csum_start
  }
  if ((o.gsoType ?? 0) !== 0) {
    h[1] = o.gsoType ?? 0;
    h.writeUInt16LE(l4 + (proto === TCP ? (f[l4 + 12] >>> 4) * 4 : 8), 2); // hdr_len: all headers
    h.writeUInt16LE(o.gsoSize ?? 0, 4);
  }
  return Buffer.concat([h, f]);
}

/**
 * A seed with a virtio-net header, mutated: the frame behind the header by `mutateFrame` (the
 * fuzzer's own mutation, checksums fixed and all), and in half the cases one header field too:
 * flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers or the whole header.
 * Now and then the whole is cut short of the header.
 */
export function mutateVnet(f: Buffer, r: () => number, mutateFrame: (f: Buffer, r: () => number) => Buffer): Buffer {
  if (r() < 0.02) return Buffer.from(f.subarray(0, Math.floor(r() * (VNET_HDR_LEN + 2))));
  const h = Buffer.from(f.subarray(0, VNET_HDR_LEN));
  const body = mutateFrame(f.subarray(VNET_HDR_LEN), r);
  const u16 = (): number => (r() < 0.5 ? Math.floor(r() * 65536) : Math.floor(r() * (body.length + 16)));
  if (r() < 0.5) {
    switch (Math.floor(r() * 8)) {
      case 0:
        h[0] = Math.floor(r() * 256);
        break;
      case 1:
        h[1] = r() < 0.8 ? GSO_TYPES[Math.floor(r() * GSO_TYPES.length)] : Math.floor(r() * 256);
        break;
      case 2:
        h.writeUInt16LE(u16(), 2);
        break;
      case 3:
        h.writeUInt16LE(r() < 0.5 ? [0, 1, 8, 536, 1448, 9000, 65535][Math.floor(r() * 7)] : u16(), 4);
        break;
      case 4:
        h.writeUInt16LE(u16(), 6);
        break;
      case 5:
        h.writeUInt16LE(r() < 0.5 ? Math.floor(r() * 24) : u16(), 8);
        break;
      case 6:
        h.writeUInt16LE(u16(), 10);
        break;
      default:
        for (let i = 0; i < VNET_HDR_LEN; i++) h[i] = Math.floor(r() * 256);
    }
  }
  return Buffer.concat([h, body]);
}

/** The Ethernet multicast address of an IPv4 group (RFC 1112 §6.4). */
export function groupMac(group: number): Uint8Array {
  return new Uint8Array([0x01, 0x00, 0x5e, (group >>> 16) & 0x7f, (group >>> 8) & 0xff, group & 0xff]);
}

/** A VRRP advert from `src` (its MAC `srcMac`) to 224.0.0.18, in an Ethernet frame. */
export function vrrpAdvertFrame(srcMac: Uint8Array, src: number, spec: AdvertSpec, priority: number): Buffer {
  const ip = new Uint8Array(1500);
  const len = writeAdvert(ip, spec, priority, src, 1);
  const eth = Buffer.alloc(14);
  eth.set(groupMac(0xe0000012 | 0), 0);
  eth.set(srcMac, 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip.subarray(0, len)]);
}

/** One connection as a sync entry carries it (addresses int32, ports numbers). */
export interface SyncConn {
  proto: number;
  flags: number;
  state: number;
  caddr: number;
  cport: number;
  vaddr: number;
  vport: number;
  daddr: number;
  dport: number;
}

/** A v1 sync message (ip_vs_sync.c, struct ip_vs_sync_mesg) with `conns`, syncid `syncid`. */
export function syncV1(syncid: number, conns: readonly SyncConn[], timeoutS = 900): Buffer {
  const w = new MessageWriter(new Uint8Array(1472), 1472);
  w.begin(syncid);
  for (const c of conns)
    w.add(c.proto, c.flags, c.state, c.cport, c.vport, c.dport, timeoutS, c.caddr, c.vaddr, c.daddr);
  return Buffer.from(w.buf.subarray(0, w.finish()));
}

/**
 * A v0 sync message (struct ip_vs_sync_mesg_v0: nr_conns, syncid, size; then 24-byte entries,
 * each followed by 24 bytes of sequence data when IN_SEQ or OUT_SEQ is set).
 */
export function syncV0(syncid: number, conns: readonly SyncConn[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  for (const c of conns) {
    const e = Buffer.alloc(c.flags & (WireFlag.IN_SEQ | WireFlag.OUT_SEQ) ? 48 : 24);
    e[1] = c.proto;
    e.writeUInt16BE(c.cport, 2);
    e.writeUInt16BE(c.vport, 4);
    e.writeUInt16BE(c.dport, 6);
    e.writeInt32BE(c.caddr, 8);
    e.writeInt32BE(c.vaddr, 12);
    e.writeInt32BE(c.daddr, 16);
    e.writeUInt16BE(c.flags, 20);
    e.writeUInt16BE(c.state, 22);
    parts.push(e);
  }
  const m = Buffer.concat(parts);
  m[0] = conns.length;
  m[1] = syncid;
  m.writeUInt16BE(m.length, 2);
  return m;
}

/** A sync message `payload` as the master sends it: UDP from `src` to `group`:`port`, TTL 1. */
export function syncFrame(srcMac: Uint8Array, src: number, group: number, port: number, payload: Buffer): Buffer {
  return ipFrame(groupMac(group), srcMac, src, group, { proto: UDP, sport: 40123, dport: port, payload }, { ttl: 1 });
}
