/**
 * The LVS semantics: keepalived's defaults, per-type checker defaults, inheritance from virtual
 * to real server to checker, fix-ups (applied and reported as warnings), groups and ranges.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type {
  CheckerSpec,
  HttpCheck,
  LvsConfig,
  UdpCheck,
  VirtualServerConfig,
} from '../../../src/keepalived/lvs-config.js';
import { described, errors, labService, readText, warnings, where } from './conf-files.js';

/** Reads a configuration that must have no error; returns it. */
function ok(t: TestContext, text: string): LvsConfig {
  const conf = readText(t, text);
  assert.deepEqual(described(errors(conf)), []);
  return conf;
}

function onlyVs(conf: LvsConfig): VirtualServerConfig {
  assert.equal(conf.virtualServers.length, 1);
  return conf.virtualServers[0];
}

function checker(conf: LvsConfig, rs = 0, n = 0): CheckerSpec {
  return onlyVs(conf).realServers[rs].checkers[n];
}

const BASICS = 'lb_algo rr\nlb_kind NAT\nprotocol TCP';

test('semantics: a minimal virtual server gets keepalived defaults', (t) => {
  const conf = ok(t, labService(`${BASICS}\nreal_server 192.168.2.129 80 {\n TCP_CHECK {\n }\n}`));
  const vs = onlyVs(conf);
  assert.deepEqual(
    { ...vs, at: undefined, realServers: undefined },
    {
      at: undefined,
      key: 'tcp 192.168.222.131:80',
      addresses: [{ addr: '192.168.222.131', port: 80 }],
      protocol: 'tcp',
      scheduler: 'rr',
      schedFlags: [],
      ops: false,
      method: { fwd: 'masq' },
      persistenceTimeoutS: null,
      persistenceGranularity: '255.255.255.255',
      delayLoopMs: 60000,
      alpha: false,
      omega: false,
      quorum: 1,
      hysteresis: 0,
      quorumUp: null,
      quorumDown: null,
      sorryServer: null,
      sorryServerMethod: { fwd: 'masq' },
      sorryServerInhibit: false,
      haSuspend: false,
      realServers: undefined,
    },
  );
  const rs = vs.realServers[0];
  assert.deepEqual(
    [rs.addr, rs.port, rs.weight, rs.uthreshold, rs.lthreshold, rs.inhibitOnFailure],
    ['192.168.2.129', 80, 1, 0, 0, false],
  );
  assert.deepEqual([rs.notifyUp, rs.notifyDown], [null, null]);
  assert.deepEqual(
    { ...rs.checkers[0], at: undefined },
    {
      at: undefined,
      type: 'TCP_CHECK',
      connectIp: '192.168.2.129',
      connectPort: 80,
      bindTo: null,
      bindPort: 0,
      connectTimeoutMs: 5000,
      retry: 1,
      delayBeforeRetryMs: 1000,
      delayLoopMs: 60000,
      warmupMs: 60000,
      alpha: false,
      logAllFailures: false,
    },
  );
});

test('semantics: per-type defaults of retry and delay_before_retry', (t) => {
  const blocks = [
    'TCP_CHECK { }',
    'HTTP_GET { url { path / } }',
    'SSL_GET { url { path / } }',
    'MISC_CHECK { misc_path /bin/true }',
    'PING_CHECK { }',
    'UDP_CHECK { }',
    'DNS_CHECK { }',
  ];
  const body = blocks.map((b, i) => `real_server 192.168.2.${129 + i} 80 {\n ${b}\n}`).join('\n');
  const conf = ok(t, labService(`${BASICS}\ndelay_loop 7\n${body}`));
  const got = onlyVs(conf).realServers.map((rs) => {
    const c = rs.checkers[0];
    return `${c.type} ${c.retry} ${c.delayBeforeRetryMs}`;
  });
  assert.deepEqual(got, [
    'TCP_CHECK 1 1000',
    'HTTP_GET 1 3000',
    'SSL_GET 1 3000',
    'MISC_CHECK 0 1000',
    'PING_CHECK 1 1000',
    'UDP_CHECK 1 1000',
    'DNS_CHECK 3 7000',
  ]);
});

