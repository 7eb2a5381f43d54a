/**
 * Structured, levelled logging to stderr: `2026-11-24T18:00:00.000Z info tapvsd: message k=v`.
 * Never used on the per-packet path. Level from TAPVS_LOG (error, warn, info, debug).
 */
const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

const threshold: number = LEVELS[(process.env.TAPVS_LOG as LogLevel | undefined) ?? 'info'] ?? LEVELS.info;

export function log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] > threshold) return;
  let line = `${new Date().toISOString()} ${level} tapvsd: ${msg}`;
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields))
      line += ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
  }
  process.stderr.write(`${line}\n`);
}
