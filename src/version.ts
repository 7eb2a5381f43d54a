/**
 * tapvs's version: the one in package.json, read once, so that the package, `tapvsd -v` and
 * `tapvsadm -v` cannot disagree.
 *
 * package.json is found from this module's own URL, not the working directory: the compiled
 * module is dist/src/version.js, two levels below the package root, both in a checkout and in an
 * installed npm package.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
assert.ok(
  typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string',
  'package.json has no version',
);

export const TAPVS_VERSION: string = pkg.version;
