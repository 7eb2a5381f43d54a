/**
 * describeFrame: exact lines for the frames the director sees most, and tcpdump itself as the
 * oracle for the IPv4 lines (same frames through our pcapng writer, `tcpdump -n -S -t`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { describeFrame } from '../../../src/trace/describe.js';
import { PcapngWriter } from '../../../src/trace/pcapng.js';
import { ACK, arpFrame, FIN, ICMP, ip, ipFrame, mac, PSH, RST, SYN, TCP, UDP } from '../../helpers/frames.js';

const hasTcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;

const CLIENT = ip('192.168.222.1'),
  VIP = ip('192.168.222.131');
const A = mac('02:00:00:00:00:01'),
  B = mac('02:00:00:00:00:02');

const d = (f: Uint8Array): string => describeFrame(f, 0, f.length);

function vlan(f: Buffer, tci: number): Buffer {
  const out = Buffer.alloc(f.length + 4);
  f.copy(out, 0, 0, 12);
  out.writeUInt16BE(0x8100, 12);
  out.writeUInt16BE(tci, 14);
  f.copy(out, 16, 12);
  return out;
}

/** SYN-ACK with mss, sackOK, nop, wscale, nop, nop, timestamps, nop, nop. */
function synAckWithOptions(): Buffer {
  const opts = Buffer.from([2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]);
  const f = ipFrame(A, B, VIP, CLIENT, {
    proto: TCP,
    sport: 80,
    dport: 40000,
    flags: SYN | ACK,
    ack: 1001,
    payload: opts,
  });
  f[14 + 20 + 12] = ((20 + opts.length) / 4) << 4;
  return f;
}

/** ICMP error quoting the IP header and 8 bytes of a UDP datagram client -> VIP:53. */
function icmpError(type: number, code: number, rest: number): Buffer {
  const quote = ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53 }).subarray(14, 14 + 28);
  return ipFrame(A, B, VIP, CLIENT, { proto: ICMP, type, code, rest, payload: quote });
}

test('describe: ARP request and reply', () => {
  assert.equal(
    d(arpFrame(1, A, CLIENT, new Uint8Array(6), VIP)),
    'ARP, Request who-has 192.168.222.131 tell 192.168.222.1, length 28',
  );
  assert.equal(d(arpFrame(2, B, VIP, A, CLIENT)), 'ARP, Reply 192.168.222.131 is-at 02:00:00:00:00:02, length 28');
  assert.equal(
    d(arpFrame(1, A, CLIENT, B, VIP)),
    'ARP, Request who-has 192.168.222.131 (02:00:00:00:00:02) tell 192.168.222.1, length 28',
  );
  assert.equal(d(arpFrame(1, A, CLIENT, B, VIP).subarray(0, 30)), 'ARP, [|arp]');
});

test('describe: TCP SYN, data, FIN, RST and options', () => {
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: TCP, sport: 40000, dport: 80, flags: SYN })),
    'IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [S], seq 1000, win 64240, length 0',
  );
  assert.equal(
    d(
      ipFrame(B, A, CLIENT, VIP, {
        proto: TCP,
        flags: PSH | ACK,
        seq: 4294967290,
        ack: 5,
        payload: new Uint8Array(10),
      }),
    ),
    'IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [P.], seq 4294967290:4, ack 5, win 64240, length 10',
  );
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: FIN | ACK, ack: 5 })),
    'IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [F.], seq 1000, ack 5, win 64240, length 0',
  );
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: RST })),
    'IP 192.168.222.1.40000 > 192.168.222.131.80: Flags [R], seq 1000, win 64240, length 0',
  );
  assert.equal(
    d(synAckWithOptions()),
    'IP 192.168.222.131.80 > 192.168.222.1.40000: Flags [S.], seq 1000, ack 1001, ' +
      'win 64240, options [mss 1460,sackOK,nop,wscale 7,nop,nop,TS val 1 ecr 0,nop,nop], length 0',
  );
});

test('describe: UDP and ICMP', () => {
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: new Uint8Array(20) })),
    'IP 192.168.222.1.5353 > 192.168.222.131.53: UDP, length 20',
  );
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: ICMP, payload: new Uint8Array(56) })),
    'IP 192.168.222.1 > 192.168.222.131: ICMP echo request, id 1, seq 1, length 64',
  );
  assert.equal(
    d(ipFrame(A, B, VIP, CLIENT, { proto: ICMP, type: 0, rest: 0x002a0007, payload: new Uint8Array(56) })),
    'IP 192.168.222.131 > 192.168.222.1: ICMP echo reply, id 42, seq 7, length 64',
  );
  assert.equal(
    d(icmpError(3, 3, 0)),
    'IP 192.168.222.131 > 192.168.222.1: ICMP 192.168.222.131 udp port 53 unreachable, length 36',
  );
  assert.equal(
    d(icmpError(3, 4, 1400)),
    'IP 192.168.222.131 > 192.168.222.1: ICMP 192.168.222.131 unreachable - need to frag (mtu 1400), length 36',
  );
  assert.equal(d(icmpError(11, 0, 0)), 'IP 192.168.222.131 > 192.168.222.1: ICMP time exceeded in-transit, length 36');
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: 47, payload: new Uint8Array(10) })),
    'IP 192.168.222.1 > 192.168.222.131: ip-proto-47, length 18',
  );
});

