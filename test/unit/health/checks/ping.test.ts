/**
 * PING_CHECK to 127.0.0.1 over the shared raw ICMP socket. Needs root (CAP_NET_RAW), and CI runs
 * as root: without it these tests fail on purpose instead of skipping.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ECHO_ID, IcmpEchoSocket, icmpSocket } from '../../../../src/health/checks/icmp-socket.js';
import { pingCheck } from '../../../../src/health/checks/ping.js';
import { checksum } from '../../../../src/packet/checksum.js';
import { NEVER, pingSpec, TEST_TIMEOUT_MS } from './fixtures.js';

const opts = { timeout: TEST_TIMEOUT_MS };

function assertRoot(): void {
  assert.equal(process.getuid?.(), 0, 'PING_CHECK tests need root for the raw ICMP socket (CI runs as root)');
}

test('ping: 127.0.0.1 answers the echo request, and the socket closes once idle', opts, async () => {
  assertRoot();
  assert.deepEqual(await pingCheck(pingSpec(), NEVER), { ok: true, reason: 'echo reply' });
  assert.equal(icmpSocket.waiting, 0);
  assert.equal(icmpSocket.isOpen, false);
});

test("ping: the request carries keepalived's 128-byte payload and a valid checksum", opts, async (t) => {
  assertRoot();
  // A second raw socket of the test's own sees the request on its way to 127.0.0.1.
  const raw = createRequire(import.meta.url)('raw-socket');
  const watcher = raw.createSocket({ protocol: raw.Protocol.ICMP });
  t.after(() => watcher.close());
  const requests: Buffer[] = [];
  watcher.on('message', (packet: Buffer) => {
    const icmp = packet.subarray((packet[0] & 0x0f) << 2);
    if (icmp[0] === 8 && icmp.readUInt16BE(4) === ECHO_ID) requests.push(Buffer.from(icmp));
  });
  assert.equal((await pingCheck(pingSpec(), NEVER)).ok, true);
  // Both sockets were readable in the same poll: let the watcher's callback run too.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(requests.length, 1);
  const [icmp] = requests;
  assert.equal(icmp.length, 8 + 128);
  assert.equal(icmp[1], 0);
  assert.equal(checksum(icmp, 0, icmp.length), 0);
  assert.equal(icmp.toString('latin1', 8), 'keepalived check - '.repeat(7).slice(0, 128));
});

/** An IPv4 packet holding an ICMP message of `type` with `id` and `seq`, as the raw socket gives it. */
function icmpPacket(type: number, id: number, seq: number): Buffer {
  const b = Buffer.alloc(20 + 8 + 128);
  b[0] = 0x45;
  b[9] = 1;
  b[20] = type;
  b.writeUInt16BE(id, 24);
  b.writeUInt16BE(seq, 26);
  return b;
}

test('ping: a packet answers a request only with our id, its sequence number and the target as source', opts, () => {
  assertRoot();
  const sock = new IcmpEchoSocket();
  const outcomes: Array<string | null> = [];
  const forget = sock.echo('127.0.0.1', (error) => outcomes.push(error));
  // The first request of a socket has sequence number 0; the real reply cannot arrive before
  // this synchronous code has run.
  sock.receive(icmpPacket(0, ECHO_ID ^ 1, 0), '127.0.0.1');
  sock.receive(icmpPacket(0, ECHO_ID, 1), '127.0.0.1');
  sock.receive(icmpPacket(0, ECHO_ID, 0), '127.0.0.2');
  sock.receive(icmpPacket(8, ECHO_ID, 0), '127.0.0.1');
  sock.receive(icmpPacket(0, ECHO_ID, 0).subarray(0, 27), '127.0.0.1');
  assert.deepEqual(outcomes, []);
  assert.equal(sock.waiting, 1);
  sock.receive(icmpPacket(0, ECHO_ID, 0), '127.0.0.1');
  assert.deepEqual(outcomes, [null]);
  assert.equal(sock.isOpen, false);
  forget();
});

test('ping: concurrent checks share the socket and each gets its own reply', opts, async () => {
  assertRoot();
  const results = await Promise.all(Array.from({ length: 8 }, () => pingCheck(pingSpec(), NEVER)));
  assert.deepEqual(
    results,
    results.map(() => ({ ok: true, reason: 'echo reply' })),
  );
  assert.equal(icmpSocket.waiting, 0);
});

test('ping: abort forgets the request and gives "aborted"', opts, async () => {
  assertRoot();
  const ac = new AbortController();
  const pending = pingCheck(pingSpec(), ac.signal);
  ac.abort();
  assert.deepEqual(await pending, { ok: false, reason: 'aborted' });
  assert.equal(icmpSocket.waiting, 0);
  assert.equal(icmpSocket.isOpen, false);
});

test('ping: without CAP_NET_RAW the check fails and says why', opts, async () => {
  assertRoot();
  // A child of ours, still uid 0 (it reads the build) but with CAP_NET_RAW out of its bounding set.
  const moduleUrl = new URL('../../../../src/health/checks/ping.js', import.meta.url).href;
  const script = `import(${JSON.stringify(moduleUrl)}).then(async ({ pingCheck }) => {
    const spec = ${JSON.stringify(pingSpec())};
    process.stdout.write(JSON.stringify(await pingCheck(spec, new AbortController().signal)));
  });`;
  const { stdout } = await promisify(execFile)(
    'setpriv',
    ['--bounding-set=-net_raw', '--inh-caps=-net_raw', process.execPath, '--input-type=module', '-e', script],
    { timeout: 5000, cwd: fileURLToPath(new URL('.', import.meta.url)) },
  );
  const result = JSON.parse(stdout) as { ok: boolean; reason: string };
  assert.equal(result.ok, false);
  assert.match(result.reason, /^PING_CHECK: cannot open a raw ICMP socket \(.+\): needs root or CAP_NET_RAW$/);
});
