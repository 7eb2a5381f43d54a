/**
 * The status page served at / by `tapvsd --http`: one self-contained HTML document (inline CSS,
 * inline script, SVG charts drawn by the script; no external asset, font or CDN: directors are
 * often offline). The script fetches `api/status` (status-api.ts) every second and redraws in
 * place, without reloading: totals plotted over the window (connections/s, packets/s and bytes/s
 * in and out), then per service its real servers with weight, health state and connections.
 *
 * Contract: everything taken from the JSON reaches the DOM through textContent or setAttribute
 * on non-URL attributes, never innerHTML: names and addresses come from configuration files. The
 * Content-Security-Policy allows exactly this script and style (by hash), fetches to this origin
 * only, and nothing else. Stable hooks for tests and scrapers: `data-service` ("TCP VIP:PORT") on
 * each service, `data-rs` ("RIP:PORT") on each real server row with cells of classes weight,
 * health, active, inactive, conns, and `data-series`/`data-points` on each plotted line.
 */

import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: light dark; --fg:#1d232a; --muted:#667; --bg:#fbfbfc; --card:#fff; --line:#d8dde3;
  --in:#1f77b4; --out:#e0701b; --conn:#2a9d3f; --bad:#c62828; --good:#2e7d32; }
@media (prefers-color-scheme: dark) { :root { --fg:#e6e9ee; --muted:#99a; --bg:#14171b; --card:#1c2026; --line:#333a44; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 1.2em; margin: 0; }
#meta { color: var(--muted); }
#state { margin-left: auto; font-weight: 600; }
#state.live { color: var(--good); } #state.offline { color: var(--bad); }
main { padding: 1em; display: grid; gap: 1em; }
#services { display: grid; gap: 1em; }
#totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1em; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6em .8em; }
.card h2 { font-size: 1em; margin: 0 0 .3em; display: flex; gap: .8em; flex-wrap: wrap; align-items: baseline; }
.sub { color: var(--muted); font-weight: normal; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 11px; }
svg polyline { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
svg .conn { stroke: var(--conn); } svg .in { stroke: var(--in); } svg .out { stroke: var(--out); }
.legend { display: flex; gap: 1em; font-size: .9em; }
.key::before { content: ""; display: inline-block; width: .9em; height: .25em; margin-right: .3em; vertical-align: middle; background: currentColor; }
.key.conn { color: var(--conn); } .key.in { color: var(--in); } .key.out { color: var(--out); }
.svc { display: grid; grid-template-columns: minmax(0, 2fr) minmax(200px, 1fr); gap: 1em; align-items: start; }
@media (max-width: 800px) { .svc { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: .2em .5em; border-bottom: 1px solid var(--line); white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
td.health.up { color: var(--good); } td.health.down { color: var(--bad); font-weight: 600; }
tr.out-of-table td { color: var(--muted); }
.empty { color: var(--muted); }
`;

const SCRIPT = `
'use strict';
const SVGNS = 'http://www.w3.org/2000/svg';
const W = 600, H = 130, PAD_L = 52, PAD_B = 18;
let updates = 0;
/** /?window=SECONDS on the page's URL is passed on to the JSON (10..600, default 300). */
const windowMatch = /[?&]window=(\\d+)/.exec(location.search);
const windowParam = windowMatch ? '?window=' + windowMatch[1] : '';

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, String(attrs[k]));
  for (const c of kids) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function si(v, unit) {
  const a = Math.abs(v);
  const [d, p] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  const x = v / d;
  return (Math.abs(x) >= 100 || d === 1 && Number.isInteger(x) ? x.toFixed(0) : x.toFixed(1)) + (p || unit ? ' ' : '') + p + unit;
}
function niceMax(m) {
  if (!(m > 0)) return 1;
  const e = Math.pow(10, Math.floor(Math.log10(m)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * e >= m) return f * e;
  return 10 * e;
}
function perS(v, unit) {
  return si(v, unit) + '/s';
}
function duration(s) {
  return s >= 120 ? Math.round(s / 60) + ' min' : s + ' s';
}

/** An SVG chart of parallel series over [-windowS, 0] seconds. lines: [{key, cls, values}]. */
function chart(t, windowS, lines, unit, height) {
  const h = height || H;
  const svg = sv('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + h, role: 'img' });
  let max = 0;
  for (const l of lines) for (const v of l.values) if (v > max) max = v;
  max = niceMax(max);
  const plotH = h - PAD_B - 4;
  const x = (s) => PAD_L + (W - PAD_L - 4) * (1 + s / windowS);
  const y = (v) => 4 + plotH * (1 - v / max);
  for (const f of [0, 0.5, 1]) {
    svg.append(sv('line', { class: 'grid', x1: PAD_L, x2: W - 4, y1: y(max * f), y2: y(max * f) }));
    svg.append(sv('text', { class: 'axis', x: PAD_L - 4, y: y(max * f) + 4, 'text-anchor': 'end' }, si(max * f, unit)));
  }
  svg.append(sv('text', { class: 'axis', x: PAD_L, y: h - 3 }, '-' + duration(windowS)));
  svg.append(sv('text', { class: 'axis', x: W - 4, y: h - 3, 'text-anchor': 'end' }, 'now'));
  for (const l of lines) {
    const pts = [];
    for (let i = 0; i < l.values.length; i++) {
      if (t[i] < -windowS) continue;
      pts.push(x(t[i]).toFixed(1) + ',' + y(l.values[i]).toFixed(1));
    }
    svg.append(sv('polyline', { class: l.cls, points: pts.join(' '), 'data-series': l.key, 'data-points': pts.length }));
  }
  return svg;
}
function legend(items) {
  return el('div', { class: 'legend' }, ...items.map(([cls, text]) => el('span', { class: 'key ' + cls }, text)));
}
function totalCard(title, body, keys) {
  return el('div', { class: 'card' }, el('h2', {}, title), body, legend(keys));
}

function renderTotals(s) {
  const t = s.series.t, w = s.windowS, r = s.total.rate;
  document.getElementById('totals').replaceChildren(
    totalCard('Connections/s', chart(t, w, [{ key: 'cps', cls: 'conn', values: s.series.cps }], ''),
      [['conn', 'new connections ' + perS(r.cps, '')]]),
    totalCard('Packets/s', chart(t, w, [{ key: 'inpps', cls: 'in', values: s.series.inpps }, { key: 'outpps', cls: 'out', values: s.series.outpps }], ''),
      [['in', 'in ' + perS(r.inpps, 'pkt')], ['out', 'out ' + perS(r.outpps, 'pkt')]]),
    totalCard('Bytes/s', chart(t, w, [{ key: 'inbps', cls: 'in', values: s.series.inbps }, { key: 'outbps', cls: 'out', values: s.series.outbps }], 'B'),
      [['in', 'in ' + perS(r.inbps, 'B')], ['out', 'out ' + perS(r.outbps, 'B')]]),
  );
}

function destRow(d, health) {
  const cls = 'rs' + (d.inTable ? '' : ' out-of-table');
  const hs = d.health === null ? (health ? 'not checked' : '—') : d.inTable ? d.health : d.health + ' (out of table)';
  return el('tr', { class: cls, 'data-rs': d.addr + ':' + d.port },
    el('td', { class: 'addr' }, d.addr + ':' + d.port),
    el('td', { class: 'fwd' }, d.fwd || '—'),
    el('td', { class: 'weight' }, d.weight === null ? '—' : d.weight),
    el('td', { class: 'health ' + (d.health || 'none') }, hs),
    el('td', { class: 'active' }, d.activeConns),
    el('td', { class: 'inactive' }, d.inactConns),
    el('td', { class: 'conns' }, d.conns));
}

function renderServices(s) {
  const box = document.getElementById('services');
  if (s.services.length === 0) {
    box.replaceChildren(el('p', { class: 'empty' }, 'No virtual service.'));
    return;
  }
  box.replaceChildren(...s.services.map((v) => {
    const name = v.proto.toUpperCase() + ' ' + v.addr + ':' + v.port;
    const sched = v.scheduler + (v.persistentS === null ? '' : ' persistent ' + v.persistentS + ' s');
    const rows = v.dests.length > 0 ? v.dests.map((d) => destRow(d, s.health))
      : [el('tr', {}, el('td', { class: 'empty', colspan: 7 }, 'no real server'))];
    const table = el('table', {},
      el('thead', {}, el('tr', {}, ...['Real server', 'Forward', 'Weight', 'Health', 'Active', 'Inactive', 'Conns'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...rows));
    const spark = chart(v.series.t, Math.min(60, s.windowS), [
      { key: 'inbps', cls: 'in', values: v.series.inbps }, { key: 'outbps', cls: 'out', values: v.series.outbps }], 'B', 110);
    return el('article', { class: 'card', 'data-service': name },
      el('h2', {}, el('span', { class: 'name' }, name), el('span', { class: 'sub' }, sched),
        el('span', { class: 'sub rates' }, perS(v.rate.cps, 'conn') + ' · in ' + perS(v.rate.inbps, 'B') + ' · out ' + perS(v.rate.outbps, 'B'))),
      el('div', { class: 'svc' }, table, el('div', {}, spark, legend([['in', 'bytes/s in'], ['out', 'bytes/s out']]))));
  }));
}

function renderLinks(s) {
  const rows = s.links.map((l) => el('tr', { 'data-link': l.name },
    el('td', {}, l.name + ' (' + l.device + ')'), el('td', {}, l.rxFrames), el('td', {}, si(l.rxBytes, 'B')),
    el('td', {}, l.txFrames), el('td', {}, si(l.txBytes, 'B')), el('td', {}, l.drops)));
  document.getElementById('links').replaceChildren(el('h2', {}, 'Links'), el('table', {},
    el('thead', {}, el('tr', {}, ...['Link', 'RX frames', 'RX bytes', 'TX frames', 'TX bytes', 'Drops'].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows)));
}

function render(s) {
  document.getElementById('meta').textContent = 'tapvsd ' + s.version + ' · up ' + duration(s.uptimeS) +
    ' · ' + s.connEntries + ' of ' + s.connCapacity + ' connection entries' + (s.health ? ' · health checks on' : '');
  renderTotals(s);
  renderServices(s);
  renderLinks(s);
}

async function poll() {
  const state = document.getElementById('state');
  try {
    const r = await fetch('api/status' + windowParam, { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    render(await r.json());
    updates++;
    document.body.dataset.updates = String(updates);
    state.className = 'live';
    state.textContent = 'live · ' + new Date().toLocaleTimeString();
  } catch (e) {
    state.className = 'offline';
    state.textContent = 'offline: ' + (e && e.message ? e.message : String(e)) + ' (retrying)';
  }
  setTimeout(poll, 1000);
}
poll();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The page's CSP: its own script and style only, fetches to its own origin, no frames, no forms. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapvs status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>tapvs</h1><span id="meta">loading…</span><span id="state">connecting…</span></header>
<main>
<section id="totals"></section>
<section id="services"></section>
<section id="links" class="card"></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
