/**
 * Reads a keepalived.conf and the files it includes into a flat list of lines, each one
 * statement's words or a single `{` or `}`, with the file and line it came from. This is
 * keepalived's read_line() (lib/parser.c) without the keyword knowledge: blocks are built from
 * these lines by blocks.ts, their meaning is lvs.ts's.
 *
 * Per source line, in keepalived's order: end-of-line characters go; a line with a NUL byte or
 * longer than 1023 bytes is dropped (an error); comments go (line-text.ts); while a multi-line
 * `$NAME=` definition is open the line is added to it; otherwise, repeatedly:
 * - `@ID rest` keeps `rest` only when ID is one of the active tags (`@^ID`: when it is not);
 *   a line that is only `@ID` is dropped;
 * - `$NAME=VALUE` defines a parameter (definitions.ts);
 * - `~SEQ(…)`/`~LST(…)` generate lines (generators.ts), read next;
 * - other parameters are replaced, comments stripped again, and a line that now starts with
 *   `@` or still holds `$` goes round again (so `$X=@main` then `$X priority 240` works, as
 *   keepalived.conf(5) documents);
 * then `include[r|m|w|b|a] PATTERN` reads the matching files in its place (include-glob.ts),
 * and any other line is split at braces and into words.
 *
 * Include strictness (keepalived's plain `include` only logs missing files, `includew` and
 * `includea` refuse wildcards that match nothing): a name without wildcards that does not exist
 * is always an error here, because the operator named that file and expects it read; a wildcard
 * matching nothing is a warning, an error for includew/includea. A file keepalived would skip
 * (a directory named explicitly, an executable or non-regular file) is an error: keepalived
 * would drop its content, which is not what the operator wrote it for.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Definition, Definitions } from './definitions.js';
import type { DiagnosticSink } from './diagnostics.js';
import { expandGenerator, type GeneratedLine, isGenerator } from './generators.js';
import { expandInclude, hasWildcard } from './include-glob.js';
import { decomment, MAX_LINE_BYTES, splitBraces, splitWords } from './line-text.js';
import type { SourceRef } from './lvs-config.js';

export interface LexedLine {
  /** A statement's words (quotes removed), or the single word `{` or `}`. */
  readonly words: readonly string[];
  /** The statement's text after comments, parameters and brace splitting (script keywords re-read it). */
  readonly text: string;
  readonly at: SourceRef;
}

export interface LexOptions {
  /** Active `@ID` tags; the first one is also `${_INSTANCE}`. */
  readonly tags: readonly string[];
  /** For `${_RANDOM}`; Math.random when absent. */
  readonly random?: () => number;
}

export interface Lexed {
  readonly lines: LexedLine[];
  /** Every file read, in reading order (the main one first). */
  readonly files: string[];
}

/** A file including itself (directly or not) would never end: stop at this depth. */
const MAX_INCLUDE_DEPTH = 32;
/**
 * Lines read in all, from files and generators: nested generators multiply (~SEQ in ~SEQ) and so
 * do globs that include each other, and a reload must end. Far more than any real configuration.
 */
export const MAX_LINES_READ = 65_536;
/** Rounds of conditionals and parameters on one line before giving up (a loop such as `$A=@x $A`). */
const MAX_REWRITES = 64;

interface FileSource {
  readonly kind: 'file';
  readonly path: string;
  readonly dir: string;
  readonly lines: string[];
  next: number;
  readonly depth: number;
}

interface QueuedLine {
  readonly text: string;
  readonly at: SourceRef;
  readonly dir: string;
  readonly bindings: GeneratedLine['bindings'];
}

interface QueueSource {
  readonly kind: 'queue';
  readonly items: QueuedLine[];
  next: number;
}

type Source = FileSource | QueueSource;

export function lexKeepalivedFile(path: string, diags: DiagnosticSink, opts: LexOptions): Lexed {
  return new Lexer(diags, opts).run(path);
}

class Lexer {
  private readonly lines: LexedLine[] = [];
  private readonly files: string[] = [];
  private readonly stack: Source[] = [];
  private readonly defs: Definitions;
  private openDefinition: Definition | null = null;
  /** File contents by path: a file included again (or by a loop) is read from disk once. */
  private readonly texts = new Map<string, string>();

  constructor(
    private readonly diags: DiagnosticSink,
    private readonly opts: LexOptions,
  ) {
    this.defs = new Definitions({ instance: opts.tags[0] ?? '', random: opts.random ?? Math.random });
  }

