/**
 * Where tapvsd's rules come from, start to stop: a rules file (`--rules`, ipvsadm -S format) or
 * a keepalived.conf (`--keepalived`, its LVS part, with health checks). Read and checked before
 * any device exists (a bad file leaves nothing behind): parsed, then applied whole to a scratch
 * model that knows the --link prefixes (planned-links.ts), so a semantic error is reported as
 * FILE:LINE as a syntax error is, and start() cannot refuse what read() accepted. Checked alone with `--config-test`
 * (keepalived's -t), applied once the control plane runs, reloaded on SIGHUP as one atomic
 * change (unchanged rules keep connections, counters, scheduler and checker state; a file with an
 * error changes nothing and says why), and stopped with the daemon.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DesiredService } from '../control/desired-table.js';
import type { ControlDispatcher } from '../control/dispatch.js';
import type { HealthMetricsSource } from '../control/metrics.js';
import type { ListResult } from '../control/protocol.js';
import type { DirectorLinks } from '../control/rule-editor.js';
import { type RulesTable, reloadCommands, rulesTable } from '../control/rules-reload.js';
import { isTapvsError } from '../errors.js';
import { runCheck } from '../health/checks/index.js';
import { configTest } from '../health/config-test.js';
import { HealthEngine } from '../health/health-engine.js';
import type { HealthStatus } from '../health/health-status.js';
import type { Diagnostic, LvsConfig } from '../keepalived/lvs-config.js';
import { formatDiagnostics, readKeepalivedConf } from '../keepalived/reader.js';
import { log } from '../log.js';
import { formatIpv4, IPPROTO_TCP } from '../packet/ipv4.js';

export type ConfigSource = { readonly kind: 'rules' | 'keepalived'; readonly file: string } | null;

type Loaded =
  | { readonly kind: 'rules'; readonly table: RulesTable }
  | { readonly kind: 'keepalived'; readonly config: LvsConfig };

/** A file that cannot be applied: its problems, one per line as FILE:LINE: error: message. */
export class ConfigError extends Error {}

/**
 * Reads and checks the source, against the director's links when known. Throws ConfigError with
 * every problem, one per line as FILE:LINE: error: message, when it cannot be applied.
 */
