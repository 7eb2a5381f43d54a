/**
 * The block tree of a keepalived.conf: statements (a keyword and its arguments) and the
 * `{ … }` blocks that follow them, with the file and line of each. Built from the lexer's lines
 * without knowing any keyword, so it serves every part of the file: the LVS part (lvs.ts) now,
 * the VRRP part later. A block may open in one file and close in an included one, as in
 * keepalived, since includes are read in place.
 *
 * A `{` belongs to the statement just before it (same line or the next). Brace problems are
 * errors: an unexpected `{` (its block is read but belongs to nothing), an extra `}`, and a block
 * left open at the end of the configuration (reported where it was opened). keepalived logs the
 * same three and reads on, but then attaches the following lines to the wrong blocks.
 */
import type { DiagnosticSink } from './diagnostics.js';
import type { LexedLine } from './lexer.js';
import type { SourceRef } from './lvs-config.js';

export interface ConfStatement {
  readonly keyword: string;
  readonly args: readonly string[];
  /** The statement's text as read (script keywords split it their own way). */
  readonly text: string;
  readonly at: SourceRef;
  /** The statements of the `{ … }` block after this one, or null when it has none. */
  readonly block: readonly ConfStatement[] | null;
}

interface MutableStatement {
  keyword: string;
  args: readonly string[];
  text: string;
  at: SourceRef;
  block: MutableStatement[] | null;
}

interface OpenBlock {
  readonly list: MutableStatement[];
  readonly owner: MutableStatement | null;
  readonly at: SourceRef;
}

export function buildBlocks(lines: readonly LexedLine[], diags: DiagnosticSink): ConfStatement[] {
  const root: MutableStatement[] = [];
  const open: OpenBlock[] = [{ list: root, owner: null, at: { file: '', line: 0 } }];
  let previous: MutableStatement | null = null;
  for (const line of lines) {
    if (line.text === '{') {
      if (previous !== null && previous.block === null) {
        previous.block = [];
        open.push({ list: previous.block, owner: previous, at: line.at });
      } else {
        diags.error(line.at, "unexpected '{': it follows no statement");
        open.push({ list: [], owner: null, at: line.at });
      }
      previous = null;
      continue;
    }
    if (line.text === '}') {
      if (open.length > 1) open.pop();
      else diags.error(line.at, "extra '}'");
      previous = null;
      continue;
    }
    const st: MutableStatement = {
      keyword: line.words[0],
      args: line.words.slice(1),
      text: line.text,
      at: line.at,
      block: null,
    };
    open[open.length - 1].list.push(st);
    previous = st;
  }
  for (let i = open.length - 1; i > 0; i--) {
    const b = open[i];
    const what = b.owner === null ? "'{'" : `'${b.owner.keyword}' block`;
    diags.error(b.at, `${what} opened here is never closed: missing '}'`);
  }
  return root;
}
