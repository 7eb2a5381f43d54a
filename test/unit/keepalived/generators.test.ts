/** ~SEQ and ~LST expansion. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandGenerator, MAX_GENERATED_LINES } from '../../../src/keepalived/generators.js';

const same = (s: string) => s;

function values(line: string, substitute = same): string[][] {
  const g = expandGenerator(line, substitute);
  assert.ok(g.ok, g.ok ? '' : g.error);
  return g.lines.map((l) => l.bindings.map(([n, v]) => `${n}=${v}`).concat(l.text));
}

test('~SEQ: one number counts from 1 (or -1), two count towards the end, three give a step', () => {
  assert.deepEqual(values('~SEQ(i, 3) rs $i'), [
    ['i=1', 'rs $i'],
    ['i=2', 'rs $i'],
    ['i=3', 'rs $i'],
  ]);
  assert.deepEqual(
    values('~SEQ(i, -2) x').map((v) => v[0]),
    ['i=-1', 'i=-2'],
  );
  assert.deepEqual(
    values('~SEQ(i, 0) x').map((v) => v[0]),
    ['i=1', 'i=0'],
  );
  assert.deepEqual(
    values('~SEQ(i, 5, 3) x').map((v) => v[0]),
    ['i=5', 'i=4', 'i=3'],
  );
  assert.deepEqual(
    values('~SEQ(i, 10, 5, 22) x').map((v) => v[0]),
    ['i=10', 'i=15', 'i=20'],
  );
});

test('~SEQ: C integer syntax, parameters in the numbers, ~SEQx in hex', () => {
  assert.deepEqual(
    values('~SEQ(i, 0x10, 020) x').map((v) => v[0]),
    ['i=16'],
  );
  assert.deepEqual(
    values('~SEQ(i, $N) x', (s) => s.replace('$N', '2')).map((v) => v[0]),
    ['i=1', 'i=2'],
  );
  assert.deepEqual(
    values('~SEQx(h, 9, 11) x').map((v) => v[0]),
    ['h=9', 'h=a', 'h=b'],
  );
});

test('~SEQ: wrong steps, negative hex, malformed and huge sequences are errors', () => {
  for (const bad of [
    '~SEQ(i, 1, -1, 5) x',
    '~SEQ(i, 1, 0, 5) x',
    '~SEQx(i, -3) x',
    '~SEQ i 3',
    '~SEQ(i 3) x',
    '~SEQ(i, a) x',
  ]) {
    assert.equal(expandGenerator(bad, same).ok, false, bad);
  }
  const huge = expandGenerator(`~SEQ(i, ${MAX_GENERATED_LINES + 1}) x`, same);
  assert.equal(huge.ok, false);
});

test('~LST: one parameter per value, or tuples of several', () => {
  assert.deepEqual(values('~LST(h, web1, web2) host $h'), [
    ['h=web1', 'host $h'],
    ['h=web2', 'host $h'],
  ]);
  assert.deepEqual(values('~LST({a, b}, {1, 2}, {3}) $a $b'), [
    ['a=1', 'b=2', '$a $b'],
    ['a=3', 'b=', '$a $b'],
  ]);
  assert.equal(expandGenerator('~LST({a}, {1, 2}) x', same).ok, false);
  assert.equal(expandGenerator('~LST(a) x', same).ok, false);
});