test('semantics: virtual server values flow to real servers and checkers unless they set their own', (t) => {
  const conf = ok(
    t,
    labService(`${BASICS}
retry 5
delay_before_retry 2
warmup 7
connect_timeout 4
delay_loop 9
alpha
inhibit_on_failure
weight 3
real_server 192.168.2.129 80 {
  DNS_CHECK { }
}
real_server 192.168.2.130 80 {
  weight 0
  retry 6
  delay_before_retry 1.5
  warmup 0
  connect_timeout 0.25
  delay_loop 2
  alpha off
  inhibit_on_failure false
  TCP_CHECK { }
  TCP_CHECK {
    retry 0
    delay_before_retry 0
    warmup 1
    connect_timeout 10
    delay_loop 0.000001
    alpha yes
  }
}`),
  );
  const [a, b] = onlyVs(conf).realServers;
  assert.deepEqual([a.weight, a.inhibitOnFailure, b.weight, b.inhibitOnFailure], [3, true, 0, false]);
  const summary = (c: CheckerSpec) => [
    c.retry,
    c.delayBeforeRetryMs,
    c.warmupMs,
    c.connectTimeoutMs,
    c.delayLoopMs,
    c.alpha,
  ];
  // The virtual server's retry overrides DNS_CHECK's own default of 3.
  assert.deepEqual(summary(a.checkers[0]), [5, 2000, 7000, 4000, 9000, true]);
  assert.deepEqual(summary(b.checkers[0]), [6, 1500, 0, 250, 2000, false]);
  assert.deepEqual(summary(b.checkers[1]), [0, 0, 1000, 10000, 0.001, true]);
});

test('semantics: warmup defaults to the checker delay_loop, delay_before_retry of DNS too', (t) => {
  const conf = ok(t, labService(`${BASICS}\nreal_server 192.168.2.129 80 {\n DNS_CHECK { delay_loop 4 }\n}`));
  const c = checker(conf);
  assert.deepEqual([c.delayLoopMs, c.warmupMs, c.delayBeforeRetryMs, c.retry], [4000, 4000, 4000, 3]);
});

test('semantics: MISC_CHECK times out after misc_timeout, else the virtual server delay_loop', (t) => {
  const conf = ok(
    t,
    labService(`${BASICS}
delay_loop 30
real_server 192.168.2.129 80 {
  delay_loop 5
  MISC_CHECK { misc_path "/bin/check a 'b c'" }
  MISC_CHECK { misc_path /bin/other
    misc_timeout 3
    misc_dynamic }
}`),
  );
  const [m1, m2] = onlyVs(conf).realServers[0].checkers;
  assert.deepEqual(m1.type === 'MISC_CHECK' && [m1.argv, m1.timeoutMs, m1.dynamic, m1.delayLoopMs], [
    ['/bin/check', 'a', 'b c'],
    30000,
    false,
    5000,
  ]);
  assert.deepEqual(m2.type === 'MISC_CHECK' && [m2.argv, m2.timeoutMs, m2.dynamic], [['/bin/other'], 3000, true]);
});

test('semantics: probe destination and source', (t) => {
  const conf = ok(
    t,
    labService(`${BASICS}
real_server 192.168.2.129 80 {
  TCP_CHECK { connect_ip 192.168.2.200
    connect_port 8080
    bindto 192.168.2.1
    bind_port 40000 }
  PING_CHECK { }
}
real_server 192.168.2.130 {
  TCP_CHECK { connect_port 81 }
}`),
  );
  const [a, b] = onlyVs(conf).realServers;
  const c = a.checkers[0];
  assert.deepEqual([c.connectIp, c.connectPort, c.bindTo, c.bindPort], ['192.168.2.200', 8080, '192.168.2.1', 40000]);
  assert.deepEqual([a.checkers[1].connectIp, a.checkers[1].connectPort], ['192.168.2.129', 80]);
  // A real server without port gets the service's; its checker keeps what was written (none).
  assert.equal(b.port, 80);
  assert.equal(b.checkers[0].connectPort, 81);
});

