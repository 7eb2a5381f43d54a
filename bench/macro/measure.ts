/**
 * One measurement each: iperf3 TCP (single stream, -P 4, -R), wrk new connections per second,
 * ping RTT, small-UDP-frame rate. Every load is bounded in time (its own duration plus a kill
 * timeout) and runs from the client namespace towards the targets a variant names.
 */
import { LAB, nsExec } from '../../lab/lab-lib.js';
import { type CommandLog, type CpuUse, cpuSample, shellLine, sleep, startInNs, stopStarted } from './sys.js';

export type MetricKey = 'tcp1' | 'tcp4' | 'tcpR' | 'conns' | 'ping' | 'udp' | 'pingRouted' | 'dl50';

/** Where a variant's traffic goes. */
export interface Targets {
  /** iperf3 server address (port 5201). */
  readonly iperf: string;
  /** HTTP URLs for the two wrk processes (the VIP twice, or RS1 and RS2). */
  readonly http: readonly [string, string];
  readonly ping: string;
  /** Small-UDP target address (port UDP_PORT), or null when the variant cannot carry UDP. */
  readonly udp: string | null;
  /** A real server pinged through the director as a router (no NAT), or null. */
  readonly pingRouted: string | null;
  /** The process doing the director's work, for CPU figures. */
  readonly directorPid: number | null;
}

export const UDP_PORT = 9000;

export interface Durations {
  /** iperf3 -t and wrk -d, seconds. */
  readonly seconds: number;
  readonly pingCount: number;
}

export interface Sample {
  readonly value: number;
  readonly cpu: CpuUse;
  /** Anything worth a note (errors, loss, retransmits). */
  readonly note?: string;
}

export interface MeasureContext {
  readonly udpblast: string;
  readonly log: CommandLog;
}

function client(ctx: MeasureContext, cmd: string, args: string[], timeoutMs: number) {
  ctx.log.add(shellLine(LAB.ns.client, cmd, args));
  return nsExec(LAB.ns.client, cmd, args, { timeoutMs });
}

interface IperfSum {
  bits_per_second: number;
  bytes: number;
  seconds: number;
  retransmits?: number;
}

/** iperf3 TCP: receiver-side bits/s (end.sum_received). */
export async function iperfTcp(
  ctx: MeasureContext,
  t: Targets,
  d: Durations,
  mode: 'tcp1' | 'tcp4' | 'tcpR',
): Promise<Sample> {
  const args = ['-c', t.iperf, '-p', String(LAB.iperfPort), '-t', String(d.seconds), '-J', '--connect-timeout', '3000'];
  if (mode === 'tcp4') args.push('-P', '4');
  if (mode === 'tcpR') args.push('-R');
  const done = cpuSample(t.directorPid);
  const r = await client(ctx, 'iperf3', args, (d.seconds + 20) * 1000);
  const cpu = done();
  let j: { error?: string; end?: { sum_received?: IperfSum; sum_sent?: IperfSum } };
  try {
    j = JSON.parse(r.stdout) as typeof j;
  } catch {
    throw new Error(
      `iperf3 ${args.join(' ')}: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`,
    );
  }
  if (j.error !== undefined) throw new Error(`iperf3 ${args.join(' ')}: ${j.error}`);
  const rx = j.end?.sum_received;
  if (rx === undefined) throw new Error(`iperf3 ${args.join(' ')}: no end.sum_received`);
  const retr = j.end?.sum_sent?.retransmits;
  return {
    value: rx.bits_per_second / 1e9,
    cpu,
    ...(retr !== undefined && retr > 0 ? { note: `${retr} retransmits` } : {}),
  };
}

/**
 * New connections per second: two wrk processes side by side (-t1 -c25 each, `Connection: close`,
 * so every request is a new TCP connection), requests/s summed. Two processes rather than one
 * -t2 -c50 so the variants without a VIP can aim one at RS1 and one at RS2 with the same load.
 */
