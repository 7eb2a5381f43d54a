/**
 * The classic BPF program a `packet=` link attaches to its AF_PACKET socket (SO_ATTACH_FILTER),
 * so that the kernel hands the director only the frames it needs. It selects what PcapLink's
 * libpcap filter selects (see pcap.ts), plus multicast:
 *
 *   not ether src <mac> and not ether src <nic mac>
 *   and (ether dst <mac> or ether multicast)      (multicast includes broadcast)
 *   and not ip dst host <each excluded address>   (mac=nic: the kernel's own addresses)
 *
 * Multicast goes further than the pcap filter's `ether broadcast`: VRRP adverts (224.0.0.18)
 * and the connection sync daemon's group reach the director as they do through a TAP.
 *
 * Output: 4 words per instruction (code, jt, jf, k), as struct sock_filter, the layout the addon
 * takes (and native/bpf.cc returns for libpcap's programs). Accepted frames are kept whole
 * (return 0xffffffff): the return value is the snap length, and a GRO super-frame is 64 KB.
 * Offsets are from the Ethernet header, which is where a packet socket's filter starts
 * (net/core/filter.c on skb->data after af_packet's skb_push to the MAC header). A VLAN tag the
 * NIC stripped is not in the frame the filter sees, so the IPv4 check reads the inner type.
 * Pure: no I/O, testable with a small interpreter (test/unit/link/packet-filter.test.ts).
 */

/** BPF opcodes used here (include/uapi/linux/bpf_common.h, filter.h). */
const LD_W_ABS = 0x20;
const LD_H_ABS = 0x28;
const LD_B_ABS = 0x30;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const RET_K = 0x06;
const ETHERTYPE_IPV4 = 0x0800;
/** Bytes 30..33 of an untagged Ethernet frame: the IPv4 destination address. */
const IPV4_DST_OFF = 30;

interface Insn {
  code: number;
  /** Jump targets as labels, resolved to relative offsets at the end. */
  jt: string | number;
  jf: string | number;
  k: number;
}

function macHi(mac: Uint8Array): number {
  return ((mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3]) >>> 0;
}
function macLo(mac: Uint8Array): number {
  return (mac[4] << 8) | mac[5];
}

/**
 * Builds the program. `exclude` holds IPv4 destinations (int32 or uint32) left to the kernel.
 * Two equal MACs are tested once.
 */
export function packetFilter(mac: Uint8Array, nicMac: Uint8Array, exclude: readonly number[] = []): Uint32Array {
  const prog: Insn[] = [];
  const labels = new Map<string, number>();
  const at = (name: string): void => {
    labels.set(name, prog.length);
  };
  const emit = (code: number, k: number, jt: string | number = 0, jf: string | number = 0): void => {
    prog.push({ code, jt, jf, k: k >>> 0 });
  };
  const srcs = [mac];
  if (macHi(nicMac) !== macHi(mac) || macLo(nicMac) !== macLo(mac)) srcs.push(nicMac);
  srcs.forEach((m, i) => {
    const next = `src${i + 1}`;
    emit(LD_W_ABS, 6);
    emit(JEQ_K, macHi(m), 0, next);
    emit(LD_H_ABS, 10);
    emit(JEQ_K, macLo(m), 'drop', next);
    at(next);
  });
  emit(LD_W_ABS, 0);
  emit(JEQ_K, macHi(mac), 0, 'group');
  emit(LD_H_ABS, 4);
  emit(JEQ_K, macLo(mac), 'ours', 'group');
  at('group');
  emit(LD_B_ABS, 0);
  emit(JSET_K, 1, 'ours', 'drop');
  at('ours');
  if (exclude.length > 0) {
    emit(LD_H_ABS, 12);
    emit(JEQ_K, ETHERTYPE_IPV4, 0, 'accept');
    emit(LD_W_ABS, IPV4_DST_OFF);
    for (const a of exclude) emit(JEQ_K, a, 'drop', 0);
  }
  at('accept');
  emit(RET_K, 0xffffffff);
  at('drop');
  emit(RET_K, 0);

  const out = new Uint32Array(prog.length * 4);
  for (let i = 0; i < prog.length; i++) {
    const p = prog[i];
    const rel = (t: string | number): number => {
      if (typeof t === 'number') return t;
      const to = labels.get(t);
      if (to === undefined) throw new Error(`packet filter: no label ${t}`);
      const d = to - i - 1;
      if (d < 0 || d > 255) throw new Error(`packet filter: jump to ${t} out of range`);
      return d;
    };
    out[i * 4] = p.code;
    out[i * 4 + 1] = rel(p.jt);
    out[i * 4 + 2] = rel(p.jf);
    out[i * 4 + 3] = p.k;
  }
  return out;
}

/**
 * Runs a program built by packetFilter over a frame (the subset of classic BPF it emits), as
 * the kernel would: the snap length it returns (0 = dropped), or 0 when a load is out of range.
 * For tests and `tapvsd` diagnostics, never on the data path.
 */
export function runPacketFilter(prog: Uint32Array, frame: Uint8Array): number {
  let a = 0;
  for (let pc = 0; pc * 4 < prog.length; pc++) {
    const code = prog[pc * 4],
      jt = prog[pc * 4 + 1],
      jf = prog[pc * 4 + 2],
      k = prog[pc * 4 + 3];
    switch (code) {
      case LD_W_ABS:
        if (k + 4 > frame.length) return 0;
        a = ((frame[k] << 24) | (frame[k + 1] << 16) | (frame[k + 2] << 8) | frame[k + 3]) >>> 0;
        break;
      case LD_H_ABS:
        if (k + 2 > frame.length) return 0;
        a = (frame[k] << 8) | frame[k + 1];
        break;
      case LD_B_ABS:
        if (k + 1 > frame.length) return 0;
        a = frame[k];
        break;
      case JEQ_K:
        pc += a === k ? jt : jf;
        break;
      case JSET_K:
        pc += (a & k) !== 0 ? jt : jf;
        break;
      case RET_K:
        return k;
      default:
        throw new Error(`runPacketFilter: opcode ${code} not supported`);
    }
  }
  return 0;
}
