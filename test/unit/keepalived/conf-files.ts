/**
 * Test helpers: keepalived.conf texts written to a temporary directory (removed after the
 * test), read with the real reader, and diagnostics in a compact, comparable form.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Diagnostic, LvsConfig } from '../../../src/keepalived/lvs-config.js';
import { type ReadOptions, readKeepalivedConf } from '../../../src/keepalived/reader.js';

/** A fresh directory, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-kaconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` (relative name → text) under `dir`; returns the path of each. */
export function writeFiles(dir: string, files: Readonly<Record<string, string>>, mode = 0o644): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    chmodSync(p, mode);
    out[name] = p;
  }
  return out;
}

/** Reads `text` as keepalived.conf (with the given other files beside it); tags default to none. */
export function readText(
  t: TestContext,
  text: string,
  others: Readonly<Record<string, string>> = {},
  opts: ReadOptions = { tags: [] },
): LvsConfig {
  const dir = tempDir(t);
  const paths = writeFiles(dir, { 'keepalived.conf': text, ...others });
  return readKeepalivedConf(paths['keepalived.conf'], opts);
}

/** `file:line severity` per diagnostic, with the file's base name. */
export function where(diags: readonly Diagnostic[]): string[] {
  return diags.map((d) => `${basename(d.file)}:${d.line} ${d.severity}`);
}

/** `file:line severity: message` per diagnostic, with the file's base name. */
export function described(diags: readonly Diagnostic[]): string[] {
  return diags.map((d) => `${basename(d.file)}:${d.line} ${d.severity}: ${d.message}`);
}

export function errors(conf: LvsConfig): Diagnostic[] {
  return conf.diagnostics.filter((d) => d.severity === 'error');
}

export function warnings(conf: LvsConfig): Diagnostic[] {
  return conf.diagnostics.filter((d) => d.severity === 'warning');
}

/** The textbook lab's service with `body` inside its block. */
export function labService(body: string, header = 'virtual_server 192.168.222.131 80'): string {
  return `${header} {\n${body}\n}\n`;
}
