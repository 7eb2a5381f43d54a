/**
 * Real-world files (test/fixtures/keepalived/, written in keepalived's documented syntax after
 * its sample styles, on the textbook LVS-NAT lab): each loads, or is refused, with the expected
 * diagnostics on the expected lines, and the values tapvs will act on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HttpCheck, LvsConfig, MiscCheck, UdpCheck } from '../../../src/keepalived/lvs-config.js';
import { hasErrors, type ReadOptions, readKeepalivedConf } from '../../../src/keepalived/reader.js';
import { fixturePath } from '../../helpers/pcap.js';
import { described, where } from './conf-files.js';

function load(name: string, opts: ReadOptions = { tags: [] }): LvsConfig {
  return readKeepalivedConf(fixturePath(`keepalived/${name}`), opts);
}

/** Every real server's `addr:port` per virtual server key. */
function topology(conf: LvsConfig): string[] {
  return conf.virtualServers.map((vs) => `${vs.key} -> ${vs.realServers.map((r) => `${r.addr}:${r.port}`).join(' ')}`);
}

test('fixture lvs-nat-tcp.conf: the textbook lab loads; global_defs settings are reported one by one', () => {
  const conf = load('lvs-nat-tcp.conf');
  assert.deepEqual(where(conf.diagnostics), [
    'lvs-nat-tcp.conf:5 warning',
    'lvs-nat-tcp.conf:8 warning',
    'lvs-nat-tcp.conf:9 warning',
    'lvs-nat-tcp.conf:10 warning',
    'lvs-nat-tcp.conf:11 warning',
  ]);
  assert.deepEqual(topology(conf), ['tcp 192.168.222.131:80 -> 192.168.2.129:80 192.168.2.130:80']);
  const vs = conf.virtualServers[0];
  assert.deepEqual([vs.scheduler, vs.delayLoopMs, vs.protocol, vs.method], ['rr', 6000, 'tcp', { fwd: 'masq' }]);
  for (const rs of vs.realServers) {
    const c = rs.checkers[0];
    assert.deepEqual(
      [c.type, c.connectIp, c.connectPort, c.connectTimeoutMs, c.retry, c.delayBeforeRetryMs, c.delayLoopMs],
      ['TCP_CHECK', rs.addr, 80, 3000, 3, 3000, 6000],
    );
  }
});

test('fixture http-get-digest.conf: two urls with digests and codes, per-server settings', () => {
  const conf = load('http-get-digest.conf');
  assert.deepEqual(described(conf.diagnostics), [
    "http-get-digest.conf:40 warning: nb_get_retry is deprecated: use 'retry'",
  ]);
  const [a, b] = conf.virtualServers[0].realServers;
  const ca = a.checkers[0] as HttpCheck;
  const cb = b.checkers[0] as HttpCheck;
  assert.deepEqual([a.weight, a.inhibitOnFailure, b.weight, b.inhibitOnFailure], [2, true, 1, false]);
  assert.deepEqual(
    ca.urls.map((u) => [u.path, u.digest, u.statusCodes, u.virtualhost]),
    [
      ['/index.html', '9b3a0c85a887a256d6939da88aabd8cd', [[200, 299]], 'www.lab.example'],
      [
        '/health',
        null,
        [
          [200, 200],
          [204, 204],
          [300, 399],
        ],
        'health.lab.example',
      ],
    ],
  );
  assert.deepEqual(
    [ca.httpProtocol, ca.connectTimeoutMs, ca.retry, ca.delayBeforeRetryMs, ca.warmupMs],
    ['1.1', 2500, 2, 1000, 0],
  );
  assert.deepEqual([cb.fastRecovery, cb.retry, cb.delayBeforeRetryMs, cb.warmupMs], [true, 4, 3000, 10000]);
  assert.equal(cb.urls[0].digest, ca.urls[0].digest);
});

