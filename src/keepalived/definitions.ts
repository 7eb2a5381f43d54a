/**
 * keepalived's parameters (lib/parser.c check_definition(), find_definition(), replace_param(),
 * set_std_definitions()):
 * - `$NAME=VALUE` on a line of its own defines NAME ([A-Za-z_][A-Za-z0-9_]*, no blank before
 *   `=`, blanks after it skipped); defining again replaces the value; definitions are global to
 *   the whole read, not scoped to blocks or files;
 * - a value ending in `\` starts a multi-line definition: each following line ending in `\` adds
 *   a line, the first line without it (or an empty line) ends it. Such a parameter is only
 *   replaced where its reference ends the line; its first line replaces the reference and the
 *   others follow as lines of their own;
 * - `$NAME` is replaced when followed by a blank, `,`, `)` or the end of the line, `${NAME}`
 *   anywhere; unknown names are left as they are (so `$` in scripts survives). Replacement text
 *   is scanned again, so values may use other parameters; a value starting with `~` stops the
 *   scan of that line;
 * - predefined: `${_PWD}` (directory of the file being read), `${_INSTANCE}` (the config id),
 *   `${_RANDOM}` / `${_RANDOM MIN}` / `${_RANDOM MIN MAX}` (default 0..32767), `${_HASH}` (#),
 *   `${_BANG}` (!). A definition may override them.
 *
 * Unlike keepalived, a parameter that refers to itself (`$A=$A`) is an error, not a hang.
 */
import { MAX_LINE_BYTES } from './line-text.js';

export interface Definition {
  readonly name: string;
  value: string;
  multiline: boolean;
}

export interface Substituted {
  readonly text: string;
  readonly changed: boolean;
  /** Lines of a multi-line parameter that follow this line, in order. */
  readonly followingLines: string[];
  readonly error: string | null;
}

export interface PredefinedContext {
  /** `${_INSTANCE}`: the config id (keepalived -i, default the short host name). */
  readonly instance: string;
  /** `${_RANDOM}`: a uniform number in [0, 1). */
  readonly random: () => number;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
/** Generous bound on replacements in one line: only a self-referring parameter reaches it. */
const MAX_REPLACEMENTS = 10_000;

interface Reference {
  /** Length of `$NAME`, `${NAME}` or `${NAME params}`. */
  readonly length: number;
  readonly name: string;
  readonly params: string | null;
  /** The reference ends the line: a multi-line parameter may be used here. */
  readonly endsLine: boolean;
}

export class Definitions {
  private readonly defs = new Map<string, Definition>();

  constructor(private readonly ctx: PredefinedContext) {}

  /**
   * Reads `$NAME=VALUE` and records it. Returns the definition (multiline when VALUE ends in
   * `\`: the lexer then feeds it the following lines), or null when the line is no definition.
   */
  define(line: string): Definition | null {
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*)=[ \t]*(.*)$/s.exec(line);
    if (m === null) return null;
    let value = m[2];
    let multiline = false;
    if (value.endsWith('\\')) {
      multiline = true;
      const first = value.slice(0, -1).replace(/[ \t]+$/, '');
      value = first === '' ? '' : `${first}\n`;
    }
    const def: Definition = { name: m[1], value, multiline };
    this.defs.set(def.name, def);
    return def;
  }

  /** Sets a parameter from a generator (~SEQ, ~LST). */
  set(name: string, value: string): void {
    this.defs.set(name, { name, value, multiline: false });
  }

  /**
   * Adds one more line to a multi-line definition. Returns false when this line ends it.
   * `line` is already decommented; an empty string is an empty source line (it ends it too).
   */
  continueDefinition(def: Definition, line: string): boolean {
    if (line === '') {
      if (def.value === '') def.multiline = false;
      return false;
    }
    let text = line;
    const goesOn = text.endsWith('\\');
    if (goesOn) text = `${text.slice(0, -1).replace(/[ \t]+$/, '')}\n`;
    // keepalived keeps no blank lines in a definition.
    if (text.length >= 2 || (text.length > 0 && !goesOn)) def.value += text;
    if (!goesOn && def.value === '') def.multiline = false;
    return goesOn;
  }

