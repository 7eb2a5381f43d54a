/**
 * What stops a configuration from being applied by the engine: every error diagnostic of the
 * reader, and what only shows once virtual servers become IPVS services: two virtual servers (or
 * two members of groups) standing for the same service, or two with the same identity. Either
 * would make the engine fight itself over one service.
 */

import { canonicalAddr } from '../control/desired-table.js';
import type { Diagnostic, LvsConfig, SourceRef, VirtualServerConfig } from '../keepalived/lvs-config.js';

export function configErrors(config: LvsConfig): Diagnostic[] {
  const errors = config.diagnostics.filter((d) => d.severity === 'error');
  const keys = new Map<string, VirtualServerConfig>();
  const services = new Map<string, VirtualServerConfig>();
  for (const vs of config.virtualServers) {
    const sameKey = keys.get(vs.key);
    if (sameKey !== undefined)
      errors.push(error(vs.at, `virtual server ${vs.key} is also defined at ${where(sameKey)}`));
    else keys.set(vs.key, vs);
    for (const a of vs.addresses) {
      const id = `${vs.protocol} ${canonicalAddr(a.addr)}:${a.port}`;
      const first = services.get(id);
      if (first === undefined) services.set(id, vs);
      else if (first !== vs && sameKey === undefined)
        errors.push(error(vs.at, `virtual server ${vs.key}: service ${id} is also in ${first.key} at ${where(first)}`));
    }
  }
  return errors;
}

function error(at: SourceRef, message: string): Diagnostic {
  return { file: at.file, line: at.line, severity: 'error', message };
}

function where(vs: VirtualServerConfig): string {
  return `${vs.at.file}:${vs.at.line}`;
}
