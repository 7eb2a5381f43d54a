/**
 * What the tests of the director attached to existing interfaces (`packet=` and `pcap=`, in
 * packet-link.test.ts and pcap-link.test.ts) share beyond lab-client.ts: the proof that the
 * kernel of tapvs-dir stays out of the director's traffic, and the `--link` spellings tapvsd must
 * refuse. The lab itself is lab/lab-lib.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB, nsExec } from '../../lab/lab-lib.js';

/** /proc/net/snmp of a namespace as { 'Ip.ForwDatagrams': n, 'Icmp.OutMsgs': n, ... }. */
async function snmp(ns: string): Promise<Map<string, number>> {
  const r = await nsExec(ns, 'cat', ['/proc/net/snmp'], { check: true });
  const lines = r.stdout.trim().split('\n');
  const out = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].split(/\s+/),
      values = lines[i + 1].split(/\s+/);
    const proto = names[0].replace(/:$/, '');
    for (let j = 1; j < names.length; j++) out.set(`${proto}.${names[j]}`, Number(values[j]));
  }
  return out;
}

/**
 * What the kernel of tapvs-dir must not do with the director's traffic (docs/attachments.md):
 * own VIP/DIP, route, or answer. Its IP counters show it sent and forwarded nothing.
 */
export async function assertKernelStaysOut(promiscuous: boolean): Promise<void> {
  for (const v of [LAB.pcapVeth.ext, LAB.pcapVeth.int]) {
    // The kernel's one address is the check address on tvs-pi, the health checks' source (lab/README.md).
    const a = await nsExec(LAB.ns.dir, 'ip', ['-o', 'addr', 'show', 'dev', v.name], { check: true });
    const want = v === LAB.pcapVeth.int ? [`inet ${LAB.check}/${LAB.intPrefixLen}`] : [];
    const got = a.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(/\s+/).slice(2, 4).join(' '));
    assert.deepEqual(got, want, `${v.name}: no address but the check address (not even IPv6 link-local)`);
    const l = await nsExec(LAB.ns.dir, 'ip', ['-d', 'link', 'show', 'dev', v.name], { check: true });
    const promisc = Number(/promiscuity (\d+)/.exec(l.stdout)?.[1] ?? 'NaN');
    if (promiscuous) assert.ok(promisc > 0, `${v.name} is promiscuous while tapvsd captures with its own MAC`);
    else assert.equal(promisc, 0, `${v.name} is not promiscuous with mac=nic`);
  }
  const fwd = await nsExec(LAB.ns.dir, 'sysctl', ['-n', 'net.ipv4.ip_forward'], { check: true });
  assert.equal(fwd.stdout.trim(), '0');
  const c = await snmp(LAB.ns.dir);
  assert.equal(c.get('Ip.ForwDatagrams'), 0, 'the kernel of tapvs-dir forwarded nothing');
  assert.equal(c.get('Ip.OutRequests'), 0, 'the kernel of tapvs-dir sent no IP packet');
  assert.equal(c.get('Icmp.OutMsgs'), 0, 'the kernel of tapvs-dir sent no ICMP');
}

const TAPVSD = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'tapvsd.js');

/** Each `--link` spelling makes tapvsd exit 2 with its message, before it creates anything. */
export function assertLinkSpecsRefused(cases: Array<[string, RegExp]>): void {
  for (const [spec, msg] of cases) {
    const r = spawnSync(process.execPath, [TAPVSD, '--link', spec, '--socket', '/nonexistent/tapvs.sock'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `${spec}: ${r.stderr}`);
    assert.match(r.stderr, msg, spec);
  }
}
