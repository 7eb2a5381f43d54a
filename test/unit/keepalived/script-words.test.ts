/** Script keywords: shell-like words, escapes, and the quoted command as argv. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scriptCommand, scriptWords } from '../../../src/keepalived/script-words.js';

test('scriptWords: single and double quotes group words', () => {
  assert.deepEqual(scriptWords(`a 'b c' "d e" f'g h'i`), { ok: true, words: ['a', 'b c', 'd e', 'fg hi'] });
});

test('scriptWords: escapes are decoded, inside quotes too', () => {
  const w = scriptWords('\\n \\t \\x41 \\101 \\cA \\q "x\\"y" \\E');
  assert.deepEqual(w, { ok: true, words: ['\n', '\t', 'A', 'A', '\x01', 'q', 'x"y', '\x1b'] });
  assert.deepEqual(scriptWords('a\\ b'), { ok: true, words: ['a b'] });
  assert.deepEqual(scriptWords('\\x4142'), { ok: true, words: ['B'] });
});

test('scriptWords: an unterminated quote or a final backslash is an error', () => {
  assert.equal(scriptWords(`a 'b`).ok, false);
  assert.equal(scriptWords('a \\').ok, false);
});

test('scriptCommand: the second word is the command line, split again into argv', () => {
  assert.deepEqual(scriptCommand(`misc_path "/bin/check -p 80 'max load'"`), {
    ok: true,
    argv: ['/bin/check', '-p', '80', 'max load'],
    extra: [],
  });
  assert.deepEqual(scriptCommand('notify_up /bin/up.sh nobody nogroup'), {
    ok: true,
    argv: ['/bin/up.sh'],
    extra: ['nobody', 'nogroup'],
  });
});

test('scriptCommand: no command or an empty one is an error', () => {
  assert.equal(scriptCommand('misc_path').ok, false);
  assert.equal(scriptCommand('misc_path ""').ok, false);
});
