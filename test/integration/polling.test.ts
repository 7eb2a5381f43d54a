/**
 * Adaptive polling in the lab (native/poll-spin.cc): while pings go through the VIP, replies are
 * read while the loop is still polling (wake-ups saved); once traffic stops the loop sleeps again
 * (no turns without sleeping, which is what keeps an idle tapvsd near 0% CPU). And --busy-poll
 * never sleeps; --poll-budget 0 never polls.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB, labDown, labUp, nsExec } from '../../lab/lab-lib.js';
import { ControlClient } from '../../src/control/client.js';
import type { PollingStats } from '../../src/link/tap.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces, TAP devices)';
const VIP = '192.168.222.131';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function polling(): Promise<PollingStats> {
  const c = await ControlClient.connect(LAB.socket);
  try {
    return ((await c.request({ op: 'status' })) as { polling: PollingStats }).polling;
  } finally {
    c.close();
  }
}

function rules(): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tapvs-rules-')), 'rules');
  writeFileSync(f, `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m\n`);
  return f;
}

/** 200 echoes through the VIP, one every 10 ms (ping answers from tapvsd itself: no RS). */
async function pings(): Promise<void> {
  const r = await nsExec(LAB.ns.client, 'ping', ['-c', '200', '-i', '0.01', '-q', '-W', '1', VIP], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

test('polling: adaptive by default: frames read while polling, and the loop sleeps when idle', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rules() });
  const before = await polling();
  assert.equal(before.mode, 'adaptive');
  assert.equal(before.budgetUs, 50);
  // curl through the VIP: the SYN/ACK, data and FIN of each connection come back within the
  // budget after the frame before them, so some reads happen while the loop is still polling.
  const c = await nsExec(
    LAB.ns.client,
    'sh',
    ['-c', `for i in $(seq 50); do curl -sS --fail http://${VIP}/ >/dev/null || exit 1; done`],
    { timeoutMs: 60_000 },
  );
  assert.equal(c.code, 0, c.stderr);
  await pings();
  const busy = await polling();
  assert.ok(busy.started - before.started >= 200, `polling began ${busy.started - before.started} times`);
  assert.ok(busy.rxWhileSpinning - before.rxWhileSpinning > 0, 'no frame was read while polling');
  assert.ok(busy.turns > before.turns);
  // Idle: within a budget of the last frame the loop stops polling; the turns stop growing (a
  // status request is itself a read on the control socket, not a link: it does not restart it).
  await sleep(500);
  const idle1 = await polling();
  await sleep(2000);
  const idle2 = await polling();
  // A stray frame (an ARP, an IPv6 report of a lab interface) starts one budget of polling: a few
  // tens of turns. Never sleeping would be hundreds of thousands (see the busy test).
  assert.ok(
    idle2.turns - idle1.turns < 2000,
    `${idle2.turns - idle1.turns} turns without sleeping in 2 s of idleness (it should sleep)`,
  );
});

test('polling: --busy-poll never sleeps, --poll-budget 0 never polls', { skip }, async (t) => {
  t.after(() => labDown());
  await labUp({ rules: rules(), tapvsdArgs: ['--busy-poll'] });
  const b1 = await polling();
  await sleep(1000);
  const b2 = await polling();
  assert.equal(b2.mode, 'busy');
  assert.ok(b2.turns - b1.turns > 1000, `only ${b2.turns - b1.turns} turns in 1 s of busy polling`);
  await labDown();
  await labUp({ rules: rules(), tapvsdArgs: ['--poll-budget', '0'] });
  await pings();
  const off = await polling();
  assert.equal(off.mode, 'off');
  assert.equal(off.started, 0);
  assert.equal(off.turns, 0);
});
