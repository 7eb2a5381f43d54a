/**
 * tapvsadm's command-line parser against ipvsadm's behaviour (ipvsadm.c, parse_options() and
 * process_options(); docs/ipvsadm.md#parsing to #errors-and-exit-status): popt tokenizing,
 * the first-option rule, option classes, the legality matrix, values, defaults, and tapvs's own
 * refusals. Messages and exit codes are exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Parsed, parseArgs, VERSION_LINE } from '../../../src/control/ipvsadm-args.js';
import { NAMES } from './fixtures.js';

const p = (...argv: string[]): Parsed => parseArgs(argv, { names: NAMES });
const TRY = "Try `tapvsadm -h' or 'tapvsadm --help' for more information.";

function request(parsed: Parsed): unknown {
  assert.ok(parsed.kind === 'request', `expected a request, got ${JSON.stringify(parsed)}`);
  return parsed.request;
}

function fails(argv: string[], message: string, exitCode: number): void {
  const r = parseArgs(argv, { names: NAMES });
  assert.deepEqual(
    r.kind === 'error' ? { message: r.message, exitCode: r.exitCode } : r,
    { message, exitCode },
    argv.join(' '),
  );
}

const V = '192.168.222.131';
const svcCfg = (over: Record<string, unknown> = {}) => ({
  scheduler: 'wlc',
  schedFlags: [],
  persistentS: null,
  netmask: '255.255.255.255',
  ops: false,
  ...over,
});

test('args: the first option must be a command, else the Try line and 255', () => {
  for (const argv of [
    ['-nL'],
    ['-t', '1.2.3.4:80', '-A'],
    ['foo'],
    ['--foo'],
    ['-x', '1'],
    ['-L=n'],
    ['--list=x'],
    ['-t'],
  ]) {
    const r = p(...argv);
    assert.deepEqual(r, { kind: 'error', message: TRY, exitCode: 255, tryLine: true }, argv.join(' '));
  }
});

test('args: a command after the first option is "invalid option" with the whole word (2)', () => {
  fails(['-A', '-t', '1.2.3.4:80', '-L'], "invalid option `-L'", 2);
  fails(['-L', '-nA'], "invalid option `-nA'", 2);
  fails(['-L', '--list'], "invalid option `--list'", 2);
  fails(['-L', '-h'], "invalid option `-h'", 2);
  // popt has already consumed the daemon state word when ipvsadm complains: it names that word.
  fails(['-L', '--stop-daemon', 'master'], "invalid option `master'", 2);
});

test('args: popt errors print "<word>: <popt text>" and exit 255', () => {
  fails(['-L', '--foo'], '--foo: unknown option', 255);
  fails(['-L', '-k'], '-k: unknown option', 255);
  fails(['-Lnk'], '-Lnk: unknown option', 255);
  fails(['-A', '-t', '1.2.3.4:80', '-s'], '-s: missing argument', 255);
  fails(['-A', '-t'], '-t: missing argument', 255);
  // In a bundle the rest of the word is the value: `-ts` is -t with the address "s".
  fails(['-A', '-ts'], 'illegal virtual server address[:port] specified', 2);
  fails(['-L', '--numeric=1'], '--numeric=1: option does not take an argument', 255);
  fails(['-Ln=x'], '-Ln=x: option does not take an argument', 255);
});

test('args: bundled short options and long forms', () => {
  const ln = p('-Ln');
  assert.equal(ln.kind, 'list');
  assert.ok(ln.kind === 'list' && ln.options.numeric && ln.request.op === 'list' && ln.service === null);
  const lnc = p('-lnc');
  assert.ok(lnc.kind === 'list' && lnc.options.numeric && lnc.request.op === 'listConns');
  assert.deepEqual(request(p('-At', `${V}:80`, '-srr')), {
    op: 'addService',
    service: { proto: 'tcp', addr: V, port: 80 },
    config: svcCfg({ scheduler: 'rr' }),
  });
  assert.deepEqual(
    request(p('--add-service', `--tcp-service=${V}:80`, '--scheduler', 'rr')),
    request(p('-A', '-t', `${V}:80`, '-s', 'rr')),
  );
  assert.deepEqual(request(p('-A', `-t=${V}:80`)), request(p('-A', '-t', `${V}:80`)));
});

test('args: no arguments at all lists everything, non-numeric', () => {
  const r = p();
  assert.ok(r.kind === 'list' && r.request.op === 'list' && !r.options.numeric && r.service === null);
});

test('args: -p takes an optional value, 360 by default, never a word starting with "-"', () => {
  const persist = (...argv: string[]) =>
    (request(p('-A', '-t', `${V}:80`, ...argv)) as { config: { persistentS: unknown; scheduler: string } }).config;
  assert.equal(persist('-p').persistentS, 360);
  assert.equal(persist('-p', '600').persistentS, 600);
  assert.equal(persist('-p600').persistentS, 600);
  assert.equal(persist('--persistent=600').persistentS, 600);
  assert.equal(persist('--persistent', '600').persistentS, 600);
  const c = persist('-p', '-s', 'rr');
  assert.equal(c.persistentS, 360);
  assert.equal(c.scheduler, 'rr');
  assert.equal(persist('-p', '2678400').persistentS, 2678400);
  fails(['-A', '-t', `${V}:80`, '-p', '0'], "invalid timeout value `0' specified", 2);
  fails(['-A', '-t', `${V}:80`, '-p', '2678401'], "invalid timeout value `2678401' specified", 2);
  fails(['-A', '-t', `${V}:80`, '-p', 'abc'], "invalid timeout value `abc' specified", 2);
  fails(['-A', '-t', `${V}:80`, '-pn'], "invalid timeout value `n' specified", 2);
  // A port-0 service must be persistent.
  assert.equal((request(p('-A', '-t', V, '-p')) as { service: { port: number } }).service.port, 0);
  fails(['-A', '-t', V], 'Zero port specified for non-persistent service', 2);
  fails(['-E', '-t', `${V}:0`, '-s', 'rr'], 'Zero port specified for non-persistent service', 2);
});

test('args: -A and -E send every service setting, wlc when -s is absent (replace-all)', () => {
  assert.deepEqual(request(p('-E', '-t', `${V}:80`, '-p', '600')), {
    op: 'editService',
    service: { proto: 'tcp', addr: V, port: 80 },
    config: svcCfg({ persistentS: 600 }),
  });
  assert.deepEqual(request(p('-E', '-t', `${V}:80`, '-s', 'rr')), {
    op: 'editService',
    service: { proto: 'tcp', addr: V, port: 80 },
    config: svcCfg({ scheduler: 'rr' }),
  });
  assert.deepEqual(request(p('-A', '-u', `${V}:53`, '-s', 'rr', '-o', '-p', '-M', '255.255.255.0')), {
    op: 'addService',
    service: { proto: 'udp', addr: V, port: 53 },
    config: svcCfg({ scheduler: 'rr', ops: true, persistentS: 360, netmask: '255.255.255.0' }),
  });
  // ipvsadm copies at most 15 characters of the scheduler name.
  assert.equal(
    (request(p('-A', '-t', `${V}:80`, '-s', 'abcdefghijklmnopqrst')) as { config: { scheduler: string } }).config
      .scheduler,
    'abcdefghijklmno',
  );
});

test('args: -a/-e send weight 1 and thresholds 0 unless given (replace-all)', () => {
  assert.deepEqual(request(p('-e', '-t', `${V}:80`, '-r', '10.0.0.2:8080', '-m')), {
    op: 'editDest',
    service: { proto: 'tcp', addr: V, port: 80 },
    dest: { addr: '10.0.0.2', port: 8080 },
    config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
  });
  assert.deepEqual(request(p('-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m', '-w', '0', '-x', '100', '-y', '50')), {
    op: 'addDest',
    service: { proto: 'tcp', addr: V, port: 80 },
    dest: { addr: '10.0.0.2', port: 80 },
    config: { fwd: 'masq', weight: 0, uThreshold: 100, lThreshold: 50 },
  });
});

test('args: -a/-e without a method is -g, as in ipvsadm; -g, -i, -m and --fullnat', () => {
  const dest = (...a: string[]) => request(p('-a', '-t', `${V}:80`, '-r', '10.0.0.2:8080', ...a));
  const cfg = (fwd: string, extra: Record<string, unknown> = {}) => ({
    op: 'addDest',
    service: { proto: 'tcp', addr: V, port: 80 },
    // -g and -i force the real-server port to the service port (ipvsadm process_options()).
    dest: { addr: '10.0.0.2', port: fwd === 'route' || fwd === 'tunnel' ? 80 : 8080 },
    config: { fwd, weight: 1, uThreshold: 0, lThreshold: 0, ...extra },
  });
  assert.deepEqual(dest(), cfg('route'));
  assert.deepEqual(dest('-g'), cfg('route'));
  assert.deepEqual(dest('-m'), cfg('masq'));
  assert.deepEqual(dest('--fullnat'), cfg('fullnat'));
  assert.deepEqual(dest('-i'), cfg('tunnel', { tunnel: { type: 'ipip', port: 0, csum: 'nocsum' } }));
  assert.deepEqual(
    dest('-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-csum'),
    cfg('tunnel', { tunnel: { type: 'gue', port: 6080, csum: 'csum' } }),
  );
  assert.deepEqual(
    dest('-i', '--tun-type', 'gue', '--tun-port', '6080'),
    cfg('tunnel', { tunnel: { type: 'gue', port: 6080, csum: 'nocsum' } }),
  );
  assert.deepEqual(
    dest('-i', '--tun-type=gue', '--tun-port=1', '--tun-remcsum'),
    cfg('tunnel', { tunnel: { type: 'gue', port: 1, csum: 'remcsum' } }),
  );
  assert.deepEqual(
    dest('-i', '--tun-type', 'gre', '--tun-csum'),
    cfg('tunnel', { tunnel: { type: 'gre', port: 0, csum: 'csum' } }),
  );
  assert.deepEqual(
    dest('-i', '--tun-type', 'gre', '--tun-nocsum'),
    cfg('tunnel', { tunnel: { type: 'gre', port: 0, csum: 'nocsum' } }),
  );
  // -e the same way; the port is forced whether -t comes before -r or not.
  assert.deepEqual(request(p('-e', '-r', '10.0.0.2:9', '-t', `${V}:80`, '-w', '3')), {
    op: 'editDest',
    service: { proto: 'tcp', addr: V, port: 80 },
    dest: { addr: '10.0.0.2', port: 80 },
    config: { fwd: 'route', weight: 3, uThreshold: 0, lThreshold: 0 },
  });
  // One method only; --fullnat is a forwarding method like the others.
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m', '--fullnat'],
    "multiple 'forwarding-method' options specified",
    2,
  );
  fails(['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-g', '-i'], "multiple 'forwarding-method' options specified", 2);
  fails(['-A', '-t', `${V}:80`, '--fullnat'], "Illegal 'forwarding-method' option with the 'add-service' command", 2);
  // ipvsadm's -b stays --sched-flags: it needs a value.
  fails(['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-b'], '-b: missing argument', 255);
  // ipvsadm's own checks come first.
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m', '--tun-type', 'gre'],
    'Tunnel options conflict with forward method',
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-type', 'gue'],
    "You need to supply the 'tun-port' option for the 'gue' tunnel type",
    2,
  );
  fails(
    [
      '-a',
      '-t',
      `${V}:80`,
      '-r',
      '10.0.0.2',
      '-i',
      '--tun-type',
      'gue',
      '--tun-port',
      '6080',
      '--tun-csum',
      '--tun-remcsum',
    ],
    "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type",
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-type', 'ipip', '--tun-csum'],
    "Illegal 'tun-csum' option with the 'ipip' tunnel type",
    2,
  );
  fails(['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m', '--tun-type', 'vxlan'], 'illegal tunnel type specified', 2);
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-port', '6080'],
    "Illegal 'tun-port' option with the 'ipip' tunnel type",
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '--tun-type', 'ipip'],
    'Tunnel options conflict with forward method',
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '--fullnat', '--tun-csum'],
    'Tunnel options conflict with forward method',
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-type', 'gre', '--tun-remcsum'],
    "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-type', 'gre', '--tun-csum', '--tun-nocsum'],
    "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type", // bit order
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-type', 'gue', '--tun-port', '0'],
    'illegal tunnel port specified',
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-type', 'gue', '--tun-port', '65536'],
    'illegal tunnel port specified',
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-i', '--tun-csum', '--tun-csum'],
    "multiple 'tun-csum' options specified",
    2,
  );
  fails(['-A', '-t', `${V}:80`, '--tun-type', 'gue'], "Illegal 'tun-type' option with the 'add-service' command", 2);
});

test('args: --proxy-protocol on -A/-E: v1, v2, disable; insecure modes refused', () => {
  const svc = { proto: 'tcp', addr: V, port: 80 };
  assert.deepEqual(request(p('-A', '-t', `${V}:80`, '--proxy-protocol', 'v1')), {
    op: 'addService',
    service: svc,
    config: svcCfg({ proxyProtocol: 'v1' }),
  });
  assert.deepEqual(request(p('-E', '-t', `${V}:80`, '-s', 'rr', '--proxy-protocol=v2')), {
    op: 'editService',
    service: svc,
    config: svcCfg({ scheduler: 'rr', proxyProtocol: 'v2' }),
  });
  // disable is the same as not giving it (-E replaces every setting).
  assert.deepEqual(request(p('-E', '-t', `${V}:80`, '--proxy-protocol', 'disable')), {
    op: 'editService',
    service: svc,
    config: svcCfg(),
  });
  fails(
    ['-A', '-t', `${V}:80`, '--proxy-protocol', 'v2-insecure'],
    'tapvs has no insecure PROXY protocol mode (--proxy-protocol v2-insecure): use v1 or v2, which always send the client address tapvs saw',
    2,
  );
  fails(
    ['-A', '-t', `${V}:80`, '--proxy-protocol', 'v1-insecure'],
    'tapvs has no insecure PROXY protocol mode (--proxy-protocol v1-insecure): use v1 or v2, which always send the client address tapvs saw',
    2,
  );
  fails(
    ['-A', '-t', `${V}:80`, '--proxy-protocol', 'v3'],
    "illegal proxy protocol specified: `v3' (disable, v1 or v2)",
    2,
  );
  fails(['-A', '-t', `${V}:80`, '--proxy-protocol'], '--proxy-protocol: missing argument', 255);
  fails(
    ['-A', '-t', `${V}:80`, '--proxy-protocol', 'v1', '--proxy-protocol', 'v2'],
    "multiple 'proxy-protocol' options specified",
    2,
  );
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '--proxy-protocol', 'v1'],
    "Illegal 'proxy-protocol' option with the 'add-server' command",
    2,
  );
});

test('args: DPVS local addresses: -P/-Q with -z and -F, -G with or without a service', () => {
  const svc = { proto: 'tcp', addr: V, port: 80 };
  assert.deepEqual(request(p('-P', '-t', `${V}:80`, '-z', '10.0.0.100')), {
    op: 'addLaddr',
    service: svc,
    laddr: { addr: '10.0.0.100' },
  });
  assert.deepEqual(request(p('--add-laddr', '-t', `${V}:80`, '--laddr', '10.0.0.100', '--ifname', 'inside')), {
    op: 'addLaddr',
    service: svc,
    laddr: { addr: '10.0.0.100', ifname: 'inside' },
  });
  assert.deepEqual(request(p('-Q', '-u', `${V}:53`, '-z', '10.0.0.100', '-F', 'inside')), {
    op: 'deleteLaddr',
    service: { proto: 'udp', addr: V, port: 53 },
    laddr: { addr: '10.0.0.100', ifname: 'inside' },
  });
  assert.deepEqual(request(p('--del-laddr', '-t', `${V}:80`, '-z', '10.0.0.100')), {
    op: 'deleteLaddr',
    service: svc,
    laddr: { addr: '10.0.0.100' },
  });
  const g = p('-G');
  assert.ok(g.kind === 'list');
  assert.deepEqual(g.request, { op: 'listLaddrs', service: null });
  const g1 = p('--get-laddr', '-t', `${V}:80`);
  assert.ok(g1.kind === 'list');
  assert.deepEqual(g1.request, { op: 'listLaddrs', service: svc });
  fails(['-P', '-t', `${V}:80`], "You need to supply the 'local-address' option for the 'add-laddr' command", 2);
  fails(['-Q', '-z', '10.0.0.100'], "You need to supply the 'service-address' option for the 'del-laddr' command", 2);
  fails(['-P', '-t', `${V}:80`, '-z', 'nosuchhost'], 'illegal local address', 2);
  fails(['-P', '-t', `${V}:80`, '-z', '10.0.0.1', '-z', '10.0.0.2'], "multiple 'local-address' options specified", 2);
  fails(
    ['-P', '-t', `${V}:80`, '-z', '10.0.0.1', '-w', '2'],
    "Illegal 'weight' option with the 'add-laddr' command",
    2,
  );
  fails(
    ['-P', '-t', `${V}:80`, '-z', '2001:db8::1'],
    'tapvs is IPv4 only: the local address must be an IPv4 address',
    2,
  );
  fails(['-G', '-z', '10.0.0.1'], "Illegal 'local-address' option with the 'get-laddr' command", 2);
  fails(
    ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-F', 'x'],
    "Illegal 'ifname' option with the 'add-server' command",
    2,
  );
  // A command letter after the first option is not a command (ipvsadm's rule).
  fails(['-L', '-G'], "invalid option `-G'", 2);
});

test('args: addresses: dotted quads, inet_aton forms, host names, service names, port 0', () => {
  const key = (...a: string[]) => (request(p('-D', ...a)) as { service: unknown }).service;
  assert.deepEqual(key('-t', `${V}:80`), { proto: 'tcp', addr: V, port: 80 });
  assert.deepEqual(key('-t', 'lvs1:http'), { proto: 'tcp', addr: V, port: 80 });
  assert.deepEqual(key('-t', 'LVS1.example:www'), { proto: 'tcp', addr: V, port: 80 });
  assert.deepEqual(key('-u', '1.2.3.4:domain'), { proto: 'udp', addr: '1.2.3.4', port: 53 });
  assert.deepEqual(key('-t', '10.1:80'), { proto: 'tcp', addr: '10.0.0.1', port: 80 });
  assert.deepEqual(key('-t', '0x0a000001:80'), { proto: 'tcp', addr: '10.0.0.1', port: 80 });
  assert.deepEqual(key('-t', '012.0.0.1:80'), { proto: 'tcp', addr: '10.0.0.1', port: 80 });
  assert.deepEqual(key('-t', '1.2.3.4'), { proto: 'tcp', addr: '1.2.3.4', port: 0 });
  assert.deepEqual(key('-t', '1.2.3.4:0'), { proto: 'tcp', addr: '1.2.3.4', port: 0 });
  assert.deepEqual(key('-t', '1.2.3.4:+80'), { proto: 'tcp', addr: '1.2.3.4', port: 80 });
  // Inside brackets an IPv4 address loses its port, as in ipvsadm.
  assert.deepEqual(key('-t', '[1.2.3.4]:80'), { proto: 'tcp', addr: '1.2.3.4', port: 0 });
  const bad = 'illegal virtual server address[:port] specified';
  for (const a of [
    '80',
    '',
    '1.2.3.4:65536',
    '1.2.3.4:-1',
    '1.2.3.4:nosuch',
    'nosuchhost:80',
    '1.2.3.256:80',
    '1.2.3.4:',
    '[1.2.3.4]',
    '1.2.3.4:80:90',
    '1.2.3.4.5:80',
    'lvs1:https-nope',
  ]) {
    fails(['-D', '-t', a], bad, 2);
  }
  fails(['-D', '-u', '1.2.3.4:https'], bad, 2); // https is tcp-only in the test services file
});

test('args: the real-server port defaults to the service port as parsed so far', () => {
  const d = (...a: string[]) => (request(p(...a)) as { dest: unknown }).dest;
  assert.deepEqual(d('-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m'), { addr: '10.0.0.2', port: 80 });
  assert.deepEqual(d('-a', '-r', '10.0.0.2', '-t', `${V}:80`, '-m'), { addr: '10.0.0.2', port: 0 });
  assert.deepEqual(d('-a', '-t', `${V}:80`, '-r', '10.0.0.2:8080', '-m'), { addr: '10.0.0.2', port: 8080 });
  assert.deepEqual(d('-a', '-t', `${V}:80`, '-r', 'rs1:http-alt', '-m'), { addr: '10.0.0.2', port: 8080 });
  assert.deepEqual(d('-d', '-t', `${V}:80`, '-r', '10.0.0.2'), { addr: '10.0.0.2', port: 80 });
  // Service names need the protocol: before -t there is none.
  fails(['-a', '-r', '10.0.0.2:http', '-t', `${V}:80`, '-m'], 'illegal real server address[:port] specified', 2);
  fails(['-a', '-t', `${V}:80`, '-r', '80', '-m'], 'illegal real server address[:port] specified', 2);
});

test('args: weights and thresholds are range-checked', () => {
  const base = ['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m'];
  fails([...base, '-w', '65536'], 'illegal weight specified', 2);
  fails([...base, '-w', '-1'], 'illegal weight specified', 2);
  fails([...base, '-w', '1x'], 'illegal weight specified', 2);
  fails([...base, '-w', ''], 'illegal weight specified', 2);
  fails([...base, '-x', '2147483648'], 'illegal u_threshold specified', 2);
  fails([...base, '-y', 'many'], 'illegal l_threshold specified', 2);
  assert.equal(
    (request(p(...base, '-w', '65535', '-x', '2147483647')) as { config: { weight: number } }).config.weight,
    65535,
  );
});

test('args: one option per class ("multiple ... options specified")', () => {
  fails(['-A', '-t', `${V}:80`, '-u', `${V}:53`], "multiple 'service-address' options specified", 2);
  fails(['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m', '-g'], "multiple 'forwarding-method' options specified", 2);
  fails(['-L', '-n', '-n'], "multiple 'numeric' options specified", 2);
  fails(['-A', '-t', `${V}:80`, '-s', 'rr', '--scheduler', 'wlc'], "multiple 'scheduler' options specified", 2);
});

test('args: the command/option matrix, first problem in option order', () => {
  fails(['-A', '-t', `${V}:80`, '-r', '10.0.0.2'], "Illegal 'real-server' option with the 'add-service' command", 2);
  fails(['-A', '-t', `${V}:80`, '-c'], "Illegal 'connection' option with the 'add-service' command", 2);
  fails(['-A'], "You need to supply the 'service-address' option for the 'add-service' command", 2);
  fails(['-a', '-t', `${V}:80`], "You need to supply the 'real-server' option for the 'add-server' command", 2);
  fails(['-d', '-r', '10.0.0.2'], "You need to supply the 'service-address' option for the 'delete-server' command", 2);
  fails(['-D', '-t', `${V}:80`, '-s', 'rr'], "Illegal 'scheduler' option with the 'delete-service' command", 2);
  fails(['-C', '-n'], "Illegal 'numeric' option with the 'flush' command", 2);
  fails(['-S', '-c'], "Illegal 'connection' option with the 'save' command", 2);
  fails(['-Z', '-n'], "Illegal 'numeric' option with the 'zero' command", 2);
  fails(['--set', '1', '2', '3', '-n'], "Illegal 'numeric' option with the 'set' command", 2);
  fails(
    ['-L', '-c', '-t', `${V}:80`],
    "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
    2,
  );
  fails(
    ['-L', '--daemon', '--timeout'],
    "The option 'daemon' conflicts with the 'timeout' option in the 'list' command",
    2,
  );
  fails(['-L', '-s', 'rr'], "Illegal 'scheduler' option with the 'list' command", 2);
});

test('args: list conflicts beyond the matrix', () => {
  fails(['-L', '-c', '--stats'], 'options conflicts in the list command', 2);
  fails(['-L', '--timeout', '--rate'], 'options conflicts in the list command', 2);
  fails(['-L', '--timeout', '--persistent-conn'], 'options conflicts in the list command', 2);
  const r = p('-L', '-c', '--persistent-conn');
  assert.ok(r.kind === 'list' && r.request.op === 'listConns' && r.options.persistentConn);
});

test('args: listing variants and their requests', () => {
  const l = (...a: string[]) => {
    const r = p(...a);
    assert.equal(r.kind, 'list', a.join(' '));
    return r.kind === 'list' ? r : assert.fail();
  };
  assert.deepEqual(l('-L', '-t', `${V}:80`).request, { op: 'list', service: { proto: 'tcp', addr: V, port: 80 } });
  assert.deepEqual(l('-L', '--timeout').request, { op: 'getTimeouts' });
  assert.deepEqual(l('-L', '--daemon').request, { op: 'listDaemon' });
  const s = l('-L', '-n', '--stats', '--exact', '--nosort', '--sort', '--syncid', '3');
  assert.ok(s.options.stats && s.options.exact && s.options.nosort && s.options.numeric);
  assert.ok(l('-L', '-X', '--rate').options.exact);
  const save = p('-S', '-n');
  assert.ok(save.kind === 'save' && save.options.numeric && save.request.op === 'list');
});

test('args: other commands', () => {
  assert.deepEqual(request(p('-C')), { op: 'clear' });
  assert.deepEqual(request(p('-Z')), { op: 'zero', service: null });
  assert.deepEqual(request(p('-Z', '-u', `${V}:53`)), { op: 'zero', service: { proto: 'udp', addr: V, port: 53 } });
  assert.deepEqual(request(p('-D', '-t', `${V}:80`)), {
    op: 'deleteService',
    service: { proto: 'tcp', addr: V, port: 80 },
  });
  assert.deepEqual(request(p('--set', '900', '120', '0')), {
    op: 'setTimeouts',
    timeouts: { tcpS: 900, tcpFinS: 120, udpS: 0 },
  });
  assert.deepEqual(p('-R'), { kind: 'restore' });
  assert.deepEqual(parseArgs(['-R'], { names: NAMES, inRules: true }), {
    kind: 'error',
    message: TRY,
    exitCode: 255,
    tryLine: true,
  });
});

test('args: --set needs exactly three timeouts of 0..2678400', () => {
  fails(['--set', '1', '2'], '--set option requires 3 timeout values', 2);
  fails(['--set'], '--set option requires 3 timeout values', 2);
  fails(['--set', '1', '2', '3', '4'], 'unexpected argument 4', 2);
  fails(['--set', '1', '2', '2678401'], "invalid timeout value `2678401' specified", 2);
  fails(['--set', '-1', '2', '3'], '-1: unknown option', 255);
});

test('args: stray words are "unexpected argument", "--" ends options', () => {
  fails(['-L', 'foo'], 'unexpected argument foo', 2);
  fails(['foo', '-L'], 'unexpected argument foo', 2);
  fails(['-L', '--', '-n'], 'unexpected argument -n', 2);
  fails(['-L', '-'], 'unexpected argument -', 2);
  fails(['-A', '-t', `${V}:80`, '#', 'comment'], 'unexpected argument #', 2);
});

test('args: -b scheduler flags are checked against -s (or wlc), whatever the order', () => {
  const flags = (...a: string[]) =>
    (request(p('-A', '-t', `${V}:80`, ...a)) as { config: { schedFlags: string[] } }).config.schedFlags;
  assert.deepEqual(flags('-b', 'sh-port,sh-fallback', '-s', 'sh'), ['sh-fallback', 'sh-port']);
  assert.deepEqual(flags('-s', 'sh', '-b', 'flag-1'), ['sh-fallback']);
  assert.deepEqual(flags('-b', 'flag-1,flag-3'), ['flag-1', 'flag-3']);
  assert.deepEqual(flags('-s', 'mh', '-b', 'mh-port,flag-3'), ['mh-port', 'flag-3']);
  assert.deepEqual(flags('-b', ''), []);
  fails(['-A', '-t', `${V}:80`, '-b', 'sh-port'], "incompatible scheduler flag `sh-port'", 2);
  fails(['-A', '-t', `${V}:80`, '-s', 'sh', '-b', 'sh-port,mh-port'], "incompatible scheduler flag `mh-port'", 2);
  fails(['-A', '-t', `${V}:80`, '-b', 'bogus'], "invalid scheduler flag `bogus'", 2);
  // -b is checked before the matrix, as ipvsadm does.
  fails(['-a', '-t', `${V}:80`, '-b', 'bogus'], "invalid scheduler flag `bogus'", 2);
});

test('args: -o is for UDP services only', () => {
  fails(['-A', '-t', `${V}:80`, '-o'], 'One-Packet Scheduling is only for UDP virtual services', 2);
  assert.equal((request(p('-A', '-u', `${V}:53`, '--ops')) as { config: { ops: boolean } }).config.ops, true);
});

test('args: -M takes a dotted mask or a host name', () => {
  fails(['-A', '-t', `${V}:80`, '-p', '-M', 'bogus'], 'illegal virtual server persistent mask specified', 2);
  assert.equal(
    (request(p('-A', '-t', `${V}:80`, '-p', '-M', '255.255.0')) as { config: { netmask: string } }).config.netmask,
    '255.255.0.0',
  );
});

test('args: accepted like ipvsadm, then refused: fwmark, IPv6, SCTP, --pe, sync daemon', () => {
  fails(['-A', '-f', '1'], 'tapvs has no firewall-mark services (-f): use -t or -u', 2);
  fails(['-A', '-f', '1', '-6'], 'tapvs has no firewall-mark services (-f): use -t or -u', 2);
  fails(['-A', '-f', '0'], "invalid fwmark value `0' specified", 2);
  fails(['-A', '-t', `${V}:80`, '-6'], '-6 used before -f\n', 2);
  fails(['-A', '-t', '[2001:db8::1]:80'], 'tapvs is IPv4 only: the virtual service must be an IPv4 address', 2);
  fails(
    ['-a', '-t', `${V}:80`, '-r', '[2001:db8::2]:80', '-m'],
    'Different address family is allowed only for tunneling servers',
    2,
  );
  fails(['-A', '--sctp-service', `${V}:80`], 'tapvs has no SCTP services: use -t or -u', 2);
  fails(['-A', '-t', `${V}:80`, '-p', '--pe', 'sip'], 'tapvs has no persistence engines (--pe)', 2);
  fails(
    ['--start-daemon', 'master', '--mcast-group', 'ff02::1'],
    'tapvs syncs IPv4 only: give an IPv4 --mcast-group',
    2,
  );
  fails(['--start-daemon', 'primary'], 'illegal start-daemon parameter specified', 2);
  fails(['--stop-daemon', 'primary'], 'illegal start_daemon specified', 2);
  fails(['--start-daemon', 'master', '--mcast-port', '0'], 'illegal mcast-port specified', 2);
  fails(['--start-daemon', 'master', '--mcast-group', '10.0.0.1'], "invalid IPv4 mcast-group `10.0.0.1'", 2);
  fails(['--start-daemon', 'master', '--syncid', '256'], 'illegal syncid specified', 2);
});

test('args: -h and -v, first option only', () => {
  const h = p('-h', '--bogus');
  assert.ok(h.kind === 'help' && h.text.startsWith(`${VERSION_LINE}\nUsage:\n  tapvsadm -A|E virtual-service`));
  assert.ok(h.kind === 'help' && h.text.includes('  tapvsadm --set tcp tcpfin udp\n'));
  assert.deepEqual(p('--version'), { kind: 'version', text: VERSION_LINE });
  assert.match(VERSION_LINE, /ipvsadm v1\.31 .*IPVS v1\.2\.1/);
  assert.ok(p('--help').kind === 'help');
  const custom = parseArgs(['-nL'], { names: NAMES, progName: '/usr/sbin/tapvsadm' });
  assert.ok(
    custom.kind === 'error' &&
      custom.message === "Try `/usr/sbin/tapvsadm -h' or '/usr/sbin/tapvsadm --help' for more information.",
  );
});

test('args: --start-daemon and --stop-daemon: ipvsadm defaults, every option, the request', () => {
  const daemon = (over: Record<string, unknown> = {}) => ({
    role: 'master',
    mcastInterface: 'eth0', // ipvsadm's DEF_MCAST_IFN
    syncid: 0,
    maxlen: 0,
    group: 0,
    port: 0,
    ttl: 0,
    ...over,
  });
  assert.deepEqual(request(p('--start-daemon', 'master')), { op: 'startDaemon', daemon: daemon() });
  assert.deepEqual(
    request(
      p(
        '--start-daemon=backup',
        '--mcast-interface',
        'int',
        '--syncid=255',
        '--sync-maxlen',
        '65507',
        '--mcast-group',
        '239.255.255.255',
        '--mcast-port',
        '65535',
        '--mcast-ttl',
        '255',
      ),
    ),
    {
      op: 'startDaemon',
      daemon: daemon({
        role: 'backup',
        mcastInterface: 'int',
        syncid: 255,
        maxlen: 65507,
        group: 0xefffffff | 0,
        port: 65535,
        ttl: 255,
      }),
    },
  );
  // Lowest legal values; the interface is cut to IP_VS_IFNAME_MAXLEN - 1 characters.
  assert.deepEqual(
    request(
      p(
        '--start-daemon',
        'master',
        '--mcast-interface',
        'abcdefghijklmnopq',
        '--syncid',
        '0',
        '--sync-maxlen',
        '1',
        '--mcast-group',
        '224.0.0.0',
        '--mcast-port',
        '1',
        '--mcast-ttl',
        '1',
      ),
    ),
    {
      op: 'startDaemon',
      daemon: daemon({ mcastInterface: 'abcdefghijklmno', maxlen: 1, group: 0xe0000000 | 0, port: 1, ttl: 1 }),
    },
  );
  assert.deepEqual(request(p('--stop-daemon', 'backup')), { op: 'stopDaemon', role: 'backup' });
  assert.deepEqual(request(p('--stop-daemon', 'master', '--syncid', '9')), { op: 'stopDaemon', role: 'master' });
});

test("args: daemon values out of range fail with ipvsadm's words, exit 2", () => {
  const start = (...rest: string[]) => ['--start-daemon', 'master', ...rest];
  fails(['--start-daemon', 'both'], 'illegal start-daemon parameter specified', 2);
  fails(['--start-daemon', 'Master'], 'illegal start-daemon parameter specified', 2);
  fails(['--stop-daemon', 'slave'], 'illegal start_daemon specified', 2);
  for (const v of ['-1', '256', 'x', '1x', '']) fails(start('--syncid', v), 'illegal syncid specified', 2);
  fails(['--stop-daemon', 'master', '--syncid', '256'], 'illegal syncid specified', 2);
  for (const v of ['0', '65508', 'big']) fails(start('--sync-maxlen', v), 'illegal sync-maxlen specified', 2);
  for (const v of ['0', '65536', '-5']) fails(start('--mcast-port', v), 'illegal mcast-port specified', 2);
  for (const v of ['0', '256', 'one']) fails(start('--mcast-ttl', v), 'illegal mcast-ttl specified', 2);
  for (const v of ['223.255.255.255', '240.0.0.1', '224.0.0', '224.0.0.256', 'group'])
    fails(start('--mcast-group', v), `invalid IPv4 mcast-group \`${v}'`, 2);
  for (const v of ['fe80::1', 'ff::1', 'ff02::1%eth0', 'ff02:::1'])
    fails(start('--mcast-group', v), `invalid IPv6 mcast-group \`${v}'`, 2);
  // A valid IPv6 group passes ipvsadm's checks, then tapvs says why it refuses it.
  for (const v of ['ff02::1', 'FF05::2', 'ff0e:0:0:0:0:0:0:101'])
    fails(start('--mcast-group', v), 'tapvs syncs IPv4 only: give an IPv4 --mcast-group', 2);
  fails(start('--syncid', '1', '--syncid', '2'), "multiple 'syncid' options specified", 2);
});

test("args: daemon commands take only ipvsadm's options for them", () => {
  for (const opt of [['-n'], ['-t', `${V}:80`], ['--daemon'], ['--timeout'], ['-s', 'rr']]) {
    const name = {
      '-n': 'numeric',
      '-t': 'service-address',
      '--daemon': 'daemon',
      '--timeout': 'timeout',
      '-s': 'scheduler',
    }[opt[0]];
    fails(['--start-daemon', 'master', ...opt], `Illegal '${name}' option with the 'start-daemon' command`, 2);
  }
  for (const [opt, arg] of [
    ['--mcast-interface', 'int'],
    ['--mcast-group', '224.0.0.81'],
    ['--mcast-port', '8848'],
    ['--mcast-ttl', '1'],
    ['--sync-maxlen', '1472'],
  ])
    fails(['--stop-daemon', 'master', opt, arg], `Illegal '${opt.slice(2)}' option with the 'stop-daemon' command`, 2);
  // The checks run before tapvs's IPv6 refusal, as ipvsadm's would.
  fails(
    ['--stop-daemon', 'master', '--mcast-group', 'ff02::1'],
    "Illegal 'mcast-group' option with the 'stop-daemon' command",
    2,
  );
  fails(['-L', '--daemon', '--stats'], 'options conflicts in the list command', 2);
  fails(['-L', '--daemon', '--persistent-conn'], 'options conflicts in the list command', 2);
  fails(
    ['-L', '--daemon', '-t', `${V}:80`],
    "The option 'daemon' conflicts with the 'service-address' option in the 'list' command",
    2,
  );
  const l = p('-L', '--daemon', '-n');
  assert.ok(l.kind === 'list');
  assert.deepEqual(l.request, { op: 'listDaemon' });
});

test('args: daemon commands are refused in rules files', () => {
  for (const cmd of ['start-daemon', 'stop-daemon']) {
    const r = parseArgs([`--${cmd}`, 'master'], { names: NAMES, inRules: true });
    assert.deepEqual(r.kind === 'error' ? [r.message, r.exitCode] : r, [
      `--${cmd} does not belong in a rules file: run it as its own tapvsadm command`,
      2,
    ]);
  }
});
