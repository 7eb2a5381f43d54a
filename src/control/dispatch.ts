/**
 * Applies control requests to the IPVS model. The only place where requests touch the model,
 * so tapvsadm, the rules file and tests all go through the same validation.
 *
 * `apply` (rules file, tapvsadm -R) is all-or-nothing: the commands first run against a scratch
 * model rebuilt from the current rules (a dry run); only if every command succeeds there are they
 * applied for real. A failure names the command's position (1-based) and leaves the rules as
 * they were. Connections are never touched by a rule change except through the rules' own
 * semantics (IPVS keeps connections of deleted services and dests until they time out).
 */
import { TapvsError, isTapvsError } from '../errors.js';
import { Ipvs } from '../ipvs/ipvs.js';
import type { Command, Request, ServiceInfo } from './protocol.js';
import type { RequestContext } from './server.js';

export interface DispatchHooks {
  /** Packet tracing lives in the daemon (it owns the dataplane). */
  trace?: (req: Request, ctx: RequestContext | null) => unknown;
  /** A service was added or its VIP may be new: announce it (gratuitous ARP). */
  servicesChanged?: () => void;
  status?: () => unknown;
}

export class ControlDispatcher {
  constructor(private readonly ipvs: Ipvs, private readonly hooks: DispatchHooks = {}) {}

  handle(req: Request, ctx: RequestContext | null = null): unknown {
    if (req.op === 'traceStart' || req.op === 'traceStop' || req.op === 'traceStatus') {
      if (this.hooks.trace === undefined) throw new TapvsError('NOT_SUPPORTED', 'tracing is not available here');
      return this.hooks.trace(req, ctx);
    }
    if (req.op === 'apply') {
      const cmds = (req as { commands?: unknown }).commands;
      if (!Array.isArray(cmds)) throw new TapvsError('PROTOCOL', 'apply: commands must be a list');
      this.dryRun(cmds as Command[]);
      for (const c of cmds as Command[]) this.exec(this.ipvs, c);
      this.hooks.servicesChanged?.();
      return { applied: cmds.length };
    }
    const r = this.exec(this.ipvs, req);
    if (req.op === 'addService' || req.op === 'editService' || req.op === 'clear') this.hooks.servicesChanged?.();
    return r;
  }

  /** Runs the commands against a copy of the current rules; throws on the first failure. */
  private dryRun(cmds: Command[]): void {
    const scratch = new Ipvs({ maxConns: 16 });
    for (const s of this.ipvs.list(null).services) replay(scratch, s);
    for (let i = 0; i < cmds.length; i++) {
      try {
        if (cmds[i] === null || typeof cmds[i] !== 'object') throw new TapvsError('PROTOCOL', 'command is not an object');
        if ((cmds[i] as { op: string }).op === 'apply') throw new TapvsError('PROTOCOL', 'apply cannot be nested');
        this.exec(scratch, cmds[i]);
      } catch (e) {
        if (isTapvsError(e)) throw new TapvsError(e.code, `command ${i + 1}: ${e.message}`);
        throw e;
      }
    }
  }

  private exec(ipvs: Ipvs, c: Command): unknown {
    switch (c.op) {
      case 'addService': ipvs.addService(c.service, c.config); return null;
      case 'editService': ipvs.editService(c.service, c.config); return null;
      case 'deleteService': ipvs.deleteService(c.service); return null;
      case 'clear': ipvs.clear(); return null;
      case 'addDest': ipvs.addDest(c.service, c.dest, c.config); return null;
      case 'editDest': ipvs.editDest(c.service, c.dest, c.config); return null;
      case 'deleteDest': ipvs.deleteDest(c.service, c.dest); return null;
      case 'zero': ipvs.zero(c.service ?? null); return null;
      case 'setTimeouts': ipvs.setTimeouts(c.timeouts); return null;
      case 'getTimeouts': return ipvs.getTimeouts();
      case 'list': return ipvs.list(c.service ?? null);
      case 'listConns': return ipvs.listConns(Date.now());
      case 'status': return this.hooks.status?.() ?? {};
      case 'apply': throw new TapvsError('PROTOCOL', 'apply cannot be nested');
      case 'traceStart': case 'traceStop': case 'traceStatus':
        throw new TapvsError('PROTOCOL', 'trace commands cannot be part of apply');
      default:
        throw new TapvsError('PROTOCOL', `unknown op ${JSON.stringify((c as { op: unknown }).op)}`);
    }
  }
}

function replay(ipvs: Ipvs, s: ServiceInfo): void {
  ipvs.addService(s.service, s.config);
  // dests are listed newest first; re-add oldest first to rebuild the same order.
  for (let i = s.dests.length - 1; i >= 0; i--) {
    const d = s.dests[i];
    ipvs.addDest(s.service, { addr: d.addr, port: d.port },
      { fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold });
  }
}
