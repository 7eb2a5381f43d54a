/**
 * Walks the statements of one block against a keyword table, keepalived-style
 * (lib/parser.c process_stream() matches keywords exactly, case-sensitively):
 * - a keyword tapvs acts on goes to its handler;
 * - a keepalived keyword tapvs cannot honour is an error saying why;
 * - a keepalived keyword tapvs reads but does not act on is one warning ("not used by tapvs");
 * - anything else is an error. keepalived only logs an unknown keyword, but then reads the
 *   lines of its block as keywords of the enclosing block and closes that block early at its
 *   `}`, so the rest of the virtual server is lost or misread: the configuration would not do
 *   what was written.
 */
import type { ConfStatement } from './blocks.js';
import type { DiagnosticSink } from './diagnostics.js';
import { extraWords } from './values.js';

export type Handler = (st: ConfStatement) => void;

export interface KeywordTable {
  /** Keywords tapvs acts on. */
  readonly handlers: ReadonlyMap<string, Handler>;
  /** Keywords whose handler reads a `{ … }` block: the others must not have one. */
  readonly blocks?: ReadonlySet<string>;
  /** keepalived keywords tapvs ignores, with why (appended to "not used by tapvs"). */
  readonly unused?: ReadonlyMap<string, string>;
  /** keepalived keywords tapvs cannot honour, with why: errors, with or without a block. */
  readonly refused?: ReadonlyMap<string, string>;
  /** Keywords keepalived does not accept here, with advice (appended to the error). */
  readonly hints?: ReadonlyMap<string, string>;
}

export function walkBlock(
  statements: readonly ConfStatement[],
  table: KeywordTable,
  where: string,
  diags: DiagnosticSink,
): void {
  for (const st of statements) {
    const handler = table.handlers.get(st.keyword);
    if (handler !== undefined) {
      const wantsBlock = table.blocks?.has(st.keyword) ?? false;
      if (wantsBlock && st.block === null) {
        diags.error(st.at, `${st.keyword} needs a '{ … }' block`);
        continue;
      }
      if (!wantsBlock && st.block !== null) {
        diags.error(st.at, `${st.keyword} takes no '{ … }' block`);
        continue;
      }
      handler(st);
      continue;
    }
    const refused = table.refused?.get(st.keyword);
    if (refused !== undefined) {
      diags.error(st.at, `${st.keyword}: ${refused}`);
      continue;
    }
    const unused = table.unused?.get(st.keyword);
    if (unused !== undefined) {
      diags.warning(st.at, `${st.keyword}: not used by tapvs${unused === '' ? '' : ` (${unused})`}`);
      continue;
    }
    const hint = table.hints?.get(st.keyword);
    diags.error(st.at, `unknown keyword '${st.keyword}' in ${where}${hint === undefined ? '' : `: ${hint}`}`);
  }
}

/**
 * The handler of a one-value keyword: reads the value (the reader reports a bad one), warns
 * about words after it (keepalived ignores them), and stores it when it was read.
 */
export function field<T>(diags: DiagnosticSink, read: (st: ConfStatement) => T | null, set: (v: T) => void): Handler {
  return (st) => {
    const v = read(st);
    extraWords(st, diags, 1);
    if (v !== null) set(v);
  };
}

/** A setter of one property, for field(): `field(diags, read, into(draft, 'weight'))`. */
export function into<T extends object, K extends keyof T>(target: T, key: K): (v: T[K]) => void {
  return (v) => {
    target[key] = v;
  };
}
