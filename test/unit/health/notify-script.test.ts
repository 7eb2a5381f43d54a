/**
 * notify_up / notify_down / quorum scripts: real short shell scripts in a temporary directory,
 * run asynchronously with only their configured argv, their output and exit status logged, a
 * timeout that ends them and what they started, and the engine running them on transitions.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createScriptRunner } from '../../../src/health/notify-script.js';
import { lvsConfig, realServer, tcpCheck, virtualServer } from '../../helpers/lvs-config.js';
import { harness, VIP } from './harness.js';

function scriptDir(t: { after: (fn: () => void) => void }): {
  dir: string;
  script: (name: string, body: string) => string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-notify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  return { dir, script };
}

/** Alive and not a zombie waiting for its (new) parent to reap it. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function capture() {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> | undefined }> = [];
  return {
    lines,
    log: (level: string, msg: string, fields?: Record<string, unknown>) => {
      lines.push({ level, msg, fields });
    },
  };
}

test('notify script: its argv only; output and exit status are kept and logged', { timeout: 10_000 }, async (t) => {
  const { dir, script } = scriptDir(t);
  const out = join(dir, 'out');
  const path = script('n.sh', `echo "$# $*" > ${out}; echo to-stdout; echo to-stderr >&2; exit 3`);
  const { lines, log } = capture();
  const o = await createScriptRunner(log)([path, 'UP', 'rs 1'], 'notify_up of real server x', 5000);
  assert.equal(readFileSync(out, 'utf8'), '2 UP rs 1\n', 'two arguments, nothing appended');
  assert.deepEqual([o.exitCode, o.signal, o.timedOut, o.error], [3, null, false, null]);
  assert.match(o.output, /to-stdout/);
  assert.match(o.output, /to-stderr/);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg]),
    [['warn', 'notify_up of real server x: exited with status 3']],
  );
  assert.match(String(lines[0].fields?.output), /to-stdout/);
});

test('notify script: a timeout ends it and what it started (process group)', { timeout: 15_000 }, async (t) => {
  const { dir, script } = scriptDir(t);
  const pidFile = join(dir, 'pid');
  const path = script('slow.sh', `sleep 30 & echo $! > ${pidFile}; wait`);
  const { lines, log } = capture();
  const o = await createScriptRunner(log)([path], 'quorum_down of virtual server v', 300);
  assert.equal(o.timedOut, true);
  assert.equal(o.exitCode, null);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg]),
    [['warn', 'quorum_down of virtual server v: killed after its timeout']],
  );
  const child = Number(readFileSync(pidFile, 'utf8'));
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = !running(child);
    if (!gone) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(gone, 'the script’s own child was ended too');
});

test('notify script: one that cannot start is a logged outcome, never an exception', async () => {
  const { lines, log } = capture();
  const o = await createScriptRunner(log)(['/nonexistent/notify'], 'notify_down of real server y', 1000);
  assert.equal(o.exitCode, null);
  assert.match(o.error ?? '', /ENOENT/);
  assert.equal(lines[0]?.level, 'error');
  assert.match(lines[0]?.msg ?? '', /^notify_down of real server y: could not run: /);
});

test('engine: notify_down and notify_up run on transitions, after the rules changed', {
  timeout: 10_000,
}, async (t) => {
  const { dir, script } = scriptDir(t);
  const events = join(dir, 'events');
  const notify = script('notify.sh', `echo "$*" >> ${events}`);
  const { log } = capture();
  const h = harness({ runScript: createScriptRunner(log) });
  const RS = '192.168.2.129';
  h.engine.start(
    lvsConfig([
      virtualServer(VIP, 80, {}, [
        realServer(RS, 80, { notifyUp: [notify, 'up', RS], notifyDown: [notify, 'down', RS] }, [
          tcpCheck({ delayLoopMs: 5000 }),
        ]),
      ]),
    ]),
  );
  h.probes.set(`${RS}:80`, { ok: false });
  await h.clock.advanceTo(1000);
  await h.engine.scriptsSettled();
  assert.equal(readFileSync(events, 'utf8'), `down ${RS}\n`);
  h.probes.set(`${RS}:80`, { ok: true });
  await h.clock.advanceTo(6000);
  await h.engine.scriptsSettled();
  assert.equal(readFileSync(events, 'utf8'), `down ${RS}\nup ${RS}\n`);
});
