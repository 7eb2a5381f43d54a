/**
 * Errors (the configuration must not be applied) and warnings (read, not acted on), each on its
 * exact line; and the --config-test report format.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { formatDiagnostics, hasErrors } from '../../../src/keepalived/reader.js';
import { described, labService, readText } from './conf-files.js';

const BASICS = 'lb_algo rr\nlb_kind NAT\nprotocol TCP';

/**
 * Each case: the virtual server body (line 1 is `virtual_server 192.168.222.131 80 {`, so the
 * body's first line is line 2) and the diagnostics expected, as `line severity: text` where the
 * text must appear in the message.
 */
interface Case {
  readonly name: string;
  readonly body: string;
  readonly expect: readonly string[];
  readonly header?: string;
}

const RS = 'real_server 192.168.2.129 80 { }';

const ERROR_CASES: readonly Case[] = [
  {
    name: 'lb_kind TUN type gue without a port',
    body: `lb_algo rr\nlb_kind TUN type gue\nprotocol TCP\n${RS}`,
    expect: ['3 error: lb_kind TUN type gue needs a port'],
  },
  {
    name: 'lvs_method TUN remcsum with gre',
    body: `${BASICS}\nlvs_method TUN type gre remcsum\n${RS}`,
    expect: ['5 error: lvs_method TUN: remcsum does not apply to type gre'],
  },
  {
    name: 'real server lvs_method TUN with an unknown type',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n lvs_method TUN type vxlan\n}`,
    expect: ["6 error: lvs_method TUN: unknown tunnel type 'vxlan'"],
  },
  {
    name: 'sorry server method TUN with a port on ipip',
    body: `${BASICS}\nsorry_server 192.168.2.9 80\nsorry_server_lvs_method TUN port 5\n${RS}`,
    expect: ['6 error: sorry_server_lvs_method TUN: a port is for type gue only'],
  },
  {
    name: 'TUN with two checksum words',
    body: `${BASICS}\nlvs_method TUN type gue port 6080 csum nocsum\n${RS}`,
    expect: ["5 error: lvs_method TUN: 'nocsum' after 'csum': one checksum word only"],
  },
  {
    name: 'unknown forwarding method',
    body: `lb_algo rr\nlb_kind MASQ\nprotocol TCP\n${RS}`,
    expect: ["3 error: unknown forwarding method 'MASQ'"],
  },
  {
    name: 'no protocol',
    body: `lb_algo rr\nlb_kind NAT\n${RS}`,
    expect: ['1 error: has no protocol (keepalived would make it UDP)'],
  },
  { name: 'SCTP', body: `lb_algo rr\nlb_kind NAT\nprotocol SCTP\n${RS}`, expect: ['4 error: protocol SCTP'] },
  {
    name: 'unknown scheduler',
    body: `lb_algo rrr\nlb_kind NAT\nprotocol TCP\n${RS}`,
    expect: ["2 error: unknown scheduler 'rrr'"],
  },
  {
    name: 'scheduler names are case-sensitive',
    body: `lb_algo RR\nlb_kind NAT\nprotocol TCP\n${RS}`,
    expect: ["2 error: unknown scheduler 'RR'"],
  },
  {
    name: 'persistence engine',
    body: `${BASICS}\npersistence_engine sip\n${RS}`,
    expect: ['5 error: persistence_engine: tapvs has no persistence engines'],
  },
  {
    name: 'IPv6 real server',
    body: `${BASICS}\nreal_server 2001:db8::2 80 { }`,
    expect: ["5 error: real_server: '2001:db8::2' is an IPv6 address", '1 warning: has no real servers: ignored'],
  },
  {
    name: 'IPv6 sorry server',
    body: `${BASICS}\nsorry_server fe80::1 80\n${RS}`,
    expect: ["5 error: sorry_server: 'fe80::1' is an IPv6 address"],
  },
  {
    name: 'IPv6 family',
    body: `${BASICS}\nip_family inet6\n${RS}`,
    expect: ['5 error: ip_family inet6: tapvs forwards IPv4 only'],
  },
  {
    name: 'IPv6 granularity',
    body: `${BASICS}\npersistence_granularity 64\n${RS}`,
    expect: ['5 error: an IPv6 prefix length'],
  },
  {
    name: 'IPv6 connect_ip and bindto',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n TCP_CHECK {\n  connect_ip ::1\n  bindto 2001:db8::9\n }\n}`,
    expect: ["7 error: connect_ip: '::1' is an IPv6 address", "8 error: bindto: '2001:db8::9' is an IPv6 address"],
  },
  {
    name: 'IPv6 virtual server',
    header: 'virtual_server 2001:db8::1 80',
    body: `${BASICS}\n${RS}`,
    expect: ["1 error: virtual_server: '2001:db8::1' is an IPv6 address"],
  },
  {
    name: 'hostname is no address',
    header: 'virtual_server www.example.com 80',
    body: `${BASICS}\n${RS}`,
    expect: ['1 error: is not an IPv4 address'],
  },
  {
    name: 'fwmark virtual server',
    header: 'virtual_server fwmark 3',
    body: `${BASICS}\n${RS}`,
    expect: ['1 error: fwmark virtual servers'],
  },
  {
    name: 'virtual server port out of range',
    header: 'virtual_server 192.168.222.131 65536',
    body: `${BASICS}\n${RS}`,
    expect: ["1 error: '65536' is not a port"],
  },
  {
    name: 'SMTP, FILE and BFD checks',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n SMTP_CHECK {\n }\n FILE_CHECK {\n  track_file f\n }\n BFD_CHECK\n}`,
    expect: [
      '6 error: SMTP_CHECK: tapvs has no SMTP checker',
      '8 error: FILE_CHECK',
      '11 error: BFD_CHECK: tapvs has no BFD',
    ],
  },
  {
    name: 'out-of-range and malformed numbers',
    body: `${BASICS}\ndelay_loop 0\nquorum 0\nweight 0\npersistence_timeout 2678401\nconnect_timeout 5000\nretry -1\nhysteresis x\n${RS}`,
    expect: [
      '5 error: delay_loop: 0 s is outside',
      '6 error: quorum: 0 is outside [1, 4294967295]',
      '7 error: weight: 0 is outside [1, 2147483647]',
      '8 error: persistence_timeout: 2678401 is outside [1, 2678400]',
      '9 error: connect_timeout: 5000 s is outside',
      "10 error: retry: negative number '-1'",
      "11 error: hysteresis: invalid number 'x'",
    ],
  },
  {
    name: 'timers longer than tapvs can arm',
    body: `${BASICS}\ndelay_loop 2147484\n${RS}`,
    expect: ['5 error: delay_loop: 2147484 s is outside [0.000001, 2147483.647] s'],
  },
  {
    name: 'real server and checker ranges',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n weight 2147483648\n retry 0\n TCP_CHECK {\n  connect_port 0\n  retry 4294967296\n }\n}`,
    expect: [
      '6 error: weight: 2147483648 is outside',
      '7 error: retry: 0 is outside [1,',
      '9 error: connect_port: 0 is outside [1, 65535]',
      '10 error: retry: 4294967296 is outside',
    ],
  },
  {
    name: 'unknown keywords and keywords in the wrong place',
    body: `${BASICS}\npersistance_timeout 50\nreal_server 192.168.2.129 80 {\n lb_kind NAT\n weigth 2\n TCP_CHECK {\n  nb_get_retry 3\n  path /\n }\n}`,
    expect: [
      "5 error: unknown keyword 'persistance_timeout' in virtual_server",
      "7 error: unknown keyword 'lb_kind' in real_server: in a real_server keepalived accepts lvs_method only",
      "8 error: unknown keyword 'weigth' in real_server",
      "10 error: unknown keyword 'nb_get_retry' in TCP_CHECK: keepalived accepts nb_get_retry only in HTTP_GET and SSL_GET",
      "11 error: unknown keyword 'path' in TCP_CHECK",
    ],
  },
  {
    name: 'keywords are case-sensitive',
    body: `${BASICS}\nDelay_Loop 5\n${RS}`,
    expect: ["5 error: unknown keyword 'Delay_Loop'"],
  },
  {
    name: 'checkers that keepalived drops',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n HTTP_GET {\n }\n SSL_GET {\n  url {\n   status_code 200\n  }\n }\n MISC_CHECK {\n }\n}`,
    expect: [
      '6 error: HTTP_GET has no url',
      '8 error: SSL_GET has no url',
      '9 error: url has no path',
      '13 error: MISC_CHECK has no misc_path',
    ],
  },
  {
    name: 'a probe without a port',
    body: `${BASICS}\nreal_server 192.168.2.129 {\n TCP_CHECK { }\n PING_CHECK { }\n}`,
    header: 'virtual_server 192.168.222.131',
    expect: ['1 warning: port 0 is only valid for a persistent service', '6 error: TCP_CHECK has no port to probe'],
  },
  {
    name: 'bad checker values',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n HTTP_GET {\n  url {\n   path /\n   digest 12345\n   status_code 2xx 600 300-200\n  }\n  http_protocol 2\n }\n UDP_CHECK {\n  payload zz\n  require_reply 1g\n  min_reply_length 10\n  max_reply_length 5\n }\n DNS_CHECK {\n  type PTR\n  name a.example.com\n  name ..\n }\n}`,
    expect: [
      "9 error: digest: '12345' is not an MD5 sum",
      "10 error: status_code: '2xx' is no code or range",
      "10 error: status_code: '600' is no code or range",
      "10 error: status_code: '300-200' is no code or range",
      "12 error: http_protocol: '2' is not 1.0, 1.1 or 1.0C",
      "15 error: payload: 'zz' is not a hex string",
      "16 error: require_reply: '1g' is not a hex string",
      "21 error: type: 'PTR' is not one of",
      "22 error: name 'a.example.com': keepalived refuses it",
      "23 error: name '..': keepalived refuses it",
    ],
  },
  {
    name: 'UDP reply lengths that never match',
    body: `${BASICS}\nreal_server 192.168.2.129 80 {\n UDP_CHECK {\n  require_reply\n  min_reply_length 10\n  max_reply_length 5\n }\n}`,
    expect: ['6 error: UDP_CHECK: min_reply_length 10 > max_reply_length 5: it would always fail'],
  },
  {
    name: 'flags: bad booleans, and values keepalived would ignore',
    body: `${BASICS}\ninhibit_on_failure off\nalpha false\nreal_server 192.168.2.129 80 {\n inhibit_on_failure maybe\n}`,
    expect: [
      "5 error: inhibit_on_failure takes no value here: keepalived turns it on whatever follows ('off')",
      "6 error: alpha takes no value here: keepalived turns it on whatever follows ('false')",
      "8 error: inhibit_on_failure: 'maybe' is not on/off, true/false or yes/no",
    ],
  },
  {
    name: 'keywords that depend on an earlier one',
    body: `${BASICS}\nsorry_server_inhibit\nsorry_server_lvs_method NAT\n${RS}`,
    expect: [
      '5 error: sorry_server_inhibit needs a sorry_server before it',
      '6 error: sorry_server_lvs_method needs a sorry_server before it',
    ],
  },
  {
    name: 'scripts given twice, unterminated script quotes',
    body: `${BASICS}\nquorum_up /bin/a\nquorum_up /bin/b\nreal_server 192.168.2.129 80 {\n notify_down "/bin/x 'y"\n MISC_CHECK {\n  misc_path ""\n }\n}`,
    expect: [
      '6 error: quorum_up given twice (keepalived keeps the first)',
      "8 error: notify_down: missing terminating '",
      '10 error: misc_path: the command is empty',
      '9 error: MISC_CHECK has no misc_path',
    ],
  },
  {
    name: 'missing values and unexpected blocks',
    body: `${BASICS}\ndelay_loop\nquorum { 2 }\nreal_server 192.168.2.129 80\n`,
    expect: [
      '1 warning: has no real servers: ignored',
      '5 error: delay_loop: missing value',
      "6 error: quorum takes no '{ … }' block",
      "7 error: real_server needs a '{ … }' block",
    ],
  },
];

