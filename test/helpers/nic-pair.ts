/**
 * A namespace pair for testing one link class on its own (PacketLink, PcapLink), outside the
 * lab: namespace `a` holds `pa` (the link's interface) and two spare interfaces, pd0 (up) and
 * pd1 (down); namespace `b` holds `pb`, pa's peer. The link runs in a node child inside `a`, so
 * its sockets live there. Everything is removed in t.after, also on failure.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { removeNamespace } from './netns.js';

type AfterHook = { after: (fn: () => void) => void };

/** Creates the pair with names unique to this process and `tag`; returns the namespaces. */
export function makeNicPair(t: AfterHook, tag: string): { a: string; b: string } {
  const a = `tvs-${tag}-a-${process.pid}`,
    b = `tvs-${tag}-b-${process.pid}`;
  const cleanup = (): void => {
    removeNamespace(a);
    removeNamespace(b);
  };
  cleanup();
  t.after(cleanup);
  const ip = (...args: string[]): void => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  for (const ns of [a, b]) {
    ip('netns', 'add', ns);
    const sysctls = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
    const r = spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...sysctls]);
    assert.equal(r.status, 0);
  }
  const peer = ['peer', 'name', 'pb', 'address', '02:00:00:00:b0:01', 'netns', b];
  ip('-n', a, 'link', 'add', 'pa', 'address', '02:00:00:00:a0:01', 'type', 'veth', ...peer);
  ip('-n', a, 'link', 'set', 'pa', 'up');
  ip('-n', b, 'link', 'set', 'pb', 'up');
  // Two more Ethernet interfaces in a (veth pairs: not every kernel has the dummy driver).
  ip('-n', a, 'link', 'add', 'pd0', 'type', 'veth', 'peer', 'name', 'pd0p');
  ip('-n', a, 'link', 'set', 'pd0', 'up');
  ip('-n', a, 'link', 'add', 'pd1', 'type', 'veth', 'peer', 'name', 'pd1p'); // stays down
  return { a, b };
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete out.NODE_TEST_CONTEXT;
  return out;
}

/**
 * Runs an ES module snippet under node inside `ns` (optionally wrapped, e.g. by setpriv) with
 * `env` added; returns its last stdout line as JSON. The child must exit by itself.
 */
export function nodeIn(
  ns: string,
  code: string,
  env: Record<string, string>,
  wrap: string[] = [],
): Record<string, unknown> {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...wrap, process.execPath, '--input-type=module', '-e', code], {
    env: childEnv(env),
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  assert.equal(r.status, 0, `child failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

/**
 * Starts a node child in `ns` running `code` with `env` added; resolves once it prints 'ready'.
 * It is killed after 20 s or when the test ends. `out()` is everything it printed so far.
 */
export async function startChild(
  t: AfterHook,
  ns: string,
  code: string,
  env: Record<string, string>,
): Promise<{ out: () => string; exited: Promise<void> }> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', code], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  t.after(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  let out = '',
    err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes('ready'), `child did not start: ${err}`);
  return { out: () => `${out}${err}`, exited };
}
