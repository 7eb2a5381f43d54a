/**
 * The shell-like words of script keywords (misc_path, notify_up, notify_down, quorum_up,
 * quorum_down), as keepalived reads them (lib/parser.c alloc_strvec_quoted_escaped(); notify.c
 * set_script_params_array()):
 * - the statement's text is split into words where both '…' and "…" group, and backslash
 *   escapes are decoded: \a \b \E \f \n \r \t \v, \NNN (octal, up to 3 digits), \xHH…,
 *   \cX (control character), and \<any> for the character itself;
 * - the second word is the command line, split again the same way into argv. So a command with
 *   arguments must be quoted as a whole: `misc_path "/usr/bin/check -p 80"`.
 * Words after the command are a user and group for notify scripts; misc_path ignores them.
 *
 * Nothing runs a shell: argv is what will be exec'd.
 */

export type ScriptWords =
  | { readonly ok: true; readonly words: string[] }
  | { readonly ok: false; readonly error: string };

const WHITE = ' \t\f\n\r\v';

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  E: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

export function scriptWords(src: string): ScriptWords {
  const words: string[] = [];
  let i = 0;
  let quote = '';
  while (i < src.length) {
    while (i < src.length && WHITE.includes(src[i])) i++;
    if (i >= src.length) break;
    let word = '';
    while (i < src.length) {
      const c = src[i];
      if (c === '\\') {
        if (i + 1 >= src.length) return { ok: false, error: 'missing character after the final backslash' };
        const e = decodeEscape(src, i + 1);
        word += e.char;
        i = e.next;
        continue;
      }
      if (quote !== '') {
        if (c === quote) quote = '';
        else word += c;
        i++;
        continue;
      }
      if (c === '"' || c === "'") {
        quote = c;
        i++;
        continue;
      }
      if (WHITE.includes(c)) break;
      word += c;
      i++;
    }
    if (quote !== '') return { ok: false, error: `missing terminating ${quote}` };
    words.push(word);
  }
  return { ok: true, words };
}

function decodeEscape(s: string, at: number): { char: string; next: number } {
  const c = s[at];
  if (c === 'x' && isHex(s[at + 1])) {
    let v = 0;
    let i = at + 1;
    // keepalived shifts every hex digit into one char: only the last two count.
    while (i < s.length && isHex(s[i])) v = ((v << 4) | Number.parseInt(s[i++], 16)) & 0xff;
    return { char: String.fromCharCode(v), next: i };
  }
  if (c === 'c' && at + 1 < s.length) return { char: String.fromCharCode(s.charCodeAt(at + 1) & 0x1f), next: at + 2 };
  if (c >= '0' && c <= '7') {
    let v = 0;
    let i = at;
    while (i < at + 3 && i < s.length && s[i] >= '0' && s[i] <= '7') v = ((v << 3) | (s.charCodeAt(i++) - 48)) & 0xff;
    return { char: String.fromCharCode(v), next: i };
  }
  return { char: SIMPLE_ESCAPES[c] ?? c, next: at + 1 };
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

export type ScriptCommand =
  | { readonly ok: true; readonly argv: string[]; readonly extra: string[] }
  | { readonly ok: false; readonly error: string };

/**
 * The argv of a script statement such as `notify_up "/bin/up.sh 'a b'" user`: argv of the
 * second word, and the words after it (`extra`). An empty command is an error.
 */
export function scriptCommand(statementText: string): ScriptCommand {
  const outer = scriptWords(statementText);
  if (!outer.ok) return outer;
  if (outer.words.length < 2) return { ok: false, error: 'missing the command' };
  const inner = scriptWords(outer.words[1]);
  if (!inner.ok) return inner;
  if (inner.words.length === 0) return { ok: false, error: 'the command is empty' };
  return { ok: true, argv: inner.words, extra: outer.words.slice(2) };
}
