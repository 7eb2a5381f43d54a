/**
 * MISC_CHECK with /bin/sh scripts given as argv (no shell of ours in between): exit statuses,
 * misc_dynamic, output in the reason, the cleaned environment, the process group, and the
 * SIGTERM-then-SIGKILL timeout of a script that ignores SIGTERM.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KILL_DELAY_MS, miscCheck, OUTPUT_CAP_BYTES } from '../../../../src/health/checks/misc.js';
import { miscSpec, NEVER, openProbeHandles, TEST_TIMEOUT_MS } from './fixtures.js';

const opts = { timeout: TEST_TIMEOUT_MS };
const sh = (script: string): string[] => ['/bin/sh', '-c', script];

test('misc: exit 0 passes and exit 1 fails, with the status in the result', opts, async () => {
  assert.deepEqual(await miscCheck(miscSpec(sh('exit 0')), NEVER), {
    ok: true,
    reason: 'exit status 0',
    exitStatus: 0,
  });
  assert.deepEqual(await miscCheck(miscSpec(sh('exit 1')), NEVER), {
    ok: false,
    reason: 'MISC_CHECK: exit status 1',
    exitStatus: 1,
  });
});

test('misc: 2..255 fail without misc_dynamic and pass with it; 1 fails either way', opts, async () => {
  assert.deepEqual(await miscCheck(miscSpec(sh('exit 7')), NEVER), {
    ok: false,
    reason: 'MISC_CHECK: exit status 7',
    exitStatus: 7,
  });
  for (const status of [2, 7, 255]) {
    assert.deepEqual(await miscCheck(miscSpec(sh(`exit ${status}`), { dynamic: true }), NEVER), {
      ok: true,
      reason: `exit status ${status}`,
      exitStatus: status,
    });
  }
  const one = await miscCheck(miscSpec(sh('exit 1'), { dynamic: true }), NEVER);
  assert.deepEqual([one.ok, one.exitStatus], [false, 1]);
});

test('misc: a script killed by a signal fails with no exit status', opts, async () => {
  assert.deepEqual(await miscCheck(miscSpec(sh('kill -KILL $$'), { dynamic: true }), NEVER), {
    ok: false,
    reason: 'MISC_CHECK: killed by SIGKILL',
    exitStatus: null,
  });
});

test('misc: stdout and stderr go into the reason, on one line and at most 4 KiB', opts, async () => {
  const said = await miscCheck(miscSpec(sh('echo "backend  down"; echo "db: refused" >&2; exit 1')), NEVER);
  assert.equal(said.reason, 'MISC_CHECK: exit status 1: backend down db: refused');
  const flood = await miscCheck(miscSpec(sh('head -c 100000 /dev/zero | tr "\\0" a; exit 0')), NEVER);
  assert.equal(flood.ok, true);
  assert.equal(flood.reason, `exit status 0: ${'a'.repeat(OUTPUT_CAP_BYTES)} …`);
});

test('misc: argv is run as given, without a shell', opts, async () => {
  const result = await miscCheck(miscSpec(['/bin/echo', 'a b', '$HOME', '*']), NEVER);
  assert.equal(result.reason, 'exit status 0: a b $HOME *');
});

test('misc: IFS, LD_PRELOAD and LD_LIBRARY_PATH are removed from the environment, the rest kept', opts, async (t) => {
  const names = ['IFS', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'TAPVS_MISC_KEPT'];
  const saved = names.map((n) => process.env[n]);
  t.after(() =>
    names.forEach((n, i) => {
      if (saved[i] === undefined) delete process.env[n];
      else process.env[n] = saved[i];
    }),
  );
  process.env.IFS = ':';
  process.env.LD_PRELOAD = '';
  process.env.LD_LIBRARY_PATH = '/nonexistent';
  process.env.TAPVS_MISC_KEPT = 'yes';
  const result = await miscCheck(miscSpec(['/usr/bin/env']), NEVER);
  const seen = result.reason.split(' ').filter((w) => /^(IFS|LD_PRELOAD|LD_LIBRARY_PATH|TAPVS_MISC_KEPT)=/.test(w));
  assert.deepEqual(seen, ['TAPVS_MISC_KEPT=yes']);
});

test('misc: the script leads a process group of its own', opts, async () => {
  // Field 5 of /proc/PID/stat is the process group; for a group leader it is its own pid.
  const result = await miscCheck(miscSpec(sh('[ "$(cut -d" " -f5 /proc/$$/stat)" = "$$" ]')), NEVER);
  assert.deepEqual(result, { ok: true, reason: 'exit status 0', exitStatus: 0 });
});

test('misc: a command that cannot run fails with the reason and no exit status', opts, async () => {
  const result = await miscCheck(miscSpec(['/nonexistent/check-rs']), NEVER);
  assert.equal(result.ok, false);
  assert.equal(result.exitStatus, null);
  assert.match(result.reason, /^MISC_CHECK: cannot run \/nonexistent\/check-rs: .*ENOENT/);
  assert.deepEqual(await miscCheck(miscSpec([]), NEVER), {
    ok: false,
    reason: 'MISC_CHECK: no command',
    exitStatus: null,
  });
});

/** Processes of group `pgid` that are not zombies (a zombie waits for its reaper, not for us). */
async function liveMembers(pgid: number): Promise<number> {
  let live = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') live++;
  }
  return live;
}

