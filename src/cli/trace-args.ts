/**
 * `tapvsd trace` arguments, with tcpdump's habits: options, then the filter expression as
 * trailing words (`tapvsd trace -i ext -c 10 tcp port 80 and not host 10.0.0.1`).
 *
 *   -i LINK         only this link of the director (default: all)
 *   -w FILE         write pcapng to FILE, relative to this shell's directory (sent absolute)
 *   -r FILE         print a saved pcapng/pcap trace (no daemon), with the decisions recorded
 *   -c N            stop after N packets
 *   -s SNAPLEN      bytes kept per frame (default 262144)
 *   --max-bytes N   stop at this file size (default 100 MB)
 *   -f EXPR         the expression as one word (the older syntax; not with trailing words)
 *   --stop, --status, --socket PATH
 * Options may also follow the expression, as GNU getopt lets tcpdump's; `--` ends them.
 */
import { resolve } from 'node:path';
import type { TraceRequest } from '../control/protocol.js';
import { TapvsError } from '../errors.js';

export interface TraceArgs {
  mode: 'start' | 'stop' | 'status' | 'read';
  socket: string | null;
  /** For mode 'start'; `filter` is the expression ("" for none). */
  request: TraceRequest;
  /** For mode 'read': the file (as given) and -c. */
  readFile: string | null;
}

/** Parses argv (after `trace`); -w is made absolute against `cwd`. Throws TapvsError('BAD_ARGUMENT'). */
export function parseTraceArgs(argv: readonly string[], cwd: string): TraceArgs {
  const r: TraceArgs = { mode: 'start', socket: null, request: {}, readFile: null };
  const t = r.request;
  const words: string[] = [];
  let oneWord: string | null = null;
  let options = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!options || !a.startsWith('-') || a === '-') {
      words.push(a);
      continue;
    }
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new TapvsError('BAD_ARGUMENT', `trace: ${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = next();
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
        throw new TapvsError('BAD_ARGUMENT', `trace: ${a} needs a positive integer, not '${v}'`);
      }
      return n;
    };
    switch (a) {
      case '--':
        options = false;
        break;
      case '--socket':
        r.socket = next();
        break;
      case '-w':
      case '--file':
        t.file = resolve(cwd, next());
        break;
      case '-r':
        r.readFile = next();
        r.mode = 'read';
        break;
      case '-i':
      case '--link':
        t.link = next();
        break;
      case '-f':
      case '--filter':
        oneWord = next();
        break;
      case '-c':
      case '--max-packets':
        t.maxPackets = num();
        break;
      case '--max-bytes':
        t.maxBytes = num();
        break;
      case '-s':
      case '--snaplen':
        t.snaplen = num();
        break;
      case '--stop':
        r.mode = 'stop';
        break;
      case '--status':
        r.mode = 'status';
        break;
      default:
        throw new TapvsError('BAD_ARGUMENT', `trace: unknown option '${a}' (see tapvsd --help)`);
    }
  }
  if (oneWord !== null && words.length > 0) {
    throw new TapvsError('BAD_ARGUMENT', 'trace: give the expression with -f or as trailing words, not both');
  }
  const expr = oneWord ?? words.join(' ');
  if (expr !== '') t.filter = expr;
  if (r.mode === 'read' && (t.file !== undefined || t.link !== undefined)) {
    throw new TapvsError('BAD_ARGUMENT', 'trace: -r reads a file; -w and -i are for a running tapvsd');
  }
  return r;
}
