/**
 * Packets to a VIP, as ip_vs_in_hook() (ip_vs_core.c) handles them: the connection is looked up
 * first (the table is global); only a new flow looks up its service and is scheduled (TCP: a SYN
 * without RST, tcp_conn_schedule()); counters and the state machine run before the transmitter.
 * What no service takes goes to the director's own stack: a TCP reset, an ICMP port unreachable.
 */
import type { HostIcmp } from '../host/icmp.js';
import type { LocalOutput } from '../host/local-output.js';
import { sendTcpReset } from '../host/tcp-reset.js';
import { ConnFlag } from '../ipvs/conn-table.js';
import { Fwd } from '../ipvs/dest.js';
import { FTP_PORT, type Ipvs, NoConn } from '../ipvs/ipvs.js';
import { Dir } from '../ipvs/tcp-state.js';
import { ICMP_DEST_UNREACH, ICMP_PORT_UNREACH } from '../packet/icmp.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4.js';
import { Parse } from '../packet/parse.js';
import { TCP_RST, TCP_SYN } from '../packet/tcp.js';
import { Drop } from './drops.js';
import type { FrameContext } from './frame.js';
import { noteNat, noteSchedule } from './trace-notes.js';
import type { Transmitters } from './xmit/transmitters.js';

export class IpvsIn {
  constructor(
    private readonly ctx: FrameContext,
    private readonly ipvs: Ipvs,
    private readonly icmp: HostIcmp,
    private readonly local: LocalOutput,
    private readonly xmit: Transmitters,
  ) {}

  /** A TCP segment at [l4, l4End) to a director address. Returns the verdict. */
  tcp(l4: number, l4End: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip,
      t = ctx.v.tcp;
    const tr = t.bind(l4, l4End);
    if (tr !== Parse.Ok)
      return tr === Parse.Truncated ? Drop.Truncated : tr === Parse.BadHeader ? Drop.BadHeader : Drop.BadLength;
    const src = ip.src,
      dst = ip.dst,
      sport = t.srcPort,
      dport = t.dstPort,
      flags = t.flags;
    const ipvs = this.ipvs;
    let id = ipvs.conns.lookupIn(IPPROTO_TCP, src, sport, dst, dport, false);
    // ip_vs_in_hook(): a SYN for a quiesced dest's connection (expire_nodest_conn) or a TIME_WAIT/
    // CLOSE one (conn_reuse_mode 1) starts a fresh connection; then, with expire_nodest_conn, any
    // packet of a deleted dest's connection is treated as new ("check the server status").
    if (id >= 0 && (flags & TCP_SYN) !== 0 && ipvs.synReschedules(id)) {
      ipvs.expireNow(id);
      id = -1;
    }
    if (id >= 0 && ipvs.expireNodestConn && ipvs.destOf(id) === null) {
      ipvs.expireNow(id);
      id = -1;
    }
    if (id < 0) {
      const svc = ipvs.findService(IPPROTO_TCP, dst, dport);
      // Only a SYN without RST is scheduled (tcp_conn_schedule, sloppy_tcp off); anything else
      // goes to the director's own stack, which has no listener: RST, as a kernel would answer.
      if (svc === null || (flags & (TCP_SYN | TCP_RST)) !== TCP_SYN) {
        if ((flags & TCP_RST) === 0) sendTcpReset(this.local, ctx.v);
        return Drop.LocalUnreachable;
      }
      id = ipvs.newConnection(svc, IPPROTO_TCP, src, sport, dst, dport, ctx.now);
      if (id < 0) {
        if (this.toLocalStack(id, svc.port, dport)) {
          sendTcpReset(this.local, ctx.v);
          return Drop.LocalUnreachable;
        }
        return this.noConnection(id);
      }
      // Full NAT with --proxy-protocol: the header goes in front of the client's first byte.
      const pp = this.xmit.fullnat.proxy;
      if (svc.proxyProtocol !== 0 && ipvs.conns.fwd[id] === Fwd.FULLNAT)
        pp.start(id, svc.proxyProtocol, t.seq, src, sport, dst, dport);
      else pp.stop(id);
      if (ctx.tracing) noteSchedule(ctx, svc.scheduler.name, ipvs.destOf(id), IPPROTO_TCP, dst, dport);
    }
    return this.deliver(id, IPPROTO_TCP, flags);
  }

