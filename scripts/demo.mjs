#!/usr/bin/env node
/**
 * npm run demo: the textbook LVS-NAT example, end to end, in network namespaces.
 *
 *  tapvs-client (192.168.222.1/24)                         tapvs-rs1 (192.168.2.129/24, default via .136)
 *         | veth                                                | veth
 *    [tapvs-br-ext] ---- tap tapvs-ext ==( tapvsd )== tap tapvs-int ---- [tapvs-br-int] ---- veth ---- tapvs-rs2
 *         \__ namespace tapvs-dir: bridges and tapvsd's TAPs; the kernel has 192.168.2.137 only __/  (192.168.2.130/24)
 *  VIP 192.168.222.131 and DIP 192.168.2.136 belong to tapvsd only; 192.168.2.137 on tapvs-br-int is
 *  the kernel's own, the source of health checks.
 *
 * Steps: bash scripts/setup.sh; lab up (no rules); the ipvsadm textbook commands through
 * tapvsadm from the root namespace; four curls to the VIP from tapvs-client, which must
 * alternate between RS1 and RS2 (rr); tapvsadm -L -n --stats; lab down, always (also on
 * failure and Ctrl-C). Exit 0 only if the answers alternated.
 * Addresses follow lab-lib's environment variables (TAPVS_LAB_VIP, …; see lab/README.md).
 *
 *   npm run demo -- --method dr|tun|fullnat [--tun-type ipip|gue|gre]
 *
 * runs `lab up --method M` instead (the real servers set up for that method, tapvsd loading
 * lab/textbook-M.rules), lists the rules, makes the same four requests and shows what proves the
 * method: dr/tun OutPkts 0 (the replies bypass tapvsd), fullnat the real server's TCP peer (a local
 * address) and the client's address as the PROXY protocol services (:8080 v1, :8082 v2) tell it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAB_JS = join(ROOT, 'dist', 'lab', 'lab.js');
const LAB_LIB_JS = join(ROOT, 'dist', 'lab', 'lab-lib.js');

/** `--method M [--tun-type T]`, or null for the textbook NAT demo. */
function parseDemoArgs(argv) {
  let method = null;
  let tunType = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--method' && ['nat', 'dr', 'tun', 'fullnat'].includes(argv[i + 1])) method = argv[++i];
    else if (argv[i] === '--tun-type' && ['ipip', 'gue', 'gre'].includes(argv[i + 1])) tunType = argv[++i];
    else {
      process.stderr.write('usage: npm run demo [-- --method nat|dr|tun|fullnat [--tun-type ipip|gue|gre]]\n');
      process.exit(2);
    }
  }
  if (tunType !== null && method !== 'tun') {
    process.stderr.write('demo: --tun-type goes with --method tun\n');
    process.exit(2);
  }
  return { method, tunType };
}
const ARGS = parseDemoArgs(process.argv.slice(2));

let interrupted = false;
const onSignal = (sig) => {
  interrupted = true;
  process.stderr.write(`\ndemo: ${sig}, stopping after the current step\n`);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

function banner(text) {
  process.stdout.write(`\n=== ${text}\n`);
}

/** Runs a command with a time limit; output goes to our terminal unless `capture`. */
function sh(cmd, args, { timeoutMs = 60_000, capture = false, env = process.env } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    env,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    encoding: 'utf8',
  });
  if (r.error && r.error.code === 'ETIMEDOUT')
    process.stderr.write(`demo: ${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms\n`);
  else if (r.error) process.stderr.write(`demo: ${cmd}: ${r.error.message}\n`);
  return { ok: r.status === 0, status: r.status, stdout: r.stdout ?? '' };
}

function checkInterrupt() {
  if (interrupted) throw new Error('interrupted');
}

