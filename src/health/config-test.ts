/**
 * keepalived -t for the LVS part of a configuration: what start() would refuse, found without
 * touching the running director. Beyond the reader's errors and configErrors(), the whole table
 * (every real server in, then every sorry server in) is applied to a scratch control plane, so
 * the schedulers, flags, weights, thresholds and addresses get tapvsadm's validation. With the
 * director's links (tapvsd's --link prefixes, known before any device exists) the checks that
 * depend on them run too: a DR real server must be a neighbour.
 */
import { ControlDispatcher } from '../control/dispatch.js';
import type { ListResult } from '../control/protocol.js';
import type { DirectorLinks } from '../control/rule-editor.js';
import { diffRules, refusal } from '../control/rules-diff.js';
import { Ipvs } from '../ipvs/ipvs.js';
import type { Diagnostic, LvsConfig } from '../keepalived/lvs-config.js';
import { configErrors } from './config-errors.js';
import { desiredRules } from './desired-rules.js';

export function configTest(config: LvsConfig, links: DirectorLinks | null = null): Diagnostic[] {
  const errors = configErrors(config);
  if (errors.length > 0) return errors;
  for (const sorryActive of [false, true]) {
    const views = config.virtualServers.map((cfg) => ({
      cfg,
      sorryActive: sorryActive && cfg.sorryServer !== null,
      realServers: cfg.realServers.map((rs) => ({ cfg: rs, alive: true, weight: rs.weight })),
    }));
    const scratch = new ControlDispatcher(new Ipvs({ maxConns: 16 }), links === null ? {} : { links });
    const empty = scratch.handle({ id: 0, op: 'list', service: null }) as ListResult;
    const planned = diffRules(desiredRules(views), [], empty);
    try {
      if (planned.length > 0) scratch.handle({ id: 0, op: 'apply', commands: planned.map((p) => p.command) });
    } catch (e) {
      return [refusal(e, planned)];
    }
  }
  return [];
}
