/**
 * Reloading a rules file (`tapvsd --rules FILE`, SIGHUP): the file is read as at start, applied
 * to an empty scratch model (so it is validated exactly as tapvsadm's requests are), and the
 * table it yields is reached from the running one with the fewest commands, in one atomic
 * apply (rules-diff.ts). Unchanged services and dests keep their connections, counters and
 * scheduler state; services added by hand since (tapvsadm -A) stay; what the previous load of
 * the file made and the file no longer has goes: services, dests and full NAT local addresses
 * (-P lines). A file with any error changes nothing.
 */
import { Ipvs } from '../ipvs/ipvs.js';
import type { DesiredService } from './desired-table.js';
import { ControlDispatcher } from './dispatch.js';
import type { Command, DestConfig, ListResult } from './protocol.js';
import { diffRules } from './rules-diff.js';
import { parseRules } from './rules-file.js';

export interface RulesTable {
  /** The services and dests the file makes, in the order a restore adds them. */
  readonly desired: readonly DesiredService[];
  /** Its timeout settings (`--set`), applied as they are. */
  readonly timeouts: readonly Command[];
}

/** The table a rules file asks for; throws TapvsError (line and message) when it is not valid. */
export function rulesTable(text: string, file: string): RulesTable {
  const commands = parseRules(text).map((r) => r.request);
  const scratch = new Ipvs({ maxConns: 16 });
  new ControlDispatcher(scratch).handle({ id: 0, op: 'apply', commands });
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
