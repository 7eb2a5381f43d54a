/**
 * The text rules keepalived applies to one line (lib/parser.c: decomment(), read_line(),
 * alloc_strvec_r()), as pure functions over strings:
 * - comments: `!` or `#` anywhere outside a double-quoted string start a comment; `\!` and `\#`
 *   outside quotes stand for the characters themselves; single quotes protect nothing here;
 * - leading and trailing blanks go; a trailing `\` is kept (it continues a `$NAME=` definition);
 * - `{` and `}` outside double quotes become lines of their own, so `name {`, `{ a b }` and a
 *   `}` after a value all work;
 * - words are split at whitespace; a word that starts with `"` runs to the next `"` (quotes
 *   removed, no escapes), and a `"` inside an unquoted word ends that word.
 *
 * Not here: parameters, conditionals and includes (lexer.ts), the shell-like words of script
 * keywords (script-words.ts).
 */

/** keepalived reads lines into a 1024-byte buffer (lib/parser.h MAXBUF) with fgets(). */
export const MAX_LINE_BYTES = 1023;

const BLANK = /[ \t]/;
const WHITE = ' \t\f\n\r\v';

export interface Decommented {
  /** The line without comment, escapes of comment characters, and outer blanks. */
  readonly text: string;
  /** An odd number of `"` before the comment: keepalived reports "Unterminated quote". */
  readonly unterminatedQuote: boolean;
}

export function decomment(line: string): Decommented {
  let s = line.replace(/^[ \t]+/, '');
  let quote = false;
  let commentAt = -1;
  let continued = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '"') {
      if (commentAt < 0) quote = !quote;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= s.length) {
        // A final backslash continues a multi-line definition: drop it, strip, put it back.
        s = s.slice(0, i);
        continued = true;
        break;
      }
      const next = s[i + 1];
      if (!quote && (next === '#' || next === '!')) {
        s = s.slice(0, i) + s.slice(i + 1);
        i++;
      } else {
        i += 2;
      }
    } else if ((c === '!' || c === '#') && !quote && commentAt < 0) {
      commentAt = i;
      i++;
    } else {
      i++;
    }
  }
  if (commentAt >= 0) s = s.slice(0, commentAt);
  s = s.replace(/[ \t]+$/, '');
  if (continued) s += '\\';
  return { text: s, unterminatedQuote: quote };
}

/**
 * Splits a processed line at `{` and `}` outside double quotes: `a { b c }` gives `a`, `{`,
 * `b c`, `}`. Pieces are trimmed; empty pieces are dropped.
 */
export function splitBraces(text: string): string[] {
  const out: string[] = [];
  let rest = text.trim();
  while (rest !== '') {
    if (rest[0] === '{' || rest[0] === '}') {
      out.push(rest[0]);
      rest = rest.slice(1).trim();
      continue;
    }
    const at = firstBraceOutsideQuotes(rest);
    if (at < 0) {
      out.push(rest);
      break;
    }
    out.push(rest.slice(0, at).trim());
    rest = rest.slice(at).trim();
  }
  return out.filter((p) => p !== '');
}

function firstBraceOutsideQuotes(s: string): number {
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '{' || c === '}') return i;
    if (c === '"') {
      const close = s.indexOf('"', i + 1);
      // An unmatched quote hides every later brace, as in read_line().
      if (close < 0) return -1;
      i = close + 1;
      continue;
    }
    i++;
  }
  return -1;
}

export interface Words {
  readonly words: string[];
  /** A `"` without its closing partner: the words after it are lost ("Unmatched quote"). */
  readonly unmatchedQuote: boolean;
}

export function splitWords(text: string): Words {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && WHITE.includes(text[i])) i++;
    if (i >= text.length) break;
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) return { words, unmatchedQuote: true };
      words.push(text.slice(i + 1, close));
      i = close + 1;
      continue;
    }
    const start = i;
    while (i < text.length && !WHITE.includes(text[i]) && text[i] !== '"') i++;
    words.push(text.slice(start, i));
  }
  return { words, unmatchedQuote: false };
}

/** True for a space or a tab, the blanks keepalived strips around lines and definitions. */
export function isBlank(c: string): boolean {
  return BLANK.test(c);
}
