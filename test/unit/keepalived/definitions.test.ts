/** Parameters: definition, replacement rules, multi-line values, predefined names. */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is keepalived's parameter syntax under test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Definitions } from '../../../src/keepalived/definitions.js';

function defs(): Definitions {
  return new Definitions({ instance: 'lab-a', random: () => 0.5 });
}

test('definitions: $NAME=VALUE, blanks after = skipped, no blank before it', () => {
  const d = defs();
  assert.ok(d.define('$VIP=  192.168.222.131'));
  assert.equal(d.define('$VIP =1'), null);
  assert.equal(d.define('$1X=1'), null);
  assert.equal(d.substitute('virtual_server $VIP 80', '/etc').text, 'virtual_server 192.168.222.131 80');
});

test('definitions: $NAME needs a blank, comma, parenthesis or end after it; ${NAME} works anywhere', () => {
  const d = defs();
  d.define('$N=192.168.2');
  assert.equal(d.substitute('a $N.129', '/').text, 'a $N.129');
  assert.equal(d.substitute('a ${N}.129', '/').text, 'a 192.168.2.129');
  assert.equal(d.substitute('f($N,$N)', '/').text, 'f(192.168.2,192.168.2)');
  assert.equal(d.substitute('cost $5 $UNKNOWN', '/').changed, false);
});

test('definitions: values are scanned again; a ~ value stops the line; redefinition replaces', () => {
  const d = defs();
  d.define('$A=${B}x');
  d.define('$B=b');
  assert.equal(d.substitute('$A', '/').text, 'bx');
  d.define('$B=c');
  assert.equal(d.substitute('$A', '/').text, 'cx');
  d.define('$T=~SEQ(i, 2) $B');
  assert.equal(d.substitute('$T', '/').text, '~SEQ(i, 2) $B');
});

test('definitions: a parameter that refers to itself is an error, not a hang', () => {
  const d = defs();
  d.define('$A=$A');
  assert.match(d.substitute('x $A', '/').error ?? '', /refer to themselves/);
  d.define('$B=$B$B');
  assert.match(d.substitute('x ${B}', '/').error ?? '', /longer than/);
});

test('definitions: multi-line values continue while lines end in a backslash', () => {
  const d = defs();
  const def = d.define('$CHECK=TCP_CHECK { \\');
  assert.ok(def?.multiline);
  assert.equal(d.continueDefinition(def, 'connect_timeout 3 \\'), true);
  assert.equal(d.continueDefinition(def, '\\'), true);
  assert.equal(d.continueDefinition(def, '}'), false);
  const r = d.substitute('  $CHECK', '/');
  assert.equal(r.text, '  TCP_CHECK {');
  assert.deepEqual(r.followingLines, ['connect_timeout 3', '}']);
  // Not at the end of the line: a multi-line parameter is not replaced.
  assert.equal(d.substitute('$CHECK x', '/').changed, false);
});

test('definitions: an empty line ends a multi-line definition', () => {
  const d = defs();
  const def = d.define('$M=a\\');
  assert.ok(def);
  assert.equal(d.continueDefinition(def, ''), false);
  assert.deepEqual(d.substitute('$M', '/').followingLines, ['']);
});

test('definitions: predefined _PWD, _INSTANCE, _HASH, _BANG, _RANDOM, and overriding them', () => {
  const d = defs();
  assert.equal(d.substitute('${_PWD}/x ${_INSTANCE} ${_HASH}${_BANG}', '/etc/ka').text, '/etc/ka/x lab-a #!');
  assert.equal(d.substitute('${_RANDOM 10 20}', '/').text, '15');
  assert.equal(d.substitute('${_RANDOM}', '/').text, '16384');
  assert.equal(d.substitute('${_PWD 1}', '/').changed, false);
  d.define('$_INSTANCE=mine');
  assert.equal(d.substitute('${_INSTANCE}', '/').text, 'mine');
});
