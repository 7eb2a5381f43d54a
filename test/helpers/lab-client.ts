/**
 * The lab's client side for integration tests: the textbook rules (rr over RS1 and RS2 on the
 * VIP's port 80), a rules file to start the lab with, and curls from tapvs-client to the VIP.
 * The lab itself is lab/lab-lib.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB, nsExec } from '../../lab/lab-lib.js';

export const VIP = '192.168.222.131';

export const TEXTBOOK_RULES = `-A -t 192.168.222.131:80 -s rr
-a -t 192.168.222.131:80 -r 192.168.2.130:80 -m -w 1
-a -t 192.168.222.131:80 -r 192.168.2.129:80 -m -w 1
`;

/** Writes `text` to a rules file of its own and returns its path. */
export function rulesFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-rules-'));
  const f = join(dir, 'rules');
  writeFileSync(f, text);
  return f;
}

export async function curl(
  url: string,
  extra: string[] = [],
): Promise<{ code: number | null; body: string; stderr: string }> {
  const r = await nsExec(LAB.ns.client, 'curl', ['-sS', '--max-time', '20', ...extra, url], {
    timeoutMs: 60_000,
    maxBytes: 64 << 20,
  });
  return { code: r.code, body: r.stdout, stderr: r.stderr };
}

/** Four curls to the VIP, each named by the real server that answered. */
export async function fourAnswers(): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await curl(`http://${VIP}/`);
    assert.equal(r.code, 0, r.stderr);
    answers.push(r.body.includes('192.168.2.129') ? 'RS1' : r.body.includes('192.168.2.130') ? 'RS2' : r.body);
  }
  return answers;
}

/** `n` curls to the VIP at once; all must succeed. Returns how many each real server answered. */
export async function parallelCurls(n: number): Promise<{ rs1: number; rs2: number }> {
  const script = `seq ${n} | xargs -P ${n} -I{} curl -sS --fail --max-time 30 http://${VIP}/ ; echo "rc=$?"`;
  const r = await nsExec(LAB.ns.client, 'sh', ['-c', script], { timeoutMs: 90_000 });
  assert.match(r.stdout, /rc=0/, r.stderr);
  return {
    rs1: (r.stdout.match(/192\.168\.2\.129/g) ?? []).length,
    rs2: (r.stdout.match(/192\.168\.2\.130/g) ?? []).length,
  };
}
