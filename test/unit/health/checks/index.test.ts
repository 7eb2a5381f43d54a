/** runCheck: each checker type reaches its own probe, and nothing throws. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck } from '../../../../src/health/checks/index.js';
import type { CheckerSpec } from '../../../../src/keepalived/lvs-config.js';
import {
  dnsSpec,
  freePort,
  httpSpec,
  miscSpec,
  NEVER,
  pingSpec,
  TEST_TIMEOUT_MS,
  tcpSpec,
  udpSpec,
} from './fixtures.js';

test('runCheck: dispatches on the checker type', { timeout: TEST_TIMEOUT_MS }, async () => {
  const tcpPort = await freePort('tcp');
  const udpPort = await freePort('udp');
  const specs: CheckerSpec[] = [
    tcpSpec(tcpPort),
    httpSpec(tcpPort),
    httpSpec(tcpPort, { type: 'SSL_GET' }),
    miscSpec(['/bin/sh', '-c', 'exit 3']),
    udpSpec(udpPort),
    dnsSpec(udpPort),
  ];
  const reasons = await Promise.all(specs.map(async (spec) => (await runCheck(spec, 0, NEVER)).reason));
  assert.deepEqual(reasons, [
    'TCP_CHECK: connection refused',
    'HTTP_GET: connection refused',
    'SSL_GET: connection refused',
    'MISC_CHECK: exit status 3',
    'UDP_CHECK: port unreachable',
    'DNS_CHECK: port unreachable',
  ]);
  const ping = await runCheck(pingSpec(), 0, NEVER);
  assert.ok(ping.reason === 'echo reply' || ping.reason.startsWith('PING_CHECK: '), ping.reason);
});

test('runCheck: a spec of an unknown type gets a failed result, not an exception', async () => {
  const bogus = { ...tcpSpec(1), type: 'SMTP_CHECK' } as unknown as CheckerSpec;
  assert.deepEqual(await runCheck(bogus, 0, NEVER), { ok: false, reason: 'unknown checker type SMTP_CHECK' });
});
