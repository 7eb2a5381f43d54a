import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..', '..', '..');
const UNIT = join(ROOT, 'packaging', 'systemd', 'tapvsd.service');

/** The shipped unit with ExecStart and EnvironmentFile pointed at this tree (verify wants them to exist). */
function localUnit(edit: (text: string) => string = (t) => t): string {
  const text = readFileSync(UNIT, 'utf8')
    .replace('/usr/local/bin/tapvsd', join(ROOT, 'dist', 'src', 'cli', 'tapvsd.js'))
    .replace(
      'EnvironmentFile=/etc/default/tapvsd',
      `EnvironmentFile=${join(ROOT, 'packaging', 'systemd', 'tapvsd.default')}`,
    );
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-unit-')), 'tapvsd.service');
  writeFileSync(f, edit(text));
  return f;
}

/**
 * `--man=no`: the unit's Documentation= names ipvsadm(8) and keepalived.conf(5), pages of other
 * packages; where man-db is installed without them, verify would fail on the machine, not the unit.
 */
function verify(file: string): { code: number | null; stderr: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr.trim() };
}

test('systemd: the shipped unit passes systemd-analyze verify with no warning', () => {
  const r = verify(localUnit());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const text = readFileSync(UNIT, 'utf8');
  assert.match(text, /^Type=notify$/m);
  assert.match(text, /^RuntimeDirectory=tapvs$/m, 'the control socket lives in /run/tapvs');
  assert.match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
});

test('systemd: the check would see a broken unit (a misspelt Type is reported)', () => {
  const r = verify(localUnit((t) => t.replace('Type=notify', 'Type=notifyy')));
  assert.match(r.stderr, /notifyy/);
});
