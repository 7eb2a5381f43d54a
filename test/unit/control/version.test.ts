/**
 * The version comes from package.json, found from the module's own location: in this checkout,
 * and in a package installed anywhere else (run from an unrelated working directory).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION_LINE } from '../../../src/control/ipvsadm-args.js';
import { TAPVS_VERSION } from '../../../src/version.js';

test("version: package.json's version, also in tapvsadm -v", () => {
  // This file runs as dist/test/unit/control/version.test.js.
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  assert.equal(TAPVS_VERSION, pkg.version);
  assert.match(TAPVS_VERSION, /^\d+\.\d+\.\d+/);
  assert.ok(VERSION_LINE.startsWith(`tapvsadm v${TAPVS_VERSION} (`), VERSION_LINE);
});

test('version: an installed copy reads its own package.json, whatever the working directory', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tapvs-version-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const pkgDir = join(root, 'node_modules', 'tapvs');
  cpSync(fileURLToPath(new URL('../../../src/', import.meta.url)), join(pkgDir, 'dist', 'src'), { recursive: true });
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'tapvs', type: 'module', version: '9.8.7' }));
  const r = spawnSync(process.execPath, [join(pkgDir, 'dist', 'src', 'cli', 'tapvsadm.js'), '-v'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^tapvsadm v9\.8\.7 \(ipvsadm v1\.31 /);
  assert.equal(r.status, 0);
});
