/** `tapvsd trace` arguments with tcpdump's habits: trailing-word expressions, -w made absolute, -f kept. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTraceArgs } from '../../../src/cli/trace-args.js';

test("trace args: options, then the expression as trailing words; -w against the caller's directory", () => {
  const a = parseTraceArgs(['-i', 'ext', '-w', 'rel.pcapng', '-c', '10', '-s', '128', 'tcp', 'port', '80'], '/home/u');
  assert.equal(a.mode, 'start');
  assert.deepEqual(a.request, {
    link: 'ext',
    file: '/home/u/rel.pcapng',
    maxPackets: 10,
    snaplen: 128,
    filter: 'tcp port 80',
  });
  assert.equal(parseTraceArgs(['-w', '/abs/x.pcapng'], '/home/u').request.file, '/abs/x.pcapng');
  assert.equal(parseTraceArgs(['-w', '../x.pcapng'], '/home/u').request.file, '/home/x.pcapng');
  // Options after the expression (GNU getopt's permutation, as tcpdump has it), and `--`.
  assert.deepEqual(parseTraceArgs(['not', 'icmp', '-c', '5'], '/').request, { maxPackets: 5, filter: 'not icmp' });
  assert.equal(parseTraceArgs(['--', '-c'], '/').request.filter, '-c');
  assert.equal(parseTraceArgs(['-f', 'tcp and port 80'], '/').request.filter, 'tcp and port 80');
  assert.equal(parseTraceArgs([], '/').request.filter, undefined);
});

test('trace args: -r reads a file; --stop, --status, --socket', () => {
  const r = parseTraceArgs(['-r', 'x.pcapng', '-c', '3', 'port', '53'], '/tmp');
  assert.equal(r.mode, 'read');
  assert.equal(r.readFile, 'x.pcapng');
  assert.deepEqual(r.request, { maxPackets: 3, filter: 'port 53' });
  assert.equal(parseTraceArgs(['--stop'], '/').mode, 'stop');
  assert.equal(parseTraceArgs(['--status', '--socket', '/s'], '/').socket, '/s');
});

test('trace args: mistakes are named', () => {
  const bad = (argv: string[], re: RegExp): void => assert.throws(() => parseTraceArgs(argv, '/'), re);
  bad(['-f', 'tcp', 'port', '80'], /with -f or as trailing words, not both/);
  bad(['-c', '0'], /-c needs a positive integer/);
  bad(['-c', '1e3'], /-c needs a positive integer/);
  bad(['-w'], /-w needs a value/);
  bad(['-x'], /unknown option '-x'/);
  bad(['-r', 'f', '-w', 'g'], /-r reads a file/);
});