test('fixture ssl-get.conf: SNI from the virtual server, a url, or sni_name; sh flags; the SSL block is not used', () => {
  const conf = load('ssl-get.conf');
  assert.deepEqual(where(conf.diagnostics), ['ssl-get.conf:2 warning']);
  const vs = conf.virtualServers[0];
  assert.deepEqual([vs.scheduler, vs.schedFlags, vs.persistenceTimeoutS], ['sh', ['sh-port', 'sh-fallback'], 600]);
  const [a, b] = vs.realServers.map((r) => r.checkers[0] as HttpCheck);
  assert.deepEqual(
    a.urls.map((u) => [u.virtualhost, u.sniName]),
    [
      ['secure.lab.example', 'secure.lab.example'],
      ['alt.lab.example', 'alt.lab.example'],
    ],
  );
  assert.deepEqual(
    [b.urls[0].virtualhost, b.urls[0].sniName, b.connectPort, b.bindTo],
    ['rs2.lab.example', 'sni.lab.example', 8443, '192.168.2.1'],
  );
});

test('fixture misc-check-dynamic.conf: argv from the quoted command, dynamic weights, notify scripts', () => {
  const conf = load('misc-check-dynamic.conf');
  assert.deepEqual(where(conf.diagnostics), ['misc-check-dynamic.conf:16 warning']);
  const [a, b] = conf.virtualServers[0].realServers;
  const ma = a.checkers[0] as MiscCheck;
  const mb = b.checkers[0] as MiscCheck;
  assert.deepEqual(ma.argv, ['/usr/local/bin/check_load.sh', '192.168.2.129', 'max load', '80']);
  assert.deepEqual([ma.timeoutMs, ma.dynamic, ma.retry], [5000, true, 0]);
  assert.deepEqual([mb.argv, mb.timeoutMs, mb.dynamic], [['/usr/local/bin/check_web.sh'], 20000, false]);
  assert.deepEqual(b.notifyUp, ['/usr/local/bin/notify.sh', 'up', '192.168.2.130']);
  assert.deepEqual(b.notifyDown, ['/usr/local/bin/notify.sh', 'down', '192.168.2.130']);
});

test('fixture quorum-sorry.conf: quorum, hysteresis, sorry server, alpha and inhibit inheritance', () => {
  const conf = load('quorum-sorry.conf');
  assert.deepEqual(conf.diagnostics, []);
  const vs = conf.virtualServers[0];
  assert.deepEqual(
    [vs.quorum, vs.hysteresis, vs.alpha, vs.omega, vs.sorryServer, vs.sorryServerInhibit],
    [2, 1, true, true, { addr: '192.168.2.200', port: 8080 }, true],
  );
  assert.deepEqual(
    [vs.quorumUp, vs.quorumDown],
    [
      ['/usr/local/bin/quorum.sh', 'up'],
      ['/usr/local/bin/quorum.sh', 'down'],
    ],
  );
  assert.deepEqual(
    vs.realServers.map((r) => [r.port, r.inhibitOnFailure, r.checkers[0].alpha, r.checkers[0].type]),
    [
      [80, true, true, 'TCP_CHECK'],
      [80, true, true, 'TCP_CHECK'],
      [80, false, false, 'PING_CHECK'],
    ],
  );
});

test('fixture vs-group.conf: group members from addresses, ranges and prefixes', () => {
  const conf = load('vs-group.conf');
  assert.deepEqual(conf.diagnostics, []);
  const [web, dns] = conf.virtualServers;
  assert.equal(web.addresses.length, 10);
  assert.deepEqual([web.key, dns.key, dns.protocol, dns.ops], ['group WEB #1', 'group DNS #1', 'udp', true]);
  assert.deepEqual(
    web.realServers.map((r) => [r.port, r.weight, r.checkers[0].connectPort]),
    [
      [0, 3, 80],
      [80, 1, 80],
    ],
  );
  const dnsCheck = dns.realServers[0].checkers[0];
  assert.deepEqual(dnsCheck.type === 'DNS_CHECK' && [dnsCheck.queryType, dnsCheck.name, dnsCheck.retry], [
    'A',
    'www.lab.example',
    3,
  ]);
});

test('fixture persistence.conf: timeouts, granularity, a port-less persistent service, UDP checks', () => {
  const conf = load('persistence.conf');
  assert.deepEqual(conf.diagnostics, []);
  assert.deepEqual(
    conf.virtualServers.map((vs) => [vs.key, vs.persistenceTimeoutS, vs.persistenceGranularity]),
    [
      ['tcp 192.168.222.131:443', 900, '255.255.255.0'],
      ['tcp 192.168.222.132:0', 360, '255.255.0.0'],
      ['udp 192.168.222.131:514', 360, '255.255.255.255'],
    ],
  );
  const udp = conf.virtualServers[2].realServers[0].checkers[0] as UdpCheck;
  assert.equal(Buffer.from(udp.payload ?? []).toString(), '<13>test ');
  assert.deepEqual([udp.requireReply, udp.minReplyLength, udp.maxReplyLength], ['3cxx3e', 2, 512]);
});

