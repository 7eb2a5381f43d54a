/** The -S/-R rules format: round trips through the formatter, tokenizing, line-numbered errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSave } from '../../../src/control/format.js';
import type { Command, ListResult } from '../../../src/control/protocol.js';
import { parseRules, parseRulesDetailed, tokenizeRuleLine } from '../../../src/control/rules-file.js';
import { TapvsError } from '../../../src/errors.js';
import { dest, list, NAMES, svc } from './fixtures.js';

/** The requests that rebuild `t` (thresholds are not part of -S, so they come back as 0). */
function rebuild(t: ListResult, sortedDests: (s: ListResult['services'][number]) => typeof s.dests): Command[] {
  const out: Command[] = [];
  for (const s of t.services) {
    out.push({ op: 'addService', service: s.service, config: s.config });
    for (const d of sortedDests(s)) {
      out.push({
        op: 'addDest',
        service: s.service,
        dest: { addr: d.addr, port: d.port },
        config: { fwd: 'masq', weight: d.weight, uThreshold: 0, lThreshold: 0 },
      });
    }
  }
  return out;
}

// Already in ipvsadm's sort order so the expected requests read in file order.
const table = list([
  svc('tcp', '192.168.222.131', 80, { scheduler: 'rr' }, [
    dest('10.0.0.2', 80, { weight: 1 }),
    dest('10.0.0.3', 8080, { weight: 0, uThreshold: 9 }),
  ]),
  svc('tcp', '192.168.222.131', 443, { scheduler: 'wlc', persistentS: 360, netmask: '255.255.255.0' }),
  svc('tcp', '192.168.222.132', 0, { scheduler: 'sh', schedFlags: ['sh-fallback', 'sh-port'], persistentS: 300 }, [
    dest('10.0.0.4', 0, { weight: 5 }),
  ]),
  svc('udp', '192.168.222.131', 53, { scheduler: 'rr', ops: true }, [dest('10.0.0.2', 5353, { weight: 2 })]),
]);

test('rules: -S -n output parses back into the same requests', () => {
  const text = formatSave(table, { numeric: true }, NAMES);
  const rules = parseRules(text, { names: NAMES });
  assert.deepEqual(
    rules.map((r) => r.request),
    rebuild(table, (s) => s.dests),
  );
  assert.deepEqual(
    rules.map((r) => r.line),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
});

test('rules: -S output with host and service names parses back through the same files', () => {
  const text = formatSave(table, {}, NAMES);
  assert.match(text, /^-A -t lvs1:http -s rr$/m);
  assert.deepEqual(
    parseRules(text, { names: NAMES }).map((r) => r.request),
    rebuild(table, (s) => s.dests),
  );
});

test('rules: tokens split on spaces, tabs and CR; ipvsadm/tapvsadm words dropped; blank lines skipped', () => {
  assert.deepEqual(tokenizeRuleLine('ipvsadm\t-A  -t 1.2.3.4:80 ipvsadm -s rr\r'), [
    '-A',
    '-t',
    '1.2.3.4:80',
    '-s',
    'rr',
  ]);
  const text = '\r\n   \nipvsadm -A -t 1.2.3.4:80 -s rr\r\n\ttapvsadm -a -t 1.2.3.4:80 -r 10.0.0.2 -m\n-C';
  const rules = parseRules(text, { names: NAMES });
  assert.deepEqual(
    rules.map((r) => [r.line, r.request.op]),
    [
      [3, 'addService'],
      [4, 'addDest'],
      [5, 'clear'],
    ],
  );
});

test('rules: full-line # comments are an extension; a trailing # is still an error', () => {
  const ok = parseRules('# saved by tapvsadm\n  # indented\n-A -t 1.2.3.4:80\n', { names: NAMES });
  assert.equal(ok.length, 1);
  assert.deepEqual(parseRulesDetailed('-A -t 1.2.3.4:80 # web\n', { names: NAMES }), {
    ok: false,
    line: 1,
    message: 'unexpected argument #',
    exitCode: 2,
  });
});

test('rules: the first bad line is reported with its number, message and ipvsadm exit code', () => {
  const text = '-A -t 1.2.3.4:80 -s rr\n\n# comment\n-a -t 1.2.3.4:80 -r 10.0.0.2 -m -w 70000\n-C\n';
  assert.deepEqual(parseRulesDetailed(text, { names: NAMES }), {
    ok: false,
    line: 4,
    message: 'illegal weight specified',
    exitCode: 2,
  });
  assert.deepEqual(parseRulesDetailed('-C\n-t 1.2.3.4:80 -A\n', { names: NAMES }), {
    ok: false,
    line: 2,
    exitCode: 255,
    message: "Try `tapvsadm -h' or 'tapvsadm --help' for more information.",
  });
  assert.deepEqual(parseRulesDetailed('-R\n', { names: NAMES }).ok, false);
  assert.throws(
    () => parseRules(text, { names: NAMES }),
    (e: unknown) =>
      e instanceof TapvsError && e.code === 'RULES_SYNTAX' && e.message === 'line 4: illegal weight specified',
  );
});

test('rules: listing, help and version lines are refused', () => {
  for (const l of ['-L -n', '-S', '-h', '-v']) {
    const r = parseRulesDetailed(`-C\n${l}\n`, { names: NAMES });
    assert.ok(!r.ok && r.line === 2 && r.exitCode === 2 && r.message.includes('rules file'), l);
  }
});

test('rules: tapvs refusals carry their line number', () => {
  assert.throws(
    () => parseRules('-A -t 1.2.3.4:80\n-a -t [2001:db8::1]:80 -r [2001:db8::2]:80 -m -w 1\n', { names: NAMES }),
    /^TapvsError: line 2: tapvs is IPv4 only: the virtual service must be an IPv4 address/,
  );
});

test('rules: an empty file is no rules', () => {
  assert.deepEqual(parseRules('', { names: NAMES }), []);
  assert.deepEqual(parseRules('\n\n# nothing\n', { names: NAMES }), []);
});
