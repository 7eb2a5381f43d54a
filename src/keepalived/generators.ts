/**
 * keepalived's line generators (lib/parser.c add_seq(), add_lst()):
 * - `~SEQ(VAR, END) TEXT`, `~SEQ(VAR, START, END) TEXT`, `~SEQ(VAR, START, STEP, END) TEXT`
 *   repeat TEXT with parameter VAR set to each number (C integer syntax: 10, 0x1f, 017). With
 *   one number the sequence starts at 1 (-1 for a negative END); without a step it counts
 *   towards END. `~SEQx` writes the numbers in lowercase hex (no negative numbers). The numbers
 *   may use parameters;
 * - `~LST(VAR, V1, V2, …) TEXT` repeats TEXT for each value; `~LST({A, B}, {1, 2}, {3, 4}) TEXT`
 *   sets several parameters per line (missing values are empty).
 * The generated lines are read as if written in the file, so they may hold generators too.
 *
 * This module only expands; the lexer sets the parameters and reads the lines.
 */

export interface GeneratedLine {
  /** Parameters to set before the line is read. */
  readonly bindings: ReadonlyArray<readonly [string, string]>;
  readonly text: string;
}

export type Generated =
  | { readonly ok: true; readonly lines: GeneratedLine[] }
  | { readonly ok: false; readonly error: string };

/** More lines than any real configuration needs: a typo such as ~SEQ(i, 1, 1000000000) stops here. */
export const MAX_GENERATED_LINES = 16_384;

export function isGenerator(line: string): boolean {
  return line.startsWith('~SEQ') || line.startsWith('~LST');
}

/** Expands a line starting with ~SEQ or ~LST; `substitute` replaces parameters in ~SEQ's numbers. */
export function expandGenerator(line: string, substitute: (s: string) => string): Generated {
  return line.startsWith('~SEQ') ? expandSeq(line, substitute) : expandLst(line);
}

function expandSeq(line: string, substitute: (s: string) => string): Generated {
  const bad: Generated = { ok: false, error: `invalid ~SEQ specification '${line}'` };
  let p = 4;
  const hex = line[p] === 'x';
  if (hex) p++;
  p = skipBlanks(line, p);
  if (line[p] !== '(') return bad;
  p = skipBlanks(line, p + 1);
  const varStart = p;
  while (p < line.length && !' \t,)'.includes(line[p])) p++;
  const name = line.slice(varStart, p);
  p = skipBlanks(line, p);
  if (name === '' || line[p] !== ',') return bad;
  const close = line.indexOf(')', p);
  if (close < 0) return bad;
  const numbers = parseNumberList(substitute(line.slice(p + 1, close)));
  if (numbers === null || numbers.length > 3 || !numbers.every(Number.isSafeInteger)) return bad;
  let start: number;
  let step: number;
  let end: number;
  if (numbers.length === 1) {
    end = numbers[0];
    step = end < 1 ? -1 : 1;
    start = end < 0 ? -1 : 1;
  } else if (numbers.length === 2) {
    [start, end] = numbers;
    step = start <= end ? 1 : -1;
  } else {
    [start, step, end] = numbers;
    if (step === 0 || (start < end && step < 0) || (start > end && step > 0)) {
      return { ok: false, error: `invalid ~SEQ values '${line}'` };
    }
  }
  if (hex && (start < 0 || end < 0)) return { ok: false, error: `~SEQx is only valid for positive numbers '${line}'` };
  const count = Math.floor((end - start) / step) + 1;
  if (count > MAX_GENERATED_LINES) return tooMany(count);
  const text = line.slice(skipBlanks(line, close + 1));
  const lines: GeneratedLine[] = [];
  for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
    lines.push({ bindings: [[name, hex ? v.toString(16) : String(v)]], text });
  }
  return { ok: true, lines };
}

/** `a, b, c` as C integers (strtol base 0); null when a number or separator is malformed. */
function parseNumberList(s: string): number[] | null {
  const out: number[] = [];
  let p = 0;
  for (;;) {
    const n = parseCInteger(s, p);
    out.push(n.value);
    p = skipBlanks(s, n.next);
    if (p >= s.length) return out;
    if (s[p] !== ',') return null;
    p++;
  }
}

/** strtol(s + p, &end, 0): blanks, sign, 0x/0 prefixes; no digits gives 0 and no advance. */
function parseCInteger(s: string, p: number): { value: number; next: number } {
  const m = /^[ \t]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s.slice(p));
  if (m === null) return { value: 0, next: p };
  const digits = m[2];
  const base = /^0[xX]/.test(digits) ? 16 : digits.length > 1 && digits[0] === '0' ? 8 : 10;
  const magnitude = Number.parseInt(base === 16 ? digits.slice(2) : digits, base);
  return { value: m[1] === '-' ? -magnitude : magnitude, next: p + m[0].length };
}

function expandLst(line: string): Generated {
  const bad: Generated = { ok: false, error: `invalid ~LST specification '${line}'` };
  let p = skipBlanks(line, 4);
  if (line[p] !== '(') return bad;
  p = skipBlanks(line, p + 1);
  const names = readGroup(line, p, ' \t,}', 'names');
  if (names === null) return bad;
  p = names.next;
  if (line[p] !== ',') return bad;
  p = skipBlanks(line, p + 1);
  const sets: string[][] = [];
  for (;;) {
    const set = readGroup(line, p, ' \t,})', 'values');
    if (set === null) return bad;
    if (set.items.length > names.items.length) {
      return { ok: false, error: `~LST specification has too many values '${line}'` };
    }
    sets.push(set.items);
    p = set.next;
    if (line[p] === ')') break;
    if (line[p] !== ',') return bad;
    p = skipBlanks(line, p + 1);
  }
  if (sets.length > MAX_GENERATED_LINES) return tooMany(sets.length);
  const text = line.slice(skipBlanks(line, p + 1));
  const lines = sets.map((values) => ({
    bindings: names.items.map((n, i): readonly [string, string] => [n, values[i] ?? '']),
    text,
  }));
  return { ok: true, lines };
}

/**
 * `{a, b}` or a single item at line[p]. Returns the items and the index of the character after
 * the group (past blanks), or null when a separator is missing.
 */
function readGroup(
  line: string,
  start: number,
  stops: string,
  kind: 'names' | 'values',
): { items: string[]; next: number } | null {
  let p = start;
  const braced = line[p] === '{';
  if (braced) p = skipBlanks(line, p + 1);
  const items: string[] = [];
  for (;;) {
    const from = p;
    while (p < line.length && !stops.includes(line[p])) p++;
    const item = line.slice(from, p);
    if (kind === 'names' && item === '') return null;
    items.push(item);
    p = skipBlanks(line, p);
    if (!braced) return { items, next: p };
    if (line[p] === '}') return { items, next: skipBlanks(line, p + 1) };
    if (line[p] !== ',') return null;
    p = skipBlanks(line, p + 1);
  }
}

function tooMany(count: number): Generated {
  return { ok: false, error: `generator makes ${count} lines (at most ${MAX_GENERATED_LINES})` };
}

function skipBlanks(s: string, p: number): number {
  let i = p;
  while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  return i;
}
