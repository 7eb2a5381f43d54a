/**
 * Golden tests of tapvsadm's listings against ipvsadm's output (ipvsadm.c, print_title(),
 * print_service_entry(), print_conn(); docs/ipvsadm.md#listings; examples taken from
 * the real ipvsadm run against a fake kernel). Trailing spaces are significant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatConns,
  formatDaemons,
  formatLaddrs,
  formatLargeNum,
  formatList,
  formatSave,
  formatSingleService,
  formatTimeouts,
  sortDests,
} from '../../../src/control/format.js';
import { EMPTY_NAME_DB, nameDbFromText } from '../../../src/control/names.js';
import type { ConnInfo, ServiceInfo } from '../../../src/control/protocol.js';
import { parseRules } from '../../../src/control/rules-file.js';
import { schedFlagWords } from '../../../src/control/sched-flags.js';
import { dest, list, NAMES, stats, svc } from './fixtures.js';

const lines = (...l: string[]): string => l.map((x) => `${x}\n`).join('');

/** The docs/ipvsadm.md#plain-listing table, dests given newest first as IPVS keeps them. */
function referenceTable() {
  return list([
    svc('udp', '192.168.222.131', 53, { scheduler: 'wlc', persistentS: 360, netmask: '255.255.255.0' }),
    svc('tcp', '192.168.222.131', 80, { scheduler: 'rr' }, [
      dest('10.0.0.3', 8080, { weight: 0, inactConns: 1 }),
      dest('10.0.0.2', 80, { weight: 1, activeConns: 3, inactConns: 12 }),
    ]),
  ]);
}

test('format: -L -n matches ipvsadm byte for byte, sorted services and dests', () => {
  assert.equal(
    formatList(referenceTable(), { numeric: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.222.131:80 rr',
      '  -> 10.0.0.2:80                  Masq    1      3          12        ',
      '  -> 10.0.0.3:8080                Masq    0      0          1         ',
      'UDP  192.168.222.131:53 wlc persistent 360 mask 255.255.255.0',
    ),
  );
});

test('format: -L without -n prints host names from /etc/hosts and ports from /etc/services', () => {
  assert.equal(
    formatList(referenceTable(), {}, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  lvs1:http rr',
      '  -> rs1:http                     Masq    1      3          12        ',
      '  -> 10.0.0.3:http-alt            Masq    0      0          1         ',
      'UDP  lvs1:domain wlc persistent 360 mask 255.255.255.0',
    ),
  );
});

test('format: the header shows the connection table size; an empty table lists headers only', () => {
  assert.equal(
    formatList(list([], 65536), {}, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=65536)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ),
  );
});

test('format: wide names are cut at 33 (service) and 28 (destination) characters', () => {
  const t = list([svc('tcp', '10.0.0.99', 80, { scheduler: 'rr' }, [dest('10.0.0.99', 8080, { weight: 65535 })])]);
  assert.equal(
    formatList(t, {}, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  a-very-long-real-server-host rr',
      '  -> a-very-long-real-server-host Masq    65535  0          0         ',
    ),
  );
  // Numeric addresses never reach the limits: the widest IPv4 form fits.
  const n = list([
    svc('udp', '255.255.255.255', 65535, { scheduler: 'wlc' }, [
      dest('255.255.255.254', 65535, { activeConns: 4294967295, inactConns: 12345678901 }),
    ]),
  ]);
  assert.equal(
    formatList(n, { numeric: true }, NAMES).split('\n').slice(3).join('\n'),
    'UDP  255.255.255.255:65535 wlc\n' + '  -> 255.255.255.254:65535        Masq    1      4294967295 12345678901\n',
  );
});