/**
 * Runs `script` (which writes its pid, its group's id, to $1 first) through `run`, then says
 * whether every process of that group has ended; dying ones get up to a second.
 */
async function groupEndsAfter(script: string, run: (argv: string[]) => Promise<void>): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'tapvs-misc-'));
  try {
    const pidFile = join(dir, 'pid');
    await run(['/bin/sh', '-c', script, 'sh', pidFile]);
    const pgid = Number((await readFile(pidFile, 'utf8')).trim());
    for (let waited = 0; waited < 1000; waited += 20) {
      if ((await liveMembers(pgid)) === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('misc: past misc_timeout a script that obeys SIGTERM is stopped and the check fails', opts, async () => {
  const gone = await groupEndsAfter('echo $$ > "$1"; sleep 30', async (argv) => {
    const started = Date.now();
    const result = await miscCheck(miscSpec(argv, { timeoutMs: 200, dynamic: true }), NEVER);
    assert.deepEqual(result, { ok: false, reason: 'MISC_CHECK: timed out after 0.2 s', exitStatus: null });
    assert.ok(Date.now() - started < KILL_DELAY_MS, 'SIGTERM alone should have ended it');
  });
  assert.ok(gone, 'the script or its sleep is still running');
});

test('misc: a script that ignores SIGTERM, and its children, get SIGKILL 2 s later', opts, async () => {
  const before = await openProbeHandles();
  const gone = await groupEndsAfter('trap "" TERM; echo $$ > "$1"; sleep 30; sleep 30', async (argv) => {
    const started = Date.now();
    const result = await miscCheck(miscSpec(argv, { timeoutMs: 200 }), NEVER);
    assert.deepEqual(result, { ok: false, reason: 'MISC_CHECK: timed out after 0.2 s', exitStatus: null });
    assert.ok(Date.now() - started >= 200 + KILL_DELAY_MS - 50, 'SIGKILL came before the 2 s grace');
  });
  assert.ok(gone, 'the script or its sleep is still running');
  assert.ok((await openProbeHandles()) <= before, 'the probe left a process, pipe or timer open');
});

test('misc: abort stops the script group and ends the attempt as "aborted"', opts, async () => {
  const gone = await groupEndsAfter('echo $$ > "$1"; sleep 30', async (argv) => {
    const ac = new AbortController();
    const pending = miscCheck(miscSpec(argv), ac.signal);
    setTimeout(() => ac.abort(), 200);
    assert.deepEqual(await pending, { ok: false, reason: 'aborted' });
  });
  assert.ok(gone, 'the script or its sleep is still running');
});

test('misc: the result does not wait for a background child that keeps the output open', opts, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tapvs-misc-'));
  const pidFile = join(dir, 'pid');
  try {
    // The sleep inherits stdout: the pipe stays open after the script has exited.
    const argv = ['/bin/sh', '-c', 'echo $$ > "$1"; sleep 30 & echo started', 'sh', pidFile];
    assert.deepEqual(await miscCheck(miscSpec(argv), NEVER), {
      ok: true,
      reason: 'exit status 0: started',
      exitStatus: 0,
    });
  } finally {
    // keepalived leaves such a child alone too; the test does not.
    const pgid = Number((await readFile(pidFile, 'utf8')).trim());
    process.kill(-pgid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
