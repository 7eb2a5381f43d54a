/**
 * Runs keepalived's notification scripts (notify_up, notify_down, quorum_up, quorum_down) without
 * ever blocking the event loop: an asynchronous spawn of the configured argv and nothing else
 * (keepalived appends no arguments to these, ipwrapper.c do_rs_notifies() and do_vs_notifies()),
 * in a process group of its own so a timeout can end the script and whatever it started
 * (SIGTERM to the group, SIGKILL two seconds later, as check_misc.c does for its scripts).
 *
 * The first SCRIPT_OUTPUT_MAX bytes of stdout and stderr are kept and logged with the exit
 * status: keepalived ignores both, an operator wants to see them. The returned promise always
 * resolves (a script that cannot start is an outcome with `error`), so callers may fire and forget.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import type { log } from '../log.js';

export type Logger = typeof log;

export interface ScriptOutcome {
  /** Exit status, or null when killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Ended by the timeout. */
  readonly timedOut: boolean;
  /** stdout and stderr interleaved, at most SCRIPT_OUTPUT_MAX bytes. */
  readonly output: string;
  /** Why it could not run (e.g. "spawn /x ENOENT"), or null. */
  readonly error: string | null;
}

/** Runs `argv`; `what` names it in the log ("notify_down of real server ..."). */
export type ScriptRunner = (argv: readonly string[], what: string, timeoutMs: number) => Promise<ScriptOutcome>;

export const SCRIPT_OUTPUT_MAX = 4096;
/** Between SIGTERM and SIGKILL. */
export const SCRIPT_KILL_GRACE_MS = 2000;

/** A runner on node:child_process (or a stand-in with spawn's signature). */
export function createScriptRunner(logger: Logger, spawn: typeof nodeSpawn = nodeSpawn): ScriptRunner {
  return (argv, what, timeoutMs) =>
    new Promise<ScriptOutcome>((resolve) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let timedOut = false;
      let done = false;
      let termTimer: ReturnType<typeof setTimeout> | null = null;
      let killTimer: ReturnType<typeof setTimeout> | null = null;
      const finish = (exitCode: number | null, signal: string | null, error: string | null): void => {
        if (done) return;
        done = true;
        if (termTimer !== null) clearTimeout(termTimer);
        if (killTimer !== null) clearTimeout(killTimer);
        const outcome = { exitCode, signal, timedOut, output: Buffer.concat(chunks).toString('utf8'), error };
        logOutcome(logger, what, argv, outcome);
        resolve(outcome);
      };
      let child: ReturnType<typeof nodeSpawn>;
      try {
        child = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      } catch (e) {
        finish(null, null, (e as Error).message);
        return;
      }
      const keep = (b: Buffer): void => {
        if (kept >= SCRIPT_OUTPUT_MAX) return;
        const part = b.subarray(0, SCRIPT_OUTPUT_MAX - kept);
        chunks.push(part);
        kept += part.length;
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const kill = (sig: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, sig);
        } catch {
          child.kill(sig);
        }
      };
      termTimer = setTimeout(() => {
        timedOut = true;
        kill('SIGTERM');
        killTimer = setTimeout(() => kill('SIGKILL'), SCRIPT_KILL_GRACE_MS);
      }, timeoutMs);
      child.on('error', (e) => finish(null, null, e.message));
      child.on('close', (code, signal) => finish(code, signal, null));
    });
}

function logOutcome(logger: Logger, what: string, argv: readonly string[], o: ScriptOutcome): void {
  const fields: Record<string, unknown> = { argv: argv.join(' ') };
  if (o.output !== '') fields.output = o.output;
  if (o.error !== null) logger('error', `${what}: could not run: ${o.error}`, fields);
  else if (o.timedOut) logger('warn', `${what}: killed after its timeout`, fields);
  else if (o.exitCode === 0) logger('info', `${what}: exited with status 0`, fields);
  else if (o.exitCode !== null) logger('warn', `${what}: exited with status ${o.exitCode}`, fields);
  else logger('warn', `${what}: killed by ${o.signal}`, fields);
}
