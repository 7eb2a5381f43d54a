/**
 * Answers control requests: rule changes go through the RuleEditor (the one place where requests
 * touch the model, so tapvsadm, the rules file and tests share its validation), reads through
 * listing.ts, tracing and status to the daemon's hooks.
 *
 * `apply` (rules file, tapvsadm -R) is all-or-nothing: the commands first run against a scratch
 * model holding a copy of the current rules (a dry run); only if every command succeeds there are
 * they applied for real. A failure names the command's position (1-based) and leaves the rules as
 * they were. Connections are never touched by a rule change except through the rules' own
 * semantics (IPVS keeps connections of deleted services and dests until they time out).
 */
import { isTapvsError, TapvsError } from '../errors.js';
import { Ipvs } from '../ipvs/ipvs.js';
import { createScheduler } from '../ipvs/sched/registry.js';
import { ConnListing, listLaddrs, listServices } from './listing.js';
import type { Command, Op, Request } from './protocol.js';
import { type DirectorLinks, RuleEditor } from './rule-editor.js';
import type { RequestContext } from './server.js';
import type { SyncDaemonControl, SyncDaemonSettings, SyncRole } from './sync-daemon-control.js';

export interface DispatchHooks {
  /** Packet tracing lives in the daemon (it owns the dataplane). */
  trace?: (req: Request, ctx: RequestContext | null) => unknown;
  /** A service was added or its VIP may be new: announce it (gratuitous ARP). */
  servicesChanged?: () => void;
  /**
   * The rules (services, dests, their settings) changed: called once after each successful
   * request that changed them, and once after an apply that held such a command. Not for zeroed
   * counters or new timeouts.
   */
  rulesChanged?: () => void;
  status?: () => unknown;
  /** The connection sync daemons (the daemon owns them: they send and receive on its links). */
  syncDaemons?: SyncDaemonControl;
  /** The director's links, for the rules' checks that depend on them (direct routing, local addresses). */
  links?: DirectorLinks;
}

/** Requests that may bring a new VIP or local address: what servicesChanged (gratuitous ARP) reports. */
const SERVICE_OPS: ReadonlySet<Op> = new Set<Op>(['addService', 'editService', 'clear', 'addLaddr']);

/** Requests that change rules: what rulesChanged reports. */
const RULE_OPS: ReadonlySet<Op> = new Set<Op>([
  'addService',
  'editService',
  'deleteService',
  'clear',
  'addDest',
  'editDest',
  'deleteDest',
  'addLaddr',
  'deleteLaddr',
]);

export class ControlDispatcher {
  private readonly rules: RuleEditor;

  constructor(
    private readonly ipvs: Ipvs,
    private readonly hooks: DispatchHooks = {},
  ) {
    this.rules = new RuleEditor(ipvs, hooks.links ?? null);
  }

  handle(req: Request, ctx: RequestContext | null = null): unknown {
    if (req.op === 'traceStart' || req.op === 'traceStop' || req.op === 'traceStatus') {
      if (this.hooks.trace === undefined) throw new TapvsError('NOT_SUPPORTED', 'tracing is not available here');
      return this.hooks.trace(req, ctx);
    }
    if (req.op === 'startDaemon' || req.op === 'stopDaemon' || req.op === 'listDaemon') return this.daemonRequest(req);
    if (req.op === 'apply') {
      const cmds = (req as { commands?: unknown }).commands;
      if (!Array.isArray(cmds)) throw new TapvsError('PROTOCOL', 'apply: commands must be a list');
      this.dryRun(cmds as Command[]);
      for (const c of cmds as Command[]) this.exec(this.rules, c);
      if ((cmds as Command[]).some((c) => RULE_OPS.has(c.op))) this.hooks.rulesChanged?.();
      // Health checks apply dest changes at every transition: only new services are announced.
      if ((cmds as Command[]).some((c) => SERVICE_OPS.has(c.op))) this.hooks.servicesChanged?.();
      return { applied: cmds.length };
    }
    const r = this.exec(this.rules, req);
    if (RULE_OPS.has(req.op)) this.hooks.rulesChanged?.();
    if (SERVICE_OPS.has(req.op)) this.hooks.servicesChanged?.();
    return r;
  }

  /** --start-daemon, --stop-daemon, -L --daemon: checked here, whatever the client sent. */
  private daemonRequest(req: Request): unknown {
    const d = this.hooks.syncDaemons;
    if (d === undefined) throw new TapvsError('NOT_SUPPORTED', 'connection sync is not available here');
    if (req.op === 'listDaemon') return { daemons: d.list() };
    if (req.op === 'stopDaemon') {
      d.stop(checkRole((req as { role?: unknown }).role));
      return null;
    }
    d.start(checkDaemonSettings((req as { daemon?: unknown }).daemon));
    return null;
  }

  /** Runs the commands against a copy of the current rules; throws on the first failure. */
  private dryRun(cmds: Command[]): void {
    const scratch = new RuleEditor(copyRules(this.ipvs), this.hooks.links ?? null);
    for (let i = 0; i < cmds.length; i++) {
      try {
        if (cmds[i] === null || typeof cmds[i] !== 'object')
          throw new TapvsError('PROTOCOL', 'command is not an object');
        if ((cmds[i] as { op: string }).op === 'apply') throw new TapvsError('PROTOCOL', 'apply cannot be nested');
        this.exec(scratch, cmds[i]);
      } catch (e) {
        if (isTapvsError(e)) throw new TapvsError(e.code, `command ${i + 1}: ${e.message}`);
        throw e;
      }
    }
  }

