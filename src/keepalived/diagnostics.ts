/**
 * Problems found while reading a keepalived.conf, each with the file and line it is about.
 * Errors mean the configuration must not be applied; warnings report what tapvs reads but does
 * not act on, and keepalived's own fix-ups. Nothing here throws: every reader collects into a
 * DiagnosticSink and carries on, so one run reports every problem (as `keepalived -t` does).
 *
 * `formatDiagnostics` is the `--config-test` output: `FILE:LINE: error|warning: message`, one
 * line per problem. A problem about a whole file (it cannot be read) has line 0 and prints as
 * `FILE: error: message`.
 */
import type { Diagnostic, SourceRef } from './lvs-config.js';

/**
 * Collects diagnostics; the same problem on the same line is kept once (a generated or included
 * line may repeat it many times).
 */
export class DiagnosticSink {
  private readonly items: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  error(at: SourceRef, message: string): void {
    this.add({ file: at.file, line: at.line, severity: 'error', message });
  }

  warning(at: SourceRef, message: string): void {
    this.add({ file: at.file, line: at.line, severity: 'warning', message });
  }

  private add(d: Diagnostic): void {
    const key = `${d.file}\0${d.line}\0${d.severity}\0${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(d);
  }

  get list(): readonly Diagnostic[] {
    return this.items;
  }
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/**
 * Diagnostics in file order (the order of `files`, main file first; files not listed after
 * them, in order of appearance), then by line; problems on one line keep the order they were
 * found in.
 */
export function sortDiagnostics(diags: readonly Diagnostic[], files: readonly string[]): Diagnostic[] {
  const rank = new Map<string, number>();
  for (const f of files) if (!rank.has(f)) rank.set(f, rank.size);
  for (const d of diags) if (!rank.has(d.file)) rank.set(d.file, rank.size);
  const indexed = diags.map((d, i) => ({ d, i }));
  indexed.sort((a, b) => {
    const byFile = (rank.get(a.d.file) ?? 0) - (rank.get(b.d.file) ?? 0);
    if (byFile !== 0) return byFile;
    return a.d.line - b.d.line || a.i - b.i;
  });
  return indexed.map((x) => x.d);
}

/**
 * One line per problem, `FILE:LINE: error|warning: message`, sorted by file (in order of first
 * appearance in `diags`) then line. Empty string when there is nothing to report.
 */
export function formatDiagnostics(diags: readonly Diagnostic[]): string {
  const lines = sortDiagnostics(diags, []).map((d) => {
    const where = d.line > 0 ? `${d.file}:${d.line}` : d.file;
    return `${where}: ${d.severity}: ${d.message.replace(/[\r\n]+/g, ' ')}`;
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
