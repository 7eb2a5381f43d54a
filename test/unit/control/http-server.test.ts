/**
 * `tapvsd --http`: one server on loopback for the page, its JSON and /metrics. The page's CSP
 * admits exactly its own inline script and style, and the page never parses data as HTML.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startHttpServer } from '../../../src/control/http-server.js';
import { STATUS_PAGE_HTML } from '../../../src/control/status-page.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { createScheduler } from '../../../src/ipvs/sched/registry.js';
import { IPPROTO_TCP, parseIpv4 } from '../../../src/packet/ipv4.js';

async function serve(t: import('node:test').TestContext): Promise<string> {
  const ipvs = new Ipvs({ maxConns: 64 });
  const svc = ipvs.addService(IPPROTO_TCP, parseIpv4('192.168.222.131') ?? 0, 80, {
    scheduler: createScheduler('rr', { flags: 0 }),
    schedFlags: 0,
    persistent: false,
    timeoutS: 0,
    netmask: -1,
    ops: false,
  });
  ipvs.addDest(svc, parseIpv4('192.168.2.129') ?? 0, 80, { weight: 5, uThreshold: 0, lThreshold: 0 });
  const server = await startHttpServer('127.0.0.1', 0, {
    ipvs,
    dataplane: null,
    health: null,
    ha: null,
    version: '9.9.9',
    startedMs: Date.now(),
  });
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function inline(tag: 'script' | 'style'): string {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(STATUS_PAGE_HTML);
  assert.ok(m !== null, tag);
  return m[1];
}
const hash = (s: string): string => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

test('http-server: / is the page, with a CSP that admits its own script and style only', async (t) => {
  const base = await serve(t);
  const r = await fetch(`${base}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
  const csp = r.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.ok(csp.includes(`script-src ${hash(inline('script'))}`), csp);
  assert.ok(csp.includes(`style-src ${hash(inline('style'))}`), csp);
  assert.match(csp, /connect-src 'self'/);
  assert.equal(await r.text(), STATUS_PAGE_HTML);
});

test('http-server: /api/status is the JSON snapshot, /metrics the Prometheus text', async (t) => {
  const base = await serve(t);
  const r = await fetch(`${base}/api/status?window=60`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const s = (await r.json()) as {
    version: string;
    windowS: number;
    services: Array<{ dests: Array<{ weight: number }> }>;
  };
  assert.equal(s.version, '9.9.9');
  assert.equal(s.windowS, 60);
  assert.equal(s.services[0].dests[0].weight, 5);
  const m = await fetch(`${base}/metrics`);
  assert.equal(m.status, 200);
  assert.match(await m.text(), /^node_ipvs_backend_weight\{[^}]*remote_address="192\.168\.2\.129"[^}]*\} 5$/m);
});

test('http-server: unknown paths are 404, other methods 405', async (t) => {
  const base = await serve(t);
  assert.equal((await fetch(`${base}/etc/passwd`)).status, 404);
  assert.equal((await fetch(`${base}/api/status`, { method: 'POST' })).status, 405);
  const head = await fetch(`${base}/api/status`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
});

test('status-page: data reaches the DOM as text, never parsed as HTML', () => {
  const script = inline('script');
  for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function'])
    assert.ok(!script.includes(sink), `the page script uses ${sink}`);
  assert.ok(!/https?:\/\//.test(STATUS_PAGE_HTML.replace('http://www.w3.org/2000/svg', '')), 'no external asset');
});
