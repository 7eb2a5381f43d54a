/**
 * Reading a keepalived.conf: the entry points tapvsd uses at start-up, for
 * `--keepalived FILE --config-test` and on SIGHUP, before anything is applied.
 *
 * - readKeepalivedConf(): the LVS and VRRP parts as tapvs acts on them, with every problem found (errors:
 *   do not apply; warnings: read but not acted on, or fixed up as keepalived fixes it up);
 * - readKeepalivedBlocks(): the whole file as a block tree with file:line (the VRRP part is
 *   there for the next issue), with the syntax problems only;
 * - formatDiagnostics(): the --config-test report, one `FILE:LINE: error|warning: message` line
 *   per problem, in file order then line order; exit status 0 when hasErrors() is false.
 *
 * Reading never throws on any input: the file's problems are diagnostics. Synchronous file
 * reads are deliberate (start-up, config test, reload: nothing else runs meanwhile).
 */
import { hostname } from 'node:os';
import type { VrrpConfig } from '../vrrp/vrrp-config.js';
import { buildBlocks, type ConfStatement } from './blocks.js';
import { DiagnosticSink, sortDiagnostics } from './diagnostics.js';
import { lexKeepalivedFile } from './lexer.js';
import { interpretLvs } from './lvs.js';
import type { Diagnostic, LvsConfig } from './lvs-config.js';
import { interpretVrrp } from './vrrp.js';

export type { ConfStatement } from './blocks.js';
export { formatDiagnostics, hasErrors } from './diagnostics.js';

export interface ReadOptions {
  /**
   * Active `@ID` conditionals; the first is also `${_INSTANCE}`. Default: the host name up to
   * its first dot, as keepalived's default config id.
   */
  readonly tags?: readonly string[];
}

export interface KeepalivedBlocks {
  /** Every file read, the main one first. */
  readonly files: readonly string[];
  readonly statements: readonly ConfStatement[];
  /** Syntax problems: files, includes, comments, quotes, parameters, braces. */
  readonly diagnostics: readonly Diagnostic[];
}

export function readKeepalivedBlocks(path: string, opts: ReadOptions = {}): KeepalivedBlocks {
  const diags = new DiagnosticSink();
  const { files, statements } = parse(path, opts, diags);
  return { files, statements, diagnostics: sortDiagnostics(diags.list, files) };
}

export function readKeepalivedConf(path: string, opts: ReadOptions = {}): LvsConfig {
  const diags = new DiagnosticSink();
  const { files, statements } = parse(path, opts, diags);
  let virtualServers: LvsConfig['virtualServers'] = [];
  let vrrp: VrrpConfig = { instances: [], syncGroups: [], lvsSyncDaemon: null };
  try {
    virtualServers = interpretLvs(statements, diags).virtualServers;
    vrrp = interpretVrrp(statements, diags);
  } catch (e) {
    internalError(path, e, diags);
  }
  return { files, virtualServers, vrrp, diagnostics: sortDiagnostics(diags.list, files) };
}

function parse(
  path: string,
  opts: ReadOptions,
  diags: DiagnosticSink,
): { files: string[]; statements: ConfStatement[] } {
  const tags = opts.tags ?? [hostname().split('.')[0]];
  try {
    const lexed = lexKeepalivedFile(path, diags, { tags });
    return { files: lexed.files, statements: buildBlocks(lexed.lines, diags) };
  } catch (e) {
    internalError(path, e, diags);
    return { files: [path], statements: [] };
  }
}

/**
 * A bug, not a problem of the file: still a diagnostic, so a reload refuses the file instead of
 * killing the daemon. Tests look for this message.
 */
function internalError(path: string, e: unknown, diags: DiagnosticSink): void {
  diags.error(
    { file: path, line: 0 },
    `internal error while reading (a tapvs bug): ${(e as Error)?.stack ?? String(e)}`,
  );
}