test('describe: VLAN prefix, fragments, other ethertypes, truncation', () => {
  const udp = ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 5353, dport: 53, payload: new Uint8Array(20) });
  assert.equal(
    d(vlan(udp, (3 << 13) | 100)),
    'vlan 100, p 3, IP 192.168.222.1.5353 > 192.168.222.131.53: UDP, length 20',
  );
  assert.equal(
    d(vlan(arpFrame(1, A, CLIENT, new Uint8Array(6), VIP), 7)),
    'vlan 7, p 0, ARP, Request who-has 192.168.222.131 tell 192.168.222.1, length 28',
  );
  assert.equal(
    d(ipFrame(B, A, CLIENT, VIP, { proto: UDP, payload: new Uint8Array(20) }, { id: 99, fragWord: 0x2000 | 10 })),
    'IP 192.168.222.1 > 192.168.222.131: udp (frag 99:28@80+)',
  );
  assert.equal(
    d(
      ipFrame(
        B,
        A,
        CLIENT,
        VIP,
        { proto: UDP, sport: 1, dport: 2, payload: new Uint8Array(20) },
        { id: 99, fragWord: 0x2000 },
      ),
    ),
    'IP 192.168.222.1.1 > 192.168.222.131.2: UDP, length 20 (frag 99:28@0+)',
  );
  const lldp = Buffer.concat([Buffer.from(A), Buffer.from(B), Buffer.from([0x88, 0xcc]), Buffer.alloc(46)]);
  assert.equal(d(lldp), 'ethertype Unknown (0x88cc), length 60');
  const ip6 = Buffer.from(lldp);
  ip6.writeUInt16BE(0x86dd, 12);
  assert.equal(d(ip6), 'IP6, length 46');
  const syn = ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: SYN });
  assert.equal(
    d(syn.subarray(0, 40)),
    'IP truncated-ip - 14 bytes missing! 192.168.222.1.40000 > 192.168.222.131.80: [|tcp]',
  );
  assert.equal(d(syn.subarray(0, 30)), 'IP [|ip]');
  assert.equal(d(syn.subarray(0, 6)), '[|ether], length 6');
  assert.equal(describeFrame(syn, 0, 1000), d(syn), 'a length past the buffer is clamped');
});

test('describe: never throws on any prefix or random bytes', () => {
  const frames = [synAckWithOptions(), icmpError(3, 3, 0), vlan(arpFrame(1, A, CLIENT, B, VIP), 5)];
  let x = 12345;
  for (let n = 0; n < 200; n++) {
    const f = Buffer.from(frames[n % frames.length]);
    for (let i = 14; i < f.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      if ((x & 7) === 0) f[i] = x >>> 16;
    }
    frames.push(f);
  }
  for (const f of frames)
    for (let len = 0; len <= f.length; len++) assert.equal(typeof describeFrame(f, 0, len), 'string');
});

test('describe: IPv4 lines equal tcpdump -n -S -t on the same frames', {
  skip: !hasTcpdump && 'needs tcpdump',
}, (t) => {
  const frames = [
    ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: SYN }),
    ipFrame(B, A, CLIENT, VIP, { proto: TCP, dport: 12345, flags: PSH | ACK, ack: 5, payload: new Uint8Array(100) }),
    ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: FIN | ACK, ack: 5 }),
    ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: RST | ACK, ack: 5 }),
    ipFrame(B, A, CLIENT, VIP, { proto: TCP, flags: 0 }),
    synAckWithOptions(),
    ipFrame(B, A, CLIENT, VIP, { proto: UDP, sport: 40000, dport: 9999, payload: new Uint8Array(20) }),
    ipFrame(B, A, CLIENT, VIP, { proto: ICMP, payload: new Uint8Array(56) }),
    ipFrame(A, B, VIP, CLIENT, { proto: ICMP, type: 0, payload: new Uint8Array(56) }),
    icmpError(3, 3, 0),
    icmpError(3, 4, 1400),
    icmpError(3, 1, 0),
    icmpError(3, 2, 0),
    icmpError(11, 0, 0),
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapvs-describe-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'd.pcapng');
  const w = new PcapngWriter(file, { interfaces: [{ name: 'x' }] });
  for (const f of frames) w.writePacket(0, f, 0, f.length, 0, null);
  w.close();
  const r = spawnSync('tcpdump', ['-n', '-S', '-t', '-r', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    frames.map(d),
    r.stdout.split('\n').filter((l) => l.length > 0),
  );
});