test('semantics: HTTP Host header and SNI resolution, status ranges and digests', (t) => {
  const conf = ok(
    t,
    labService(`${BASICS}
virtualhost vs.example
real_server 192.168.2.129 80 {
  virtualhost rs.example
  SSL_GET {
    enable_sni
    url { path /a
      status_code 404 200-201 202 300-301
      digest ABCDEF0123456789ABCDEF0123456789 }
    url { path /b
      virtualhost url.example }
  }
  SSL_GET {
    virtualhost chk.example
    url { path /c }
  }
  HTTP_GET {
    enable_sni
    url { path /d }
  }
}`),
  );
  const [ssl1, ssl2, http] = onlyVs(conf).realServers[0].checkers as HttpCheck[];
  assert.deepEqual(
    ssl1.urls.map((u) => [u.path, u.virtualhost, u.sniName]),
    [
      ['/a', 'rs.example', 'vs.example'],
      ['/b', 'url.example', 'url.example'],
    ],
  );
  assert.equal(ssl1.sniName, 'vs.example');
  assert.deepEqual(ssl1.urls[0].statusCodes, [
    [200, 202],
    [300, 301],
    [404, 404],
  ]);
  assert.equal(ssl1.urls[0].digest, 'abcdef0123456789abcdef0123456789');
  assert.deepEqual(ssl1.urls[1].statusCodes, [[200, 299]]);
  // SNI is off without enable_sni or sni_name; HTTP_GET has none.
  assert.deepEqual([ssl2.urls[0].virtualhost, ssl2.urls[0].sniName, ssl2.sniName], ['chk.example', null, null]);
  assert.deepEqual([http.urls[0].sniName, http.sniName, http.httpProtocol], [null, null, '1.0']);
});

test('semantics: UDP payload bytes and reply pattern', (t) => {
  const conf = ok(
    t,
    labService(`${BASICS}
real_server 192.168.2.129 80 {
  UDP_CHECK { payload 0102 a ff
    require_reply 4X5 x
    max_reply_length 9 }
  UDP_CHECK { require_reply }
}`),
  );
  const [a, b] = onlyVs(conf).realServers[0].checkers as UdpCheck[];
  assert.deepEqual(Array.from(a.payload ?? []), [1, 2, 10, 255]);
  assert.deepEqual([a.requireReply, a.minReplyLength, a.maxReplyLength], ['4x050x', 0, 9]);
  assert.deepEqual([b.payload, b.requireReply, b.maxReplyLength], [null, '', 255]);
});

test('semantics: scripts as argv, quorum and sorry server', (t) => {
  const conf = ok(
    t,
    labService(`${BASICS}
quorum 2
hysteresis 1
quorum_up "/bin/q up"
quorum_down /bin/qdown
sorry_server 192.168.2.200
sorry_server_inhibit
omega
real_server 192.168.2.129 80 {
  weight 2
  notify_up "/bin/n 'up now'"
}
real_server 192.168.2.130 80 { }`),
  );
  const vs = onlyVs(conf);
  assert.deepEqual([vs.quorum, vs.hysteresis, vs.quorumUp, vs.quorumDown], [2, 1, ['/bin/q', 'up'], ['/bin/qdown']]);
  assert.deepEqual(
    [vs.sorryServer, vs.sorryServerInhibit, vs.omega],
    [{ addr: '192.168.2.200', port: 80 }, true, true],
  );
  assert.deepEqual(vs.realServers[0].notifyUp, ['/bin/n', 'up now']);
  assert.deepEqual(vs.realServers[1].checkers, []);
});

test('semantics: global_defs checker_log_all_failures is the default of log_all_failures', (t) => {
  const conf = ok(
    t,
    `global_defs {\n checker_log_all_failures\n}\n${labService(`${BASICS}\nreal_server 192.168.2.129 80 {\n TCP_CHECK { }\n TCP_CHECK { log_all_failures off }\n}`)}`,
  );
  assert.deepEqual(
    onlyVs(conf).realServers[0].checkers.map((c) => c.logAllFailures),
    [true, false],
  );
});

test('fix-ups: missing scheduler and method, ops without UDP, port 0 without persistence', (t) => {
  const conf = readText(
    t,
    labService('protocol TCP\nops\nreal_server 192.168.2.129 { }', 'virtual_server 192.168.222.131'),
  );
  assert.deepEqual(described(conf.diagnostics), [
    'keepalived.conf:1 warning: virtual_server 192.168.222.131 0: port 0 is only valid for a persistent service: persistence_timeout 360 set (as keepalived does)',
    'keepalived.conf:1 warning: virtual_server 192.168.222.131 0 has no lb_algo: wlc used (as keepalived does)',
    'keepalived.conf:1 warning: virtual_server 192.168.222.131 0 has no lb_kind: NAT used (as keepalived does)',
    'keepalived.conf:3 warning: ops needs protocol UDP: turned off (as keepalived does)',
  ]);
  const vs = onlyVs(conf);
  assert.deepEqual(
    [vs.scheduler, vs.ops, vs.persistenceTimeoutS, vs.key],
    ['wlc', false, 360, 'tcp 192.168.222.131:0'],
  );
  assert.equal(vs.realServers[0].port, 0);
});