async function demo() {
  banner('setup: bash scripts/setup.sh');
  const setup = sh('bash', [join('scripts', 'setup.sh')], { timeoutMs: 30 * 60_000 });
  checkInterrupt();
  if (!setup.ok) {
    if (existsSync(join(ROOT, 'scripts', 'setup.sh')) || !existsSync(LAB_JS)) throw new Error('setup failed');
    process.stdout.write('demo: scripts/setup.sh is not there yet; using the existing build in dist/\n');
  }
  const { LAB } = await import(pathToFileURL(LAB_LIB_JS).href);
  const env = { ...process.env, TAPVS_SOCKET: LAB.socket };
  const vs = `${LAB.vip}:${LAB.httpPort}`;

  const tapvsadm = (args) => {
    process.stdout.write(`# tapvsadm ${args.join(' ')}\n`);
    const r = sh(process.execPath, [LAB.tapvsadmJs, ...args], { timeoutMs: 15_000, env });
    checkInterrupt();
    if (!r.ok) throw new Error(`tapvsadm ${args.join(' ')} failed (exit ${r.status})`);
  };
  const curl = (url, extra = []) => {
    process.stdout.write(`# ip netns exec ${LAB.ns.client} curl -s ${[...extra, url].join(' ')}\n`);
    const r = sh('ip', ['netns', 'exec', LAB.ns.client, 'curl', '-s', '--max-time', '5', ...extra, url], {
      timeoutMs: 10_000,
      capture: true,
    });
    checkInterrupt();
    const answer = r.ok ? r.stdout.trim() : `(curl failed, exit ${r.status})`;
    process.stdout.write(`${answer}\n`);
    return answer;
  };

  if (ARGS.method !== null) return methodDemo(LAB, tapvsadm, curl);

  banner('lab up (no rules: tapvsd starts with no virtual service)');
  if (!sh(process.execPath, [LAB_JS, 'up'], { timeoutMs: 90_000 }).ok) throw new Error('lab up failed');
  checkInterrupt();

  banner('the textbook commands, through tapvsadm from the root namespace');
  tapvsadm(['-C']);
  tapvsadm(['-A', '-t', vs, '-s', 'rr']);
  tapvsadm(['-a', '-t', vs, '-r', LAB.rs2, '-m']);
  tapvsadm(['-a', '-t', vs, '-r', LAB.rs1, '-m']);
  tapvsadm(['-L', '-n']);

  banner(`four requests from ${LAB.ns.client} to http://${LAB.vip}/`);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(curl(`http://${LAB.vip}/`));
  // Like IPVS, the listed counters advance every 2 s (the estimator's tick): wait for one.
  process.stdout.write('# sleep 2  (IPVS refreshes the listed counters every 2 seconds)\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
  tapvsadm(['-L', '-n', '--stats']);
  tapvsadm(['-L', '-n', '-c']);

  return judge(LAB, answers);
}

/** True when four answers alternated between RS1 and RS2 (says PASS or FAIL). */
function judge(LAB, answers, extra = []) {
  const [a, b, c, d] = answers;
  const isRs = (s, id) => s.startsWith(`${id} `);
  const alternated =
    a === c &&
    b === d &&
    a !== b &&
    ((isRs(a, LAB.rsId.rs1) && isRs(b, LAB.rsId.rs2)) || (isRs(a, LAB.rsId.rs2) && isRs(b, LAB.rsId.rs1)));
  for (const e of extra) if (!e.ok) process.stdout.write(`FAIL: ${e.what}\n`);
  if (!alternated) banner(`FAIL: expected RS1/RS2 alternation, got: ${answers.join(' | ')}`);
  else if (extra.some((e) => !e.ok)) banner('FAIL: see above');
  else banner(`PASS: round robin alternated between ${a.split(' ')[0]} and ${b.split(' ')[0]}`);
  return alternated && extra.every((e) => e.ok);
}

/** `--method dr|tun|fullnat|nat`: the lab set up for that method, its rules file, the proof. */
async function methodDemo(LAB, tapvsadm, curl) {
  const { method, tunType } = ARGS;
  const upArgs = ['up', '--method', method, ...(tunType !== null ? ['--tun-type', tunType] : [])];
  banner(`lab ${upArgs.join(' ')}`);
  if (!sh(process.execPath, [LAB_JS, ...upArgs], { timeoutMs: 90_000 }).ok) throw new Error('lab up failed');
  checkInterrupt();
  tapvsadm(['-L', '-n']);
  if (method === 'fullnat') tapvsadm(['-G']);

  banner(`four requests from ${LAB.ns.client} to http://${LAB.vip}/ (${method})`);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(curl(`http://${LAB.vip}/`));
  const extra = [];
  if (method === 'fullnat') {
    banner('who the real server sees: /peer (the TCP peer) and the PROXY protocol services');
    const peer = curl(`http://${LAB.vip}/peer`);
    extra.push({ ok: /peer=192\.168\.2\.14[01]:/.test(peer), what: `/peer should show a local address: ${peer}` });
    for (const port of [8080, 8082]) {
      const p = curl(`http://${LAB.vip}:${port}/`);
      extra.push({ ok: p.includes(`client=${LAB.client}:`), what: `:${port} should show the client: ${p}` });
    }
  } else if (method === 'dr' || method === 'tun') {
    banner('who the real server sees: /peer (the client itself)');
    const peer = curl(`http://${LAB.vip}/peer`);
    extra.push({ ok: peer.includes(`peer=${LAB.client}:`), what: `/peer should show the client: ${peer}` });
  }
  process.stdout.write('# sleep 2  (IPVS refreshes the listed counters every 2 seconds)\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
  if (method === 'dr' || method === 'tun')
    process.stdout.write('# OutPkts stay 0: the replies go from the real servers to the client, not through tapvsd\n');
  tapvsadm(['-L', '-n', '--stats']);
  tapvsadm(['-L', '-n', '-c']);
  return judge(LAB, answers, extra);
}

let ok = false;
try {
  ok = await demo();
} catch (e) {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
} finally {
  banner('lab down');
  // Runs even after Ctrl-C: the handler above keeps Node alive so the lab is always removed.
  if (existsSync(LAB_JS)) sh(process.execPath, [LAB_JS, 'down'], { timeoutMs: 60_000 });
}
process.exit(interrupted ? 130 : ok ? 0 : 1);