/** Sorts case expectations the way diagnostics come: by line, keeping the order within a line. */
function byLine(expect: readonly string[]): string[] {
  return expect
    .map((e, i) => ({ e, i, line: Number(e.split(' ')[0]) }))
    .sort((a, b) => a.line - b.line || a.i - b.i)
    .map((x) => x.e);
}

function check(t: TestContext, c: Case): void {
  const conf = readText(t, labService(c.body, c.header));
  const got = described(conf.diagnostics).map((d) => d.replace(/^keepalived\.conf:/, ''));
  const want = byLine(c.expect);
  assert.equal(got.length, want.length, `${c.name}:\n${got.join('\n')}`);
  for (let i = 0; i < want.length; i++) {
    const m = /^(\d+ (?:error|warning): )(.*)$/.exec(want[i]);
    assert.ok(m !== null, want[i]);
    const [, head, text] = m;
    assert.ok(got[i].startsWith(head) && got[i].includes(text), `${c.name}: want '${want[i]}', got '${got[i]}'`);
  }
  assert.equal(
    hasErrors(conf.diagnostics),
    c.expect.some((e) => e.includes(' error: ')),
  );
}

for (const c of ERROR_CASES) test(`errors: ${c.name}`, (t) => check(t, c));

test('errors: the same service twice, a group defined twice', (t) => {
  const vs = labService(`${BASICS}\n${RS}`);
  const conf = readText(
    t,
    `${vs}${vs}virtual_server_group G {\n 10.0.0.1 80\n}\nvirtual_server_group G {\n 10.0.0.2 80\n}\n`,
  );
  assert.deepEqual(
    described(conf.diagnostics).map((d) => d.replace(/at .*keepalived\.conf:/, 'at :')),
    [
      'keepalived.conf:7 error: service tcp 192.168.222.131:80 is already defined at :1',
      'keepalived.conf:16 error: virtual_server_group G is already defined at :13',
    ],
  );
  assert.equal(conf.virtualServers.length, 1);
});

