/**
 * Reloading a rules file (`tapvsd --rules FILE`, SIGHUP): the file is read as at start, applied
 * to an empty scratch model (so it is validated exactly as tapvsadm's requests are), and the
 * table it yields is reached from the running one with the fewest commands, in one atomic
 * apply (rules-diff.ts). Unchanged services and dests keep their connections, counters and
 * scheduler state; services added by hand since (tapvsadm -A) stay; what the previous load of
 * the file made and the file no longer has goes: services, dests and full NAT local addresses
 * (-P lines). A file with any error changes nothing.
 *
 * The scratch model gets the director's links (DirectorLinks) when the caller has them: tapvsd
 * passes its --link prefixes at start, before any device exists, so every error the real apply
 * could raise is found here and named by its line.
 */
import { isTapvsError, TapvsError } from '../errors.js';
import { Ipvs } from '../ipvs/ipvs.js';
import type { DesiredService } from './desired-table.js';
import { ControlDispatcher } from './dispatch.js';
import type { Command, DestConfig, ListResult } from './protocol.js';
import type { DirectorLinks } from './rule-editor.js';
import { diffRules } from './rules-diff.js';
import { parseRules } from './rules-file.js';

export interface RulesTable {
  /** The services and dests the file makes, in the order a restore adds them. */
  readonly desired: readonly DesiredService[];
  /** Its timeout settings (`--set`), applied as they are. */
  readonly timeouts: readonly Command[];
}

/**
 * The table a rules file asks for; throws TapvsError('line N: message') when it is not valid,
 * N being the file's line for a semantic error too (duplicate service, unknown scheduler, a dest
 * of no service, a direct-routing server off every link).
 */
export function rulesTable(text: string, file: string, links: DirectorLinks | null = null): RulesTable {
  const lines = parseRules(text);
  const commands = lines.map((r) => r.request);
  const scratch = new Ipvs({ maxConns: 16 });
  const hooks = links === null ? {} : { links };
  try {
    new ControlDispatcher(scratch, hooks).handle({ id: 0, op: 'apply', commands });
  } catch (e) {
    // The dispatcher names the command's position in the apply ("command N: ..."): one per line.
    const m = isTapvsError(e) ? /^command (\d+): (.*)$/s.exec(e.message) : null;
    const at = m === null ? undefined : lines[Number(m[1]) - 1];
    if (!isTapvsError(e) || m === null || at === undefined) throw e;
    throw new TapvsError(e.code, `line ${at.line}: ${m[2]}`);
  }
  const listed = new ControlDispatcher(scratch).handle({ id: 0, op: 'list', service: null }) as ListResult;
  const desired = listed.services.map(
    (s): DesiredService => ({
      service: s.service,
      config: s.config,
      // Listings show the newest dest first; adding them oldest first rebuilds the same order.
      dests: [...s.dests].reverse().map((d) => {
        const config: DestConfig = { fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold };
        if (d.tunnel !== undefined) config.tunnel = { ...d.tunnel };
        return { dest: { addr: d.addr, port: d.port }, config };
      }),
      laddrs: (s.laddrs ?? []).map((l) =>
        l.ifname === undefined ? { addr: l.addr } : { addr: l.addr, ifname: l.ifname },
      ),
      at: { file, line: 0 },
    }),
  );
  return { desired, timeouts: commands.filter((c) => c.op === 'setTimeouts') };
}

/**
 * The commands that turn the running table (`current`) into `next`, given the table the file
 * made last time (`previous`): one apply for the dispatcher.
 */
export function reloadCommands(next: RulesTable, previous: readonly DesiredService[], current: ListResult): Command[] {
  return [...diffRules(next.desired, previous, current).map((p) => p.command), ...next.timeouts];
}