  /** Replaces parameters in `text` (one processed line); `pwd` is the current file's directory. */
  substitute(text: string, pwd: string): Substituted {
    let s = text;
    let pos = s.indexOf('$');
    let changed = false;
    let following: string[] = [];
    let replacements = 0;
    while (pos >= 0 && pos + 1 < s.length) {
      const ref = readReference(s, pos);
      const value = ref === null ? null : this.valueOf(ref, pwd);
      if (ref === null || value === null) {
        pos = s.indexOf('$', pos + 1);
        continue;
      }
      if (++replacements > MAX_REPLACEMENTS) {
        return { text: s, changed, followingLines: following, error: 'parameters refer to themselves' };
      }
      let inserted = value.text;
      if (value.multiline) {
        const lines = value.text.split('\n');
        inserted = lines[0];
        // A multi-line parameter inside another's expansion: its lines come first.
        following = lines.slice(1).concat(following);
      }
      s = s.slice(0, pos) + inserted + s.slice(pos + ref.length);
      changed = true;
      if (Buffer.byteLength(s) > MAX_LINE_BYTES) {
        return {
          text: s,
          changed,
          followingLines: following,
          error: `parameter substitution makes the line longer than ${MAX_LINE_BYTES} bytes`,
        };
      }
      if (/^[ \t]*~/.test(inserted)) break;
      pos = s.indexOf('$', pos);
    }
    return { text: s, changed, followingLines: following, error: null };
  }

  private valueOf(ref: Reference, pwd: string): { text: string; multiline: boolean } | null {
    const def = this.defs.get(ref.name);
    if (def !== undefined) {
      if (ref.params !== null) return null;
      if (def.multiline && !ref.endsLine) return null;
      return { text: def.value, multiline: def.multiline };
    }
    const predefined = this.predefined(ref.name, ref.params, pwd);
    return predefined === null ? null : { text: predefined, multiline: false };
  }

  private predefined(name: string, params: string | null, pwd: string): string | null {
    if (name === '_RANDOM') return this.random(params);
    if (params !== null) return null;
    switch (name) {
      case '_PWD':
        return pwd;
      case '_INSTANCE':
        return this.ctx.instance;
      case '_HASH':
        return '#';
      case '_BANG':
        return '!';
      default:
        return null;
    }
  }

  private random(params: string | null): string {
    const nums = params === null ? [] : params.trim().split(/ +/).map(Number);
    const min = nums.length > 0 ? nums[0] : 0;
    const max = nums.length > 1 ? Math.max(nums[1], min) : Math.max(32767, min);
    return String(min + Math.floor(this.ctx.random() * (max - min + 1)));
  }
}

/** The reference starting at s[pos] === '$', or null when what follows names nothing. */
function readReference(s: string, pos: number): Reference | null {
  const braces = s[pos + 1] === '{';
  const start = pos + (braces ? 2 : 1);
  if (start >= s.length || !NAME_START.test(s[start])) return null;
  let end = start + 1;
  while (end < s.length && NAME_CHAR.test(s[end])) end++;
  const name = s.slice(start, end);
  if (!braces) {
    if (end < s.length && !' \t,)'.includes(s[end])) return null;
    return { length: end - pos, name, params: null, endsLine: end === s.length };
  }
  // ${NAME digits and spaces}: parameters, only _RANDOM takes them; no blank before the '}'.
  let close = end;
  while (close < s.length && (s[close] === ' ' || (s[close] >= '0' && s[close] <= '9'))) close++;
  if (close >= s.length || s[close] !== '}') return null;
  const inside = s.slice(end, close);
  const hasParams = inside.trim() !== '';
  if (hasParams && inside.endsWith(' ')) return null;
  const params = hasParams ? inside : null;
  return { length: close + 1 - pos, name, params, endsLine: close + 1 === s.length };
}