  /** A UDP datagram at [l4, l4End) to a director address. Returns the verdict. */
  udp(l4: number, l4End: number): number {
    const ctx = this.ctx,
      ip = ctx.v.ip,
      u = ctx.v.udp;
    const ur = u.bind(l4, l4End);
    if (ur !== Parse.Ok) return ur === Parse.Truncated ? Drop.Truncated : Drop.BadLength;
    const src = ip.src,
      dst = ip.dst,
      sport = u.srcPort,
      dport = u.dstPort;
    const ipvs = this.ipvs;
    let id = ipvs.conns.lookupIn(IPPROTO_UDP, src, sport, dst, dport, false);
    if (id >= 0 && ipvs.expireNodestConn && ipvs.destOf(id) === null) {
      ipvs.expireNow(id);
      id = -1;
    }
    if (id < 0) {
      const svc = ipvs.findService(IPPROTO_UDP, dst, dport);
      if (svc === null) {
        this.icmp.error(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, dst);
        return Drop.LocalUnreachable;
      }
      id = ipvs.newConnection(svc, IPPROTO_UDP, src, sport, dst, dport, ctx.now);
      if (id < 0) {
        if (this.toLocalStack(id, svc.port, dport)) {
          this.icmp.error(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, dst);
          return Drop.LocalUnreachable;
        }
        return this.noConnection(id);
      }
      if (ctx.tracing) noteSchedule(ctx, svc.scheduler.name, ipvs.destOf(id), IPPROTO_UDP, dst, dport);
    }
    return this.deliver(id, IPPROTO_UDP, 0);
  }

  /**
   * Whether a flow the service did not take goes on to the director's own stack (which has no
   * listener: a TCP reset, an ICMP port unreachable) rather than ip_vs_leave()'s ICMP: the kernel's
   * "ignored = 1" (ip_vs_schedule() would not schedule it, e.g. FTP data from port 20), and
   * ip_vs_leave()'s FTP rule: an FTP service with no connection for a port other than 21 passes
   * the packet on (NF_ACCEPT), "because it is not ipvs job to decide to drop the packets".
   */
  private toLocalStack(reason: number, svcPort: number, dport: number): boolean {
    if (reason === -NoConn.NotScheduled) return true;
    return (
      (reason === -NoConn.NoDestination || reason === -NoConn.PortZeroNotPersistent) &&
      svcPort === FTP_PORT &&
      dport !== FTP_PORT
    );
  }

  /** ip_vs_leave(): no destination -> ICMP port unreachable from the VIP. */
  private noConnection(reason: number): number {
    if (reason === -NoConn.TableFull) return Drop.TableFull;
    if (reason === -NoConn.NoLocalAddress) return Drop.NoLocalAddress;
    this.icmp.error(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, this.ctx.v.ip.dst);
    return Drop.NoDestination;
  }

  /** Count, state, transmit to the connection's dest; a one-packet entry ends here. */
  private deliver(id: number, proto: number, tcpFlags: number): number {
    const ctx = this.ctx,
      ipvs = this.ipvs,
      c = ipvs.conns;
    const dest = ipvs.destOf(id);
    if (dest === null) return Drop.DestUnavailable; // deleted dest: silently dropped (expire_nodest_conn 0)
    ipvs.countIn(dest, ctx.v.ip.totalLen);
    c.pkts[id]++;
    if (proto === IPPROTO_TCP) ipvs.tcpState(id, Dir.INPUT, tcpFlags, ctx.now);
    else ipvs.udpState(id, Dir.INPUT, ctx.now);
    if (ctx.syncMaster !== null) ctx.syncMaster.afterInbound(id, ctx.now);
    if (ctx.tracing) noteNat(ctx, c, 'in', id, proto);
    const verdict = this.xmit.toDest(id, dest, proto);
    if ((c.flags[id] & ConnFlag.ONE_PACKET) !== 0) ipvs.expireNow(id);
    return verdict;
  }
}
