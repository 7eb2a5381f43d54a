/**
 * Integration tests fail on any error line in tapvsd's log: a dataplane exception, a failed
 * reload or a link failure must not pass as lost traffic or go unnoticed. Every integration test
 * file calls `checkDaemonLog(import.meta.url)` once; after each test (and once more after the
 * file, for what its teardown logged: node:test runs afterEach before the test's own t.after, so
 * the lab's `labDown()` comes later) the error lines of the lab's tapvsd logs (lab/daemon-log.ts)
 * are compared with test/allowed-log-errors.json, and any line not allowed fails the test.
 *
 * An allow-list entry names the test file (as in dist/test: "integration/faults.test.js", or
 * "*"), optionally the test's name, a regular expression for the line, and the reason the error
 * is expected there (tests that provoke it on purpose). docs/testing.md explains the policy.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type DaemonErrorLine, scanDaemonLogs, takeDaemonErrors } from '../../lab/daemon-log.js';
import { LAB } from '../../lab/lab-lib.js';

export interface AllowedLogError {
  /** The test file as in dist/test ("integration/service.test.js"), or "*". */
  readonly file: string;
  /** The test's name; absent: any test of the file, and its teardown. */
  readonly test?: string;
  /** A regular expression the error line must match. */
  readonly pattern: string;
  readonly reason: string;
}

export const ALLOWED_LOG_ERRORS_FILE = join(LAB.repoRoot, 'test', 'allowed-log-errors.json');

/** The allow-list; a malformed file throws (a check that cannot run must not pass). */
export function loadAllowedLogErrors(path = ALLOWED_LOG_ERRORS_FILE): AllowedLogError[] {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { allowed?: unknown };
  if (!Array.isArray(doc.allowed)) throw new Error(`${path}: "allowed" must be a list`);
  for (const e of doc.allowed as AllowedLogError[]) {
    if (typeof e.file !== 'string' || typeof e.pattern !== 'string' || typeof e.reason !== 'string' || e.reason === '')
      throw new Error(`${path}: every entry needs file, pattern and a reason: ${JSON.stringify(e)}`);
    new RegExp(e.pattern); // throws on a bad pattern
  }
  return doc.allowed as AllowedLogError[];
}

/** The lines no entry allows for this file and test (`test` null: the file's teardown). */
export function unexpectedErrors(
  lines: readonly DaemonErrorLine[],
  allowed: readonly AllowedLogError[],
  file: string,
  test: string | null,
): DaemonErrorLine[] {
  return lines.filter(
    (l) =>
      !allowed.some(
        (a) =>
          (a.file === '*' || a.file === file) &&
          (a.test === undefined || a.test === test) &&
          new RegExp(a.pattern).test(l.line),
      ),
  );
}

/** Fails with the unexpected lines, if any. */
function check(file: string, test: string | null): void {
  scanDaemonLogs(LAB.runDir);
  const bad = unexpectedErrors(takeDaemonErrors(), loadAllowedLogErrors(), file, test);
  if (bad.length === 0) return;
  throw new Error(
    `tapvsd logged ${bad.length} error line(s) ${test === null ? 'during the teardown' : 'during this test'}` +
      ` that test/allowed-log-errors.json does not allow for ${file}:\n` +
      bad.map((l) => `  ${l.log}: ${l.line}`).join('\n'),
  );
}

/** Installs the check for the calling test file (pass its import.meta.url). */
export function checkDaemonLog(testFileUrl: string): void {
  const file = `integration/${basename(fileURLToPath(testFileUrl))}`;
  // Whatever an earlier lab (another file, an aborted run) left is not this file's.
  before(() => {
    scanDaemonLogs(LAB.runDir);
    takeDaemonErrors();
  });
  afterEach((t) => check(file, t.name));
  after(() => check(file, null));
}
