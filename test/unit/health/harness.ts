/**
 * The health-check engine wired to an in-process director (test/helpers/director.ts), in virtual
 * time, with scripted probes and recorded log lines and scripts: IPVS effects are read back from
 * the real model through the control plane's listing, as tapvsadm -L would show them.
 */
import type { ListResult } from '../../../src/control/protocol.js';
import { HealthEngine } from '../../../src/health/health-engine.js';
import type { ScriptOutcome, ScriptRunner } from '../../../src/health/notify-script.js';
import { makeDirector, type TestDirector } from '../../helpers/director.js';
import { FakeProbes } from '../../helpers/fake-probes.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';

export const VIP = '192.168.222.131';
export const SERVICE = `tcp ${VIP}:80`;

export interface ScriptRun {
  readonly atMs: number;
  readonly argv: string;
  readonly what: string;
}

export interface Harness {
  readonly td: TestDirector;
  readonly clock: VirtualClock;
  readonly probes: FakeProbes;
  readonly engine: HealthEngine;
  readonly logs: string[];
  readonly scripts: ScriptRun[];
  /** Dests of a service as "addr:port" -> weight, or null when the service does not exist. */
  dests(service?: string): Record<string, number> | null;
  /** Every control command the engine sent, as "op service [dest] [weight]". */
  readonly commands: string[];
}

export function harness(opts: { runScript?: ScriptRunner } = {}): Harness {
  const td = makeDirector();
  const clock = new VirtualClock();
  const probes = new FakeProbes(clock);
  const logs: string[] = [];
  const scripts: ScriptRun[] = [];
  const commands: string[] = [];
  const recordScript: ScriptRunner = (argv, what) => {
    scripts.push({ atMs: clock.elapsed, argv: argv.join(' '), what });
    const done: ScriptOutcome = { exitCode: 0, signal: null, timedOut: false, output: '', error: null };
    return Promise.resolve(done);
  };
  const dispatcher = {
    handle: (req: Parameters<typeof td.ctl.handle>[0]) => {
      if (req.op === 'apply') {
        for (const c of req.commands) {
          const svc =
            'service' in c && c.service !== null ? ` ${c.service.proto} ${c.service.addr}:${c.service.port}` : '';
          const dest = 'dest' in c ? ` ${c.dest.addr}:${c.dest.port}` : '';
          const weight = 'config' in c && 'weight' in c.config ? ` w${c.config.weight}` : '';
          commands.push(`${c.op}${svc}${dest}${weight}`);
        }
      }
      return td.ctl.handle(req);
    },
  };
  const engine = new HealthEngine({
    dispatcher,
    runCheck: probes.runCheck,
    clock,
    random: () => 0,
    log: (level, msg) => {
      logs.push(`${level} ${msg}`);
    },
    runScript: opts.runScript ?? recordScript,
  });
  const dests = (service = SERVICE): Record<string, number> | null => {
    const list = td.run({ op: 'list', service: null }) as ListResult;
    const s = list.services.find((x) => `${x.service.proto} ${x.service.addr}:${x.service.port}` === service);
    if (s === undefined) return null;
    const out: Record<string, number> = {};
    for (const d of [...s.dests].sort((a, b) => (a.addr < b.addr ? -1 : 1))) out[`${d.addr}:${d.port}`] = d.weight;
    return out;
  };
  return { td, clock, probes, engine, logs, scripts, dests, commands };
}
