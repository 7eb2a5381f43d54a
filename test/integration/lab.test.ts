/**
 * The lab's own pieces, without tapvsd: namespaces, bridges, veths, real servers, teardown.
 *
 * ```
 *  tapvs-client (192.168.222.1/24)                          tapvs-rs1 (192.168.2.129/24, default via .136)
 *         | veth tvs-c0                                          | veth tvs-r1
 *    [tapvs-br-ext]   (no tapvsd here: lab up --no-director)   [tapvs-br-int] ---- veth tvs-r2 ---- tapvs-rs2
 *         \____ namespace tapvs-dir: bridges only, the kernel's check address .137 on br-int ____/       (192.168.2.130/24)
 * ```
 * Needs root; skipped otherwise. Every test removes the lab it built (t.after → labDown).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { BLOB_SIZE, blobSha256, patternBytes, patternSha256, sha256Hex } from '../../lab/blob.js';
import {
  LAB,
  LAB_NAMESPACES,
  type LabInfo,
  labDown,
  labUp,
  listNamespaces,
  macFor,
  nsExec,
  nsSpawn,
  pidAlive,
  run,
} from '../../lab/lab-lib.js';
import { checkDaemonLog } from '../helpers/log-check.js';

checkDaemonLog(import.meta.url);

const isRoot = (): boolean => process.getuid?.() === 0;
const skip = !isRoot() && 'needs root (network namespaces)';

async function curl(ns: string, url: string): Promise<Buffer> {
  const r = await nsExec(ns, 'curl', ['-sS', '--fail', '--max-time', '20', url], { check: true, timeoutMs: 30_000 });
  return r.stdoutBuf;
}

async function rootLinks(): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show'], { check: true });
  return r.stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n !== '')
    .sort();
}

test('lab up --no-director builds the namespaces, bridges and real servers, and down removes them', {
  skip,
}, async (t) => {
  t.after(() => labDown());
  const rootBefore = await rootLinks();
  const info: LabInfo = await labUp({ director: false });
  const servers = [
    { key: 'rs1', ns: LAB.ns.rs1, id: LAB.rsId.rs1, addr: info.addresses.rs1, veth: LAB.veth.rs1 },
    { key: 'rs2', ns: LAB.ns.rs2, id: LAB.rsId.rs2, addr: info.addresses.rs2, veth: LAB.veth.rs2 },
  ] as const;

  await t.test('the root namespace gains no link', async () => {
    assert.deepEqual(await rootLinks(), rootBefore);
  });

  await t.test('all four namespaces exist, with loopback up and IPv6 off', async () => {
    const all = await listNamespaces();
    for (const ns of LAB_NAMESPACES) {
      assert.ok(all.includes(ns), `${ns} exists`);
      const lo = await run('ip', ['-n', ns, '-o', 'link', 'show', 'lo'], { check: true });
      assert.match(lo.stdout, /[<,]UP[,>]/, `lo is up in ${ns}`);
      const v6 = await nsExec(ns, 'sysctl', ['-n', 'net.ipv6.conf.all.disable_ipv6'], { check: true });
      assert.equal(v6.stdout.trim(), '1', `IPv6 is off in ${ns}`);
    }
  });

  await t.test('tapvs-dir holds both bridges with the veth peers as ports, and only the check address', async () => {
    for (const [br, ports] of [
      [LAB.bridge.ext, [LAB.veth.client.peer]],
      [LAB.bridge.int, [LAB.veth.rs1.peer, LAB.veth.rs2.peer]],
    ] as const) {
      const d = await run('ip', ['-n', LAB.ns.dir, '-d', '-o', 'link', 'show', br], { check: true });
      assert.match(d.stdout, /\bbridge\b/, `${br} is a bridge`);
      const m = await run('ip', ['-n', LAB.ns.dir, '-o', 'link', 'show', 'master', br], { check: true });
      for (const p of ports) assert.match(m.stdout, new RegExp(`: ${p}@`), `${p} is a port of ${br}`);
    }
    const addrs = await run('ip', ['-n', LAB.ns.dir, '-o', 'addr', 'show'], { check: true });
    const nonLo = addrs.stdout
      .split('\n')
      .filter((l) => l.trim() !== '' && !/^\d+: lo\s/.test(l))
      .map((l) => l.split(/\s+/).slice(1, 4).join(' '));
    assert.deepEqual(
      nonLo,
      [`${LAB.bridge.int} inet ${info.addresses.check}/${info.addresses.intPrefixLen}`],
      'tapvs-dir has loopback and the check address on the internal bridge, no VIP or DIP',
    );
  });

  await t.test('client and real servers have their addresses, MACs and the DIP as default gateway', async () => {
    const hosts = [
      {
        ns: LAB.ns.client,
        veth: LAB.veth.client.name,
        addr: info.addresses.client,
        len: info.addresses.extPrefixLen,
        gw: null,
      },
      ...servers.map((s) => ({
        ns: s.ns,
        veth: s.veth.name,
        addr: s.addr,
        len: info.addresses.intPrefixLen,
        gw: info.addresses.dip,
      })),
    ];
    for (const h of hosts) {
      const a = await run('ip', ['-n', h.ns, '-o', '-4', 'addr', 'show', 'dev', h.veth], { check: true });
      assert.match(a.stdout, new RegExp(`inet ${h.addr.replaceAll('.', '\\.')}/${h.len} `), `${h.addr} on ${h.veth}`);
      const l = await run('ip', ['-n', h.ns, '-o', 'link', 'show', 'dev', h.veth], { check: true });
      assert.ok(l.stdout.includes(`link/ether ${macFor(h.addr)} `), `${h.veth} has MAC ${macFor(h.addr)}`);
      const r = await run('ip', ['-n', h.ns, 'route', 'show', 'default'], { check: true });
      if (h.gw === null) assert.equal(r.stdout.trim(), '', 'the client needs no default route');
      else
        assert.match(
          r.stdout,
          new RegExp(`^default via ${h.gw.replaceAll('.', '\\.')} dev ${h.veth}`),
          `default via the DIP in ${h.ns}`,
        );
    }
  });

  await t.test('each real server answers GET / with its identity, on loopback and on its own address', async () => {
    for (const s of servers) {
      for (const host of ['127.0.0.1', s.addr]) {
        const body = await curl(s.ns, `http://${host}:${LAB.httpPort}/`);
        assert.equal(body.toString(), `${s.id} ${s.addr}\n`);
      }
    }
  });

  await t.test('each real server serves the same 50 MiB /blob, matching blob.ts', async () => {
    const want = blobSha256();
    for (const s of servers) {
      const body = await curl(s.ns, `http://127.0.0.1:${LAB.httpPort}/blob`);
      assert.equal(body.length, BLOB_SIZE);
      assert.equal(sha256Hex(body), want, `${s.id}'s blob`);
    }
  });

  await t.test('/bytes?n=N serves the pattern prefix, also beyond the blob size', async () => {
    const s = servers[0];
    const small = await curl(s.ns, `http://127.0.0.1:${LAB.httpPort}/bytes?n=100003`);
    assert.ok(small.equals(patternBytes(100003)));
    const empty = await curl(s.ns, `http://127.0.0.1:${LAB.httpPort}/bytes?n=0`);
    assert.equal(empty.length, 0);
    const n = BLOB_SIZE + 1001;
    const big = await curl(s.ns, `http://127.0.0.1:${LAB.httpPort}/bytes?n=${n}`);
    assert.equal(big.length, n);
    assert.equal(sha256Hex(big), patternSha256(n));
    const bad = await nsExec(
      s.ns,
      'curl',
      ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${LAB.httpPort}/bytes?n=-1`],
      { check: true },
    );
    assert.equal(bad.stdout, '400');
  });

  await t.test('the internal bridge joins the real servers: rs1 reaches rs2 directly', async () => {
    const body = await curl(LAB.ns.rs1, `http://${info.addresses.rs2}:${LAB.httpPort}/`);
    assert.equal(body.toString(), `${LAB.rsId.rs2} ${info.addresses.rs2}\n`);
  });

  await t.test('iperf3 listens on 5201 in both real servers and carries a transfer', async () => {
    for (const s of servers) {
      const ss = await nsExec(s.ns, 'ss', ['-Htln', `sport = :${LAB.iperfPort}`], { check: true });
      assert.match(ss.stdout, /LISTEN/, `iperf3 listens in ${s.ns}`);
    }
    const r = await nsExec(
      LAB.ns.rs1,
      'iperf3',
      ['-c', info.addresses.rs2, '-p', String(LAB.iperfPort), '-n', '1M', '-J'],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.stderr || r.stdout);
    // sum_sent, not sum_received: iperf3's receiver summary can miss the last segments of a -n run.
    const report = JSON.parse(r.stdout) as { end: { sum_sent: { bytes: number } } };
    assert.ok(report.end.sum_sent.bytes >= 1024 * 1024);
  });

  await t.test('the lab records its processes, each inside its namespace', async () => {
    for (const s of servers) {
      const inNs = await run('ip', ['netns', 'pids', s.ns], { check: true });
      const pids = inNs.stdout
        .split(/\s+/)
        .filter((p) => p !== '')
        .map(Number);
      for (const name of [`${s.key}-http`, `${s.key}-iperf3`]) {
        const pid = info.pids[name];
        assert.ok(pid !== undefined && pidAlive(pid), `${name} runs`);
        assert.ok(pids.includes(pid), `${name} (pid ${pid}) is in ${s.ns}`);
      }
    }
    assert.equal(info.pids.tapvsd, undefined, 'no tapvsd with director: false');
  });

  await t.test('lab down stops every process and leaves no lab namespace, twice in a row', async () => {
    await labDown();
    for (const [name, pid] of Object.entries(info.pids)) assert.ok(!pidAlive(pid), `${name} (pid ${pid}) is gone`);
    const all = await listNamespaces();
    for (const ns of LAB_NAMESPACES) assert.ok(!all.includes(ns), `${ns} is gone`);
    assert.ok(!existsSync(LAB.runDir), `${LAB.runDir} is gone`);
    await labDown();
    assert.deepEqual(await rootLinks(), rootBefore, 'the root namespace is as before');
  });
});

test('lab up over a running lab rebuilds it', { skip }, async (t) => {
  t.after(() => labDown());
  const first = await labUp({ director: false });
  const second = await labUp({ director: false });
  for (const pid of Object.values(first.pids)) assert.ok(!pidAlive(pid), `old pid ${pid} is gone`);
  const body = await curl(LAB.ns.rs2, `http://127.0.0.1:${LAB.httpPort}/`);
  assert.equal(body.toString(), `${LAB.rsId.rs2} ${second.addresses.rs2}\n`);
});

test('lab down cleans a half-built lab: a lone namespace with a process in it', { skip }, async (t) => {
  t.after(() => labDown());
  await labDown();
  await run('ip', ['netns', 'add', LAB.ns.dir], { check: true });
  const child = nsSpawn(LAB.ns.dir, 'sleep', ['300']);
  const pid = child.pid ?? -1;
  t.after(() => {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.ok(pidAlive(pid));
  const r = await labDown();
  assert.ok(r.stopped.includes(pid), 'the process in tapvs-dir was stopped');
  assert.deepEqual(r.namespaces, [LAB.ns.dir]);
  assert.ok(!(await listNamespaces()).includes(LAB.ns.dir));
});

test('lab up with other addresses uses them everywhere', { skip }, async (t) => {
  t.after(() => labDown());
  const addresses = {
    client: '10.99.1.1',
    vip: '10.99.1.100',
    extPrefixLen: 24,
    dip: '10.99.2.254',
    rs1: '10.99.2.1',
    rs2: '10.99.2.2',
    intPrefixLen: 24,
    check: '10.99.2.253',
  };
  const info = await labUp({ director: false, addresses });
  assert.deepEqual(info.addresses, addresses);
  assert.ok(
    info.tapvsdCommand.some((a) => a.includes('addr=10.99.1.100/24')),
    'tapvsd would own the VIP',
  );
  assert.ok(
    info.tapvsdCommand.some((a) => a.includes('addr=10.99.2.254/24')),
    'tapvsd would own the DIP',
  );
  const body = await curl(LAB.ns.rs1, `http://${addresses.rs2}:${LAB.httpPort}/`);
  assert.equal(body.toString(), `${LAB.rsId.rs2} ${addresses.rs2}\n`);
  const r = await run('ip', ['-n', LAB.ns.rs1, 'route', 'show', 'default'], { check: true });
  assert.match(r.stdout, /^default via 10\.99\.2\.254 /);
  const c = await run('ip', ['-n', LAB.ns.dir, '-o', '-4', 'addr', 'show', 'dev', LAB.bridge.int], { check: true });
  assert.match(c.stdout, / inet 10\.99\.2\.253\/24 /, 'the check address is the one asked for');
});
