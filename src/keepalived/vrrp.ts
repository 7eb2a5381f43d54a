/**
 * The VRRP part of a keepalived.conf: vrrp_instance and vrrp_sync_group blocks, and the
 * global_defs settings they use (vrrp_version, vrrp_garp_*, vrrp_v3_checksum_as_v2,
 * lvs_sync_daemon), read into a VrrpConfig for src/vrrp/. Global settings apply to every
 * instance wherever global_defs stands in the file, as in keepalived (it reads the whole file
 * before completing instances).
 *
 * Across blocks, errors as keepalived's (vrrp_parser.c, vrrp_data.c, global_parser.c): two
 * instances with one name or on one (interface, virtual_router_id); an instance in two sync
 * groups or a group naming an unknown instance; lvs_sync_daemon naming an unknown instance.
 */
import { parseIpv4 } from '../packet/ipv4.js';
import type { LvsSyncDaemonConfig, VrrpConfig, VrrpInstanceConfig, VrrpSyncGroupConfig } from '../vrrp/vrrp-config.js';
import type { ConfStatement } from './blocks.js';
import type { DiagnosticSink } from './diagnostics.js';
import { scriptCommand } from './script-words.js';
import { walkBlock } from './statements.js';
import { parseBool, parseUnsigned, readers, readUnsigned } from './values.js';
import { DEFAULT_VRRP_GLOBALS, readVrrpInstance, type VrrpGlobals } from './vrrp-instance-block.js';

/** Top-level blocks read here (lvs.ts leaves them alone). */
export const VRRP_TOP_LEVEL: ReadonlySet<string> = new Set(['vrrp_instance', 'vrrp_sync_group']);

/** global_defs keywords read here (lvs.ts does not report them as unused). */
export const VRRP_GLOBAL_DEFS: ReadonlySet<string> = new Set([
  'vrrp_version',
  'vrrp_garp_master_delay',
  'vrrp_garp_master_repeat',
  'vrrp_garp_master_refresh',
  'vrrp_garp_master_refresh_repeat',
  'vrrp_v3_checksum_as_v2',
  'lvs_sync_daemon',
  'vrrp_mcast_group4',
]);

const DEFAULT_VRRP_GROUP = 0xe0000012 | 0;

export function interpretVrrp(root: readonly ConfStatement[], diags: DiagnosticSink): VrrpConfig {
  const globals: VrrpGlobals = { ...DEFAULT_VRRP_GLOBALS };
  let lsdStatement: ConfStatement | null = null;
  for (const st of root) {
    if (st.keyword !== 'global_defs') continue;
    for (const s of st.block ?? []) {
      if (s.keyword === 'lvs_sync_daemon') lsdStatement = s;
      else if (VRRP_GLOBAL_DEFS.has(s.keyword)) readGlobal(s, globals, diags);
    }
  }
  const instances: VrrpInstanceConfig[] = [];
  const groupStatements: ConfStatement[] = [];
  for (const st of root) {
    if (!VRRP_TOP_LEVEL.has(st.keyword)) continue;
    if (st.block === null) {
      diags.error(st.at, `${st.keyword} needs a '{ … }' block`);
      continue;
    }
    if (st.keyword === 'vrrp_sync_group') {
      groupStatements.push(st);
      continue;
    }
    const inst = readVrrpInstance(st, globals, diags);
    if (inst === null) continue;
    const sameName = instances.find((i) => i.name === inst.name);
    const sameVrid = instances.find((i) => i.link === inst.link && i.vrid === inst.vrid);
    if (sameName !== undefined)
      diags.error(st.at, `vrrp_instance ${inst.name} is already defined at ${sameName.file}:${sameName.line}`);
    else if (sameVrid !== undefined)
      diags.error(
        st.at,
        `vrrp_instance ${inst.name}: interface ${inst.link} virtual_router_id ${inst.vrid} is already used by ${sameVrid.name} at ${sameVrid.file}:${sameVrid.line}`,
      );
    else instances.push(inst);
  }
  const syncGroups = readSyncGroups(groupStatements, instances, diags);
  const lvsSyncDaemon = lsdStatement === null ? null : readLvsSyncDaemon(lsdStatement, instances, diags);
  return { instances, syncGroups, lvsSyncDaemon };
}

function readGlobal(s: ConfStatement, g: VrrpGlobals, diags: DiagnosticSink): void {
  const r = readers(diags);
  const num = (min: number, max: number, set: (v: number) => void) => {
    const v = r.unsigned(min, max)(s);
    if (v !== null) set(v);
  };
  switch (s.keyword) {
    case 'vrrp_version':
      num(2, 3, (v) => (g.version = v as 2 | 3));
      return;
    case 'vrrp_garp_master_delay':
      num(0, 86400, (v) => (g.garpMasterDelayMs = v * 1000));
      return;
    case 'vrrp_garp_master_repeat':
      num(1, 255, (v) => (g.garpMasterRepeat = v));
      return;
    case 'vrrp_garp_master_refresh':
      num(0, 86400, (v) => (g.garpMasterRefreshMs = v * 1000));
      return;
    case 'vrrp_garp_master_refresh_repeat':
      num(1, 255, (v) => (g.garpMasterRefreshRepeat = v));
      return;
    case 'vrrp_v3_checksum_as_v2': {
      const v = r.flag(s);
      if (v !== null) g.v3ChecksumAsV2 = v;
      return;
    }
    case 'vrrp_mcast_group4':
      if (parseIpv4(s.args[0] ?? '') !== DEFAULT_VRRP_GROUP)
        diags.error(s.at, 'vrrp_mcast_group4: tapvs sends and hears adverts on 224.0.0.18 only');
      return;
  }
}