  run(path: string): Lexed {
    const main = this.mainFile(path);
    const src = main === null ? null : this.openFile(main, { file: path, line: 0 }, 0, true);
    if (src !== null) this.stack.push(src);
    let budget = MAX_LINES_READ;
    while (this.stack.length > 0) {
      const src = this.stack[this.stack.length - 1];
      if (--budget < 0) {
        const at =
          src.kind === 'file'
            ? { file: src.path, line: src.next }
            : (src.items[src.next]?.at ?? { file: path, line: 0 });
        this.diags.error(
          at,
          `more than ${MAX_LINES_READ} lines to read (do generators or includes multiply?): reading stopped`,
        );
        break;
      }
      if (src.kind === 'file') this.readFileLine(src);
      else this.readQueuedLine(src);
    }
    return { lines: this.lines, files: this.files };
  }

  /** keepalived takes the main file as a glob too, starting with the first match. */
  private mainFile(path: string): string | null {
    if (!hasWildcard(path)) return path;
    const m = expandInclude(path, '.');
    if (m.paths.length === 0) {
      this.diags.error({ file: path, line: 0 }, 'no configuration file matches');
      return null;
    }
    if (m.paths.length > 1) {
      this.diags.warning({ file: path, line: 0 }, `several files match: reading ${m.paths[0]} only`);
    }
    return m.paths[0];
  }

  private readFileLine(src: FileSource): void {
    // Files are listed in reading order, which is not the order a glob opens them in.
    if (src.next === 0 && !this.files.includes(src.path)) this.files.push(src.path);
    if (src.next >= src.lines.length) {
      this.stack.pop();
      return;
    }
    const raw = src.lines[src.next].replace(/[\r\n]+$/, '');
    const at = { file: src.path, line: ++src.next };
    if (raw.includes('\0')) {
      this.diags.error(at, 'line holds a NUL byte: ignored (as keepalived does)');
      return;
    }
    if (Buffer.byteLength(raw) > MAX_LINE_BYTES) {
      this.diags.error(at, `line longer than ${MAX_LINE_BYTES} bytes: ignored (as keepalived does)`);
      return;
    }
    const open = this.openDefinition;
    if (open !== null) {
      // An empty line ends a multi-line definition; a line holding only a comment does not.
      const text = raw === '' ? '' : decomment(raw).text;
      if (raw !== '' && text === '') return;
      if (!this.defs.continueDefinition(open, text)) this.openDefinition = null;
      return;
    }
    const d = decomment(raw);
    if (d.unterminatedQuote) this.diags.error(at, 'unterminated quote');
    if (d.text !== '') this.process(d.text, at, src.dir, d.unterminatedQuote);
  }

  private readQueuedLine(src: QueueSource): void {
    if (src.next >= src.items.length) {
      this.stack.pop();
      return;
    }
    const item = src.items[src.next++];
    for (const [name, value] of item.bindings) this.defs.set(name, value);
    const open = this.openDefinition;
    if (open !== null) {
      if (!this.defs.continueDefinition(open, item.text)) this.openDefinition = null;
      return;
    }
    if (item.text !== '') this.process(item.text, item.at, item.dir, false);
  }

  /** One logical line: conditionals, definitions, generators, parameters, then include or output. */
  private process(text: string, at: SourceRef, dir: string, quoteReported: boolean): void {
    let s = text;
    let following: string[] = [];
    for (let round = 0; ; round++) {
      if (round >= MAX_REWRITES) {
        this.diags.error(at, 'conditionals and parameters keep rewriting this line: ignored');
        return;
      }
      if (s.startsWith('@')) {
        const kept = this.conditional(s);
        if (kept === null) return;
        s = kept;
      }
      if (s.startsWith('$')) {
        const def = this.defs.define(s);
        if (def !== null) {
          if (def.multiline) this.openDefinition = def;
          return;
        }
      }
      if (isGenerator(s)) {
        this.generate(s, at, dir);
        return;
      }
      if (s.startsWith('~') || !s.includes('$')) break;
      const r = this.defs.substitute(s, resolve(dir));
      if (r.error !== null) {
        this.diags.error(at, `${r.error}: line ignored`);
        return;
      }
      if (!r.changed) break;
      following = r.followingLines.concat(following);
      s = decomment(r.text).text;
      if (!s.startsWith('@') && !s.includes('$')) break;
    }
    if (s !== '') this.emit(s, at, dir, quoteReported);
    if (following.length > 0) {
      this.stack.push({
        kind: 'queue',
        items: following.map((t) => ({ text: t, at, dir, bindings: [] })),
        next: 0,
      });
    }
  }