function load(source: NonNullable<ConfigSource>, links: DirectorLinks | null): Loaded {
  const file = resolve(source.file);
  if (source.kind === 'rules') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read rules file ${file}: ${(e as Error).message}`);
    }
    try {
      return { kind: 'rules', table: rulesTable(text, file, links) };
    } catch (e) {
      const text = isTapvsError(e) ? e.message : String(e);
      const m = /^line (\d+): (.*)$/s.exec(text);
      throw new ConfigError(m === null ? `${file}: error: ${text}` : `${file}:${m[1]}: error: ${m[2]}`);
    }
  }
  const config = readKeepalivedConf(file);
  const problems: Diagnostic[] = [
    ...config.diagnostics.filter((d: Diagnostic) => d.severity === 'error'),
    ...configTest(config, links),
  ];
  if (problems.length > 0) throw new ConfigError(formatDiagnostics(dedupe(problems)));
  return { kind: 'keepalived', config };
}

/** configTest repeats the reader's errors: each problem once. */
function dedupe(diags: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diags.filter((d) => {
    const k = `${d.file}:${d.line}:${d.severity}:${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * `--config-test`: prints every problem (warnings too) as FILE:LINE: severity: message and
 * returns the exit status: 0 when the file would load, 1 otherwise. Creates nothing.
 */
export function testConfig(source: NonNullable<ConfigSource>, links: DirectorLinks | null = null): number {
  if (source.kind === 'keepalived') {
    const config = readKeepalivedConf(resolve(source.file));
    const all = dedupe([...config.diagnostics, ...configTest(config, links)]);
    if (all.length > 0) process.stdout.write(`${formatDiagnostics(all).trimEnd()}\n`);
    const errors = all.filter((d) => d.severity === 'error').length;
    process.stdout.write(`${resolve(source.file)}: ${errors === 0 ? 'configuration OK' : `${errors} error(s)`}\n`);
    return errors === 0 ? 0 : 1;
  }
  try {
    load(source, links);
    process.stdout.write(`${resolve(source.file)}: configuration OK\n`);
    return 0;
  } catch (e) {
    process.stdout.write(`${(e as Error).message}\n`);
    return 1;
  }
}

/** The running side: applies the loaded source, reloads it, shows its health checks. */
export class DaemonConfig implements HealthMetricsSource {
  private engine: HealthEngine | null = null;
  /** What the rules file made last time (the reload's `previous`). */
  private rulesMade: readonly DesiredService[] = [];

  private constructor(
    private readonly source: ConfigSource,
    private readonly loaded: Loaded | null,
    /** What reloads validate against: the planned links, then the running ones (useLinks). */
    private links: DirectorLinks | null,
  ) {}

  /**
   * Reads the source before devices exist, checked against `links` (the --link prefixes);
   * throws ConfigError when it cannot be applied.
   */
  static read(source: ConfigSource, links: DirectorLinks | null = null): DaemonConfig {
    if (source === null) return new DaemonConfig(null, null, links);
    const loaded = load(source, links);
    if (loaded.kind === 'keepalived') {
      for (const w of loaded.config.diagnostics.filter((d) => d.severity === 'warning')) {
        log('warn', 'keepalived.conf', { at: `${w.file}:${w.line}`, problem: w.message });
      }
    }
    return new DaemonConfig(source, loaded, links);
  }

  /** The running director's links (VRRP addresses included once held): what SIGHUP checks against. */
  useLinks(links: DirectorLinks): void {
    this.links = links;
  }

  /** Applies what was read (throws ConfigError when the control plane refuses it). */
  start(dispatcher: ControlDispatcher): void {
    if (this.loaded === null) return;
    if (this.loaded.kind === 'rules') {
      this.applyRules(dispatcher, this.loaded.table);
      return;
    }
    const engine = new HealthEngine({ dispatcher, runCheck, log });
    const outcome = engine.start(this.loaded.config);
    if (!outcome.ok) throw new ConfigError(formatDiagnostics(outcome.diagnostics));
    this.engine = engine;
  }

  /** SIGHUP: re-reads the source and applies the difference; a bad file changes nothing. */
  reload(dispatcher: ControlDispatcher): void {
    if (this.source === null) {
      log('info', 'SIGHUP: no --rules or --keepalived file to reload (tapvsadm -R changes rules)');
      return;
    }
    let next: Loaded;
    try {
      next = load(this.source, this.links);
    } catch (e) {
      log('error', 'reload refused: nothing changed', { file: this.source.file, problems: (e as Error).message });
      return;
    }
    try {
      if (next.kind === 'rules') {
        const n = this.applyRules(dispatcher, next.table);
        log('info', 'rules file reloaded', { file: this.source.file, commands: n });
        return;
      }
      const outcome = this.engine?.reload(next.config);
      if (outcome === undefined || !outcome.ok) {
        log('error', 'reload refused: nothing changed', {
          file: this.source.file,
          problems: outcome === undefined ? 'no engine' : formatDiagnostics(outcome.diagnostics),
        });
        return;
      }
      log('info', 'keepalived.conf reloaded', { file: this.source.file, commands: outcome.commands });
    } catch (e) {
      log('error', 'reload refused: nothing changed', { file: this.source.file, problems: (e as Error).message });
    }
  }

  status(): HealthStatus | undefined {
    return this.engine?.status();
  }

  /**
   * For trace comments on scheduling decisions: the real servers of the service on proto/vaddr/
   * vport that the health checks hold down, with why ("skipped 192.168.2.129:80 (down: HTTP_GET:
   * status 503)"), or null. Runs only while a trace is on.
   */
  healthNote(proto: number, vaddr: number, vport: number): string | null {
    const h = this.engine?.status();
    if (h === undefined) return null;
    const id = `${proto === IPPROTO_TCP ? 'tcp' : 'udp'} ${formatIpv4(vaddr)}:${vport}`;
    const vs = h.virtualServers.find((v) => v.services.includes(id));
    if (vs === undefined) return null;
    const down = vs.realServers.filter((r) => !r.up);
    if (down.length === 0) return null;
    const why = (server: string): string =>
      h.checkers.find((c) => c.virtualServer === vs.key && c.realServer === server && c.state === 'down')?.lastReason ??
      'checks failing';
    return `skipped ${down.map((r) => `${r.server} (down: ${why(r.server)})`).join(', ')}`;
  }

  metrics(): ReturnType<HealthMetricsSource['metrics']> {
    return this.engine === null ? { backends: [], checkDurations: [] } : this.engine.metrics();
  }

  /** With the daemon: checks stop; the rules go with the process. */
  async stop(): Promise<void> {
    await this.engine?.stop({ keepRules: true });
  }

  /** One apply from the running table to the file's; returns the number of commands. */
  private applyRules(dispatcher: ControlDispatcher, table: RulesTable): number {
    const current = dispatcher.handle({ id: 0, op: 'list', service: null }) as ListResult;
    const commands = reloadCommands(table, this.rulesMade, current);
    if (commands.length > 0) dispatcher.handle({ id: 0, op: 'apply', commands });
    this.rulesMade = table.desired;
    return commands.length;
  }
}
