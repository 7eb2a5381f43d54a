/** The lab CLI's command line (lab/lab-args.ts): what each form parses to, and what is refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_READY_TIMEOUT_MS, parseLabCommand, UsageError } from '../../../lab/lab-args.js';

const refused = (argv: string[], message: RegExp): void => {
  assert.throws(
    () => parseLabCommand(argv),
    (e: unknown) => e instanceof UsageError && message.test(e.message),
  );
};

test('lab args: plain up starts tapvsd on TAPs with no service, the default timeout and no address override', () => {
  assert.deepEqual(parseLabCommand(['up']), {
    command: 'up',
    director: true,
    attach: 'tap',
    pcapMac: 'own',
    addresses: {},
    rules: null,
    keepalived: null,
    socket: null,
    tapvsdArgs: [],
    readyTimeoutMs: DEFAULT_READY_TIMEOUT_MS,
    method: null,
    tunType: null,
    ha: null,
  });
});

test('lab args: up --keepalived FILE passes the file, and --check-addr lands in the addresses', () => {
  const c = parseLabCommand(['up', '--keepalived', 'lab/keepalived-lab.conf', '--check-addr', '192.168.2.200']);
  assert.equal(c.command, 'up');
  if (c.command !== 'up') return;
  assert.equal(c.keepalived, 'lab/keepalived-lab.conf');
  assert.equal(c.rules, null);
  assert.deepEqual(c.addresses, { check: '192.168.2.200' });
});

test('lab args: up with every address option, pcap with the NIC MAC, no director and repeated tapvsd args', () => {
  const c = parseLabCommand([
    'up',
    '--no-director',
    '--pcap',
    '--pcap-nic-mac',
    '--rules',
    'x.rules',
    '--socket',
    '/tmp/s.sock',
    '--client',
    '10.0.1.1',
    '--vip',
    '10.0.1.2',
    '--ext-prefix',
    '25',
    '--dip',
    '10.0.2.1',
    '--rs1',
    '10.0.2.2',
    '--rs2',
    '10.0.2.3',
    '--int-prefix',
    '26',
    '--check-addr',
    '10.0.2.4',
    '--tapvsd-arg',
    '--no-offload',
    '--tapvsd-arg=--max-conns=1024',
    '--tapvsd-arg',
    '-v',
    '--ready-timeout',
    '3000',
  ]);
  assert.deepEqual(c, {
    command: 'up',
    director: false,
    attach: 'pcap',
    pcapMac: 'nic',
    addresses: {
      client: '10.0.1.1',
      vip: '10.0.1.2',
      extPrefixLen: 25,
      dip: '10.0.2.1',
      rs1: '10.0.2.2',
      rs2: '10.0.2.3',
      intPrefixLen: 26,
      check: '10.0.2.4',
    },
    rules: 'x.rules',
    keepalived: null,
    socket: '/tmp/s.sock',
    tapvsdArgs: ['--no-offload', '--max-conns=1024', '-v'],
    readyTimeoutMs: 3000,
    method: null,
    tunType: null,
    ha: null,
  });
});

test('lab args: up refuses --rules with --keepalived, --pcap-nic-mac alone and a bad --ready-timeout', () => {
  refused(['up', '--rules', 'a', '--keepalived', 'b'], /--rules or --keepalived, not both/);
  refused(['up', '--pcap-nic-mac'], /goes with --pcap/);
  refused(['up', '--ready-timeout', '0'], /milliseconds/);
  refused(['up', '--ready-timeout', '1.5'], /milliseconds/);
  refused(['up', '--keepalived'], /argument missing|--keepalived/);
  refused(['up', '--no-such-option'], /Unknown option/);
});

test('lab args: up --packet attaches with AF_PACKET on the veths, with the NIC MAC too; not with --pcap nor --ha', () => {
  const c = parseLabCommand(['up', '--packet', '--pcap-nic-mac']);
  assert.equal(c.command, 'up');
  if (c.command !== 'up') return;
  assert.equal(c.attach, 'packet');
  assert.equal(c.pcapMac, 'nic');
  refused(['up', '--packet', '--pcap'], /--pcap or --packet, not both/);
  refused(['up', '--packet', '--ha'], /--ha is for TAP directors/);
});

test('lab args: down, status and help; other commands take no options or arguments', () => {
  assert.deepEqual(parseLabCommand(['down']), { command: 'down' });
  assert.deepEqual(parseLabCommand(['status']), { command: 'status' });
  assert.deepEqual(parseLabCommand(['-h']), { command: 'help' });
  assert.deepEqual(parseLabCommand(['rs', '--help']), { command: 'help' });
  refused([], /expected a command/);
  refused(['down', '--pcap'], /down takes no options/);
  refused(['status', 'rs1'], /status takes no arguments/);
  refused(['rs', 'stop', 'rs1', '--pcap'], /rs takes no options/);
  refused(['sideways'], /unknown command "sideways"/);
});

test('lab args: rs stop, start, fail and heal name one real server', () => {
  for (const action of ['stop', 'start', 'fail', 'heal'] as const) {
    for (const server of ['rs1', 'rs2'] as const)
      assert.deepEqual(parseLabCommand(['rs', action, server]), { command: 'rs', action, server });
    refused(['rs', action], new RegExp(`usage: rs ${action} rs1\\|rs2`));
    refused(['rs', action, 'rs3'], /got "rs3"/);
    refused(['rs', action, 'rs1', 'rs2'], new RegExp(`usage: rs ${action} rs1\\|rs2`));
  }
});

test('lab args: rs link takes up or down, then the server', () => {
  assert.deepEqual(parseLabCommand(['rs', 'link', 'down', 'rs1']), {
    command: 'rs',
    action: 'link',
    state: 'down',
    server: 'rs1',
  });
  assert.deepEqual(parseLabCommand(['rs', 'link', 'up', 'rs2']), {
    command: 'rs',
    action: 'link',
    state: 'up',
    server: 'rs2',
  });
  refused(['rs', 'link', 'rs1', 'down'], /usage: rs link up\|down/);
  refused(['rs', 'link', 'down'], /usage: rs link up\|down/);
  refused(['rs', 'link', 'sideways', 'rs1'], /usage: rs link up\|down/);
});

test('lab args: rs status names one server or none; unknown rs actions are refused', () => {
  assert.deepEqual(parseLabCommand(['rs', 'status']), { command: 'rs', action: 'status', server: null });
  assert.deepEqual(parseLabCommand(['rs', 'status', 'rs2']), { command: 'rs', action: 'status', server: 'rs2' });
  refused(['rs', 'status', 'rs1', 'rs2'], /usage: rs status/);
  refused(['rs'], /rs: expected one of stop, start, fail, heal, status, link/);
  refused(['rs', 'restart', 'rs1'], /rs: expected one of/);
});

test('lab args: up --method and --tun-type', () => {
  const c = parseLabCommand(['up', '--method', 'tun', '--tun-type', 'gue']);
  assert.equal(c.command === 'up' && c.method, 'tun');
  assert.equal(c.command === 'up' && c.tunType, 'gue');
  const d = parseLabCommand(['up', '--method', 'fullnat']);
  assert.equal(d.command === 'up' && d.tunType, null);
  refused(['up', '--method', 'snat'], /--method wants nat\|dr\|tun\|fullnat/);
  refused(['up', '--method', 'dr', '--tun-type', 'gre'], /goes with --method tun/);
  refused(['up', '--method', 'tun', '--tun-type', 'vxlan'], /--tun-type wants/);
  refused(['up', '--ha', '--method', 'dr'], /not for --ha/);
});