test("format: scheduler flags, persistence and ops on the service line, in ipvsadm's order", () => {
  const t = list([
    svc('tcp', '1.2.3.4', 80, { scheduler: 'sh', schedFlags: ['sh-port', 'sh-fallback'], persistentS: 300 }),
    svc('tcp', '1.2.3.4', 81, { scheduler: 'rr', schedFlags: ['flag-3', 'flag-1'] }),
    svc('tcp', '1.2.3.4', 82, { scheduler: 'mh', schedFlags: ['mh-port'] }),
    svc('udp', '1.2.3.4', 53, { scheduler: 'rr', ops: true, persistentS: 60, netmask: '255.255.0.0' }),
  ]);
  assert.equal(
    formatList(t, { numeric: true }, NAMES).split('\n').slice(3).join('\n'),
    lines(
      'TCP  1.2.3.4:80 sh (sh-fallback,sh-port) persistent 300',
      'TCP  1.2.3.4:81 rr (flag-1,flag-3)',
      'TCP  1.2.3.4:82 mh (mh-port)',
      'UDP  1.2.3.4:53 rr persistent 60 mask 255.255.0.0 ops',
    ),
  );
});

test('format: -L -t svc prints the titles and that service only, without the version line', () => {
  const s = referenceTable().services[1];
  assert.equal(
    formatSingleService(s, { numeric: true }, NAMES),
    lines(
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.222.131:80 rr',
      '  -> 10.0.0.2:80                  Masq    1      3          12        ',
      '  -> 10.0.0.3:8080                Masq    0      0          1         ',
    ),
  );
});

const statsTable = () =>
  list([
    svc(
      'tcp',
      '192.168.222.131',
      80,
      { scheduler: 'rr' },
      [
        dest('10.0.0.2', 80, {
          stats: stats({
            conns: 2,
            inPkts: 12,
            outPkts: 8,
            inBytes: 774,
            outBytes: 894,
            cps: 1,
            inpps: 12,
            outpps: 10,
            inbps: 1050,
            outbps: 15500,
          }),
        }),
      ],
      stats({
        conns: 14209,
        inPkts: 111769,
        outPkts: 74613,
        inBytes: 7207174,
        outBytes: 123456789012,
        cps: 3,
        inpps: 25,
        outpps: 20,
        inbps: 2100,
        outbps: 31000,
      }),
    ),
  ]);

