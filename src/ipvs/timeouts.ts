/**
 * Per-state timeouts of the director (one table per director, like IPVS's per-netns table),
 * in milliseconds for the hot path. `--set tcp tcpfin udp` changes exactly three entries:
 * TCP ESTABLISHED, TCP FIN_WAIT and UDP (ip_vs_ctl.c, ip_vs_set_timeout()); 0 keeps the current
 * value.
 */
import { TCP_DEFAULT_TIMEOUTS_S, TCP_STATE_COUNT, TcpState } from './tcp-state.js';

const UDP_DEFAULT_TIMEOUT_S = 300;
/** A brand-new entry's timeout before its first state update (ip_vs_conn_new). */
export const NEW_CONN_TIMEOUT_MS = 3000;
/** A template that still controls connections is re-armed for this long (ip_vs_conn_expire). */
export const TEMPLATE_REARM_MS = 60_000;

export class Timeouts {
  readonly tcpMs = new Float64Array(TCP_STATE_COUNT);
  udpMs = UDP_DEFAULT_TIMEOUT_S * 1000;

  constructor() {
    for (let i = 0; i < TCP_STATE_COUNT; i++) this.tcpMs[i] = TCP_DEFAULT_TIMEOUTS_S[i] * 1000;
  }

  /** --set semantics: 0 keeps the current value. Values are seconds, already range-checked. */
  set(tcpS: number, tcpFinS: number, udpS: number): void {
    if (tcpS !== 0) this.tcpMs[TcpState.ESTABLISHED] = tcpS * 1000;
    if (tcpFinS !== 0) this.tcpMs[TcpState.FIN_WAIT] = tcpFinS * 1000;
    if (udpS !== 0) this.udpMs = udpS * 1000;
  }

  get(): { tcpS: number; tcpFinS: number; udpS: number } {
    return {
      tcpS: this.tcpMs[TcpState.ESTABLISHED] / 1000,
      tcpFinS: this.tcpMs[TcpState.FIN_WAIT] / 1000,
      udpS: this.udpMs / 1000,
    };
  }
}
