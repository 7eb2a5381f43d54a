/**
 * Hostile input: seeded random mutations of the real-world fixtures (characters that matter to
 * the syntax inserted, lines deleted, duplicated, swapped or cut, includes and generators
 * dropped in) and random bytes. Reading never throws, never reports an internal error, every
 * diagnostic names a line of a file that exists, and whatever is returned is well-formed. The
 * count is bounded; the seed makes a failure reproducible.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import type { LvsConfig } from '../../../src/keepalived/lvs-config.js';
import { readKeepalivedConf } from '../../../src/keepalived/reader.js';
import { fixturePath } from '../../helpers/pcap.js';
import { tempDir } from './conf-files.js';

/** xorshift32: a tiny seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const SNIPPETS = [
  '{',
  '}',
  '"',
  "'",
  '\\',
  '$',
  '${',
  '@',
  '@^',
  '~SEQ(i, 3) ',
  '~LST({a,b}, {1,2}) ',
  '#',
  '!',
  '\n',
  '\0',
  '\r',
  ' ',
  '\t',
  'include *.conf\n',
  'include ../*/*.conf\n',
  '$X=$X\n',
  '$M=a \\\n',
  'virtual_server ',
  'real_server 10.0.0.1 ',
  'TCP_CHECK {',
  '2001:db8::1',
  '4294967296',
  '-1',
  '0.0000001',
  'é',
];

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else if (p.endsWith('.conf')) out.push(p);
  }
  return out;
}

function mutate(text: string, r: () => number): string {
  let s = text;
  const steps = 1 + Math.floor(r() * 4);
  for (let k = 0; k < steps; k++) {
    const at = Math.floor(r() * (s.length + 1));
    const lines = s.split('\n');
    const li = Math.floor(r() * lines.length);
    switch (Math.floor(r() * 7)) {
      case 0:
        s = s.slice(0, at) + SNIPPETS[Math.floor(r() * SNIPPETS.length)] + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 20));
        break;
      case 2:
        lines.splice(li, 1);
        s = lines.join('\n');
        break;
      case 3:
        lines.splice(li, 0, lines[Math.floor(r() * lines.length)]);
        s = lines.join('\n');
        break;
      case 4: {
        const lj = Math.floor(r() * lines.length);
        [lines[li], lines[lj]] = [lines[lj], lines[li]];
        s = lines.join('\n');
        break;
      }
      case 5:
        s = s.slice(0, at);
        break;
      default: {
        let junk = '';
        for (let i = Math.floor(r() * 12); i > 0; i--) junk += String.fromCharCode(Math.floor(r() * 128));
        s = s.slice(0, at) + junk + s.slice(at);
      }
    }
  }
  return s;
}

function wellFormed(conf: LvsConfig, root: string): void {
  for (const d of conf.diagnostics) {
    assert.ok(!d.message.includes('internal error'), d.message);
    assert.ok(Number.isInteger(d.line) && d.line >= 0, `line ${d.line}`);
    assert.ok(d.file.startsWith(root), d.file);
    assert.ok(d.severity === 'error' || d.severity === 'warning');
  }
  for (const vs of conf.virtualServers) {
    assert.ok(vs.addresses.length > 0 && vs.realServers.length > 0);
    assert.ok(vs.protocol === 'tcp' || vs.protocol === 'udp');
    for (const a of vs.addresses) assert.ok(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535);
    for (const rs of vs.realServers) {
      assert.ok(Number.isInteger(rs.port) && rs.port >= 0 && rs.port <= 65535);
      for (const c of rs.checkers) {
        for (const v of [c.connectTimeoutMs, c.delayLoopMs, c.delayBeforeRetryMs, c.warmupMs, c.retry]) {
          assert.ok(Number.isFinite(v) && v >= 0, `${c.type} ${v}`);
        }
      }
    }
  }
}

test('hostile: mutated fixtures never throw and give well-formed results', (t) => {
  const source = fixturePath('keepalived');
  const files = listFiles(source).map((f) => relative(source, f));
  const r = rng(0x6b61636f);
  let runs = 0;
  let refused = 0;
  for (const name of files) {
    for (let i = 0; i < 12; i++) {
      const dir = tempDir(t);
      cpSync(source, dir, { recursive: true });
      const target = join(dir, name);
      writeFileSync(target, mutate(readFileSync(target, 'utf8'), r));
      const main = name.startsWith('includes/') ? join(dir, 'includes/keepalived.conf') : target;
      const conf = readKeepalivedConf(main, { tags: r() < 0.5 ? ['lab-a'] : ['lab-b'] });
      wellFormed(conf, dir);
      runs++;
      if (conf.diagnostics.some((d) => d.severity === 'error')) refused++;
    }
  }
  assert.ok(runs >= 100, `${runs} runs`);
  // Most mutations break something: the test would be hollow if none were refused.
  assert.ok(refused > runs / 4, `${refused} of ${runs} refused`);
});

test('hostile: random bytes never throw', (t) => {
  const dir = tempDir(t);
  const r = rng(42);
  for (let i = 0; i < 60; i++) {
    const bytes = Buffer.alloc(Math.floor(r() * 600));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(r() * 256);
    const path = join(dir, `random-${i}.conf`);
    writeFileSync(path, bytes);
    wellFormed(readKeepalivedConf(path, { tags: [] }), dir);
  }
});

test('hostile: generators and includes that multiply stop at the line budget', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'seq.conf'), '~SEQ(i, 300) ~SEQ(j, 300) weight $i$j\n');
  const conf = readKeepalivedConf(join(dir, 'seq.conf'), { tags: [] });
  assert.ok(conf.diagnostics.some((d) => /more than \d+ lines to read/.test(d.message)));
  for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, `${n}.inc`), 'include *.inc\n');
  const loop = readKeepalivedConf(join(dir, 'a.inc'), { tags: [] });
  assert.ok(loop.diagnostics.some((d) => d.severity === 'error'));
  wellFormed(loop, dir);
});