export async function wrkConns(ctx: MeasureContext, t: Targets, d: Durations): Promise<Sample> {
  const mk = (url: string): string[] => [
    '-t1',
    '-c25',
    `-d${d.seconds}s`,
    '--timeout',
    '2s',
    '-H',
    'Connection: close',
    url,
  ];
  const done = cpuSample(t.directorPid);
  const rs = await Promise.all(t.http.map((u) => client(ctx, 'wrk', mk(u), (d.seconds + 20) * 1000)));
  const cpu = done();
  let rate = 0;
  const notes: string[] = [];
  for (const r of rs) {
    const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    if (r.code !== 0 || m === null)
      throw new Error(
        `wrk failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stdout.trim()} ${r.stderr.trim()}`,
      );
    rate += Number(m[1]);
    const se = /Socket errors: (.+)/.exec(r.stdout);
    if (se !== null) notes.push(`socket errors: ${se[1]}`);
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
    if (non2xx !== null) notes.push(`${non2xx[1]} non-2xx`);
  }
  return { value: rate, cpu, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
}

/**
 * The lab's 50 MB blob (lab/blob.ts) over HTTP from the first HTTP target: seconds, curl's
 * time_total, the body thrown away. What a gateway VM's user waits for (issue 14's first figure).
 */
export async function download50(ctx: MeasureContext, t: Targets): Promise<Sample> {
  const url = `${t.http[0]}blob`;
  const args = ['-sS', '--fail', '--max-time', '120', '-o', '/dev/null', '-w', '%{time_total} %{size_download}', url];
  const done = cpuSample(t.directorPid);
  const r = await client(ctx, 'curl', args, 150_000);
  const cpu = done();
  const m = /^([\d.]+) (\d+)/.exec(r.stdout.trim());
  if (r.code !== 0 || m === null) throw new Error(`curl ${url}: exit ${r.code}: ${r.stderr.trim()}`);
  const seconds = Number(m[1]),
    bytes = Number(m[2]);
  if (bytes < 50e6) throw new Error(`curl ${url}: only ${bytes} bytes`);
  return { value: seconds, cpu, note: `${(bytes / seconds / 1e6).toFixed(0)} MB/s` };
}

/** ping -c N -i 0.01 -q: average RTT in ms. */
export async function pingRtt(
  ctx: MeasureContext,
  target: string,
  directorPid: number | null,
  d: Durations,
): Promise<Sample> {
  const args = ['-c', String(d.pingCount), '-i', '0.01', '-q', '-W', '1', target];
  const done = cpuSample(directorPid);
  const r = await client(ctx, 'ping', args, 30_000);
  const cpu = done();
  const m = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(r.stdout);
  if (m === null) throw new Error(`ping ${target}: ${r.stdout.trim()} ${r.stderr.trim()}`);
  const loss = /([\d.]+)% packet loss/.exec(r.stdout);
  const lossPct = loss !== null ? Number(loss[1]) : 0;
  return { value: Number(m[1]), cpu, ...(lossPct > 0 ? { note: `${lossPct}% loss` } : {}) };
}

/**
 * Small UDP frames: `udpblast send` (sendmmsg, 18-byte payload = 60-byte Ethernet frames) from
 * the client for `seconds`, `udpblast recv` counting on both real servers; frames/s = datagrams
 * received / the sender's duration.
 */
export async function udpRate(ctx: MeasureContext, t: Targets, d: Durations): Promise<Sample> {
  if (t.udp === null) throw new Error('no UDP target');
  const maxS = String(d.seconds + 15);
  const recvs = [LAB.ns.rs1, LAB.ns.rs2].map((ns) => {
    const args = ['recv', String(UDP_PORT), maxS, '1000'];
    ctx.log.add(`${shellLine(ns, ctx.udpblast, args)} &`);
    return startInNs(`udpblast-recv-${ns}`, ns, ctx.udpblast, args);
  });
  try {
    const deadline = Date.now() + 5000;
    while (!recvs.every((r) => r.output().includes('udpblast: ready'))) {
      if (Date.now() > deadline)
        throw new Error(`udpblast recv did not start: ${recvs.map((r) => r.output()).join(' ')}`);
      await sleep(20);
    }
    const done = cpuSample(t.directorPid);
    const s = await client(
      ctx,
      ctx.udpblast,
      ['send', t.udp, String(UDP_PORT), String(d.seconds)],
      (d.seconds + 10) * 1000,
    );
    const cpu = done();
    const sent = JSON.parse(s.stdout) as { sent: number; errors: number; seconds: number };
    await sleep(1000); // what is still in flight (queues are short)
    await Promise.all(recvs.map((r) => stopStarted(r)));
    let received = 0;
    for (const r of recvs) {
      const line = r
        .output()
        .split('\n')
        .find((l) => l.startsWith('{"received"'));
      if (line === undefined) throw new Error(`udpblast recv printed no count: ${r.output()}`);
      received += (JSON.parse(line) as { received: number }).received;
    }
    const lossPct = sent.sent > 0 ? 100 * (1 - received / sent.sent) : 0;
    return {
      value: received / sent.seconds,
      cpu,
      note: `sent ${Math.round(sent.sent / sent.seconds)}/s, ${lossPct.toFixed(1)}% lost`,
    };
  } finally {
    await Promise.all(recvs.map((r) => stopStarted(r)));
  }
}
