/**
 * The IPVS table a keepalived configuration asks for, given the health of its real servers: one
 * service per address of each virtual server (a `virtual_server group` stands for several), and
 * the dests that keepalived would have put in, each with the weight it would have given them.
 *
 * Which dests are in (ipwrapper.c: init_service_rs(), perform_svr_state(), update_quorum_state();
 * ipvswrapper.c: ipvs_cmd()):
 * - a real server that is alive: in, at its effective weight (configured weight, or what
 *   misc_dynamic set);
 * - one that is not: out, or with inhibit_on_failure in at weight 0 (keepalived turns the delete
 *   into an edit);
 * - while the sorry server is in (quorum lost): alive real servers are taken out too (inhibited
 *   ones stay at weight 0) and the sorry server is in at weight 1; otherwise the sorry server is
 *   out, or in at weight 0 with sorry_server_inhibit.
 * Weights above ipvsadm's maximum are sent as that maximum (keepalived clamps to INT_MAX; the
 * kernel and tapvs take 0..65535).
 *
 * The result is in control-protocol terms (control/protocol.ts), so the same validation as
 * tapvsadm's applies to it; control/rules-diff.ts turns it into commands. Addresses are written as the
 * listing writes them, and a dest without a port gets its service's port as RuleEditor gives it.
 */
import { canonicalAddr, type DesiredDest, type DesiredService, destId } from '../control/desired-table.js';
import type { DestConfig, ServiceConfig, ServiceKey } from '../control/protocol.js';
import { MAX_WEIGHT } from '../control/protocol.js';
import type { LvsMethod, RealServerConfig, SourceRef, VirtualServerConfig } from '../keepalived/lvs-config.js';

/** keepalived's sorry server has weight 1 (check_data.c, alloc_ssvr()). */
export const SORRY_SERVER_WEIGHT = 1;

/** A real server's health as the table depends on it. */
export interface RealServerView {
  readonly cfg: RealServerConfig;
  readonly alive: boolean;
  /** Configured weight, or the one misc_dynamic set. */
  readonly weight: number;
}

export interface VirtualServerView {
  readonly cfg: VirtualServerConfig;
  /** The sorry server is in: quorum is lost (and a sorry server is configured). */
  readonly sorryActive: boolean;
  readonly realServers: readonly RealServerView[];
}

/** The table for these virtual servers, in configuration order. */
export function desiredRules(virtualServers: readonly VirtualServerView[]): DesiredService[] {
  const out: DesiredService[] = [];
  for (const vs of virtualServers) {
    const config = serviceConfig(vs.cfg);
    for (const a of vs.cfg.addresses) {
      const service: ServiceKey = { proto: vs.cfg.protocol, addr: canonicalAddr(a.addr), port: a.port };
      out.push({ service, config, dests: desiredDests(vs, service.port), at: vs.cfg.at });
    }
  }
  return out;
}

function serviceConfig(cfg: VirtualServerConfig): ServiceConfig {
  const persistent = cfg.persistenceTimeoutS !== null;
  return {
    scheduler: cfg.scheduler,
    schedFlags: [...cfg.schedFlags],
    persistentS: cfg.persistenceTimeoutS,
    // ipvswrapper.c, ipvs_set_srule(): the granularity is sent only for a persistent service.
    netmask: persistent ? canonicalAddr(cfg.persistenceGranularity) : '255.255.255.255',
    ops: cfg.ops,
  };
}

function desiredDests(vs: VirtualServerView, servicePort: number): DesiredDest[] {
  const byKey = new Map<string, DesiredDest>();
  const put = (
    addr: string,
    port: number,
    weight: number,
    u: number,
    l: number,
    m: LvsMethod,
    at?: SourceRef,
  ): void => {
    const dest = { addr: canonicalAddr(addr), port: port === 0 ? servicePort : port };
    const config: DestConfig = { fwd: m.fwd, weight, uThreshold: u, lThreshold: l };
    if (m.tunnel !== undefined) config.tunnel = { ...m.tunnel };
    byKey.set(destId(dest), at === undefined ? { dest, config } : { dest, config, at });
  };
  for (const rs of vs.realServers) {
    const inhibit = rs.cfg.inhibitOnFailure;
    let weight: number;
    if (rs.alive && !vs.sorryActive) weight = Math.min(Math.max(rs.weight, 0), MAX_WEIGHT);
    else if (inhibit) weight = 0;
    else continue;
    put(rs.cfg.addr, rs.cfg.port, weight, rs.cfg.uthreshold, rs.cfg.lthreshold, rs.cfg.method, rs.cfg.at);
  }
  const sorry = vs.cfg.sorryServer;
  if (sorry !== null) {
    const port = sorry.port === 0 ? servicePort : sorry.port;
    // A sorry server that is also a real server (keepalived's s_svr_duplicates_rs) takes the
    // real server's entry while it is in, and leaves it alone otherwise.
    const m = vs.cfg.sorryServerMethod;
    if (vs.sorryActive) put(sorry.addr, sorry.port, SORRY_SERVER_WEIGHT, 0, 0, m);
    else if (vs.cfg.sorryServerInhibit && !byKey.has(destId({ addr: canonicalAddr(sorry.addr), port })))
      put(sorry.addr, sorry.port, 0, 0, 0, m);
  }
  return [...byKey.values()];
}
