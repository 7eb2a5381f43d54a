/**
 * A scripted RunCheck for the health-check engine's tests: each probe target ("ip:port" the
 * checker connects to) answers as the test says, after as much virtual time as the test says
 * (a connect timeout takes connect_timeout), and every call is recorded with its virtual time.
 */
import type { RunCheck } from '../../src/health/checks/check.js';
import type { CheckerSpec } from '../../src/keepalived/lvs-config.js';
import type { VirtualClock } from './virtual-clock.js';

export interface FakeAnswer {
  readonly ok: boolean;
  readonly reason?: string;
  /** MISC_CHECK's exit status. */
  readonly exitStatus?: number | null;
  /** Virtual time the attempt takes (default 0). */
  readonly tookMs?: number;
}

export interface ProbeCall {
  /** Virtual ms since the clock started, when the attempt began. */
  readonly atMs: number;
  readonly target: string;
  readonly type: CheckerSpec['type'];
  readonly url: number;
  readonly spec: CheckerSpec;
}

export type Behaviour = (call: ProbeCall) => FakeAnswer;

export class FakeProbes {
  readonly calls: ProbeCall[] = [];
  private readonly behaviours = new Map<string, Behaviour>();

  constructor(
    private readonly clock: VirtualClock,
    private readonly fallback: Behaviour = () => ({ ok: true }),
  ) {}

  /** How probes of `target` answer from now on. */
  set(target: string, answer: Behaviour | FakeAnswer): void {
    this.behaviours.set(target, typeof answer === 'function' ? answer : () => answer);
  }

  callsTo(target: string): ProbeCall[] {
    return this.calls.filter((c) => c.target === target);
  }

  readonly runCheck: RunCheck = (spec, url, signal) => {
    const call: ProbeCall = {
      atMs: this.clock.elapsed,
      target: `${spec.connectIp}:${spec.connectPort}`,
      type: spec.type,
      url,
      spec,
    };
    this.calls.push(call);
    const a = (this.behaviours.get(call.target) ?? this.fallback)(call);
    const result = {
      ok: a.ok,
      reason: a.reason ?? `${spec.type}: ${a.ok ? 'passed' : 'failed'}`,
      ...(a.exitStatus !== undefined ? { exitStatus: a.exitStatus } : {}),
    };
    if ((a.tookMs ?? 0) === 0) return Promise.resolve(result);
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => resolve(result), a.tookMs ?? 0);
      signal.addEventListener('abort', () => {
        this.clock.clearTimer(timer);
        resolve({ ok: false, reason: `${spec.type}: aborted` });
      });
    });
  };
}