test('fix-ups: duplicate real servers, quorum above the weights, hysteresis not below quorum', (t) => {
  const conf = readText(
    t,
    labService(`${BASICS}
quorum 10
hysteresis 10
real_server 192.168.2.129 80 { weight 2 }
real_server 192.168.2.129 { weight 5 }
real_server 192.168.2.130 80 { weight 3 }`),
  );
  assert.deepEqual(described(conf.diagnostics), [
    'keepalived.conf:1 warning: virtual_server 192.168.222.131 80: quorum 10 exceeds the total weight 5 of its real servers: lowered to 5 (as keepalived does)',
    'keepalived.conf:1 warning: virtual_server 192.168.222.131 80: hysteresis 10 >= quorum 5: set to 4 (as keepalived does)',
    'keepalived.conf:8 warning: real server 192.168.2.129:80 is given twice: this one is dropped (as keepalived does)',
  ]);
  const vs = onlyVs(conf);
  assert.deepEqual(
    vs.realServers.map((r) => `${r.addr}:${r.port}/${r.weight}`),
    ['192.168.2.129:80/2', '192.168.2.130:80/3'],
  );
  assert.deepEqual([vs.quorum, vs.hysteresis], [5, 4]);
});

test('fix-ups: a sorry server that is also a real server takes its inhibit_on_failure', (t) => {
  const conf = readText(
    t,
    labService(`${BASICS}\nsorry_server 192.168.2.129 80\nreal_server 192.168.2.129 80 { inhibit_on_failure }`),
  );
  assert.deepEqual(where(warnings(conf)), ['keepalived.conf:5 warning']);
  assert.equal(onlyVs(conf).sorryServerInhibit, true);
});

test('semantics: persistence_granularity alone makes the service persistent for 360 s', (t) => {
  const conf = ok(t, labService(`${BASICS}\npersistence_granularity 255.255.255.0\nreal_server 192.168.2.129 80 { }`));
  assert.deepEqual([onlyVs(conf).persistenceTimeoutS, onlyVs(conf).persistenceGranularity], [360, '255.255.255.0']);
  const noArg = ok(t, labService(`${BASICS}\npersistence_timeout\nreal_server 192.168.2.129 80 { }`));
  assert.equal(onlyVs(noArg).persistenceTimeoutS, 360);
});

test('semantics: scheduler flags as ipvsadm -b words, after their scheduler', (t) => {
  const conf = ok(
    t,
    labService(
      `protocol TCP\nlb_kind NAT\nlb_algo mh\nmh-port\nmh-fallback\nmh-port\nflag-3\nreal_server 192.168.2.129 80 { }`,
    ),
  );
  assert.deepEqual(onlyVs(conf).schedFlags, ['mh-port', 'mh-fallback', 'flag-3']);
  const wrong = readText(
    t,
    labService(`protocol TCP\nlb_kind NAT\nsh-port\nlb_algo sh\nreal_server 192.168.2.129 80 { }`),
  );
  assert.deepEqual(described(errors(wrong)), [
    "keepalived.conf:4 error: sh-port needs 'lb_algo sh' before it (keepalived ignores it otherwise)",
  ]);
});

test('groups: addresses, last-octet and full ranges, prefixes; ports; a key per use', (t) => {
  const conf = ok(
    t,
    `virtual_server_group G {
  10.0.0.1 80
  10.0.0.250-252 80
  10.0.1.255-10.0.2.1 80
  10.0.3.4/31 80
  10.0.4.9/32 80
}
virtual_server group G {
  ${BASICS.replace(/\n/g, '\n  ')}
  real_server 192.168.2.129 { }
}
virtual_server group G {
  lb_algo rr
  lb_kind NAT
  protocol UDP
  real_server 192.168.2.129 8080 { }
}
`,
  );
  assert.equal(conf.virtualServers.length, 2);
  const [tcp, udp] = conf.virtualServers;
  assert.deepEqual(
    tcp.addresses.map((a) => `${a.addr}:${a.port}`),
    [
      '10.0.0.1:80',
      '10.0.0.250:80',
      '10.0.0.251:80',
      '10.0.0.252:80',
      '10.0.1.255:80',
      '10.0.2.0:80',
      '10.0.2.1:80',
      '10.0.3.4:80',
      '10.0.3.5:80',
      '10.0.4.9:80',
    ],
  );
  assert.deepEqual([tcp.key, udp.key], ['group G #1', 'group G #2']);
  assert.deepEqual([tcp.realServers[0].port, udp.realServers[0].port], [80, 8080]);
});

