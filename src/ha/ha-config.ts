/**
 * The two-director part of a keepalived.conf (vrrp_instance, vrrp_sync_group, lvs_sync_daemon),
 * read before any device exists and checked against tapvsd's links: an instance's `interface`, a
 * virtual address's `dev` and lvs_sync_daemon's interface name `--link` names. With `--rules` the
 * keepalived.conf may hold only this part: the virtual servers come from one place.
 */
import { resolve } from 'node:path';
import type { Diagnostic } from '../keepalived/lvs-config.js';
import { formatDiagnostics, readKeepalivedConf } from '../keepalived/reader.js';
import type { VrrpConfig } from '../vrrp/vrrp-config.js';

export const NO_VRRP: VrrpConfig = { instances: [], syncGroups: [], lvsSyncDaemon: null };

/** A keepalived.conf whose VRRP part cannot run here: every problem as FILE:LINE: error: message. */
export class HaConfigError extends Error {}

/**
 * Reads `file`'s VRRP part. `virtualServersElsewhere`: the rules come from --rules, so the file
 * must not define virtual servers. Throws HaConfigError.
 */
export function readHaConfig(
  file: string,
  links: readonly string[],
  virtualServersElsewhere: boolean,
  opts: { checkLinks: boolean } = { checkLinks: true },
): VrrpConfig {
  const path = resolve(file);
  const conf = readKeepalivedConf(path);
  const problems: Diagnostic[] = conf.diagnostics.filter((d) => d.severity === 'error');
  if (virtualServersElsewhere) {
    for (const vs of conf.virtualServers) {
      problems.push({
        file: vs.at.file,
        line: vs.at.line,
        severity: 'error',
        message:
          'virtual_server with --rules: give the virtual servers in one place (the rules file or keepalived.conf)',
      });
    }
  }
  const vrrp = conf.vrrp;
  const linkProblem = (at: { file: string; line: number }, what: string, link: string): void => {
    if (opts.checkLinks && !links.includes(link))
      problems.push({
        file: at.file,
        line: at.line,
        severity: 'error',
        message: `${what} '${link}' is not a tapvsd link (--link name=...: ${links.join(', ')})`,
      });
  };
  for (const inst of vrrp.instances) {
    linkProblem(inst, `vrrp_instance ${inst.name}: interface`, inst.link);
    for (const a of inst.virtualAddresses)
      if (a.link !== inst.link) linkProblem(inst, `vrrp_instance ${inst.name}: dev`, a.link);
  }
  if (vrrp.lvsSyncDaemon !== null)
    linkProblem(vrrp.lvsSyncDaemon, 'lvs_sync_daemon: interface', vrrp.lvsSyncDaemon.link);
  if (problems.length > 0) throw new HaConfigError(formatDiagnostics(problems));
  return vrrp;
}

/** `--config-test` of the VRRP part when the rules come from --rules: prints the problems, returns 0 or 1. */
export function testHaConfig(file: string): number {
  try {
    readHaConfig(file, [], true, { checkLinks: false });
    process.stdout.write(`${resolve(file)}: VRRP configuration OK\n`);
    return 0;
  } catch (e) {
    process.stdout.write(`${(e as Error).message.trimEnd()}\n`);
    return 1;
  }
}
