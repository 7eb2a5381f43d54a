/**
 * Start-up validation: tapvsd given a rules file or keepalived.conf with a semantic error (one
 * that only applying it shows: a duplicate service, an unknown scheduler, a dest of no service,
 * a direct-routing server off every link) names FILE:LINE, exits non-zero, and never creates its
 * TAP device or control socket. "Never" is watched, not inferred from what is left afterwards (an
 * exit closes both anyway): `ip monitor link` in the test's own namespace sees every link that
 * appears, an fs.watch on the socket's directory every file. A good file, started the same way,
 * shows both watches do see the device and the socket. Root only (a namespace, a TAP device); the
 * namespace is this test's (not the lab's) and is deleted in after().
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LAB, nsExec, run, sleep } from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (a network namespace and a TAP device)';
const NS = `tvs-startup-${process.pid}`;
const TAP = 'tvsst0';
const LINK = `name=int,tap=${TAP},addr=192.168.2.136/24`;
const VIP = '192.168.222.131';
const dir = mkdtempSync(join(tmpdir(), 'tapvs-startup-'));

before(async () => {
  if (skip) return;
  await run('ip', ['netns', 'add', NS], { check: true });
});
after(async () => {
  if (!skip) await run('ip', ['netns', 'del', NS]);
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** What appeared while `body` ran: links in the namespace (ip monitor) and files in `watchDir`. */
async function watching<T>(
  watchDir: string,
  body: () => Promise<T>,
): Promise<{ result: T; links: string; files: string[] }> {
  const files: string[] = [];
  const w = watch(watchDir, (_ev, name) => {
    if (name !== null) files.push(String(name));
  });
  const mon: ChildProcess = spawn('ip', ['-n', NS, 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let links = '';
  mon.stdout?.on('data', (b: Buffer) => {
    links += b.toString();
  });
  // A sentinel link proves the monitor listens before tapvsd starts, a second one that every
  // event of the run has been read before it stops.
  const sentinel = async (name: string): Promise<void> => {
    await run('ip', ['-n', NS, 'link', 'add', name, 'type', 'bridge'], { check: true });
    for (let i = 0; i < 100 && !links.includes(name); i++) await sleep(50);
    await run('ip', ['-n', NS, 'link', 'del', name], { check: true });
    assert.ok(links.includes(name), `ip monitor saw the sentinel ${name}`);
  };
  try {
    await sentinel('tvsmark0');
    const result = await body();
    await sentinel('tvsmark1');
    return { result, links, files };
  } finally {
    if (mon.pid !== undefined) process.kill(mon.pid, 'SIGTERM');
    w.close();
  }
}

const BAD_RULES: Array<{ what: string; text: string; line: number; message: RegExp }> = [
  {
    what: 'a duplicate service',
    text: `# web\n-A -t ${VIP}:80 -s rr\n\n-A -t ${VIP}:80 -s wlc\n`,
    line: 4,
    message: /Service already exists/,
  },
  { what: 'an unknown scheduler', text: `-A -t ${VIP}:80 -s nope\n`, line: 1, message: /Scheduler .*not found: nope/ },
  {
    what: 'a dest of a missing service',
    text: `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:81 -r 192.168.2.129:80 -m\n`,
    line: 2,
    message: /Service not defined/,
  },
  {
    what: 'persistence with an engine tapvs lacks',
    text: `-A -t ${VIP}:80 -s rr -p 60 --pe sip\n`,
    line: 1,
    message: /persistence engines/,
  },
  {
    what: 'a direct-routing real server off every link (a check that needs the links)',
    text: `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.129:80 -g\n-a -t ${VIP}:80 -r 172.16.0.5:80 -g\n`,
    line: 3,
    message: /direct routing needs the real server on a link of the director: 172\.16\.0\.5/,
  },
];

const BAD_KEEPALIVED: Array<{ what: string; text: string; line: number; message: RegExp }> = [
  {
    what: 'an unknown lb_algo',
    text: `virtual_server ${VIP} 80 {\n  lb_algo nope\n  lb_kind NAT\n  protocol TCP\n  real_server 192.168.2.129 80 {\n  }\n}\n`,
    line: 2,
    message: /unknown scheduler 'nope'/,
  },
  {
    what: 'a DR real server off every link (a check that needs the links)',
    text: `virtual_server ${VIP} 80 {\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  real_server 172.16.0.5 80 {\n  }\n}\n`,
    line: 5,
    message: /direct routing needs the real server on a link of the director/,
  },
];

const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const [kind, cases] of [
  ['rules', BAD_RULES],
  ['keepalived', BAD_KEEPALIVED],
] as const) {
  for (const [i, c] of cases.entries()) {
    test(`tapvsd --${kind} with ${c.what}: FILE:LINE, exit non-zero, no TAP device and no socket ever`, {
      skip,
      timeout: 60_000,
    }, async () => {
      const f = file(`bad-${kind}-${i}`, c.text);
      const sockDir = mkdtempSync(join(dir, 'sock-'));
      const socket = join(sockDir, 'tapvs.sock');
      const {
        result: r,
        links,
        files,
      } = await watching(sockDir, () =>
        nsExec(NS, process.execPath, [LAB.tapvsdJs, '--link', LINK, `--${kind}`, f, '--socket', socket], {
          timeoutMs: 20_000,
        }),
      );
      assert.notEqual(r.code, 0, 'tapvsd refused to start');
      assert.ok(!r.timedOut);
      assert.match(r.stderr, new RegExp(`${reEscape(f)}:${c.line}: error: `), r.stderr);
      assert.match(r.stderr, c.message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'a message, not a stack trace');
      assert.ok(!links.includes(TAP), `no ${TAP} ever appeared: ${links}`);
      assert.deepEqual(files, [], 'nothing appeared next to the socket path');
      assert.ok(!existsSync(socket));
      assert.notEqual((await nsExec(NS, 'ip', ['link', 'show', TAP])).code, 0);
    });
  }
}

test('tapvsd with a good rules file: the same watches see its TAP device and its socket (so they can see them)', {
  skip,
  timeout: 60_000,
}, async () => {
  const f = file('good-rules', `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.129:80 -g\n`);
  const sockDir = mkdtempSync(join(dir, 'sock-'));
  const socket = join(sockDir, 'tapvs.sock');
  const { links, files } = await watching(sockDir, async () => {
    const d = spawn(
      'ip',
      ['netns', 'exec', NS, process.execPath, LAB.tapvsdJs, '--link', LINK, '--rules', f, '--socket', socket],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    d.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    d.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<number | null>((res) => d.on('exit', (code) => res(code)));
    try {
      for (let i = 0; i < 200 && !out.includes('tapvsd: ready'); i++) await sleep(50);
      assert.match(out, /tapvsd: ready/);
      assert.equal((await nsExec(NS, 'ip', ['link', 'show', TAP])).code, 0);
    } finally {
      if (d.pid !== undefined && d.exitCode === null) process.kill(d.pid, 'SIGTERM');
    }
    assert.equal(await exited, 0, out);
  });
  assert.ok(links.includes(TAP), `ip monitor saw ${TAP}: ${links}`);
  assert.ok(files.includes('tapvs.sock'), `fs.watch saw the socket: ${files.join(',')}`);
});