test('groups: entries without port make the service persistent; mixed ports leave real servers at port 0', (t) => {
  const conf = readText(
    t,
    `virtual_server_group G {\n 10.0.0.1\n 10.0.0.2 443\n}\nvirtual_server group G {\n${BASICS}\nreal_server 192.168.2.129 { }\n}\n`,
  );
  assert.deepEqual(where(conf.diagnostics), ['keepalived.conf:5 warning']);
  const vs = onlyVs(conf);
  assert.deepEqual([vs.persistenceTimeoutS, vs.realServers[0].port], [360, 0]);
});

test('groups: bad entries, fwmark, IPv6, unknown and empty groups are errors on their line', (t) => {
  const conf = readText(
    t,
    `virtual_server_group G {
  10.0.0.5-5 80
  10.0.0.9-10.0.0.8 80
  10.0.0.1/24 80
  10.0.0.0/33 80
  10.0.0.0/16 80
  fwmark 7
  2001:db8::1 80
  10.0.0.1 99999
  10.0.0.1 80 { }
}
virtual_server group G {
  ${BASICS.replace(/\n/g, '\n  ')}
  real_server 192.168.2.129 80 { }
}
virtual_server group NOPE {
  ${BASICS.replace(/\n/g, '\n  ')}
  real_server 192.168.2.129 80 { }
}
`,
  );
  assert.deepEqual(where(conf.diagnostics), [
    'keepalived.conf:1 warning',
    'keepalived.conf:2 error',
    'keepalived.conf:3 error',
    'keepalived.conf:4 error',
    'keepalived.conf:5 error',
    'keepalived.conf:6 error',
    'keepalived.conf:7 error',
    'keepalived.conf:8 error',
    'keepalived.conf:9 error',
    'keepalived.conf:10 error',
    'keepalived.conf:12 error',
    'keepalived.conf:18 error',
  ]);
  assert.match(conf.diagnostics[6].message, /fwmark/);
  assert.match(conf.diagnostics[7].message, /IPv6/);
  assert.match(conf.diagnostics[5].message, /65536 addresses/);
  assert.equal(conf.virtualServers.length, 0);
});

test('methods: lb_kind/lvs_method NAT, DR, TUN with type, port and checksum; real servers override', (t) => {
  const conf = ok(
    t,
    labService(
      'lb_algo rr\nlvs_method TUN type gue port 6080 remcsum\nprotocol TCP\n' +
        'sorry_server 192.168.2.9 80\nsorry_server_lvs_method DR\n' +
        'real_server 192.168.2.129 80 { }\n' +
        'real_server 192.168.2.130 80 {\n lvs_method NAT\n}\n' +
        'real_server 192.168.2.131 80 {\n lvs_method TUN\n}\n' +
        'real_server 192.168.2.132 80 {\n lvs_method TUN type gre csum\n}\n' +
        'real_server 192.168.2.133 80 {\n lvs_method DR\n}',
    ),
  );
  const vs = onlyVs(conf);
  assert.deepEqual(vs.method, { fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'remcsum' } });
  assert.deepEqual(vs.sorryServerMethod, { fwd: 'route' });
  assert.deepEqual(
    vs.realServers.map((r) => r.method),
    [
      { fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'remcsum' } },
      { fwd: 'masq' },
      { fwd: 'tunnel', tunnel: { type: 'ipip', port: 0, csum: 'nocsum' } },
      { fwd: 'tunnel', tunnel: { type: 'gre', port: 0, csum: 'csum' } },
      { fwd: 'route' },
    ],
  );
  const dr = onlyVs(ok(t, labService('lb_algo rr\nlb_kind DR\nprotocol TCP\nreal_server 192.168.2.129 80 { }')));
  assert.deepEqual(
    [dr.method, dr.realServers[0].method, dr.sorryServerMethod],
    [{ fwd: 'route' }, { fwd: 'route' }, { fwd: 'route' }],
  );
});
