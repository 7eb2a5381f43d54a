/**
 * The integration tests' log check: which lines of tapvsd's logs are errors, that each is read
 * once across restarts and `lab down`, and how the allow-list matches (test/helpers/log-check.ts).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isErrorLine, scanDaemonLogs, takeDaemonErrors } from '../../../lab/daemon-log.js';
import { formatLogLine } from '../../../src/log.js';
import { loadAllowedLogErrors, unexpectedErrors } from '../../helpers/log-check.js';

test('daemon log: error lines are the ones log() writes at level error, with a timestamp or a journald prefix', () => {
  assert.ok(isErrorLine(formatLogLine('error', 'dataplane exception', { link: 'ext' }, false)));
  assert.ok(isErrorLine(formatLogLine('error', 'dataplane exception', undefined, true)));
  for (const level of ['warn', 'info', 'debug'] as const) {
    assert.ok(!isErrorLine(formatLogLine(level, 'x error tapvsd: y', undefined, false)), level);
    assert.ok(!isErrorLine(formatLogLine(level, 'x', undefined, true)), level);
  }
  assert.ok(!isErrorLine('# ip netns exec tapvs-dir node tapvsd.js --link ...'));
  assert.ok(!isErrorLine('tapvsd: ready'));
});

test('daemon log: each line is read once, across a restart (a new file) and the removal of the run directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-daemon-log-'));
  try {
    takeDaemonErrors();
    const log = join(dir, 'tapvsd.log');
    const err = (m: string): string => `${formatLogLine('error', m, undefined, false)}\n`;
    writeFileSync(log, `# command\n${err('one')}${formatLogLine('info', 'ready', undefined, false)}\n`);
    writeFileSync(join(dir, 'rs1.log'), err('not a tapvsd log'));
    scanDaemonLogs(dir);
    scanDaemonLogs(dir);
    assert.deepEqual(
      takeDaemonErrors().map((e) => [e.log, e.line.replace(/^\S+ /, '')]),
      [['tapvsd.log', 'error tapvsd: one']],
    );
    appendFileSync(log, `${err('two')}${err('three').trimEnd()}`); // the last line is not finished
    scanDaemonLogs(dir);
    assert.deepEqual(
      takeDaemonErrors().map((e) => e.line.replace(/^\S+ /, '')),
      ['error tapvsd: two'],
    );
    // The lab restarts tapvsd: it reads the old file to its end, unfinished line included, and starts over.
    scanDaemonLogs(dir, { restart: 'tapvsd.log' });
    writeFileSync(log, `# command\n${err('four')}`);
    writeFileSync(join(dir, 'tapvsd2.log'), err('five'));
    scanDaemonLogs(dir, { removing: true });
    rmSync(dir, { recursive: true, force: true });
    scanDaemonLogs(dir);
    assert.deepEqual(
      takeDaemonErrors()
        .map((e) => `${e.log} ${e.line.replace(/^\S+ /, '')}`)
        .sort(),
      ['tapvsd.log error tapvsd: four', 'tapvsd.log error tapvsd: three', 'tapvsd2.log error tapvsd: five'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log check: an entry allows its pattern in its file (and test, when it names one) only', () => {
  const lines = [
    { log: 'tapvsd.log', line: '2026-12-04T05:00:00.000Z error tapvsd: reload refused: nothing changed file="x"' },
    { log: 'tapvsd.log', line: '2026-12-04T05:00:00.000Z error tapvsd: dataplane exception: frame dropped' },
  ];
  const allowed = [
    { file: 'integration/service.test.js', pattern: 'reload refused', reason: 'on purpose' },
    { file: '*', test: 'storm', pattern: 'dataplane exception', reason: 'on purpose' },
  ];
  const left = (file: string, t: string | null): string[] =>
    unexpectedErrors(lines, allowed, file, t).map((l) => l.line.replace(/^.* tapvsd: /, ''));
  assert.deepEqual(left('integration/service.test.js', 'reload'), ['dataplane exception: frame dropped']);
  assert.deepEqual(left('integration/control.test.js', 'storm'), ['reload refused: nothing changed file="x"']);
  assert.deepEqual(left('integration/service.test.js', 'storm'), []);
  assert.deepEqual(left('integration/service.test.js', null), ['dataplane exception: frame dropped']);
});

test('log check: the repository allow-list loads, and every entry has a reason', () => {
  const list = loadAllowedLogErrors();
  for (const e of list) assert.ok(e.reason.length > 10, JSON.stringify(e));
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-allow-'));
  try {
    const f = join(dir, 'a.json');
    writeFileSync(f, JSON.stringify({ allowed: [{ file: '*', pattern: 'x' }] }));
    assert.throws(() => loadAllowedLogErrors(f), /reason/);
    writeFileSync(f, JSON.stringify({ allowed: [{ file: '*', pattern: '(', reason: 'r' }] }));
    assert.throws(() => loadAllowedLogErrors(f), SyntaxError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