test('fixture vrrp-lvs.conf: the VRRP part and the LVS part both load', () => {
  const conf = load('vrrp-lvs.conf');
  assert.deepEqual(where(conf.diagnostics), ['vrrp-lvs.conf:5 warning']);
  assert.deepEqual(
    conf.vrrp.instances.map((i) => [i.name, i.link, i.vrid, i.priority, i.authPass]),
    [['VI_EXT', 'eth0', 51, 150, 's3cret']],
  );
  assert.deepEqual(conf.vrrp.syncGroups[0].members, ['VI_EXT']);
  assert.deepEqual(topology(conf), ['tcp 192.168.222.131:80 -> 192.168.2.129:80 192.168.2.130:80']);
  // global_defs checker_log_all_failures is the default; a checker may turn it off.
  assert.deepEqual(
    conf.virtualServers[0].realServers.map((r) => r.checkers[0].logAllFailures),
    [true, false],
  );
});

test('fixture includes/: split over files with globs, parameters and conditionals', () => {
  const a = load('includes/keepalived.conf', { tags: ['lab-a'] });
  assert.deepEqual(a.diagnostics, []);
  assert.deepEqual(
    a.files.map((f) => f.slice(f.indexOf('includes/'))),
    [
      'includes/keepalived.conf',
      'includes/defs/params.conf',
      'includes/services/web.conf',
      'includes/servers/web-1.conf',
      'includes/servers/web-2.conf',
      'includes/services/dns.conf',
    ],
  );
  assert.deepEqual(topology(a), [
    'tcp 192.168.222.131:80 -> 192.168.2.129:80 192.168.2.130:80',
    'udp 192.168.222.131:53 -> 192.168.2.129:53 192.168.2.130:53',
  ]);
  const web = a.virtualServers[0].realServers;
  assert.deepEqual(
    web.map((r) => [r.weight, r.checkers[0].connectTimeoutMs, r.checkers[0].retry, r.at.file.slice(-10), r.at.line]),
    [
      [2, 3000, 2, 'web-1.conf', 1],
      [2, 3000, 2, 'web-2.conf', 1],
    ],
  );
  // The checker came from a multi-line parameter used on line 3 of each server file.
  assert.deepEqual([web[0].checkers[0].at.file.slice(-10), web[0].checkers[0].at.line], ['web-1.conf', 3]);
  const b = load('includes/keepalived.conf', { tags: ['lab-b'] });
  assert.deepEqual(where(b.diagnostics), ['keepalived.conf:5 warning']);
  assert.deepEqual(
    b.virtualServers[0].realServers.map((r) => r.weight),
    [1, 1],
  );
});

test('fixture broken.conf: refused, every problem on its line', () => {
  const conf = load('broken.conf');
  assert.equal(hasErrors(conf.diagnostics), true);
  assert.deepEqual(where(conf.diagnostics), [
    'broken.conf:2 error',
    'broken.conf:4 error',
    'broken.conf:8 error',
    'broken.conf:13 error',
    'broken.conf:17 warning',
    'broken.conf:18 error',
    'broken.conf:20 error',
    'broken.conf:21 error',
    'broken.conf:22 error',
    'broken.conf:25 error',
    'broken.conf:27 error',
    'broken.conf:28 error',
    'broken.conf:28 error',
    'broken.conf:30 error',
    'broken.conf:34 error',
    'broken.conf:34 error',
    'broken.conf:37 error',
    'broken.conf:37 warning',
  ]);
  const messages = conf.diagnostics.map((d) => d.message);
  for (const expected of [
    /has no protocol/,
    /lb_kind TUN type gue needs a port/,
    /nb_get_retry/,
    /fwmark/,
    /roundrobin/,
    /IPv6/,
    /SMTP_CHECK/,
    /never closed/,
  ]) {
    assert.ok(
      messages.some((m) => expected.test(m)),
      `${expected}`,
    );
  }
});
