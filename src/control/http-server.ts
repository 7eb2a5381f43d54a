/**
 * `tapvsd --http [ADDR:]PORT`: one HTTP server for people and scrapers.
 *   GET /             the live status page (status-page.ts)
 *   GET /api/status   its JSON (status-api.ts); ?window=SECONDS (10..600, default 300)
 *   GET /metrics      the Prometheus text of `--metrics` (metrics.ts), unchanged
 * It owns the StatusSampler (1 s rates, started with the server, stopped when it closes).
 *
 * Listens on loopback unless told otherwise, like --metrics; it has no authentication, so put it
 * behind something that has before opening it wider. Every answer is built from counters on
 * request, never on the packet path, and costs the same whatever the traffic (no connection
 * listing). Other methods and paths get 404/405 with a short text.
 */

import http from 'node:http';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Ipvs } from '../ipvs/ipvs.js';
import { log } from '../log.js';
import { type HaMetricsSource, type HealthMetricsSource, renderMetrics } from './metrics.js';
import { statusSnapshot, windowOf } from './status-api.js';
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from './status-page.js';
import { StatusSampler } from './status-sampler.js';

export interface HttpServerOptions {
  readonly ipvs: Ipvs;
  readonly dataplane: Dataplane | null;
  readonly health: HealthMetricsSource | null;
  readonly ha: HaMetricsSource | null;
  readonly version: string;
  /** When tapvsd started (ms since the epoch), for the uptime shown. */
  readonly startedMs: number;
}

const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

/** Starts the server on host:port; resolves once it listens. */
export function startHttpServer(host: string, port: number, o: HttpServerOptions): Promise<http.Server> {
  const sampler = new StatusSampler(o.ipvs);
  const sources = { ...o, sampler };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? null : url.slice(q + 1);
    const known = path === '/' || path === '/index.html' || path === '/api/status' || path === '/metrics';
    if (!known) return text(res, 404, 'not found: try /, /api/status or /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'GET only\n', { allow: 'GET, HEAD' });
    try {
      if (path === '/metrics') {
        const body = renderMetrics(o.ipvs, o.dataplane, o.health, o.ha);
        return send(res, 'text/plain; version=0.0.4', body, req.method === 'HEAD');
      }
      if (path === '/api/status') {
        const body = JSON.stringify(statusSnapshot(sources, Date.now(), windowOf(query, sampler.capacity)));
        return send(res, 'application/json', body, req.method === 'HEAD');
      }
      return send(res, 'text/html; charset=utf-8', STATUS_PAGE_HTML, req.method === 'HEAD', {
        'content-security-policy': STATUS_PAGE_CSP,
        'referrer-policy': 'no-referrer',
      });
    } catch (e) {
      log('error', 'http status failed', { path, error: (e as Error).stack ?? String(e) });
      return text(res, 500, 'internal error\n');
    }
  });
  server.on('close', () => sampler.stop());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      sampler.start();
      resolve(server);
    });
  });
}

function send(
  res: http.ServerResponse,
  type: string,
  body: string,
  head: boolean,
  extra: Record<string, string> = {},
): void {
  res.writeHead(200, {
    ...COMMON_HEADERS,
    ...extra,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}

function text(res: http.ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...extra, 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