  /** `@ID rest` / `@^ID rest`: the rest when the condition holds, else null (line dropped). */
  private conditional(s: string): string | null {
    const negated = s[1] === '^';
    const from = negated ? 2 : 1;
    const blank = s.slice(from).search(/[ \t]/);
    if (blank < 0) return null;
    const active = this.opts.tags.includes(s.slice(from, from + blank));
    if (active === negated) return null;
    return s.slice(from + blank).replace(/^[ \t]+/, '');
  }

  private generate(s: string, at: SourceRef, dir: string): void {
    const g = expandGenerator(s, (x) => this.defs.substitute(x, resolve(dir)).text);
    if (!g.ok) {
      this.diags.error(at, g.error);
      return;
    }
    const items = g.lines.map((l) => ({ text: l.text, at, dir, bindings: l.bindings }));
    this.stack.push({ kind: 'queue', items, next: 0 });
  }

  private emit(s: string, at: SourceRef, dir: string, quoteReported: boolean): void {
    const inc = /^include([rmwba]?)[ \t]+(.*)$/s.exec(s);
    if (inc !== null) {
      this.include(inc[1], inc[2].trim(), at, dir);
      return;
    }
    if (s === 'include' || /^include[rmwba]?$/.test(s)) {
      this.diags.error(at, 'include names no file');
      return;
    }
    let reported = quoteReported;
    for (const piece of splitBraces(s)) {
      const w = splitWords(piece);
      if (w.unmatchedQuote && !reported) {
        this.diags.error(at, 'unmatched quote: the words after it are lost');
        reported = true;
      }
      if (w.words.length > 0) this.lines.push({ words: w.words, text: piece, at });
    }
  }

  private include(variant: string, pattern: string, at: SourceRef, dir: string): void {
    const depth = this.fileDepth() + 1;
    if (depth > MAX_INCLUDE_DEPTH) {
      this.diags.error(at, `includes nested deeper than ${MAX_INCLUDE_DEPTH} (does a file include itself?)`);
      return;
    }
    const m = expandInclude(pattern, dir);
    for (const f of m.missing) this.diags.error(at, `include: ${f}: no such file`);
    for (const p of m.unmatched) {
      const message = `include: no file matches ${p}`;
      if (variant === 'w' || variant === 'a') this.diags.error(at, message);
      else this.diags.warning(at, message);
    }
    const wildcard = hasWildcard(pattern);
    const sources: FileSource[] = [];
    for (const p of m.paths) {
      const src = this.includable(p, at, wildcard, `include: ${p}`) ? this.openFile(p, at, depth, false) : null;
      if (src !== null) sources.push(src);
    }
    // The stack is read from its top: push the last match first.
    for (let i = sources.length - 1; i >= 0; i--) this.stack.push(sources[i]);
  }

  private fileDepth(): number {
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const s = this.stack[i];
      if (s.kind === 'file') return s.depth;
    }
    return 0;
  }

  /** keepalived reads only regular files without any execute bit (check_glob_file()). */
  private includable(path: string, at: SourceRef, viaWildcard: boolean, what: string): boolean {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch (e) {
      this.diags.error(at, `${what}: ${fsProblem(e)}`);
      return false;
    }
    if (st.isDirectory()) {
      if (viaWildcard) this.diags.warning(at, `${what} is a directory: skipped`);
      else this.diags.error(at, `${what} is a directory`);
      return false;
    }
    if (!st.isFile()) {
      this.diags.error(at, `${what} is not a regular file (keepalived skips it)`);
      return false;
    }
    if ((st.mode & 0o111) !== 0) {
      this.diags.error(at, `${what} is executable (keepalived skips such files): remove its execute bits`);
      return false;
    }
    return true;
  }

  /** Reads a file whole; null after reporting why it cannot be read. */
  private openFile(path: string, at: SourceRef, depth: number, isMain: boolean): FileSource | null {
    const what = isMain ? 'configuration file' : `include: ${path}`;
    if (isMain && !this.includable(path, at, false, what)) return null;
    let text = this.texts.get(path);
    if (text === undefined) {
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        this.diags.error(at, `${what}: ${fsProblem(e)}`);
        return null;
      }
      this.texts.set(path, text);
    }
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return { kind: 'file', path, dir: dirname(path), lines, next: 0, depth };
  }
}

/** The reason a file could not be used, in words: "no such file", "permission denied". */
function fsProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (e as Error).message;
}
