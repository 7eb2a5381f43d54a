/**
 * configTest(): keepalived -t for the LVS part, against a scratch control plane: the reader's
 * errors, two virtual servers for one service, and whatever tapvsadm's validation refuses in the
 * table, including parts only used later (alpha servers, the sorry server).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plannedLinks } from '../../../src/cli/planned-links.js';
import { configTest } from '../../../src/health/config-test.js';
import type { Diagnostic } from '../../../src/keepalived/lvs-config.js';
import { lvsConfig, realServer, tcpCheck, virtualServer } from '../../helpers/lvs-config.js';

const VIP = '192.168.222.131';

test('configTest: a good configuration has nothing to say', () => {
  const vs = virtualServer(VIP, 80, { scheduler: 'sh', schedFlags: ['sh-port'] }, [
    realServer('10.0.0.1', 80, {}, [tcpCheck()]),
  ]);
  assert.deepEqual(configTest(lvsConfig([vs])), []);
});

test("configTest: the reader's errors come back as they are", () => {
  const bad: Diagnostic = { file: 'keepalived.conf', line: 9, severity: 'error', message: 'unknown keyword' };
  assert.deepEqual(configTest(lvsConfig([], [bad])), [bad]);
});

test('configTest: a real server the control plane refuses is reported at its real_server line', () => {
  const rs = realServer('10.0.0.1', 80, { uthreshold: 5, lthreshold: 9 }, [tcpCheck({ alpha: true })]);
  const vs = virtualServer(VIP, 80, { scheduler: 'wlc' }, [rs]);
  assert.notEqual(rs.at.line, vs.at.line);
  assert.deepEqual(configTest(lvsConfig([vs])), [
    {
      file: rs.at.file,
      line: rs.at.line,
      severity: 'error',
      message: `addDest tcp ${VIP}:80 -> 10.0.0.1:80: Numerical result out of range`,
    },
  ]);
});

test('configTest: a sorry server the control plane refuses is found though it is not in at start', () => {
  const vs = virtualServer(VIP, 80, { sorryServer: { addr: '224.0.0.9', port: 80 } }, [realServer('10.0.0.1', 80)]);
  const out = configTest(lvsConfig([vs]));
  assert.equal(out.length, 1);
  assert.match(out[0]?.message ?? '', /^addDest tcp 192\.168\.222\.131:80 -> 224\.0\.0\.9:80: /);
});

test("configTest: with the director's links, a direct-routing real server off every link's prefix is refused", () => {
  const links = plannedLinks([
    { name: 'int', addrs: [{ addr: (192 << 24) | (168 << 16) | (2 << 8) | 136, prefixLen: 24 }], gateway: 0 },
  ]);
  const dr = { fwd: 'route' as const };
  const near = virtualServer(VIP, 80, {}, [realServer('192.168.2.129', 80, { method: dr })]);
  assert.deepEqual(configTest(lvsConfig([near]), links), []);
  const rs = realServer('172.16.0.5', 80, { method: dr });
  const far = virtualServer(VIP, 80, {}, [rs]);
  assert.deepEqual(configTest(lvsConfig([far])), [], 'without links the check cannot be made');
  const out = configTest(lvsConfig([far]), links);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.line, rs.at.line);
  assert.match(out[0]?.message ?? '', /direct routing needs the real server on a link of the director: 172\.16\.0\.5/);
});
