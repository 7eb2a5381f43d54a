/**
 * keepalived.conf syntax, read from real files in a temporary directory: comments, quotes,
 * braces, includes with globs, parameters, conditionals, generators, and the problems of each,
 * with their file and line.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is keepalived's parameter syntax under test
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type ConfStatement, readKeepalivedBlocks } from '../../../src/keepalived/reader.js';
import { described, tempDir, where, writeFiles } from './conf-files.js';

/** Statements as `keyword args` strings, a block as a nested array after its statement. */
type Shape = Array<string | Shape>;
function shape(sts: readonly ConfStatement[]): Shape {
  const out: Shape = [];
  for (const s of sts) {
    out.push([s.keyword, ...s.args].join(' '));
    if (s.block !== null) out.push(shape(s.block));
  }
  return out;
}

function read(t: TestContext, files: Record<string, string>, tags: string[] = []) {
  const dir = tempDir(t);
  const paths = writeFiles(dir, files);
  return { dir, paths, ...readKeepalivedBlocks(paths['keepalived.conf'], { tags }) };
}

test('lexer: comments, blank lines, quotes and braces anywhere on a line', (t) => {
  const r = read(t, {
    'keepalived.conf': [
      '! header comment',
      '',
      'virtual_server 10.0.0.1 80 { # trailing comment',
      '  real_server 10.0.0.2 80 { weight 2 }',
      '  virtualhost "my host # not a comment"',
      '  real_server 10.0.0.3 80',
      '  {',
      '    TCP_CHECK { connect_timeout 3 } }',
      '}',
    ].join('\n'),
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(shape(r.statements), [
    'virtual_server 10.0.0.1 80',
    [
      'real_server 10.0.0.2 80',
      ['weight 2'],
      'virtualhost my host # not a comment',
      'real_server 10.0.0.3 80',
      ['TCP_CHECK', ['connect_timeout 3']],
    ],
  ]);
  assert.deepEqual(
    r.statements[0].block?.map((s) => s.at.line),
    [4, 5, 6],
  );
});

test('lexer: CRLF line endings are read like LF', (t) => {
  const r = read(t, { 'keepalived.conf': 'global_defs {\r\n  router_id A\r\n}\r\n' });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(shape(r.statements), ['global_defs', ['router_id A']]);
});

test('lexer: includes with globs, sorted, relative to the including file, read in place', (t) => {
  const r = read(t, {
    'keepalived.conf': 'include conf.d/*.conf\ninclude sub/{b,a}.conf\nlast\n',
    'conf.d/20-second.conf': 'second\n',
    'conf.d/10-first.conf': 'first\n',
    'conf.d/.hidden.conf': 'hidden\n',
    'conf.d/notes.txt': 'not matched\n',
    'sub/a.conf': 'a\ninclude ../sub/nested/*.conf\n',
    'sub/b.conf': 'b\n',
    'sub/nested/n.conf': 'nested\n',
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(shape(r.statements), ['first', 'second', 'b', 'a', 'nested', 'last']);
  assert.deepEqual(
    r.files.map((f) => f.slice(r.dir.length + 1)),
    [
      'keepalived.conf',
      'conf.d/10-first.conf',
      'conf.d/20-second.conf',
      'sub/b.conf',
      'sub/a.conf',
      'sub/nested/n.conf',
    ],
  );
  const nested = r.statements[4];
  assert.deepEqual([nested.at.file, nested.at.line], [join(r.dir, 'sub/nested/n.conf'), 1]);
});

test('lexer: a block may open in one file and close in an included one', (t) => {
  const r = read(t, {
    'keepalived.conf': 'virtual_server 10.0.0.1 80 {\n  include rs.conf\n',
    'rs.conf': '  real_server 10.0.0.2 80 {\n  }\n}\n',
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(shape(r.statements), ['virtual_server 10.0.0.1 80', ['real_server 10.0.0.2 80', []]]);
});

test('lexer: a missing include is an error; a wildcard matching nothing a warning (an error for includew)', (t) => {
  const r = read(t, {
    'keepalived.conf': 'include missing.conf\ninclude none/*.conf\nincludew none/*.conf\ninclude {here,gone}.conf\n',
    'here.conf': 'here\n',
  });
  assert.deepEqual(where(r.diagnostics), [
    'keepalived.conf:1 error',
    'keepalived.conf:2 warning',
    'keepalived.conf:3 error',
    'keepalived.conf:4 error',
  ]);
  assert.match(r.diagnostics[0].message, /missing\.conf: no such file/);
  assert.match(r.diagnostics[3].message, /gone\.conf: no such file/);
  assert.deepEqual(shape(r.statements), ['here']);
});

test('lexer: executable and directory includes are errors (keepalived would skip them)', (t) => {
  const dir = tempDir(t);
  const paths = writeFiles(dir, {
    'keepalived.conf': 'include exec.conf\ninclude d\ninclude d*\n',
    'exec.conf': 'x\n',
  });
  chmodSync(paths['exec.conf'], 0o755);
  mkdirSync(join(dir, 'd'));
  const r = readKeepalivedBlocks(paths['keepalived.conf'], { tags: [] });
  assert.deepEqual(described(r.diagnostics), [
    `keepalived.conf:1 error: include: ${join(dir, 'exec.conf')} is executable (keepalived skips such files): remove its execute bits`,
    `keepalived.conf:2 error: include: ${join(dir, 'd')} is a directory`,
    `keepalived.conf:3 warning: include: ${join(dir, 'd')} is a directory: skipped`,
  ]);
});

test('lexer: a file including itself stops with an error instead of looping', (t) => {
  const r = read(t, { 'keepalived.conf': 'a\ninclude keepalived.conf\n' });
  const errs = r.diagnostics.filter((d) => d.severity === 'error');
  assert.equal(errs.length, 1);
  assert.match(errs[0].message, /nested deeper than/);
  assert.equal(errs[0].line, 2);
});

test('lexer: the main file missing or executable is an error on line 0 of that file', (t) => {
  const dir = tempDir(t);
  const missing = readKeepalivedBlocks(join(dir, 'nope.conf'), { tags: [] });
  assert.deepEqual(described(missing.diagnostics), ['nope.conf:0 error: configuration file: no such file']);
  assert.deepEqual(missing.files, []);
  const paths = writeFiles(dir, { 'x.conf': 'a\n' }, 0o700);
  const exec = readKeepalivedBlocks(paths['x.conf'], { tags: [] });
  assert.match(exec.diagnostics[0].message, /is executable/);
});

test('lexer: parameters, ${NAME}, multi-line definitions and ${_PWD}', (t) => {
  const r = read(t, {
    'keepalived.conf': [
      '$VIP=192.168.222.131',
      '$NET=192.168.2',
      '$CHECK=TCP_CHECK { \\',
      '   connect_timeout 3 \\',
      '! a comment inside does not end it',
      '}',
      'virtual_server $VIP 80 {',
      '  real_server ${NET}.129 80 {',
      '    $CHECK',
      '  }',
      '}',
      'pwd ${_PWD}',
      'dollar $1 stays',
    ].join('\n'),
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(shape(r.statements), [
    'virtual_server 192.168.222.131 80',
    ['real_server 192.168.2.129 80', ['TCP_CHECK', ['connect_timeout 3']]],
    `pwd ${resolve(r.dir)}`,
    'dollar $1 stays',
  ]);
  const check = r.statements[0].block?.[0].block?.[0];
  assert.equal(check?.at.line, 9);
});

test('lexer: @tag and @^tag conditionals, including one produced by a parameter', (t) => {
  const files = {
    'keepalived.conf': [
      '@main   priority 150',
      '@^main  priority 100',
      '@backup\tstate BACKUP',
      '@main',
      '$ONLY_MAIN=@main',
      '$ONLY_MAIN weight 5',
    ].join('\n'),
  };
  assert.deepEqual(shape(read(t, files, ['main']).statements), ['priority 150', 'weight 5']);
  assert.deepEqual(shape(read(t, files, ['backup']).statements), ['priority 100', 'state BACKUP']);
  assert.deepEqual(shape(read(t, files, ['main', 'backup']).statements), ['priority 150', 'state BACKUP', 'weight 5']);
});

test('lexer: ~SEQ generates lines read like written ones, with the generator line number', (t) => {
  const r = read(t, {
    'keepalived.conf':
      '$NET=10.0.0\nvirtual_server 10.0.0.1 80 {\n~SEQ(n, 2, 4) real_server ${NET}.$n 80 { weight $n }\n}\n',
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(shape(r.statements), [
    'virtual_server 10.0.0.1 80',
    [
      'real_server 10.0.0.2 80',
      ['weight 2'],
      'real_server 10.0.0.3 80',
      ['weight 3'],
      'real_server 10.0.0.4 80',
      ['weight 4'],
    ],
  ]);
  assert.ok(r.statements[0].block?.every((s) => s.at.line === 3));
});

test('lexer: NUL bytes, over-long lines and unterminated quotes are errors on their line', (t) => {
  const r = read(t, {
    'keepalived.conf': `ok 1\nbad\0line\n${'x'.repeat(1100)}\npath "/open\n~SEQ(i, 0, 0, 3) x\n$L=$L\n$L\nok 2\n`,
  });
  assert.deepEqual(where(r.diagnostics), [
    'keepalived.conf:2 error',
    'keepalived.conf:3 error',
    'keepalived.conf:4 error',
    'keepalived.conf:5 error',
    'keepalived.conf:7 error',
  ]);
  assert.deepEqual(shape(r.statements), ['ok 1', 'path', 'ok 2']);
});

test('blocks: an extra }, a stray { and an unclosed block are errors where they are', (t) => {
  const r = read(t, {
    'keepalived.conf': 'a {\n}\n}\n{\n  c\n}\nb\n\n{ f }\nd {\n  e {\n}\n',
  });
  assert.deepEqual(described(r.diagnostics), [
    "keepalived.conf:3 error: extra '}'",
    "keepalived.conf:4 error: unexpected '{': it follows no statement",
    "keepalived.conf:10 error: 'd' block opened here is never closed: missing '}'",
  ]);
  // A '{' on a later line still opens the block of the statement before it (blank lines between).
  assert.deepEqual(shape(r.statements), ['a', [], 'b', ['f'], 'd', ['e', []]]);
});
