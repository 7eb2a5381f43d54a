/**
 * MISC_CHECK (keepalived check_misc.c): runs misc_path's argv (no shell) in a process group of its
 * own, with IFS, LD_PRELOAD and LD_LIBRARY_PATH removed from the environment, stdin from /dev/null.
 * The exit status decides: 0 passes, 1 fails, 2..255 fail, or pass under misc_dynamic (the engine
 * turns status - 2 into the weight); death by a signal fails. Past misc_timeout the group gets
 * SIGTERM, then SIGKILL 2 s later, and the attempt fails as "timed out" whatever the status.
 *
 * The attempt ends only once the script is gone, so a result never leaves a process behind; an
 * abort winds down the same way. The first 4 KiB of stdout and stderr go into the reason, for the
 * log. Differences: no `user` switch (scripts run as tapvsd's user), and the group is made with
 * setsid() (Node's detached spawn) where keepalived uses setpgid().
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { MiscCheck } from '../../keepalived/lvs-config.js';
import { type Attempt, runAttempt, seconds } from './attempt.js';
import type { CheckResult } from './check.js';

/** SIGTERM to SIGKILL, as keepalived waits. */
export const KILL_DELAY_MS = 2000;
/** How much of the script's output the reason keeps. */
export const OUTPUT_CAP_BYTES = 4096;
/** After the exit, how long stdout/stderr may take to drain (a daemonised grandchild may hold them). */
const DRAIN_MS = 200;
/** Removed from the script's environment, as keepalived does before exec. */
const UNSAFE_ENV = ['IFS', 'LD_PRELOAD', 'LD_LIBRARY_PATH'];

export function miscCheck(spec: MiscCheck, signal: AbortSignal): Promise<CheckResult> {
  return runAttempt(spec.type, signal, (a) => {
    if (spec.argv.length === 0) {
      a.fail('no command', null);
      return;
    }
    const child = spawn(spec.argv[0], spec.argv.slice(1), {
      detached: true,
      env: scriptEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new OutputHead(OUTPUT_CAP_BYTES);
    child.stdout?.on('data', (c: Buffer) => output.add(c));
    child.stderr?.on('data', (c: Buffer) => output.add(c));
    a.defer(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    });
    const ending = new GroupEnding(child, a);
    a.deadline(spec.timeoutMs, () => ending.start(() => a.fail(`timed out after ${seconds(spec.timeoutMs)}`, null)));
    a.onAbort(() => ending.start(() => a.settle({ ok: false, reason: 'aborted' })));
    child.on('error', (err) => ending.exited(() => a.fail(`cannot run ${spec.argv[0]}: ${err.message}`, null)));
    child.on('exit', (code, sig) => ending.exited(() => judge(a, spec, code, sig, output.text())));
    child.on('close', () => ending.drained());
  });
}

function judge(a: Attempt, spec: MiscCheck, code: number | null, sig: NodeJS.Signals | null, output: string): void {
  const said = output === '' ? '' : `: ${output}`;
  if (code === null) a.fail(`killed by ${sig ?? 'a signal'}${said}`, null);
  else if (code === 0 || (code >= 2 && spec.dynamic)) a.pass(`exit status ${code}${said}`, code);
  else a.fail(`exit status ${code}${said}`, code);
}

/**
 * How the attempt ends: normally at the exit (once the output has drained, or DRAIN_MS later), or,
 * after a timeout or an abort, once the group has been signalled and the script is gone.
 */
class GroupEnding {
  private forced: (() => void) | null = null;
  private verdict: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly child: ChildProcess,
    private readonly a: Attempt,
  ) {
    a.defer(() => this.clearTimer());
  }

  /** Timeout or abort: `report` gives the result once the script is gone. */
  start(report: () => void): void {
    if (this.forced !== null) return;
    this.forced = report;
    this.a.clearDeadline();
    if (this.verdict !== null) {
      this.finish();
      return;
    }
    this.signalGroup('SIGTERM');
    this.setTimer(KILL_DELAY_MS, () => {
      this.signalGroup('SIGKILL');
      // SIGKILL cannot be refused; if the exit still does not come, do not wait for ever.
      this.setTimer(KILL_DELAY_MS, () => this.finish());
    });
  }

  exited(verdict: () => void): void {
    if (this.verdict !== null) return;
    this.verdict = verdict;
    // Out within misc_timeout: a slow drain of its output must not turn into "timed out".
    this.a.clearDeadline();
    if (this.forced !== null) this.finish();
    else this.setTimer(DRAIN_MS, () => this.finish());
  }

  drained(): void {
    if (this.verdict !== null) this.finish();
  }

  private finish(): void {
    this.clearTimer();
    const report = this.forced ?? this.verdict;
    if (report !== null) this.a.guard(report);
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private setTimer(ms: number, fn: () => void): void {
    this.clearTimer();
    this.timer = setTimeout(() => this.a.guard(fn), ms);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

function scriptEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of UNSAFE_ENV) delete env[name];
  return env;
}

/** The first `cap` bytes of the output, as one line for the log. */
class OutputHead {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private truncated = false;

  constructor(private readonly cap: number) {}

  add(chunk: Buffer): void {
    const room = this.cap - this.kept;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  text(): string {
    const line = Buffer.concat(this.chunks).toString('utf8').replace(/\s+/g, ' ').trim();
    return this.truncated ? `${line} …` : line;
  }
}
