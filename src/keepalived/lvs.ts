/**
 * The LVS part of a keepalived.conf block tree: virtual_server_group and virtual_server blocks
 * become VirtualServerConfigs; everything else at the top level is reported once, as tapvs
 * reads it but does not act on it (global_defs settings are reported one by one, except
 * checker_log_all_failures, which tapvs honours). The VRRP part (vrrp_instance, vrrp_sync_group
 * and their global_defs settings) is read by vrrp.ts.
 *
 * Across virtual servers: the same service (protocol, address, port) defined twice is an error
 * (keepalived's second IPVS add would fail), as is a group defined twice.
 */
import type { ConfStatement } from './blocks.js';
import type { DiagnosticSink } from './diagnostics.js';
import type { SourceRef, VirtualServerConfig } from './lvs-config.js';
import { resolveVirtualServer } from './resolve.js';
import { parseBool } from './values.js';
import { readVirtualServer, type VirtualServerDraft } from './virtual-server.js';
import { VRRP_GLOBAL_DEFS, VRRP_TOP_LEVEL } from './vrrp.js';
import { readVsGroup, type VsGroup } from './vs-group.js';

/** Top-level blocks of keepalived that tapvs does not act on, with why. */
const UNUSED_TOP_LEVEL: ReadonlyMap<string, string> = new Map([
  ['vrrp_script', 'tapvs runs no VRRP track scripts'],
  ['vrrp_track_file', 'tapvs tracks no files'],
  ['vrrp_track_process', 'tapvs tracks no processes'],
  ['track_file', 'tapvs does not track files'],
  ['static_ipaddress', 'tapvs configures no host addresses'],
  ['static_routes', 'tapvs configures no host routes'],
  ['static_rules', 'tapvs configures no routing rules'],
  ['garp_group', 'tapvs paces no gratuitous ARP'],
  ['linkbeat_interfaces', 'tapvs sees its links itself'],
  ['bfd_instance', 'tapvs has no BFD'],
  ['SSL', 'SSL_GET verifies no certificate, so it needs no client certificate'],
  ['net_namespace', 'tapvs runs in its own namespace'],
  ['net_namespace_ipvs', 'tapvs runs in its own namespace'],
  ['namespace_with_ipsets', 'tapvs uses no ipsets'],
  ['instance', 'tapvs names no instances'],
  ['use_pid_dir', 'tapvsd writes no pid files'],
  ['child_wait_time', 'tapvs runs no keepalived child processes'],
  ['linkbeat_use_polling', 'tapvs sees its links itself'],
]);

export interface LvsPart {
  readonly virtualServers: VirtualServerConfig[];
}

export function interpretLvs(root: readonly ConfStatement[], diags: DiagnosticSink): LvsPart {
  const groups = new Map<string, VsGroup>();
  const drafts: VirtualServerDraft[] = [];
  let logAllFailures = false;
  for (const st of root) {
    switch (st.keyword) {
      case 'virtual_server_group': {
        if (!needsBlock(st, diags)) break;
        const g = readVsGroup(st, diags);
        if (g === null) break;
        const earlier = groups.get(g.name);
        if (earlier !== undefined)
          diags.error(st.at, `virtual_server_group ${g.name} is already defined at ${where(earlier.at)}`);
        else groups.set(g.name, g);
        break;
      }
      case 'virtual_server': {
        if (!needsBlock(st, diags)) break;
        const d = readVirtualServer(st, diags);
        if (d !== null) drafts.push(d);
        break;
      }
      case 'global_defs':
        logAllFailures = readGlobalDefs(st, diags) ?? logAllFailures;
        break;
      default: {
        if (VRRP_TOP_LEVEL.has(st.keyword)) break;
        const why = UNUSED_TOP_LEVEL.get(st.keyword);
        if (why !== undefined) diags.warning(st.at, `${label(st)}: not used by tapvs (${why})`);
        else
          diags.warning(
            st.at,
            `unknown top-level keyword '${st.keyword}'${st.block === null ? '' : ' and its block'}: ignored`,
          );
      }
    }
  }
  const ctx = { groups, groupUses: new Map<string, number>(), logAllFailures };
  const virtualServers: VirtualServerConfig[] = [];
  const services = new Map<string, SourceRef>();
  for (const d of drafts) {
    const vs = resolveVirtualServer(d, ctx, diags);
    if (vs === null) continue;
    let duplicate = false;
    for (const a of vs.addresses) {
      const id = `${vs.protocol} ${a.addr}:${a.port}`;
      const first = services.get(id);
      if (first !== undefined) {
        diags.error(vs.at, `service ${id} is already defined at ${where(first)}`);
        duplicate = true;
      } else services.set(id, vs.at);
    }
    if (!duplicate) virtualServers.push(vs);
  }
  return { virtualServers };
}

function needsBlock(st: ConfStatement, diags: DiagnosticSink): boolean {
  if (st.block !== null) return true;
  diags.error(st.at, `${st.keyword} needs a '{ … }' block`);
  return false;
}

/** `vrrp_instance VI_1`, `global_defs`: the keyword and its name, for messages. */
function label(st: ConfStatement): string {
  return st.args.length > 0 ? `${st.keyword} ${st.args[0]}` : st.keyword;
}

function where(at: SourceRef): string {
  return `${at.file}:${at.line}`;
}

/**
 * global_defs: every setting is reported as not used, except checker_log_all_failures (the
 * default of each checker's log_all_failures). Returns that setting when given.
 */
function readGlobalDefs(st: ConfStatement, diags: DiagnosticSink): boolean | null {
  let logAll: boolean | null = null;
  for (const s of st.block ?? []) {
    if (s.keyword === 'checker_log_all_failures') {
      const v = s.args.length === 0 ? true : parseBool(s.args[0]);
      if (v === null) diags.error(s.at, `checker_log_all_failures: '${s.args[0]}' is not on/off, true/false or yes/no`);
      else logAll = v;
      continue;
    }
    if (!VRRP_GLOBAL_DEFS.has(s.keyword)) diags.warning(s.at, `global_defs ${s.keyword}: not used by tapvs`);
  }
  return logAll;
}
