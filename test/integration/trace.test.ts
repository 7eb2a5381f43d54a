/**
 * Packet tracing during a lab run: a pcapng file that tshark reads, with per-packet comments
 * naming the real server of each connection; filters and limits; the live terminal trace;
 * tcpdump's habits (trailing-word expressions, -w relative to the caller, -r, µs timestamps,
 * directions that tshark reads, libpcap's compile errors).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB, labDown, labUp, nsExec, run } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
const VIP = '192.168.222.131';
const tapvsd = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  run(process.execPath, [LAB.tapvsdJs, ...args, '--socket', LAB.socket], { timeoutMs: 20_000 });

function rules(): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-rules-')), 'rules');
  writeFileSync(
    f,
    `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m\n`,
  );
  return f;
}

async function curls(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await nsExec(LAB.ns.client, 'curl', [
      '-sS',
      '--fail',
      '--max-time',
      '5',
      '--local-port',
      String(41000 + i),
      `http://${VIP}/`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    out.push(r.stdout.includes('192.168.2.129') ? '192.168.2.129' : '192.168.2.130');
  }
  return out;
}

/** tshark's fields of every frame in `file`, one array per frame (fields split on '|'). */
async function tsharkRows(file: string, fields: readonly string[]): Promise<string[][]> {
  const r = await run(
    'tshark',
    ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])],
    {
      timeoutMs: 30_000,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
}

test("trace to pcapng: tshark reads it; comments name each connection's real server; the filter holds", {
  skip,
}, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rules() });
  const file = join(mkdtempSync(join(tmpdir(), 'tapvs-trace-')), 'lab.pcapng');
  const st = await tapvsd(['trace', '-w', file, 'tcp', 'port', '80']);
  assert.equal(st.code, 0, st.stderr);
  const answers = await curls(4);
  // Traffic the filter excludes: ping.
  await nsExec(LAB.ns.client, 'ping', ['-c', '2', '-i', '0.2', VIP]);
  const stop = await tapvsd(['trace', '--stop']);
  assert.equal(stop.code, 0, stop.stderr);
  const rows = await tsharkRows(file, [
    'frame.number',
    'frame.interface_name',
    'ip.src',
    'ip.dst',
    'tcp.srcport',
    'frame.comment',
  ]);
  assert.ok(rows.length >= 4 * 10, `rows ${rows.length}`);
  assert.ok(
    rows.every((x) => /^(ext|int) (rx|tx)$/.test(x[1])),
    'frames on named interfaces',
  );
  // Only TCP port 80 frames match; frames they caused (the ARP request for a real server) are kept with them.
  assert.ok(
    rows.every((x) => x[2] === '' || x[4] !== ''),
    'every IP frame is TCP',
  );
  assert.ok(!rows.some((x) => x.join('|').includes('ICMP')));
  for (let i = 0; i < 4; i++) {
    const sport = String(41000 + i);
    const syn = rows.find((x) => x[1] === 'ext rx' && x[4] === sport && x[5].includes('new flow scheduled by rr'));
    assert.ok(syn !== undefined, `SYN of connection ${i} with a scheduling comment`);
    assert.match(syn[5], new RegExp(`NAT in: dst 192\\.168\\.222\\.131:80 -> ${answers[i].replace(/\./g, '\\.')}:80`));
    const out = rows.find((x) => x[1] === 'int tx' && x[2] === '192.168.222.1' && x[3] === answers[i]);
    assert.ok(out !== undefined, `the DNATed frame leaves towards ${answers[i]}`);
    assert.ok(
      rows.some((x) => x[1] === 'int rx' && x[2] === answers[i] && x[5].startsWith('NAT out: src')),
      'reply comment',
    );
  }
});

test('trace limits: -c 10 writes exactly 10 packets and the file stays valid', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rules() });
  const file = join(mkdtempSync(join(tmpdir(), 'tapvs-trace-')), 'limited.pcapng');
  assert.equal((await tapvsd(['trace', '-w', file, '-c', '10'])).code, 0);
  await curls(3);
  const status = JSON.parse((await tapvsd(['trace', '--status'])).stdout) as { active?: boolean };
  assert.equal(status.active, false, 'the trace ended on its own at the limit');
  const r = await run('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 10);
});

