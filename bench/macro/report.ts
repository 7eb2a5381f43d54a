/**
 * Medians, ranges, ratios against the kernel NAT row, the issue-7 targets, and the markdown.
 * With --baseline, also current/baseline ratios: each baseline variant against its current twin.
 */

import { IDLE_FIRST_SECONDS, IDLE_SECONDS, IDLE_SETTLE_SECONDS, type IdleSample } from './idle-cpu.js';
import type { MetricKey, Sample } from './measure.js';
import type { CpuUse } from './sys.js';
import { twinOf, type VariantKey } from './variants.js';

export const METRICS: readonly {
  key: MetricKey;
  head: string;
  unit: string;
  digits: number;
  lowerIsBetter: boolean;
}[] = [
  { key: 'tcp1', head: 'iperf3 1 stream', unit: 'Gbit/s', digits: 2, lowerIsBetter: false },
  { key: 'tcp4', head: 'iperf3 -P 4', unit: 'Gbit/s', digits: 2, lowerIsBetter: false },
  { key: 'tcpR', head: 'iperf3 -R', unit: 'Gbit/s', digits: 2, lowerIsBetter: false },
  { key: 'conns', head: 'new conn/s', unit: 'conn/s', digits: 0, lowerIsBetter: false },
  { key: 'ping', head: 'ping RTT', unit: 'ms', digits: 3, lowerIsBetter: true },
  { key: 'udp', head: 'small UDP frames', unit: 'frames/s', digits: 0, lowerIsBetter: false },
  { key: 'pingRouted', head: 'ping RS1 routed', unit: 'ms', digits: 3, lowerIsBetter: true },
  { key: 'dl50', head: '50 MB download', unit: 's', digits: 3, lowerIsBetter: true },
];

export interface MetricResult {
  readonly samples: Sample[];
  readonly errors: string[];
  /** Why there is no figure by design (e.g. HAProxy carries no UDP). */
  na?: string;
}