test('format: --stats abbreviates large counters (123G) like print_largenum', () => {
  assert.equal(
    formatList(statsTable(), { numeric: true, stats: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
      '  -> RemoteAddress:Port',
      'TCP  192.168.222.131:80              14209   111769    74613  7207174     123G',
      '  -> 10.0.0.2:80                         2       12        8      774      894',
    ),
  );
});

test('format: --stats --exact prints every digit and widens the column', () => {
  assert.equal(
    formatList(statsTable(), { numeric: true, stats: true, exact: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
      '  -> RemoteAddress:Port',
      'TCP  192.168.222.131:80              14209   111769    74613  7207174 123456789012',
      '  -> 10.0.0.2:80                         2       12        8      774      894',
    ),
  );
});

test('format: --rate: service values by largenum, dest CPS/InPPS/OutPPS in 8 columns', () => {
  assert.equal(
    formatList(statsTable(), { numeric: true, rate: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS',
      '  -> RemoteAddress:Port',
      'TCP  192.168.222.131:80                  3       25       20     2100    31000',
      '  -> 10.0.0.2:80                         1       12       10     1050    15500',
    ),
  );
});

test('format: --stats wins over --rate, as in ipvsadm', () => {
  assert.equal(
    formatList(statsTable(), { numeric: true, rate: true, stats: true }, NAMES),
    formatList(statsTable(), { numeric: true, stats: true }, NAMES),
  );
});

test('format: --thresholds', () => {
  const t = list([
    svc('tcp', '192.168.222.131', 80, { scheduler: 'rr' }, [
      dest('10.0.0.2', 80, { uThreshold: 100, lThreshold: 50, activeConns: 3, inactConns: 12 }),
    ]),
  ]);
  assert.equal(
    formatList(t, { numeric: true, thresholds: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  192.168.222.131:80 rr',
      '  -> 10.0.0.2:80                  100        50         3          12        ',
    ),
  );
});

test('format: --persistent-conn', () => {
  const t = list([
    svc('tcp', '192.168.222.131', 443, { scheduler: 'rr', persistentS: 360 }, [
      dest('10.0.0.2', 443, { weight: 1, persistConns: 4, activeConns: 3, inactConns: 12 }),
    ]),
  ]);
  assert.equal(
    formatList(t, { numeric: true, persistentConn: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  192.168.222.131:443 rr persistent 360',
      '  -> 10.0.0.2:443                 1         4           3          12        ',
    ),
  );
});

test('format: --tun-info shows n/a for masquerading dests', () => {
  const t = list([svc('tcp', '192.168.222.131', 80, { scheduler: 'rr' }, [dest('10.0.0.2', 80, { activeConns: 3 })])]);
  assert.equal(
    formatList(t, { numeric: true, tunInfo: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  192.168.222.131:80 rr',
      '  -> 10.0.0.2:80                  Masq    n/a           1      3          0         ',
    ),
  );
});

test('format: largenum boundaries (K, M, G, T are powers of 1000)', () => {
  const cases: Array<[number, string]> = [
    [0, '        0'],
    [99_999_999, ' 99999999'],
    [100_000_000, '  100000K'],
    [999_999_999, '  999999K'],
    [1_000_000_000, '    1000M'],
    [99_999_999_999, '   99999M'],
    [100_000_000_000, '     100G'],
    [99_999_999_999_999, '   99999G'],
    [100_000_000_000_000, '     100T'],
    [2 ** 53, '    9007T'],
  ];
  for (const [v, s] of cases) assert.equal(formatLargeNum(v), s, String(v));
  assert.equal(formatLargeNum(123, true), '      123');
  assert.equal(formatLargeNum(12_345_678, true), ' 12345678');
  assert.equal(formatLargeNum(123_456_789, true), ' 123456789');
  assert.equal(formatLargeNum(2 ** 53, true), ' 9007199254740992');
});

test('format: dests sort by signed 32-bit difference and glibc merge sort (200.0.0.1 first)', () => {
  // Added 10.0.0.1, 10.0.0.2, 10.0.0.3:8080, 200.0.0.1: IPVS lists them newest first.
  const dests = [dest('200.0.0.1', 80), dest('10.0.0.3', 8080), dest('10.0.0.2', 80), dest('10.0.0.1', 80)];
  assert.deepEqual(
    sortDests(dests).map((d) => `${d.addr}:${d.port}`),
    ['200.0.0.1:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:8080'],
  );
  const t = list([svc('tcp', '1.2.3.4', 80, { scheduler: 'rr' }, dests)]);
  const nosort = formatList(t, { numeric: true, nosort: true }, NAMES)
    .split('\n')
    .slice(4, 8)
    .map((l) => l.trim().split(/ +/)[1]);
  assert.deepEqual(nosort, ['200.0.0.1:80', '10.0.0.3:8080', '10.0.0.2:80', '10.0.0.1:80']);
});

test('format: services sort by protocol (TCP before UDP), address, port', () => {
  const t = list([
    svc('udp', '1.1.1.1', 53),
    svc('tcp', '1.2.3.5', 80),
    svc('tcp', '1.2.3.4', 443),
    svc('tcp', '1.2.3.4', 80),
  ]);
  const order = formatList(t, { numeric: true }, NAMES)
    .split('\n')
    .slice(3, 7)
    .map((l) => l.split(' wlc')[0]);
  assert.deepEqual(order, ['TCP  1.2.3.4:80', 'TCP  1.2.3.4:443', 'TCP  1.2.3.5:80', 'UDP  1.1.1.1:53']);
});

const conns: ConnInfo[] = [
  {
    proto: 'tcp',
    caddr: '10.1.1.7',
    cport: 51000,
    vaddr: '192.168.222.131',
    vport: 80,
    daddr: '10.0.0.2',
    dport: 80,
    state: 'ESTABLISHED',
    expireS: 899.7,
    template: false,
  },
  {
    proto: 'tcp',
    caddr: '10.1.1.7',
    cport: 0,
    vaddr: '192.168.222.131',
    vport: 443,
    daddr: '10.0.0.2',
    dport: 443,
    state: 'NONE',
    expireS: 1439 * 60 + 59,
    template: true,
  },
  {
    proto: 'IP',
    caddr: '10.1.1.7',
    cport: 0,
    vaddr: '0.0.0.1',
    vport: 0,
    daddr: '10.0.0.2',
    dport: 0,
    state: 'ASSURED',
    expireS: 300,
    template: true,
  },
  {
    proto: 'udp',
    caddr: '10.1.1.7',
    cport: 40000,
    vaddr: '192.168.222.131',
    vport: 53,
    daddr: '10.0.0.3',
    dport: 53,
    state: 'UDP',
    expireS: 298,
    template: false,
  },
];

test('format: -L -n -c matches ipvsadm, long fields push the next column right', () => {
  assert.equal(
    formatConns(conns, { numeric: true }, NAMES),
    lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 14:59  ESTABLISHED 10.1.1.7:51000     192.168.222.131:80 10.0.0.2:80',
      'TCP 1439:59 NONE        10.1.1.7:0         192.168.222.131:443 10.0.0.2:443',
      'IP  05:00  ASSURED     10.1.1.7:0         0.0.0.1:0          10.0.0.2:0',
      'UDP 04:58  UDP         10.1.1.7:40000     192.168.222.131:53 10.0.0.3:53',
    ),
  );
});

test('format: -L -c without -n names ports by protocol; "IP" rows keep numbers', () => {
  const servicesOnly = nameDbFromText('', 'http 80/tcp\ndomain 53/udp\n');
  const out = formatConns(conns, {}, servicesOnly).split('\n');
  assert.equal(out[2], 'TCP 14:59  ESTABLISHED 10.1.1.7:51000     192.168.222.131:http 10.0.0.2:http');
  assert.equal(out[4], 'IP  05:00  ASSURED     10.1.1.7:0         0.0.0.1:0          10.0.0.2:0');
  assert.equal(out[5], 'UDP 04:58  UDP         10.1.1.7:40000     192.168.222.131:domain 10.0.0.3:domain');
});

test('format: -L -c --persistent-conn widens the header', () => {
  assert.equal(
    formatConns([], { persistentConn: true }, EMPTY_NAME_DB),
    lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination        pe name          pe_data',
    ),
  );
});

test('format: --timeout', () => {
  assert.equal(formatTimeouts({ tcpS: 900, tcpFinS: 120, udpS: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
});

function saveTable() {
  return list([
    svc('udp', '192.168.222.131', 53, { scheduler: 'rr', ops: true }),
    svc('tcp', '192.168.222.131', 443, { scheduler: 'wlc', persistentS: 360, netmask: '255.255.255.0' }),
    svc('tcp', '192.168.222.131', 80, { scheduler: 'rr' }, [
      dest('10.0.0.3', 8080, { weight: 0, uThreshold: 5 }),
      dest('10.0.0.2', 80, { weight: 1 }),
    ]),
    svc('tcp', '192.168.222.132', 80, { scheduler: 'sh', schedFlags: ['sh-fallback', 'sh-port'], persistentS: 300 }),
  ]);
}

test('format: -S -n matches ipvsadm (thresholds are not saved)', () => {
  assert.equal(
    formatSave(saveTable(), { numeric: true }, NAMES),
    lines(
      '-A -t 192.168.222.131:80 -s rr',
      '-a -t 192.168.222.131:80 -r 10.0.0.2:80 -m -w 1',
      '-a -t 192.168.222.131:80 -r 10.0.0.3:8080 -m -w 0',
      '-A -t 192.168.222.131:443 -s wlc -p 360 -M 255.255.255.0',
      '-A -t 192.168.222.132:80 -s sh -p 300 -b sh-fallback,sh-port',
      '-A -u 192.168.222.131:53 -s rr -o',
    ),
  );
});

/**
 * Every combination of the three IP_VS_SVC_F_SCHED* bits, for sh, mh and a generic scheduler, as
 * ipvsadm.c prints them: print_service_entry() writes " (...)" on the -L line and " -b ..." on the
 * -S line whenever one of the bits is set, and print_sched_flags() names bit 1 and 2 after sh/mh
 * (sh-fallback, sh-port / mh-fallback, mh-port) and bit 3 "flag-3" for every scheduler.
 */
test('format: -b flags of every combination on -L and -S, as ipvsadm.c, print_sched_flags()', () => {
  // print_service_entry() prints " (...)" on -L and " -b ..." on -S whenever any of the three bits
  // is set; print_sched_flags() names only sh's and mh's two flags for them (flag-3 has no word
  // there: `sh ()` and a bare `-b `) and flag-1..flag-3 for every other scheduler.
  const expected: Record<string, readonly (string | null)[]> = {
    sh: [null, 'sh-fallback', 'sh-port', 'sh-fallback,sh-port', '', 'sh-fallback', 'sh-port', 'sh-fallback,sh-port'],
    mh: [null, 'mh-fallback', 'mh-port', 'mh-fallback,mh-port', '', 'mh-fallback', 'mh-port', 'mh-fallback,mh-port'],
    wrr: [
      null,
      'flag-1',
      'flag-2',
      'flag-1,flag-2',
      'flag-3',
      'flag-1,flag-3',
      'flag-2,flag-3',
      'flag-1,flag-2,flag-3',
    ],
  };
  for (const sched of ['sh', 'mh', 'wrr']) {
    for (let combo = 0; combo < 8; combo++) {
      const bits = combo << 3; // SCHED1 = 0x08, SCHED2 = 0x10, SCHED3 = 0x20
      const words = expected[sched][combo];
      // What listing.ts hands over: the model's bits as words (every bit has one).
      const t = list([svc('tcp', '1.2.3.4', 80, { scheduler: sched, schedFlags: schedFlagWords(sched, bits) })]);
      const line = formatList(t, { numeric: true }, NAMES).split('\n')[3];
      assert.equal(line, `TCP  1.2.3.4:80 ${sched}${words === null ? '' : ` (${words})`}`, `${sched} ${combo}`);
      assert.equal(
        formatSave(t, { numeric: true }, NAMES),
        lines(`-A -t 1.2.3.4:80 -s ${sched}${words === null ? '' : ` -b ${words}`}`),
        `${sched} ${combo}`,
      );
    }
  }
});

test('format: -S without -n uses names, and does not cut them', () => {
  const t = list([svc('tcp', '10.0.0.99', 80, { scheduler: 'rr' }, [dest('10.0.0.99', 80)])]);
  assert.equal(
    formatSave(t, {}, NAMES),
    lines(
      '-A -t a-very-long-real-server-host-name.example.org:http -s rr',
      '-a -t a-very-long-real-server-host-name.example.org:http -r a-very-long-real-server-host-name.example.org:http -m -w 1',
    ),
  );
});

test('format: -L --daemon lines as list_daemon(), each part after the syncid only when non-zero', () => {
  const master = { role: 'master' as const, mcastInterface: 'eth0', syncid: 0, maxlen: 0, group: 0, port: 0, ttl: 0 };
  assert.equal(formatDaemons([]), '');
  assert.equal(formatDaemons([master]), 'master sync daemon (mcast=eth0, syncid=0)\n');
  assert.equal(
    formatDaemons([
      { ...master, syncid: 255, maxlen: 1472, group: 0xefffffff | 0, port: 65535, ttl: 255 },
      { ...master, role: 'backup', mcastInterface: 'int', port: 8848 },
      { ...master, role: 'backup', group: 0xe0000051 | 0, ttl: 1 },
    ]),
    'master sync daemon (mcast=eth0, syncid=255, maxlen=1472, group=239.255.255.255, port=65535, ttl=255)\n' +
      'backup sync daemon (mcast=int, syncid=0, port=8848)\n' +
      'backup sync daemon (mcast=eth0, syncid=0, group=224.0.0.81, ttl=1)\n',
  );
});

// ------------------------------------------------------------------ forwarding methods (issue 13)

const TUN_SVC = '192.168.222.131';
/** One service with a dest per method and tunnel form, and (optionally) local addresses. */
function methodsTable(): ReturnType<typeof list> {
  const s = svc('tcp', TUN_SVC, 80, { scheduler: 'rr', proxyProtocol: 'v2' }, [
    dest('10.0.0.2', 80, { fwd: 'route', weight: 2 }),
    dest('10.0.0.3', 80, { fwd: 'tunnel', activeConns: 4 }),
    dest('10.0.0.4', 80, { fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'remcsum' } }),
    dest('10.0.0.5', 80, { fwd: 'tunnel', tunnel: { type: 'gre', port: 0, csum: 'csum' } }),
    dest('10.0.0.6', 8080, { fwd: 'fullnat', weight: 3 }),
    dest('10.0.0.7', 8080, { fwd: 'masq' }),
    dest('10.0.0.8', 80, { fwd: 'tunnel', tunnel: { type: 'gue', port: 65535, csum: 'nocsum' } }),
    dest('10.0.0.9', 80, { fwd: 'tunnel', tunnel: { type: 'ipip', port: 0, csum: 'nocsum' } }),
  ]);
  const u = svc('udp', TUN_SVC, 53, { scheduler: 'wlc', proxyProtocol: 'v1' }, [
    dest('10.0.0.2', 53, { fwd: 'fullnat' }),
  ]);
  return list([
    {
      ...s,
      laddrs: [
        { addr: '10.0.0.100', ifname: 'inside', conns: 1, conflicts: 0 },
        { addr: '10.0.0.101', conns: 0, conflicts: 0 },
      ],
    },
    { ...u, laddrs: [{ addr: '10.0.0.102', conns: 0, conflicts: 0 }] },
  ]);
}

test("format: -L shows Route, Tunnel, FullNat and Masq; DPVS's ppv1/ppv2 word on the service line", () => {
  assert.equal(
    formatList(methodsTable(), { numeric: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.222.131:80 rr ppv2',
      '  -> 10.0.0.2:80                  Route   2      0          0         ',
      '  -> 10.0.0.3:80                  Tunnel  1      4          0         ',
      '  -> 10.0.0.4:80                  Tunnel  1      0          0         ',
      '  -> 10.0.0.5:80                  Tunnel  1      0          0         ',
      '  -> 10.0.0.6:8080                FullNat 3      0          0         ',
      '  -> 10.0.0.7:8080                Masq    1      0          0         ',
      '  -> 10.0.0.8:80                  Tunnel  1      0          0         ',
      '  -> 10.0.0.9:80                  Tunnel  1      0          0         ',
      'UDP  192.168.222.131:53 wlc ppv1',
      '  -> 10.0.0.2:53                  FullNat 1      0          0         ',
    ),
  );
});

test('format: -L --tun-info as ipvsadm fwd_tun_info(): ipip, gue:PORT:FLAGS, gre:FLAGS, n/a', () => {
  assert.equal(
    formatList(methodsTable(), { numeric: true, tunInfo: true }, NAMES),
    lines(
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  192.168.222.131:80 rr ppv2',
      '  -> 10.0.0.2:80                  Route   n/a           2      0          0         ',
      '  -> 10.0.0.3:80                  Tunnel  ipip          1      4          0         ',
      '  -> 10.0.0.4:80                  Tunnel  gue:6080:r+c  1      0          0         ',
      '  -> 10.0.0.5:80                  Tunnel  gre:+c        1      0          0         ',
      '  -> 10.0.0.6:8080                FullNat n/a           3      0          0         ',
      '  -> 10.0.0.7:8080                Masq    n/a           1      0          0         ',
      '  -> 10.0.0.8:80                  Tunnel  gue:65535:-c  1      0          0         ',
      '  -> 10.0.0.9:80                  Tunnel  ipip          1      0          0         ',
      'UDP  192.168.222.131:53 wlc ppv1',
      '  -> 10.0.0.2:53                  FullNat n/a           1      0          0         ',
    ),
  );
});

test('format: -S writes print_tunnel_rule() forms, --fullnat, --proxy-protocol and -P lines last', () => {
  assert.equal(
    formatSave(methodsTable(), { numeric: true }, NAMES),
    lines(
      '-A -t 192.168.222.131:80 -s rr --proxy-protocol v2',
      '-a -t 192.168.222.131:80 -r 10.0.0.2:80 -g -w 2',
      '-a -t 192.168.222.131:80 -r 10.0.0.3:80 -i -w 1 --tun-type ipip',
      '-a -t 192.168.222.131:80 -r 10.0.0.4:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum',
      '-a -t 192.168.222.131:80 -r 10.0.0.5:80 -i -w 1 --tun-type gre --tun-csum',
      '-a -t 192.168.222.131:80 -r 10.0.0.6:8080 --fullnat -w 3',
      '-a -t 192.168.222.131:80 -r 10.0.0.7:8080 -m -w 1',
      '-a -t 192.168.222.131:80 -r 10.0.0.8:80 -i -w 1 --tun-type gue --tun-port 65535 --tun-nocsum',
      '-a -t 192.168.222.131:80 -r 10.0.0.9:80 -i -w 1 --tun-type ipip',
      '-A -u 192.168.222.131:53 -s wlc --proxy-protocol v1',
      '-a -u 192.168.222.131:53 -r 10.0.0.2:53 --fullnat -w 1',
      '-P -t 192.168.222.131:80 -z 10.0.0.100 -F inside',
      '-P -t 192.168.222.131:80 -z 10.0.0.101',
      '-P -u 192.168.222.131:53 -z 10.0.0.102',
    ),
  );
});

test('format: -G as DPVS list_laddrs_print_*(): title once, numeric VIP:VPORT, two empty columns', () => {
  assert.equal(formatLaddrs({ services: [] }), '');
  assert.equal(
    formatLaddrs({
      services: [
        {
          service: { proto: 'tcp', addr: TUN_SVC, port: 80 },
          laddrs: [
            { addr: '10.0.0.100', ifname: 'inside', conns: 12, conflicts: 3 },
            { addr: '10.0.0.101', conns: 0, conflicts: 0 },
          ],
        },
        { service: { proto: 'udp', addr: '10.1.2.3', port: 53 }, laddrs: [] },
      ],
    }),
    'VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     \n' +
      '192.168.222.131:80   2        \n' +
      '                              10.0.0.100           3          12        \n' +
      '                              10.0.0.101           0          0         \n' +
      '10.1.2.3:53          0        \n',
  );
});

test('format: -S | -R round trip: every method, tunnel, proxy protocol and local address comes back', () => {
  const t = methodsTable();
  const rules = parseRules(formatSave(t, { numeric: true }, NAMES), { names: NAMES }).map((r) => r.request);
  const services = new Map<string, ServiceInfo>();
  for (const s of t.services) services.set(`${s.service.proto} ${s.service.port}`, { ...s, dests: [], laddrs: [] });
  for (const c of rules) {
    if (c.op === 'addService') {
      const s = services.get(`${c.service.proto} ${c.service.port}`);
      assert.ok(s);
      assert.deepEqual(c.config, s.config);
    } else if (c.op === 'addDest') {
      const s = services.get(`${c.service.proto} ${c.service.port}`);
      s?.dests.push(dest(c.dest.addr, c.dest.port, c.config));
    } else if (c.op === 'addLaddr') {
      const s = services.get(`${c.service.proto} ${c.service.port}`);
      s?.laddrs.push({ ...c.laddr, conns: 0, conflicts: 0 });
    } else {
      assert.fail(`unexpected ${c.op}`);
    }
  }
  const back = list([...services.values()]);
  assert.equal(formatSave(back, { numeric: true }, NAMES), formatSave(t, { numeric: true }, NAMES));
  // Tunnel settings come back whole, not just as printed.
  const gue = back.services[0].dests.find((d) => d.addr === '10.0.0.4');
  assert.deepEqual(gue?.tunnel, { type: 'gue', port: 6080, csum: 'remcsum' });
  const ipip = back.services[0].dests.find((d) => d.addr === '10.0.0.3');
  assert.deepEqual(ipip?.tunnel, { type: 'ipip', port: 0, csum: 'nocsum' });
});