test('live trace: one line per packet with the NAT decision, ended by its packet limit', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rules() });
  const child = spawn(process.execPath, [LAB.tapvsdJs, 'trace', '-c', '6', '--socket', LAB.socket, 'port', '80'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // Listen for the exit at once: the trace may end (6 packets) while the curls are still running.
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  await new Promise((r) => setTimeout(r, 500));
  await curls(2);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(-1);
      }, 10_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(code, 0, out);
  const lines = out.trim().split('\n');
  assert.ok(lines.length >= 6, out);
  assert.match(
    out,
    /ext rx IP 192\.168\.222\.1\.\d+ > 192\.168\.222\.131\.80: Flags \[S\].*\| NAT in: dst 192\.168\.222\.131:80 -> 192\.168\.2\.129:80/,
  );
  assert.match(out, /int tx IP 192\.168\.222\.1\.\d+ > 192\.168\.2\.129\.80: Flags \[S\]/);
});

/** tapvsd run from the directory `cwd` (execFile: exit code, stdout, stderr). */
function tapvsdIn(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [LAB.tapvsdJs, ...args, '--socket', LAB.socket],
      { cwd, timeout: 20_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

test("tcpdump's habits: -w relative to the caller, expression words, µs stamps, directions, -r", {
  skip,
}, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'tapvs-trace-cwd-'));
  t.after(() => {
    labDown();
    rmSync(cwd, { recursive: true, force: true });
  });
  await labUp({ rules: rules() });
  // A compile error is libpcap's message, a failure exit, and the daemon is unaffected.
  const badExpr = await tapvsdIn(cwd, ['trace', '-w', 'bad.pcapng', 'tcp', 'port']);
  assert.notEqual(badExpr.code, 0);
  assert.match(badExpr.stderr, /can't parse filter expression: syntax error/);
  assert.equal(existsSync(join(cwd, 'bad.pcapng')), false);
  assert.equal(JSON.parse((await tapvsdIn(cwd, ['trace', '--status'])).stdout).active, false);

  const N = 24;
  const st = await tapvsdIn(cwd, ['trace', '-w', 'rel.pcapng', '-c', String(N), 'tcp', 'port', '80']);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).file, join(cwd, 'rel.pcapng'), 'the path the daemon opened');
  await curls(4);
  // 4 connections of at least 8 recorded frames each: the -c limit has ended the trace.
  const status = JSON.parse((await tapvsdIn(cwd, ['trace', '--status'])).stdout) as { active?: boolean };
  assert.equal(status.active, false);
  const file = join(cwd, 'rel.pcapng');
  assert.ok(existsSync(file), "the file landed in the caller's directory");

  const rows = await tsharkRows(file, ['frame.time_epoch', 'frame.interface_name', 'frame.packet_flags_direction']);
  assert.equal(rows.length, N);
  // Microseconds since the epoch, strictly increasing (several frames share a batch).
  const us = rows.map((x) => {
    const m = /^(\d+)\.(\d{6})/.exec(x[0]);
    assert.ok(m !== null, x[0]);
    return BigInt(m[1]) * 1_000_000n + BigInt(m[2]);
  });
  for (let i = 1; i < us.length; i++) assert.ok(us[i] > us[i - 1], `frame ${i + 1} after frame ${i}`);
  assert.ok(
    us.some((u) => u % 1000n !== 0n),
    'not whole milliseconds',
  );
  // epb_flags: 1 inbound on "rx" interfaces, 2 outbound on "tx".
  for (const x of rows) assert.equal(Number(x[2]), x[1].endsWith(' rx') ? 1 : 2, x.join('|'));
  assert.ok(rows.some((x) => x[1].endsWith(' rx')) && rows.some((x) => x[1].endsWith(' tx')));

  // -r prints the live lines with the decisions; an expression selects among them.
  const all = await tapvsdIn(cwd, ['trace', '-r', 'rel.pcapng']);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  assert.equal(lines.length, N);
  assert.match(
    all.stdout,
    /ext rx IP 192\.168\.222\.1\.41000 > 192\.168\.222\.131\.80: Flags \[S\].*\| NAT in: dst 192\.168\.222\.131:80 -> 192\.168\.2\.\d+:80; conn TCP .* new flow scheduled by rr/,
  );
  const synOnly = await tapvsdIn(cwd, ['trace', '-r', 'rel.pcapng', 'tcp[tcpflags] == tcp-syn']);
  assert.equal(synOnly.code, 0, synOnly.stderr);
  const synLines = synOnly.stdout.trim().split('\n');
  assert.ok(synLines.length >= 4 && synLines.length < N, synOnly.stdout);
  assert.ok(synLines.every((l) => l.includes('Flags [S],')));
});