  private exec(rules: RuleEditor, c: Command): unknown {
    switch (c.op) {
      case 'addService':
        rules.addService(c.service, c.config);
        return null;
      case 'editService':
        rules.editService(c.service, c.config);
        return null;
      case 'deleteService':
        rules.deleteService(c.service);
        return null;
      case 'clear':
        rules.clear();
        return null;
      case 'addDest':
        rules.addDest(c.service, c.dest, c.config);
        return null;
      case 'editDest':
        rules.editDest(c.service, c.dest, c.config);
        return null;
      case 'deleteDest':
        rules.deleteDest(c.service, c.dest);
        return null;
      case 'zero':
        rules.zero(c.service ?? null);
        return null;
      case 'addLaddr':
        rules.addLaddr(c.service, c.laddr);
        return null;
      case 'deleteLaddr':
        rules.deleteLaddr(c.service, c.laddr);
        return null;
      case 'listLaddrs': {
        const key = c.service ?? null;
        return listLaddrs(key === null ? rules.ipvs.services : [rules.service(key, 'No such service')]);
      }
      case 'setTimeouts':
        rules.setTimeouts(c.timeouts);
        return null;
      case 'getTimeouts':
        return rules.ipvs.timeouts.get();
      case 'list': {
        const key = c.service ?? null;
        return listServices(rules.ipvs, key === null ? rules.ipvs.services : [rules.service(key, 'No such service')]);
      }
      case 'listConns':
        // In slices: the server streams it (streamed.ts); JSON.stringify() gives the whole list.
        return new ConnListing(rules.ipvs);
      case 'status':
        return this.hooks.status?.() ?? {};
      case 'apply':
        throw new TapvsError('PROTOCOL', 'apply cannot be nested');
      case 'traceStart':
      case 'traceStop':
      case 'traceStatus':
        throw new TapvsError('PROTOCOL', 'trace commands cannot be part of apply');
      case 'startDaemon':
      case 'stopDaemon':
      case 'listDaemon':
        throw new TapvsError('PROTOCOL', 'daemon commands cannot be part of apply');
      default:
        throw new TapvsError('PROTOCOL', `unknown op ${JSON.stringify((c as { op: unknown }).op)}`);
    }
  }
}

/**
 * A scratch model with the same services and dests, in the same order, each with a scheduler of
 * its own (a dry run must not move the real schedulers' state). Connections and counters are not
 * copied: no rule check depends on them.
 */
function copyRules(from: Ipvs): Ipvs {
  const to = new Ipvs({ maxConns: 16 });
  for (const s of from.services) {
    const copy = to.addService(s.proto, s.addr, s.port, {
      scheduler: createScheduler(s.scheduler.name, { flags: s.schedFlags }),
      schedFlags: s.schedFlags,
      persistent: s.persistent,
      timeoutS: s.timeoutS,
      netmask: s.netmask,
      ops: s.ops,
      proxyProtocol: s.proxyProtocol,
    });
    // Dests are kept newest first; adding oldest first rebuilds the same order.
    for (let i = s.dests.length - 1; i >= 0; i--) {
      const d = s.dests[i];
      to.addDest(copy, d.addr, d.port, {
        weight: d.weight,
        uThreshold: d.uThreshold,
        lThreshold: d.lThreshold,
        fwd: d.fwd,
        tunType: d.tunType,
        tunPort: d.tunPort,
        tunFlags: d.tunFlags,
      });
    }
    for (let i = 0; i < s.laddrs.addrs.length; i++) to.addLaddr(copy, s.laddrs.addrs[i], s.laddrs.links[i]);
  }
  return to;
}

function checkRole(role: unknown): SyncRole {
  if (role !== 'master' && role !== 'backup')
    throw new TapvsError('BAD_ARGUMENT', 'daemon role must be master or backup');
  return role;
}

/** A hostile client can send anything: every field's type and range. */
function checkDaemonSettings(v: unknown): SyncDaemonSettings {
  if (v === null || typeof v !== 'object') throw new TapvsError('PROTOCOL', 'startDaemon: daemon must be an object');
  const o = v as Record<string, unknown>;
  const int = (k: string, max: number): number => {
    const n = o[k];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max)
      throw new TapvsError('BAD_ARGUMENT', `startDaemon: ${k} must be an integer 0..${max}`);
    return n;
  };
  if (typeof o.mcastInterface !== 'string')
    throw new TapvsError('BAD_ARGUMENT', 'startDaemon: mcastInterface must be a link name');
  // No link can have such a name: what the kernel answers then (dev_get_by_name() finds nothing).
  if (!isLinkName(o.mcastInterface)) throw new TapvsError('NO_DEVICE', 'No such device');
  const group = o.group;
  if (typeof group !== 'number' || !Number.isInteger(group) || group < -(2 ** 31) || group >= 2 ** 31)
    throw new TapvsError('BAD_ARGUMENT', 'startDaemon: group must be an int32 IPv4 address');
  if (group !== 0 && group >>> 28 !== 0xe) throw new TapvsError('BAD_ARGUMENT', 'startDaemon: group must be multicast');
  return {
    role: checkRole(o.role),
    mcastInterface: o.mcastInterface,
    syncid: int('syncid', 255),
    maxlen: int('maxlen', 65507),
    group,
    port: int('port', 65535),
    ttl: int('ttl', 255),
  };
}

/**
 * A name Linux would take for a device (dev_valid_name(): 1..15 bytes, not `.` or `..`, no `/`,
 * `:` or white space); printable ASCII only, since the name is echoed in listings.
 */
function isLinkName(name: string): boolean {
  return /^[!-~]{1,15}$/.test(name) && name !== '.' && name !== '..' && !/[/:]/.test(name);
}
