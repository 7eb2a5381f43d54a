/**
 * The rules format of `ipvsadm -S` / `ipvsadm -R`, read by `tapvsadm -R` and `tapvsd --rules`
 * (ipvsadm's config_stream.c).
 *
 * Each line is split on spaces, tabs and CR; every token `ipvsadm` (and `tapvsadm`) is dropped;
 * a line left without tokens is skipped; the rest is parsed exactly like a tapvsadm command
 * line. Only commands that change rules are allowed (-A -E -D -C -a -e -d -Z --set, and DPVS's -P -Q).
 *
 * Differences from ipvsadm -R, on purpose:
 * - a line whose first non-blank character is '#' is a comment (ipvsadm -R would stop with the
 *   "Try" line; the ipvsadm-restore script strips such lines before piping, so files written for
 *   it keep working). A '#' later in a line is still an error, as in ipvsadm.
 * - the result is all or nothing: the first bad line rejects the whole file, and tapvsd applies
 *   the commands as one atomic `apply`. ipvsadm applies the lines before an error.
 * - -L, -S, -h and -v lines are refused: they change nothing and print instead.
 */
import { TapvsError } from '../errors.js';
import { type ParseOptions, parseArgs } from './ipvsadm-args.js';
import type { Command } from './protocol.js';

export interface RuleLine {
  /** 1-based line number in the text. */
  line: number;
  request: Command;
}

export type RulesResult =
  | { ok: true; rules: RuleLine[] }
  | { ok: false; line: number; message: string; exitCode: number };

/** Splits one line into tokens as config_stream.c does, without the program-name tokens. */
export function tokenizeRuleLine(text: string): string[] {
  return text.split(/[ \t\r]+/).filter((t) => t !== '' && t !== 'ipvsadm' && t !== 'tapvsadm');
}

/**
 * Parses rules text; on the first bad line reports its number, ipvsadm's message for it and the
 * exit status ipvsadm would have used (2 for a validation error, 255 for the "Try" line or a
 * popt error).
 */
export function parseRulesDetailed(text: string, options: ParseOptions = {}): RulesResult {
  const rules: RuleLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    if (/^[ \t\r]*#/.test(lines[i])) continue;
    const tokens = tokenizeRuleLine(lines[i]);
    if (tokens.length === 0) continue;
    const p = parseArgs(tokens, { ...options, inRules: true });
    switch (p.kind) {
      case 'request':
        rules.push({ line, request: p.request });
        break;
      case 'error':
        return { ok: false, line, message: p.message, exitCode: p.exitCode };
      case 'list':
      case 'save':
      case 'help':
      case 'version':
      case 'restore':
        return {
          ok: false,
          line,
          exitCode: 2,
          message: `only commands that change rules belong in a rules file (-A -E -D -C -a -e -d -Z -P -Q --set), not ${tokens[0]}`,
        };
    }
  }
  return { ok: true, rules };
}

/** parseRulesDetailed, throwing TapvsError('RULES_SYNTAX', 'line N: <message>') on a bad line. */
export function parseRules(text: string, options: ParseOptions = {}): RuleLine[] {
  const r = parseRulesDetailed(text, options);
  if (!r.ok) throw new TapvsError('RULES_SYNTAX', `line ${r.line}: ${r.message}`);
  return r.rules;
}
