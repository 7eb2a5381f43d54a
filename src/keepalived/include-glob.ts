/**
 * The files an `include PATTERN` line names, found as keepalived finds them: glob(3) with
 * GLOB_BRACE (lib/parser.c open_and_check_glob()). A relative pattern is relative to the
 * directory of the file that holds the include line (keepalived chdir()s into each file's
 * directory while reading it). `{a,b}` alternatives expand first, in order; `*`, `?` and
 * `[…]` match within one path component and never match a leading dot; the matches of each
 * alternative come sorted by byte order, as glob sorts them in the C locale.
 *
 * Synchronous on purpose: the configuration is read at start-up, for --config-test and on
 * SIGHUP, before anything is applied.
 */
import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export interface IncludeMatches {
  /** The paths found (files and directories: the caller checks what they are). */
  readonly paths: string[];
  /** Alternatives without wildcards naming nothing that exists. */
  readonly missing: string[];
  /** Alternatives with wildcards that matched nothing. */
  readonly unmatched: string[];
}

/** A generous bound: brace alternatives multiply (`{a,b}{c,d}…`). */
const MAX_ALTERNATIVES = 1024;

export function expandInclude(pattern: string, baseDir: string): IncludeMatches {
  const paths: string[] = [];
  const missing: string[] = [];
  const unmatched: string[] = [];
  for (const alt of expandBraces(pattern)) {
    const full = isAbsolute(alt) ? alt : join(baseDir, alt);
    if (!hasWildcard(full)) {
      if (existsSync(full)) paths.push(full);
      else missing.push(full);
      continue;
    }
    const found = globPath(full).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (found.length === 0) unmatched.push(full);
    paths.push(...found);
  }
  return { paths, missing, unmatched };
}

export function hasWildcard(s: string): boolean {
  return /[*?[]/.test(s);
}

/** csh-style brace expansion: `a{b,c{d,e}}f` → abf, acdf, acef. A brace without a comma stays. */
export function expandBraces(pattern: string): string[] {
  const open = findBrace(pattern);
  if (open === null) return [pattern];
  const { start, end, parts } = open;
  const out: string[] = [];
  for (const part of parts) {
    for (const tail of expandBraces(part + pattern.slice(end + 1))) {
      out.push(pattern.slice(0, start) + tail);
      if (out.length >= MAX_ALTERNATIVES) return out;
    }
  }
  return out;
}

/** The first `{…}` with a top-level comma: its bounds and its comma-separated parts. */
function findBrace(s: string): { start: number; end: number; parts: string[] } | null {
  for (let start = 0; start < s.length; start++) {
    if (s[start] === '\\') {
      start++;
      continue;
    }
    if (s[start] !== '{') continue;
    let depth = 0;
    const commas: number[] = [];
    for (let i = start; i < s.length; i++) {
      const c = s[i];
      if (c === '\\') i++;
      else if (c === '{') depth++;
      else if (c === ',' && depth === 1) commas.push(i);
      else if (c === '}' && --depth === 0) {
        if (commas.length === 0) break;
        const bounds = [start, ...commas, i];
        const parts = bounds.slice(1).map((b, k) => s.slice(bounds[k] + 1, b));
        return { start, end: i, parts };
      }
    }
  }
  return null;
}

function globPath(pattern: string): string[] {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((p) => p !== '');
  let candidates = [absolute ? '/' : '.'];
  for (const seg of segments) {
    const next: string[] = [];
    if (!hasWildcard(seg)) {
      const name = withoutEscapes(seg);
      for (const dir of candidates) next.push(join(dir, name));
    } else {
      const re = segmentRegExp(seg);
      for (const dir of candidates) {
        for (const entry of listDir(dir)) {
          if (re.test(entry)) next.push(join(dir, entry));
        }
      }
    }
    candidates = next;
    if (candidates.length === 0) return [];
  }
  return candidates.filter((p) => existsSync(p));
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function withoutEscapes(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** One path component as a RegExp: `*`, `?`, `[…]` (with `!` or `^` negation), `\` escapes. */
function segmentRegExp(seg: string): RegExp {
  let re = seg[0] === '.' ? '' : '(?!\\.)';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '\\' && i + 1 < seg.length) re += escapeRegExp(seg[++i]);
    else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      const negated = body[0] === '!' || body[0] === '^';
      if (negated) body = body.slice(1);
      re += `[${negated ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else re += escapeRegExp(c);
  }
  try {
    return new RegExp(`^${re}$`, 's');
  } catch {
    // A class glob(3) cannot use either, such as [z-a]: it matches nothing.
    return /$^/;
  }
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
