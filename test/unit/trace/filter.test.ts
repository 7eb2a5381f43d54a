/**
 * Capture filters: the grammar (good expressions normalise, bad ones name the problem) and
 * matching on built frames, VLAN-tagged frames and every truncation of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTapvsError } from '../../../src/errors.js';
import { CaptureFilter, compileFilter } from '../../../src/trace/filter.js';
import { arpFrame, ICMP, ip, ipFrame, mac, SYN, TCP, UDP } from '../../helpers/frames.js';

const CLIENT = ip('192.168.222.1'),
  VIP = ip('192.168.222.131'),
  RS1 = ip('192.168.2.129');
const A = mac('02:00:00:00:00:01'),
  B = mac('02:00:00:00:00:02');

const tcpSyn = ipFrame(B, A, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN });
const tcpReply = ipFrame(A, B, RS1, CLIENT, { proto: TCP, sport: 8080, dport: 40000, flags: SYN | 0x10 });
const udp = ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53 });
const echo = ipFrame(B, A, CLIENT, VIP, { proto: ICMP });
const arpReq = arpFrame(1, A, CLIENT, new Uint8Array(6), VIP);
/** A first fragment carries ports; a later one does not. */
const laterFragment = ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53 }, { fragWord: 0x2000 | 10 });

/** The same frame with an 802.1Q tag (VLAN 100) after the MAC addresses. */
function vlan(f: Buffer, tpid = 0x8100): Buffer {
  const out = Buffer.alloc(f.length + 4);
  f.copy(out, 0, 0, 12);
  out.writeUInt16BE(tpid, 12);
  out.writeUInt16BE(100, 14);
  f.copy(out, 16, 12);
  return out;
}

const m = (expr: string, f: Uint8Array): boolean => compileFilter(expr).match(f, 0, f.length);

test('filter: good expressions compile and print normalised', () => {
  const cases: Array<[string, string]> = [
    ['', ''],
    ['   ', ''],
    ['host 192.168.222.1', 'host 192.168.222.1'],
    ['HOST 192.168.222.1  AND   port 80', 'host 192.168.222.1 and port 80'],
    ['net 192.168.2.0/24 && proto udp', 'net 192.168.2.0/24 and udp'],
    ['tcp port 80', 'tcp and port 80'],
    ['udp src port 53', 'udp and src port 53'],
    [
      'dst host 192.168.222.131 and src net 0.0.0.0/0 and arp',
      'dst host 192.168.222.131 and src net 0.0.0.0/0 and arp',
    ],
    ['proto icmp', 'icmp'],
  ];
  for (const [expr, text] of cases) assert.equal(new CaptureFilter(expr).text, text, expr);
  assert.equal(compileFilter('').matchesAll, true);
  assert.equal(compileFilter('tcp').matchesAll, false);
});

