/**
 * Telling systemd how tapvsd is doing (sd_notify(3)), for a unit with `Type=notify`:
 * READY=1 once links, rules and the control socket are up; RELOADING=1 then READY=1 around a
 * SIGHUP reload; STOPPING=1 on SIGTERM; STATUS= with the table's size, refreshed every few
 * seconds; WATCHDOG=1 at half of WATCHDOG_USEC when the unit asks for a watchdog.
 *
 * Without $NOTIFY_SOCKET (not started by systemd) every call does nothing. The variable is removed
 * from the environment once read, as sd_notify()'s unset_environment does, so that health-check
 * and notify scripts tapvsd runs cannot speak for it. Sending never throws: a failed send is
 * logged once and the daemon goes on (systemd's own sd_notify ignores failures the same way).
 */
import { loadTapAddon } from '../link/tap.js';
import { log } from '../log.js';

export type NotifySend = (socketPath: string, message: string) => number;

const nativeSend: NotifySend = (path, msg) => loadTapAddon().sdNotify(path, msg);

export class ServiceNotifier {
  private readonly socket: string | null;
  private readonly watchdogMs: number;
  private timers: NodeJS.Timeout[] = [];
  private failed = false;

  constructor(
    env: NodeJS.ProcessEnv = process.env,
    private readonly send: NotifySend = nativeSend,
    pid: number = process.pid,
  ) {
    this.socket = env.NOTIFY_SOCKET !== undefined && env.NOTIFY_SOCKET !== '' ? env.NOTIFY_SOCKET : null;
    // WATCHDOG_PID, when set, names the process the watchdog is for (sd_watchdog_enabled(3)).
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    const usec = Number(env.WATCHDOG_USEC);
    this.watchdogMs = forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : 0;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }

  /** True when systemd listens (the unit is Type=notify). */
  get enabled(): boolean {
    return this.socket !== null;
  }

  /** The watchdog interval systemd asked for, ms (0: none). */
  get watchdogIntervalMs(): number {
    return this.watchdogMs;
  }

  /**
   * READY=1 with a first STATUS, then STATUS every `statusEveryMs` from `status()` and, when
   * asked for, WATCHDOG=1 at half the interval. Timers are unref'd: they never keep tapvsd alive.
   */
  ready(status: () => string, statusEveryMs = 5000): void {
    if (this.socket === null) return;
    this.notify(`READY=1\nSTATUS=${status()}`);
    const t = setInterval(() => this.notify(`STATUS=${status()}`), statusEveryMs);
    t.unref();
    this.timers.push(t);
    if (this.watchdogMs > 0) {
      const w = setInterval(() => this.notify('WATCHDOG=1'), this.watchdogMs / 2);
      w.unref();
      this.timers.push(w);
    }
  }

  reloading(): void {
    this.notify('RELOADING=1\nSTATUS=reloading');
  }

  reloaded(status: string): void {
    this.notify(`READY=1\nSTATUS=${status}`);
  }

  stopping(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.notify('STOPPING=1\nSTATUS=stopping');
  }

  private notify(message: string): void {
    if (this.socket === null) return;
    const err = this.send(this.socket, message);
    if (err !== 0 && !this.failed) {
      this.failed = true;
      log('warn', 'systemd notification failed (further failures not logged)', { socket: this.socket, errno: err });
    }
  }
}
