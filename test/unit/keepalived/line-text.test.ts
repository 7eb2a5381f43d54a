/** One line's text rules: comments, escapes of comment characters, braces, words and quotes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decomment, splitBraces, splitWords } from '../../../src/keepalived/line-text.js';

test('decomment: ! and # start a comment anywhere outside double quotes', () => {
  assert.equal(decomment('  weight 1 ! the weight').text, 'weight 1');
  assert.equal(decomment('weight 1# no blank needed').text, 'weight 1');
  assert.equal(decomment('! a whole comment line').text, '');
  assert.equal(decomment('# another').text, '');
  assert.equal(decomment('path "/a#b!c" # comment').text, 'path "/a#b!c"');
});

test('decomment: single quotes protect nothing from comments', () => {
  assert.equal(decomment("misc_path '/bin/x #1'").text, "misc_path '/bin/x");
});

test('decomment: \\# and \\! outside quotes are the characters themselves', () => {
  assert.equal(decomment('path /a\\#b\\!c').text, 'path /a#b!c');
  assert.equal(decomment('path "/a\\#b"').text, 'path "/a\\#b"');
});

test('decomment: leading and trailing blanks go, a final backslash stays for continuations', () => {
  assert.equal(decomment('\t  lb_algo rr \t').text, 'lb_algo rr');
  assert.equal(decomment('$X=a b   \\').text, '$X=a b\\');
});

test('decomment: an odd number of double quotes is reported; quotes inside a comment are not', () => {
  assert.equal(decomment('path "/x').unterminatedQuote, true);
  assert.equal(decomment('path /x # say "hi').unterminatedQuote, false);
  assert.equal(decomment('path "/x" "y"').unterminatedQuote, false);
});

test('splitBraces: braces become lines of their own, also several on one line', () => {
  assert.deepEqual(splitBraces('virtual_server 10.0.0.1 80 {'), ['virtual_server 10.0.0.1 80', '{']);
  assert.deepEqual(splitBraces('TCP_CHECK { connect_timeout 3 }'), ['TCP_CHECK', '{', 'connect_timeout 3', '}']);
  assert.deepEqual(splitBraces('}}'), ['}', '}']);
  assert.deepEqual(splitBraces('{ a } b {'), ['{', 'a', '}', 'b', '{']);
});

test('splitBraces: braces inside double quotes stay; an unmatched quote hides later braces', () => {
  assert.deepEqual(splitBraces('misc_path "/bin/x {a}" {'), ['misc_path "/bin/x {a}"', '{']);
  assert.deepEqual(splitBraces('path "/x { y'), ['path "/x { y']);
});

test('splitWords: whitespace separates, double quotes group and are removed, no escapes', () => {
  assert.deepEqual(splitWords('a  b\tc').words, ['a', 'b', 'c']);
  assert.deepEqual(splitWords('virtualhost "my host" x').words, ['virtualhost', 'my host', 'x']);
  assert.deepEqual(splitWords('say "a\\"b').words, ['say', 'a\\', 'b']);
  assert.deepEqual(splitWords('ab"cd"').words, ['ab', 'cd']);
  assert.deepEqual(splitWords('"" x').words, ['', 'x']);
});

test('splitWords: an unmatched quote loses the words after it', () => {
  const w = splitWords('a "b c');
  assert.deepEqual(w.words, ['a']);
  assert.equal(w.unmatchedQuote, true);
});