function readSyncGroups(
  statements: readonly ConfStatement[],
  instances: readonly VrrpInstanceConfig[],
  diags: DiagnosticSink,
): VrrpSyncGroupConfig[] {
  const groups: VrrpSyncGroupConfig[] = [];
  const memberOf = new Map<string, VrrpSyncGroupConfig>();
  for (const st of statements) {
    const name = st.args[0];
    if (name === undefined) {
      diags.error(st.at, 'vrrp_sync_group: missing name');
      continue;
    }
    const g: VrrpSyncGroupConfig = {
      name,
      file: st.at.file,
      line: st.at.line,
      members: [],
      notifyMaster: null,
      notifyBackup: null,
      notifyFault: null,
      notifyStop: null,
      notify: null,
    };
    const script = (set: (argv: string[]) => void) => (s: ConfStatement) => {
      const cmd = scriptCommand(s.text);
      if (cmd.ok) set(cmd.argv);
      else diags.error(s.at, `${s.keyword}: ${cmd.error}`);
    };
    const members = (s: ConfStatement) => {
      for (const m of s.block ?? []) {
        for (const word of [m.keyword, ...m.args]) {
          const other = memberOf.get(word);
          if (!instances.some((i) => i.name === word))
            diags.error(m.at, `vrrp_sync_group ${name}: no vrrp_instance ${word}`);
          else if (other !== undefined)
            diags.error(m.at, `vrrp_sync_group ${name}: ${word} is already in vrrp_sync_group ${other.name}`);
          else {
            memberOf.set(word, g);
            g.members.push(word);
          }
        }
      }
    };
    walkBlock(
      st.block ?? [],
      {
        handlers: new Map([
          ['group', members],
          ['notify_master', script((v) => (g.notifyMaster = v))],
          ['notify_backup', script((v) => (g.notifyBackup = v))],
          ['notify_fault', script((v) => (g.notifyFault = v))],
          ['notify_stop', script((v) => (g.notifyStop = v))],
          ['notify', script((v) => (g.notify = v))],
        ]),
        blocks: new Set(['group']),
        unused: new Map([
          ['smtp_alert', 'tapvs sends no mail'],
          ['global_tracking', 'tapvs has no trackers'],
          ['sync_group_tracking_weight', 'tapvs has no trackers'],
          ['notify_priority_changes', ''],
        ]),
        refused: new Map([
          ['track_interface', 'tapvs tracks no interface for a group (a member link down puts it in FAULT)'],
          ['track_script', 'tapvs runs no track scripts'],
          ['track_file', 'tapvs tracks no files'],
          ['track_process', 'tapvs tracks no processes'],
          ['track_bfd', 'tapvs has no BFD'],
        ]),
      },
      `vrrp_sync_group ${name}`,
      diags,
    );
    if (g.members.length === 0) diags.warning(st.at, `vrrp_sync_group ${name}: no members: ignored`);
    else groups.push(g);
  }
  return groups;
}

/**
 * `lvs_sync_daemon IF [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`
 * (keepalived global_parser.c): the id defaults to the instance's virtual_router_id, else 0.
 */
function readLvsSyncDaemon(
  s: ConfStatement,
  instances: readonly VrrpInstanceConfig[],
  diags: DiagnosticSink,
): LvsSyncDaemonConfig | null {
  const link = s.args[0];
  if (link === undefined) {
    diags.error(s.at, 'lvs_sync_daemon: missing interface');
    return null;
  }
  const out: LvsSyncDaemonConfig = {
    link,
    instance: null,
    syncid: -1,
    maxlen: 0,
    port: 0,
    ttl: 0,
    group: 0,
    file: s.at.file,
    line: s.at.line,
  };
  const limits: Record<string, [number, number]> = {
    id: [0, 255],
    maxlen: [1, 65507],
    port: [1, 65535],
    ttl: [1, 255],
  };
  let ok = true;
  for (let i = 1; i < s.args.length; i++) {
    const word = s.args[i];
    const value = s.args[i + 1];
    if (word in limits) {
      const [min, max] = limits[word];
      const n = readUnsigned({ ...s, keyword: `lvs_sync_daemon ${word}` }, diags, min, max, i + 1);
      if (n === null) ok = false;
      else if (word === 'id') out.syncid = n;
      else if (word === 'maxlen') out.maxlen = n;
      else if (word === 'port') out.port = n;
      else out.ttl = n;
      i++;
    } else if (word === 'group') {
      const a = parseIpv4(value ?? '');
      if (a === null || a >>> 28 !== 0xe) {
        diags.error(s.at, `lvs_sync_daemon group: '${value ?? ''}' is not an IPv4 multicast address`);
        ok = false;
      } else out.group = a;
      i++;
    } else if (word === 'inst' && value !== undefined) {
      out.instance = value;
      i++;
    } else if (out.instance === null && parseUnsigned(word) === null && parseBool(word) === null) {
      out.instance = word;
    } else {
      diags.error(s.at, `lvs_sync_daemon: unexpected word '${word}'`);
      ok = false;
    }
  }
  const inst = out.instance === null ? undefined : instances.find((i) => i.name === out.instance);
  if (out.instance !== null && inst === undefined) {
    diags.error(s.at, `lvs_sync_daemon: no vrrp_instance ${out.instance}`);
    ok = false;
  }
  if (out.syncid < 0) out.syncid = inst?.vrid ?? 0;
  return ok ? out : null;
}