export interface VariantResult {
  readonly key: VariantKey;
  readonly label: string;
  readonly what: string;
  na?: string;
  readonly errors: string[];
  readonly notes: string[];
  readonly metrics: Partial<Record<MetricKey, MetricResult>>;
  /** The director's CPU with no traffic, one per repetition (idle-cpu.ts); empty when not sampled. */
  readonly idle: IdleSample[];
  readonly commands: string[];
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(xs: readonly number[]): Stat | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

function fmt(x: number, digits: number): string {
  if (!Number.isFinite(x)) return '?';
  return digits === 0 ? Math.round(x).toLocaleString('en-US') : x.toFixed(digits);
}

/** "median (min–max)", the range only with more than one sample. */
export function statText(s: Stat, digits: number): string {
  return `${fmt(s.median, digits)}${s.n > 1 ? ` (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : ''}`;
}

function cell(m: MetricResult | undefined, digits: number): string {
  if (m === undefined) return '—';
  if (m.na !== undefined) return m.na;
  const s = stat(m.samples.map((x) => x.value));
  if (s === null) return m.errors.length > 0 ? 'failed' : '—';
  return `${statText(s, digits)}${m.errors.length > 0 ? ` [${m.errors.length} failed]` : ''}`;
}

export function medianOf(v: VariantResult | undefined, k: MetricKey): number {
  const m = v?.metrics[k];
  if (m === undefined) return Number.NaN;
  return stat(m.samples.map((x) => x.value))?.median ?? Number.NaN;
}

export function ratioCell(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : '—';
}

/** Current variants that have a baseline twin in this run, with that twin. */
function baselinePairs(results: readonly VariantResult[]): { current: VariantResult; base: VariantResult }[] {
  const pairs: { current: VariantResult; base: VariantResult }[] = [];
  for (const base of results) {
    const current = results.find((r) => r.key === twinOf(base.key));
    if (current !== undefined) pairs.push({ current, base });
  }
  return pairs;
}

/** "dir D / machine M" (medians, rounded) over some samples; "machine M" without a director process. */
function cpuCell(samples: readonly { readonly cpu: CpuUse }[], digits = 0): string {
  if (samples.length === 0) return '—';
  const median = (f: (c: CpuUse) => number): number => stat(samples.map((x) => f(x.cpu)))?.median ?? Number.NaN;
  const machine = `machine ${median((c) => c.machinePct).toFixed(digits)}`;
  const director = median((c) => c.directorPct);
  return Number.isFinite(director) ? `dir ${director.toFixed(digits)} / ${machine}` : machine;
}

export interface Target {
  what: string;
  metric: MetricKey;
  op: '>=' | '<=';
  want: number;
  /** The reference variant; `vsPlain` instead for the tapvsd --no-offload column when given. */
  vs: VariantKey;
  vsPlain?: VariantKey;
}

/**
 * Issue 7's targets, as ratios of medians in the same run. Small frames are compared like with
 * like: tapvsd with offloads against the copy loop with vnet_hdr, --no-offload against the plain
 * copy loop.
 */
export const TARGETS: readonly Target[] = [
  { what: 'iperf3 single stream >= 0.8 x kernel NAT', metric: 'tcp1', vs: 'nft', op: '>=', want: 0.8 },
  { what: 'iperf3 single stream >= 1.8 x HAProxy', metric: 'tcp1', vs: 'haproxy', op: '>=', want: 1.8 },
  { what: 'iperf3 -P 4 >= 0.5 x kernel NAT', metric: 'tcp4', vs: 'nft', op: '>=', want: 0.5 },
  { what: 'new connections/s >= 0.9 x kernel NAT', metric: 'conns', vs: 'nft', op: '>=', want: 0.9 },
  { what: 'new connections/s >= 1.3 x HAProxy', metric: 'conns', vs: 'haproxy', op: '>=', want: 1.3 },
  { what: 'ping RTT through the VIP <= 2.5 x kernel NAT', metric: 'ping', vs: 'nft', op: '<=', want: 2.5 },
  {
    what: 'small frames >= 0.9 x the C TAP copy loop (vnet_hdr / plain)',
    metric: 'udp',
    vs: 'tapcopy-vnet',
    vsPlain: 'tapcopy',
    op: '>=',
    want: 0.9,
  },
];

export function macroMarkdown(results: readonly VariantResult[], reps: number): string {
  const by = new Map(results.map((r) => [r.key, r]));
  const out: string[] = [];
  out.push(`### Absolute figures (median of ${reps}, min–max in brackets)`, '');
  out.push(`| variant | ${METRICS.map((m) => `${m.head} (${m.unit})`).join(' | ')} |`);
  out.push(`|---|${METRICS.map(() => '---:').join('|')}|`);
  for (const r of results) {
    if (r.na !== undefined) {
      out.push(`| ${r.label} | ${METRICS.map(() => r.na).join(' | ')} |`);
      continue;
    }
    if (Object.keys(r.metrics).length === 0) {
      out.push(`| ${r.label} | ${METRICS.map(() => 'failed (see notes)').join(' | ')} |`);
      continue;
    }
    out.push(`| ${r.label} | ${METRICS.map((m) => cell(r.metrics[m.key], m.digits)).join(' | ')} |`);
  }

  const base = by.get('nft');
  const hap = by.get('haproxy');
  out.push('', '### Ratios of medians (x kernel nftables DNAT; for ping and RTT lower is better)', '');
  out.push(`| variant | ${METRICS.map((m) => m.head).join(' | ')} |`);
  out.push(`|---|${METRICS.map(() => '---:').join('|')}|`);
  for (const r of results) {
    if (r.na !== undefined) continue;
    out.push(
      `| ${r.label} | ${METRICS.map((m) => ratioCell(medianOf(r, m.key) / medianOf(base, m.key))).join(' | ')} |`,
    );
  }
  const pairs = baselinePairs(results);
  if (pairs.length > 0) {
    out.push(
      '',
      '### Current / baseline (ratios of medians in this run; above 1 is better, except ping and RTT where below 1 is better)',
      '',
    );
    out.push(`| variant | ${METRICS.map((m) => m.head).join(' | ')} |`);
    out.push(`|---|${METRICS.map(() => '---:').join('|')}|`);
    for (const { current, base } of pairs) {
      out.push(
        `| ${current.label} | ${METRICS.map((m) => ratioCell(medianOf(current, m.key) / medianOf(base, m.key))).join(' | ')} |`,
      );
    }
  }
  const tv = by.get('tapvsd');
  if (
    hap !== undefined &&
    tv !== undefined &&
    Number.isFinite(medianOf(hap, 'tcp1')) &&
    Number.isFinite(medianOf(tv, 'tcp1'))
  ) {
    const t = tv;
    out.push(
      '',
      `tapvsd vs HAProxy: iperf3 1 stream ${(medianOf(t, 'tcp1') / medianOf(hap, 'tcp1')).toFixed(2)}x, ` +
        `-P 4 ${(medianOf(t, 'tcp4') / medianOf(hap, 'tcp4')).toFixed(2)}x, -R ${(medianOf(t, 'tcpR') / medianOf(hap, 'tcpR')).toFixed(2)}x, ` +
        `new conn/s ${(medianOf(t, 'conns') / medianOf(hap, 'conns')).toFixed(2)}x.`,
    );
  }
  const dr = by.get('tapvsd-dr');
  if (dr !== undefined && dr.na === undefined && tv !== undefined && tv.na === undefined) {
    const r = (k: MetricKey): string => (medianOf(dr, k) / medianOf(tv, k)).toFixed(2);
    out.push(
      '',
      `tapvsd direct routing vs NAT (same run): iperf3 1 stream ${r('tcp1')}x, -P 4 ${r('tcp4')}x, -R ${r('tcpR')}x, ` +
        `new conn/s ${r('conns')}x (replies bypass tapvsd with DR).`,
    );
  }

  out.push(...issue14Lines(by));
  out.push(...costLines(results));

  out.push('', '### Issue 7 targets (ratios of medians in this run)', '');
  const contenders = (['tapvsd', 'tapvsd-plain'] as const)
    .map((k) => by.get(k))
    .filter((r): r is VariantResult => r !== undefined && r.na === undefined);
  const twins = new Map(pairs.map((p) => [p.current.key, p.base]));
  // With a baseline twin, two more columns: the baseline's ratio to the same reference, and ours / the baseline's figure.
  const baseHead = (c: VariantResult): string => (twins.has(c.key) ? ' | baseline ratio | x baseline' : '');
  out.push(`| target | ${contenders.map((c) => `${c.label} | reference | ratio | met?${baseHead(c)}`).join(' | ')} |`);
  out.push(`|---|${contenders.map((c) => `---:|---:|---:|---${twins.has(c.key) ? '|---:|---:' : ''}`).join('|')}|`);
  for (const t of TARGETS) {
    const m = METRICS.find((x) => x.key === t.metric);
    const cols = contenders.map((c) => {
      const vs = c.key === 'tapvsd-plain' && t.vsPlain !== undefined ? t.vsPlain : t.vs;
      const a = medianOf(c, t.metric);
      const b = medianOf(by.get(vs), t.metric);
      const ratio = a / b;
      const met = !Number.isFinite(ratio)
        ? 'n/a'
        : (t.op === '>=' ? ratio >= t.want : ratio <= t.want)
          ? 'yes'
          : `**no** (${t.op === '>=' ? `${(100 * (1 - ratio / t.want)).toFixed(0)}% short` : `${(100 * (ratio / t.want - 1)).toFixed(0)}% over`})`;
      const twin = twins.get(c.key);
      const vsBase =
        twin === undefined
          ? ''
          : ` | ${ratioCell(medianOf(twin, t.metric) / b)} | ${ratioCell(a / medianOf(twin, t.metric))}`;
      return `${fmt(a, m?.digits ?? 2)} | ${fmt(b, m?.digits ?? 2)} ${by.get(vs)?.label ?? vs} | ${ratioCell(ratio)} | ${met}${vsBase}`;
    });
    out.push(`| ${t.what} | ${cols.join(' | ')} |`);
  }

  out.push(
    '',
    '### CPU during each measurement (medians; director = the tapvsd / haproxy / tapcopy process, % of one core; machine = all cores busy, %)',
    '',
  );
  out.push(
    `The last two columns, for tapvsd's variants only, with no traffic after the warm-up: the first ${IDLE_FIRST_SECONDS} s ` +
      `(optimising compiles and garbage collection the warm-up left), and ${IDLE_SECONDS} s from ${IDLE_SETTLE_SECONDS} s on ` +
      "(settled: the director's timers). One decimal: idle figures are small.",
    '',
  );
  out.push(
    `| variant | ${METRICS.map((m) => m.head).join(' | ')} | idle, first ${IDLE_FIRST_SECONDS} s | idle, settled |`,
  );
  out.push(`|---|${METRICS.map(() => '---:').join('|')}|---:|---:|`);
  for (const r of results) {
    if (r.na !== undefined) continue;
    const cells = METRICS.map((m) => cpuCell(r.metrics[m.key]?.samples ?? []));
    const first = r.idle.map((x) => ({ cpu: x.first }));
    out.push(`| ${r.label} | ${cells.join(' | ')} | ${cpuCell(first, 1)} | ${cpuCell(r.idle, 1)} |`);
  }
  return out.join('\n');
}

/**
 * Issue 14's figures for the NIC attachments (packet=, pcap=): speed ratios of medians in this run
 * (for the download, the reference's time over ours: above 1 is faster). Empty when none ran.
 */
export function issue14Lines(by: ReadonlyMap<VariantKey, VariantResult>): string[] {
  const rows: Array<[string, VariantKey, VariantKey, MetricKey, string]> = [
    ['50 MB download through packet= vs TAP links with offloads', 'tapvsd-packet', 'tapvsd', 'dl50', '>= 0.8x'],
    ['50 MB download through pcap= vs TAP links with offloads', 'tapvsd-pcap', 'tapvsd', 'dl50', ''],
    ['50 MB download through packet= vs pcap=', 'tapvsd-packet', 'tapvsd-pcap', 'dl50', ''],
    [
      '50 MB download through packet= (recvmmsg) vs packet= (TPACKET_V3 ring)',
      'tapvsd-packet',
      'tapvsd-packet-ring',
      'dl50',
      '',
    ],
    [
      'iperf3 1 stream through packet= (recvmmsg) vs packet= (TPACKET_V3 ring)',
      'tapvsd-packet',
      'tapvsd-packet-ring',
      'tcp1',
      '',
    ],
    ['iperf3 1 stream through packet= vs kernel NAT on the same veths', 'tapvsd-packet', 'nft-veth', 'tcp1', '>= 0.7x'],
    ['iperf3 1 stream through packet= vs kernel NAT on the bridges', 'tapvsd-packet', 'nft', 'tcp1', ''],
    ['new conn/s through packet= vs kernel NAT on the same veths', 'tapvsd-packet', 'nft-veth', 'conns', ''],
    ['ping RTT through packet= vs kernel NAT on the same veths', 'tapvsd-packet', 'nft-veth', 'ping', ''],
    // The TAP path against the kernel on the lab's bridges.
    ['new conn/s through TAP links vs kernel NAT', 'tapvsd', 'nft', 'conns', '>= 0.95x'],
    ['ping RTT through TAP links vs kernel NAT (adaptive polling, the default)', 'tapvsd', 'nft', 'ping', '<= 1.5x'],
    ['ping RTT through TAP links vs kernel NAT, --poll-budget 0', 'tapvsd-nopoll', 'nft', 'ping', ''],
    ['new conn/s through TAP links vs kernel NAT, --poll-budget 0', 'tapvsd-nopoll', 'nft', 'conns', ''],
    ['new conn/s through TAP links vs kernel NAT, TAPVS_TAP_IO=readwrite', 'tapvsd-readwrite', 'nft', 'conns', ''],
    ['new conn/s through TAP links, io_uring vs readwrite', 'tapvsd', 'tapvsd-readwrite', 'conns', ''],
    ['ping RTT through TAP links, io_uring vs readwrite', 'tapvsd', 'tapvsd-readwrite', 'ping', ''],
    ['iperf3 -P 4 through TAP links, io_uring vs readwrite', 'tapvsd', 'tapvsd-readwrite', 'tcp4', ''],
    ['iperf3 1 stream through TAP links, io_uring vs readwrite', 'tapvsd', 'tapvsd-readwrite', 'tcp1', ''],
    ['iperf3 -P 4 through TAP links vs kernel NAT', 'tapvsd', 'nft', 'tcp4', '>= 0.8x'],
    ['iperf3 1 stream through TAP links vs kernel NAT', 'tapvsd', 'nft', 'tcp1', '>= 0.9x'],
  ];
  const out: string[] = [];
  for (const [what, a, b, k, goal] of rows) {
    const va = by.get(a),
      vb = by.get(b);
    if (va === undefined || vb === undefined) continue;
    const lower = METRICS.find((m) => m.key === k)?.lowerIsBetter === true;
    // Times as speed (reference / ours); the RTT as the issue states it (ours / reference).
    const ratio = lower && k !== 'ping' ? medianOf(vb, k) / medianOf(va, k) : medianOf(va, k) / medianOf(vb, k);
    const digits = METRICS.find((m) => m.key === k)?.digits ?? 2;
    out.push(
      `| ${what} | ${fmt(medianOf(va, k), digits)} | ${fmt(medianOf(vb, k), digits)} | ${ratioCell(ratio)}${k === 'ping' ? ' (ours / reference)' : ''} | ${goal} |`,
    );
  }
  // The ping goal's other half: tapvsd's idle CPU, settled (idle-cpu.ts), % of one core.
  const idle = stat(by.get('tapvsd')?.idle.map((x) => x.cpu.directorPct) ?? []);
  if (out.length > 0 && idle !== null)
    out.push(
      `| tapvsd idle CPU, settled (% of one core; min–max ${fmt(idle.min, 1)}–${fmt(idle.max, 1)}) | ${fmt(idle.median, 1)} | | | < 1 |`,
    );
  if (out.length === 0) return [];
  return [
    '',
    "### Issue 14 (ratios of medians in this run; for times, reference / ours; the directors' idle CPU is in the CPU table)",
    '',
    '| figure | ours | reference | ratio | goal |',
    '|---|---:|---:|---:|---|',
    ...out,
  ];
}

/**
 * What the director's work costs, not only how fast it goes: its CPU seconds per GB forwarded
 * (iperf3 1 stream and -R) and per 1,000 new connections, from each sample's director CPU and
 * rate (CPU share of one core / units per second), medians over the repetitions; against the C
 * TAP copy loop, which only reads and writes frames. Variants without a director process (the
 * kernel's) have no figure.
 */
export function costLines(results: readonly VariantResult[]): string[] {
  const per = (r: VariantResult, k: MetricKey, unitsPerValue: number): number => {
    const samples = r.metrics[k]?.samples ?? [];
    const costs = samples
      .filter((x) => Number.isFinite(x.cpu.directorPct) && x.value > 0)
      .map((x) => x.cpu.directorPct / 100 / (x.value * unitsPerValue));
    return stat(costs)?.median ?? Number.NaN;
  };
  // Gbit/s -> GB/s: / 8; conn/s -> thousands of conn/s: / 1000.
  const rows = results
    .map((r) => ({ r, gb: per(r, 'tcp1', 1 / 8), gbR: per(r, 'tcpR', 1 / 8), kconn: per(r, 'conns', 1 / 1000) }))
    .filter((x) => Number.isFinite(x.gb) || Number.isFinite(x.kconn));
  if (rows.length === 0) return [];
  const copy = rows.find((x) => x.r.key === 'tapcopy-vnet') ?? rows.find((x) => x.r.key === 'tapcopy');
  const cell = (v: number, ref: number | undefined): string =>
    !Number.isFinite(v)
      ? '—'
      : `${v.toFixed(3)}${ref !== undefined && Number.isFinite(ref) ? ` (${(v / ref).toFixed(2)}x)` : ''}`;
  return [
    '',
    `### Cost: director CPU seconds per unit of work (medians; in brackets: x ${copy?.r.label ?? 'the C copy loop (not in this run)'})`,
    '',
    '| variant | CPU s per GB (iperf3 1 stream) | CPU s per GB (iperf3 -R) | CPU s per 1,000 new connections |',
    '|---|---:|---:|---:|',
    ...rows.map(
      (x) => `| ${x.r.label} | ${cell(x.gb, copy?.gb)} | ${cell(x.gbR, copy?.gbR)} | ${cell(x.kconn, copy?.kconn)} |`,
    ),
  ];
}

/** Per variant: why it did not run, errors, notes of the measurements, the director's own notes. */
export function notesMarkdown(results: readonly VariantResult[]): string {
  const notes: string[] = [];
  for (const r of results) {
    const lines: string[] = [];
    if (r.na !== undefined) lines.push(r.na);
    lines.push(...r.errors.map((e) => `error: ${e}`));
    for (const m of METRICS) {
      const mr = r.metrics[m.key];
      if (mr === undefined) continue;
      const ns = [...new Set(mr.samples.map((s) => s.note).filter((n): n is string => n !== undefined))];
      if (ns.length > 0) lines.push(`${m.head}: ${ns.join('; ')}`);
      for (const e of mr.errors) lines.push(`${m.head} failed: ${e}`);
    }
    lines.push(...r.notes);
    if (lines.length > 0)
      notes.push(`- **${r.label}**\n${lines.map((l) => `  - ${l.replace(/\n/g, ' ')}`).join('\n')}`);
  }
  return notes.length > 0 ? ['### Notes per variant', '', ...notes].join('\n') : '';
}