test('warnings: what tapvs reads but does not act on, one per item', (t) => {
  const conf = readText(
    t,
    `global_defs {
  router_id A
  notification_email {
    a@b
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  smtp_alert
  dont_track_primary
}
vrrp_script chk { script /bin/true }
static_ipaddress {
  10.0.0.1/24 dev eth0
}
SSL { }
frobnicate 3
virtual_server 192.168.222.131 80 {
  ${BASICS.replace(/\n/g, '\n  ')}
  smtp_alert
  snmp_name web
  hashed
  ha_suspend
  quorum_up "/bin/q" nobody
  real_server 192.168.2.129 80 {
    smtp_alert off
    TCP_CHECK {
      bind_if eth1
      fwmark 5
    }
    HTTP_GET {
      tls_compliant
      url {
        path /
        regex "ok"
        regex_no_match
      }
    }
    MISC_CHECK {
      misc_path /bin/x extra
      user nobody
    }
    notify_up /bin/up root root
  }
  real_server 192.168.2.130 80 {
    HTTP_GET {
      url { path / }
      nb_get_retry 2
    }
  }
}
virtual_server 192.168.222.132 80 {
  ${BASICS.replace(/\n/g, '\n  ')}
}
`,
  );
  assert.deepEqual(
    described(conf.diagnostics).map((d) => d.replace(/ \(.*$/, '')),
    [
      'keepalived.conf:2 warning: global_defs router_id: not used by tapvs',
      'keepalived.conf:3 warning: global_defs notification_email: not used by tapvs',
      'keepalived.conf:10 warning: smtp_alert: not used by tapvs',
      'keepalived.conf:11 warning: dont_track_primary: not used by tapvs',
      'keepalived.conf:13 warning: vrrp_script chk: not used by tapvs',
      'keepalived.conf:14 warning: static_ipaddress: not used by tapvs',
      'keepalived.conf:17 warning: SSL: not used by tapvs',
      "keepalived.conf:18 warning: unknown top-level keyword 'frobnicate': ignored",
      'keepalived.conf:23 warning: smtp_alert: not used by tapvs',
      'keepalived.conf:24 warning: snmp_name: not used by tapvs',
      'keepalived.conf:25 warning: hashed: not used by tapvs',
      'keepalived.conf:26 warning: ha_suspend: checkers always run',
      'keepalived.conf:27 warning: quorum_up: user and group not used by tapvs',
      'keepalived.conf:29 warning: smtp_alert: not used by tapvs',
      'keepalived.conf:31 warning: bind_if: not used by tapvs',
      'keepalived.conf:32 warning: fwmark: not used by tapvs',
      'keepalived.conf:35 warning: tls_compliant: not used by tapvs',
      'keepalived.conf:38 warning: regex: not used by tapvs',
      'keepalived.conf:39 warning: regex_no_match: not used by tapvs',
      'keepalived.conf:43 warning: misc_path: words after the command are ignored',
      'keepalived.conf:44 warning: user: not used by tapvs',
      'keepalived.conf:46 warning: notify_up: user and group not used by tapvs',
      "keepalived.conf:51 warning: nb_get_retry is deprecated: use 'retry'",
      'keepalived.conf:55 warning: virtual_server 192.168.222.132 80 has no real servers: ignored',
    ],
  );
  assert.equal(hasErrors(conf.diagnostics), false);
  assert.equal(conf.virtualServers.length, 1);
});

test('formatDiagnostics: FILE:LINE: severity: message, file order then line; FILE: for a whole file', () => {
  const text = formatDiagnostics([
    { file: 'b.conf', line: 3, severity: 'warning', message: 'late' },
    { file: 'main.conf', line: 9, severity: 'error', message: 'second' },
    { file: 'b.conf', line: 1, severity: 'error', message: 'two\nlines' },
    { file: 'main.conf', line: 2, severity: 'warning', message: 'first' },
    { file: 'gone.conf', line: 0, severity: 'error', message: 'no such file' },
  ]);
  assert.equal(
    text,
    [
      'b.conf:1: error: two lines',
      'b.conf:3: warning: late',
      'main.conf:2: warning: first',
      'main.conf:9: error: second',
      'gone.conf: error: no such file',
      '',
    ].join('\n'),
  );
  assert.equal(formatDiagnostics([]), '');
});

test('diagnostics: sorted by file (main first, then in reading order), then by line', (t) => {
  const conf = readText(
    t,
    `include a.conf\nvirtual_server 192.168.222.131 80 {\n  ${BASICS.replace(/\n/g, '\n  ')}\n  include b.conf\n  weight x\n}\n`,
    { 'a.conf': 'bogus_top 1\n', 'b.conf': '\n\nreal_server 1.2.3 80 { }\n' },
  );
  assert.deepEqual(
    described(conf.diagnostics).map((d) => d.replace(/: .*/, '')),
    ['keepalived.conf:2 warning', 'keepalived.conf:7 error', 'a.conf:1 warning', 'b.conf:3 error'],
  );
});
