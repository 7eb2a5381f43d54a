/**
 * The fewest control commands that turn the running table into the desired one, for one atomic
 * `apply`. What is already right is left alone and what can be edited is edited, never deleted
 * and added again: a service or dest that stays keeps its connections, counters and scheduler
 * state (ip_vs_edit_service() and ip_vs_edit_dest() keep them too).
 *
 * Only what the engine manages is touched: the services and dests it wants now or wanted last
 * time (`previous`). A service or dest added by hand with tapvsadm, and not in the configuration,
 * stays, as it does beside keepalived (which flushes nothing at start unless told to).
 *
 * Order: deleted services first, then per service its add or edit, its deleted dests, edited
 * dests, added dests (in configuration order, as keepalived adds them), then its deleted and
 * added full NAT local addresses. A dest whose method or tunnel changed is edited, as
 * ip_vs_edit_dest() changes them in place; a local address whose link changed is deleted and
 * added again (DPVS knows a local address by its address). Each command carries the
 * virtual_server block it comes from, so a refusal (the dispatcher's "command N: ...") can be
 * reported at that block's line (refusal()); a dest command at its real_server block when known.
 */
import type {
  Command,
  DestConfig,
  DestInfo,
  LaddrKey,
  ListResult,
  ServiceConfig,
  ServiceInfo,
  TunnelConfig,
} from '../control/protocol.js';
import { schedFlagBits } from '../control/sched-flags.js';
import type { Diagnostic, SourceRef } from '../keepalived/lvs-config.js';
import { parseIpv4 } from '../packet/ipv4.js';
import { type DesiredService, destId, serviceId } from './desired-table.js';

/** A command and the configuration block it comes from. */
export interface PlannedCommand {
  readonly command: Command;
  readonly at: SourceRef;
}

export function diffRules(
  desired: readonly DesiredService[],
  previous: readonly DesiredService[],
  current: ListResult,
): PlannedCommand[] {
  const running = new Map<string, ServiceInfo>();
  for (const s of current.services) running.set(serviceId(s.service), s);
  const wanted = new Map<string, DesiredService>();
  for (const d of desired) wanted.set(serviceId(d.service), d);
  const before = new Map<string, DesiredService>();
  for (const p of previous) before.set(serviceId(p.service), p);

  const out: PlannedCommand[] = [];
  for (const [id, p] of before) {
    if (!wanted.has(id) && running.has(id))
      out.push({ command: { op: 'deleteService', service: p.service }, at: p.at });
  }
  for (const [id, d] of wanted) {
    const { service, at } = d;
    const run = running.get(id);
    if (run === undefined) {
      out.push({ command: { op: 'addService', service, config: d.config }, at });
      for (const x of d.dests)
        out.push({ command: { op: 'addDest', service, dest: x.dest, config: x.config }, at: x.at ?? at });
      for (const l of d.laddrs ?? []) out.push({ command: { op: 'addLaddr', service, laddr: l }, at });
      continue;
    }
    if (!sameService(run.config, d.config)) out.push({ command: { op: 'editService', service, config: d.config }, at });
    const runDests = new Map<string, DestInfo>();
    for (const x of run.dests) runDests.set(destId(x), x);
    const wantDests = new Set(d.dests.map((x) => destId(x.dest)));
    for (const x of before.get(id)?.dests ?? []) {
      const key = destId(x.dest);
      if (!wantDests.has(key) && runDests.has(key))
        out.push({ command: { op: 'deleteDest', service, dest: x.dest }, at });
    }
    const adds: PlannedCommand[] = [];
    for (const x of d.dests) {
      const have = runDests.get(destId(x.dest));
      if (have === undefined)
        adds.push({ command: { op: 'addDest', service, dest: x.dest, config: x.config }, at: x.at ?? at });
      else if (!sameDest(have, x.config))
        out.push({ command: { op: 'editDest', service, dest: x.dest, config: x.config }, at: x.at ?? at });
    }
    out.push(...adds);
    out.push(...laddrCommands(d, before.get(id), run));
  }
  return out;
}

/** Deletes (what the last load wanted and this one does not, or wants on another link), then adds. */
function laddrCommands(d: DesiredService, prev: DesiredService | undefined, run: ServiceInfo): PlannedCommand[] {
  const { service, at } = d;
  const running = new Map<string, LaddrKey>();
  for (const l of run.laddrs ?? []) running.set(l.addr, l);
  const wanted = new Map<string, LaddrKey>();
  for (const l of d.laddrs ?? []) wanted.set(l.addr, l);
  const out: PlannedCommand[] = [];
  const gone = new Set<string>();
  for (const l of prev?.laddrs ?? []) {
    const have = running.get(l.addr);
    const want = wanted.get(l.addr);
    if (have !== undefined && (want === undefined || want.ifname !== have.ifname)) {
      out.push({ command: { op: 'deleteLaddr', service, laddr: laddrKey(have) }, at });
      gone.add(l.addr);
    }
  }
  for (const l of d.laddrs ?? []) {
    if (!running.has(l.addr) || gone.has(l.addr)) out.push({ command: { op: 'addLaddr', service, laddr: l }, at });
  }
  return out;
}

function laddrKey(l: LaddrKey): LaddrKey {
  return l.ifname === undefined ? { addr: l.addr } : { addr: l.addr, ifname: l.ifname };
}

function sameService(a: ServiceConfig, b: ServiceConfig): boolean {
  return (
    a.scheduler === b.scheduler &&
    schedFlagBits(a.schedFlags) === schedFlagBits(b.schedFlags) &&
    a.persistentS === b.persistentS &&
    parseIpv4(a.netmask) === parseIpv4(b.netmask) &&
    a.ops === b.ops &&
    a.proxyProtocol === b.proxyProtocol
  );
}

function sameDest(a: DestConfig, b: DestConfig): boolean {
  return (
    a.fwd === b.fwd &&
    (a.fwd !== 'tunnel' || sameTunnel(a.tunnel, b.tunnel)) &&
    a.weight === b.weight &&
    a.uThreshold === b.uThreshold &&
    a.lThreshold === b.lThreshold
  );
}

/** Absent is ipip without checksum, as ipvsadm's defaults. */
function sameTunnel(a: TunnelConfig | undefined, b: TunnelConfig | undefined): boolean {
  const x = a ?? IPIP;
  const y = b ?? IPIP;
  return x.type === y.type && x.port === y.port && x.csum === y.csum;
}

const IPIP: TunnelConfig = { type: 'ipip', port: 0, csum: 'nocsum' };

/** The control plane's refusal as a diagnostic at the virtual server whose command failed. */
export function refusal(e: unknown, planned: readonly PlannedCommand[]): Diagnostic {
  const text = e instanceof Error ? e.message : String(e);
  const m = /^command (\d+): (.*)$/s.exec(text);
  const p = m === null ? undefined : planned[Number(m[1]) - 1];
  const at: SourceRef = p?.at ?? planned[0]?.at ?? { file: '-', line: 0 };
  const message = p === undefined ? text : `${describe(p.command)}: ${m?.[2] ?? text}`;
  return { file: at.file, line: at.line, severity: 'error', message };
}

/** "addDest tcp 192.168.222.131:80 -> 192.168.2.129:80" */
function describe(c: Command): string {
  if ('dest' in c) return `${c.op} ${serviceId(c.service)} -> ${destId(c.dest)}`;
  if ('service' in c && c.service !== null) return `${c.op} ${serviceId(c.service)}`;
  return c.op;
}