test('filter: bad expressions are BAD_ARGUMENT errors that name the problem', () => {
  const cases: Array<[string, RegExp]> = [
    ['host', /"host" needs a value/],
    ['host 192.168.222', /"192\.168\.222" is not an IPv4 address/],
    ['host 256.1.1.1', /not an IPv4 address/],
    ['net 192.168.2.0', /not a network \(net A\.B\.C\.D\/LEN/],
    ['net 192.168.2.0/33', /not a network/],
    ['net 192.168.2.1/24', /host bits set beyond \/24/],
    ['port 65536', /not a port number/],
    ['port http', /not a port number/],
    ['proto sctp', /unknown protocol "sctp"/],
    ['proto', /"proto" needs tcp, udp, icmp or arp/],
    ['tcp or udp', /"or" is not supported; terms can only be combined with "and"/],
    ['not tcp', /"not" is not supported/],
    ['(tcp)', /"\(tcp\)" is not supported/],
    ['host 192.168.222.1 port 80', /expected "and" before "port"/],
    ['port 80 and', /expected a term after "and"/],
    ['src tcp', /expected host, net or port after "src", not "tcp"/],
    ['icmp port 80', /expected "and" before "port"/],
    ['vlan 100', /unknown term "vlan"/],
  ];
  for (const [expr, re] of cases) {
    assert.throws(
      () => compileFilter(expr),
      (e) =>
        isTapvsError(e) &&
        e.code === 'BAD_ARGUMENT' &&
        e.message.startsWith(`bad trace filter "${expr}": `) &&
        re.test(e.message),
      expr,
    );
  }
});

test('filter: host, net, port and proto match source or destination as tcpdump does', () => {
  const cases: Array<[string, Uint8Array, boolean]> = [
    ['', tcpSyn, true],
    ['host 192.168.222.1', tcpSyn, true],
    ['host 192.168.222.1', tcpReply, true],
    ['host 192.168.222.131', tcpReply, false],
    ['src host 192.168.222.1', tcpReply, false],
    ['dst host 192.168.222.1', tcpReply, true],
    ['net 192.168.2.0/24', tcpReply, true],
    ['net 192.168.2.0/24', tcpSyn, false],
    ['net 192.168.0.0/16', tcpSyn, true],
    ['net 0.0.0.0/0', tcpSyn, true],
    ['net 0.0.0.0/0', Buffer.from(tcpSyn.subarray(0, 14)), false],
    ['src net 192.168.2.0/24', tcpReply, true],
    ['dst net 192.168.2.0/24', tcpReply, false],
    ['port 80', tcpSyn, true],
    ['port 40000', tcpReply, true],
    ['port 80', tcpReply, false],
    ['src port 40000', tcpSyn, true],
    ['dst port 40000', tcpSyn, false],
    ['port 53', udp, true],
    ['port 53', echo, false],
    ['host 192.168.222.1 and port 80', tcpSyn, true],
    ['host 192.168.222.1 and port 81', tcpSyn, false],
    ['tcp port 80', tcpSyn, true],
    ['udp port 80', tcpSyn, false],
    ['proto tcp', tcpSyn, true],
    ['proto udp', udp, true],
    ['proto icmp', echo, true],
    ['proto icmp', udp, false],
    ['proto arp', arpReq, true],
    ['proto arp', tcpSyn, false],
    ['proto tcp', arpReq, false],
    ['host 192.168.222.131', arpReq, true],
    ['src host 192.168.222.1 and arp', arpReq, true],
    ['dst host 192.168.222.1', arpReq, false],
    ['port 80', arpReq, false],
    ['port 53', laterFragment, false],
    ['udp and host 192.168.222.1', laterFragment, true],
  ];
  for (const [expr, f, want] of cases)
    assert.equal(m(expr, f), want, `${expr} on frame ${cases.findIndex((c) => c[1] === f)}`);
});

test('filter: one VLAN tag (802.1Q or 802.1ad) is looked through', () => {
  for (const tpid of [0x8100, 0x88a8]) {
    assert.equal(m('host 192.168.222.1 and tcp port 80', vlan(tcpSyn, tpid)), true);
    assert.equal(m('port 53', vlan(udp, tpid)), true);
    assert.equal(m('arp and host 192.168.222.131', vlan(arpReq, tpid)), true);
    assert.equal(m('proto icmp', vlan(tcpSyn, tpid)), false);
  }
});

test('filter: frames too short for a field do not match and never throw', () => {
  const filters = ['host 192.168.222.131', 'port 80', 'tcp', 'arp', 'net 192.168.222.0/24 and dst port 80', 'icmp'];
  for (const full of [tcpSyn, vlan(tcpSyn), arpReq, vlan(arpReq), echo]) {
    for (const expr of filters) {
      const f = compileFilter(expr);
      const wantFull = f.match(full, 0, full.length);
      for (let len = 0; len < full.length; len++) {
        const got = f.match(full, 0, len);
        // A field the frame lacks never matches; whatever matches on a prefix matches the whole.
        if (got) assert.equal(wantFull, true, `${expr} len ${len}`);
      }
    }
    // Lengths past the end of the buffer are clamped, offsets past it read nothing.
    assert.equal(compileFilter('tcp').match(full, full.length, 100), false);
    assert.equal(compileFilter('tcp').match(full, -5, 10), false);
  }
  assert.equal(m('host 192.168.222.131', tcpSyn.subarray(0, 33)), false);
  assert.equal(m('host 192.168.222.131', tcpSyn.subarray(0, 34)), true);
  assert.equal(m('host 192.168.222.131', arpReq.subarray(0, 14 + 27)), false);
});

test('filter: matches at an offset inside a larger buffer', () => {
  const big = Buffer.alloc(4096, 0xee);
  tcpSyn.copy(big, 1000);
  assert.equal(compileFilter('host 192.168.222.1 and port 80').match(big, 1000, tcpSyn.length), true);
  assert.equal(compileFilter('port 80').match(big, 1000, 14 + 20 + 3), false);
});
