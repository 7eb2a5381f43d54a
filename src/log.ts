/**
 * Structured, levelled logging to stderr: `2026-11-24T18:00:00.000Z info tapvsd: message k=v`.
 * Never used on the per-packet path. Level from TAPVS_LOG (error, warn, info, debug).
 *
 * Under systemd, when stderr is the journal ($JOURNAL_STREAM names fd 2's device and inode, see
 * systemd.exec(5)), each line starts with its syslog priority instead of a timestamp (`<3>` error,
 * `<4>` warning, `<6>` info, `<7>` debug, sd-daemon(3)): journald files it at that level and adds
 * its own time, so `journalctl -p warning -u tapvsd` shows what matters.
 */
import { fstatSync } from 'node:fs';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;
const SYSLOG_PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

const threshold: number = LEVELS[(process.env.TAPVS_LOG as LogLevel | undefined) ?? 'info'] ?? LEVELS.info;

/** True when $JOURNAL_STREAM ("DEV:INODE") is the file behind fd 2. */
export function stderrIsJournal(journalStream: string | undefined, stat: () => { dev: number; ino: number }): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (m === null) return false;
  try {
    const st = stat();
    return st.dev === Number(m[1]) && st.ino === Number(m[2]);
  } catch {
    return false;
  }
}

const journal = stderrIsJournal(process.env.JOURNAL_STREAM, () => fstatSync(2));

/** One log line as written: journald's priority prefix, or a timestamp. */
export function formatLogLine(
  level: LogLevel,
  msg: string,
  fields: Record<string, unknown> | undefined,
  toJournal: boolean,
  now: Date = new Date(),
): string {
  let line = toJournal
    ? `<${SYSLOG_PRIORITY[level]}>${level} tapvsd: ${msg}`
    : `${now.toISOString()} ${level} tapvsd: ${msg}`;
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields))
      line += ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
  }
  return line;
}

export function log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] > threshold) return;
  process.stderr.write(`${formatLogLine(level, msg, fields, journal)}\n`);
}
