/**
 * The error lines of the lab's tapvsd logs, for the integration tests' log check
 * (test/integration/log-check.ts): a dataplane exception or a failed reload must fail the test
 * that caused it, not only show up as lost traffic.
 *
 * The lab writes each director's log to <runDir>/tapvsd.log (tapvsd2.log for the second one),
 * starts a fresh file when it restarts a director and removes the run directory at `lab down`.
 * So the lab calls `scanDaemonLogs(runDir, …)` before it overwrites or removes a log, and the
 * check calls it when it runs: every line is read once (per-file offsets) and the error lines
 * wait in `pendingErrors` until taken.
 *
 * An error line is one tapvsd's log() wrote at level error: `<ISO time> error tapvsd: …`, or with
 * journald's priority prefix `<3>error tapvsd: …` (src/log.ts, formatLogLine).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DaemonErrorLine {
  /** The log file's name (tapvsd.log, tapvsd2.log). */
  readonly log: string;
  readonly line: string;
}

const ERROR_LINE = /^(?:\S+ |<3>)error tapvsd: /;

/** True for a line tapvsd logged at error level. */
export function isErrorLine(line: string): boolean {
  return ERROR_LINE.test(line);
}

/** Bytes of each log already read (by absolute path). */
const readBytes = new Map<string, number>();
const pending: DaemonErrorLine[] = [];

/** The error lines found and not yet taken. */
export function takeDaemonErrors(): DaemonErrorLine[] {
  return pending.splice(0, pending.length);
}

/**
 * Reads what is new in every tapvsd*.log of `runDir` and keeps its error lines. With `restart`
 * (a file name) or `removing` (all), that file will be rewritten from the start: forget its offset.
 */
export function scanDaemonLogs(runDir: string, opts: { restart?: string; removing?: boolean } = {}): void {
  if (!existsSync(runDir)) return;
  let names: string[];
  try {
    names = readdirSync(runDir).filter((n) => /^tapvsd\d*\.log$/.test(n));
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(runDir, name);
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch {
      continue;
    }
    let from = readBytes.get(path) ?? 0;
    if (from > buf.length) from = 0; // rewritten behind our back: read it whole
    // Only whole lines: a line being written is read next time.
    const end = buf.lastIndexOf(0x0a) + 1;
    if (end > from) {
      for (const line of buf.subarray(from, end).toString('utf8').split('\n'))
        if (isErrorLine(line)) pending.push({ log: name, line });
      from = end;
    }
    readBytes.set(path, from);
    if (opts.removing === true || opts.restart === name) {
      // What is left without a newline is the last thing the daemon wrote: keep it too.
      const tail = buf.subarray(from).toString('utf8');
      if (isErrorLine(tail)) pending.push({ log: name, line: tail });
      readBytes.delete(path);
    }
  }
}
