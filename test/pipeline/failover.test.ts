/**
 * Failover between two in-process directors, frame by frame and in virtual time: VRRP elects the
 * higher priority, only the master answers for the VIP and the DIP, the master's connections reach
 * the backup through sync messages on the internal LAN, and when the master dies the backup takes
 * over the addresses (gratuitous ARP) and forwards an established connection to the same real
 * server without a new SYN.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlDispatcher } from '../../src/control/dispatch.js';
import { renderMetrics } from '../../src/control/metrics.js';
import type { Command, Request } from '../../src/control/protocol.js';
import { TcpState } from '../../src/ipvs/tcp-state.js';
import type { VrrpConfig, VrrpInstanceConfig } from '../../src/vrrp/vrrp-config.js';
import { Lan, type PairedDirector, pairedDirector } from '../helpers/director-pair.js';
import { ACK, decode, ip, ipFrame, SYN, TCP } from '../helpers/frames.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { instanceConfig } from '../helpers/vrrp-instance-config.js';

const VIP = ip('192.168.222.131');
const DIP = ip('192.168.2.136');

function instance(
  name: string,
  link: string,
  vrid: number,
  addr: number,
  prefixLen: number,
  priority: number,
): VrrpInstanceConfig {
  return instanceConfig({
    name,
    file: 'test.conf',
    link,
    vrid,
    priority,
    virtualAddresses: [{ addr, prefixLen, link }],
  });
}

function config(priority: number): VrrpConfig {
  return {
    instances: [instance('VI_EXT', 'ext', 51, VIP, 24, priority), instance('VI_INT', 'int', 52, DIP, 24, priority)],
    syncGroups: [
      {
        name: 'G',
        file: 'test.conf',
        line: 1,
        members: ['VI_EXT', 'VI_INT'],
        notifyMaster: null,
        notifyBackup: null,
        notifyFault: null,
        notifyStop: null,
        notify: null,
      },
    ],
    lvsSyncDaemon: {
      link: 'int',
      instance: 'VI_INT',
      syncid: 51,
      maxlen: 0,
      port: 0,
      ttl: 0,
      group: 0,
      file: 'test.conf',
      line: 1,
    },
  };
}

/** The textbook service on both directors: -A -t VIP:80 -s rr, RS2 and RS1 masqueraded. */
function rules(d: PairedDirector): void {
  const ctl = new ControlDispatcher(d.ipvs, { rulesChanged: () => d.dp.rulesChanged() });
  const service = { proto: 'tcp' as const, addr: '192.168.222.131', port: 80 };
  const run = (req: Command): unknown => ctl.handle({ id: 1, ...req } as Request);
  run({
    op: 'addService',
    service,
    config: { scheduler: 'rr', schedFlags: [], persistentS: null, netmask: '255.255.255.255', ops: false },
  });
  for (const rs of ['192.168.2.130', '192.168.2.129'])
    run({
      op: 'addDest',
      service,
      dest: { addr: rs, port: 80 },
      config: { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
    });
}

interface World {
  clock: VirtualClock;
  ext: Lan;
  int: Lan;
  d1: PairedDirector;
  d2: PairedDirector;
  /** Advances virtual time in steps, moving frames and running the directors' ticks. */
  run(ms: number): Promise<void>;
}

async function world(): Promise<World> {
  const clock = new VirtualClock();
  const ext = new Lan();
  const int = new Lan();
  ext.host('client', '192.168.222.1', '52:54:00:00:00:01');
  int.host('rs1', '192.168.2.129', '52:54:00:00:01:29');
  int.host('rs2', '192.168.2.130', '52:54:00:00:01:30');
  const d1 = pairedDirector(1, config(200), clock, ext, int);
  const d2 = pairedDirector(2, config(180), clock, ext, int);
  for (const d of [d1, d2]) {
    rules(d);
    d.ha.prepare();
  }
  const w: World = {
    clock,
    ext,
    int,
    d1,
    d2,
    async run(ms) {
      for (let t = 0; t < ms; t += 20) {
        await clock.advance(20);
        for (const d of [d1, d2]) if (!ext.down.has(d.ext)) d.dp.tick(clock.now());
        ext.pump();
        int.pump();
      }
    },
  };
  d1.ha.start();
  d2.ha.start();
  return w;
}

const stateOf = (d: PairedDirector): string[] => (d.ha.status().vrrp ?? []).map((v) => v.state);
const CLIENT = ip('192.168.222.1');
const CLIENT_MAC = new Uint8Array([0x52, 0x54, 0, 0, 0, 1]);
const hex = (m: Uint8Array): string => Array.from(m, (x) => x.toString(16).padStart(2, '0')).join(':');

/** A client -> VIP segment addressed to director `d`'s external MAC. */
function toVip(d: PairedDirector, flags: number, seq: number): Buffer {
  return ipFrame(d.ext.mac, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 40001, dport: 80, flags, seq });
}

test('the higher priority becomes master of both instances; only it answers for the VIP and the DIP', async () => {
  const w = await world();
  await w.run(5000);
  assert.deepEqual(stateOf(w.d1), ['MASTER', 'MASTER']);
  assert.deepEqual(stateOf(w.d2), ['BACKUP', 'BACKUP']);
  assert.equal(w.d2.ha.status().vrrp?.[0].masterAddress, '192.168.222.132');
  // The backup runs the backup sync daemon, the master the master one (lvs_sync_daemon int VI_INT).
  assert.deepEqual(
    w.d1.ha.sync.list().map((d) => d.role),
    ['master'],
  );
  assert.deepEqual(
    w.d2.ha.sync.list().map((d) => d.role),
    ['backup'],
  );
});

test("an established connection survives the master's death: synced, taken over, forwarded to the same server", async () => {
  const w = await world();
  await w.run(5000);
  const { d1, d2 } = w;
  // Handshake and a few segments through director 1.
  w.ext.fromHost(toVip(d1, SYN, 1000));
  w.int.pump();
  const rsHost = w.int.hosts.find((h) => h.received.length > 0)!;
  assert.ok(rsHost !== undefined, 'the SYN reached a real server');
  const synAck = ipFrame(d1.int.mac, rsHost.mac, rsHost.addr, CLIENT, {
    proto: TCP,
    sport: 80,
    dport: 40001,
    flags: SYN | ACK,
  });
  w.int.fromHost(synAck);
  w.ext.pump();
  for (let i = 0; i < 4; i++) w.ext.fromHost(toVip(d1, ACK, 1001 + i));
  w.int.pump();
  await w.run(2500); // the open sync message leaves after 2 s
  const onBackup = d2.ipvs.conns.lookupIn(TCP, CLIENT, 40001, VIP, 80, false);
  assert.ok(onBackup >= 0, 'the connection reached the backup');
  assert.equal(d2.ipvs.conns.state[onBackup], TcpState.ESTABLISHED);
  assert.equal(d2.ipvs.conns.daddr[onBackup], rsHost.addr);
  const m1 = renderMetrics(d1.ipvs, d1.dp, null, d1.ha);
  assert.match(m1, /tapvs_vrrp_state\{instance="VI_EXT",link="ext",vrid="51",state="MASTER"\} 1/);
  assert.match(m1, /tapvs_sync_entries_total\{role="master"\} [1-9]/);
  assert.match(renderMetrics(d2.ipvs, d2.dp, null, d2.ha), /tapvs_sync_entries_total\{role="backup"\} [1-9]/);
  const listed = d2.ipvs.services[0].dests.find((x) => x.addr === rsHost.addr)!;
  assert.equal(listed.activeConns, 1, 'counted as ActiveConn on the backup');

  // Director 1 dies: its links fall silent.
  w.ext.down.add(d1.ext);
  w.int.down.add(d1.int);
  const before = rsHost.received.length;
  const killedAt = w.clock.now();
  let tookOver = -1;
  for (let t = 0; t < 5000 && tookOver < 0; t += 20) {
    await w.run(20);
    if (stateOf(d2).every((s) => s === 'MASTER')) tookOver = w.clock.now() - killedAt;
  }
  assert.ok(tookOver > 0 && tookOver <= 3 * 1000 + ((256 - 180) * 1000) / 256 + 40, `took over after ${tookOver} ms`);
  // The client learnt the VIP's new MAC from the gratuitous ARP; its next segment goes there.
  w.ext.fromHost(toVip(d2, ACK, 2000));
  w.int.pump();
  const after = rsHost.received.slice(before).map(decode);
  assert.equal(after.length, 1, 'forwarded without a new SYN');
  assert.equal(after[0].srcMac, hex(d2.int.mac));
  assert.equal(ip(after[0].dst!), rsHost.addr, 'the same real server');
  assert.equal(after[0].seq, 2000);
  // And the real server's reply goes out from the VIP.
  const reply = ipFrame(d2.int.mac, rsHost.mac, rsHost.addr, CLIENT, {
    proto: TCP,
    sport: 80,
    dport: 40001,
    flags: ACK,
  });
  const client = w.ext.hosts[0];
  const n = client.received.length;
  w.int.fromHost(reply);
  w.ext.pump();
  const back = client.received
    .slice(n)
    .map(decode)
    .filter((d) => d.proto === TCP);
  assert.equal(back.length, 1);
  assert.equal(back[0].src, '192.168.222.131');
  assert.equal(back[0].sport, 80);
});

test('a graceful stop hands over after the skew time, not the master-down interval', async () => {
  const w = await world();
  await w.run(5000);
  w.d1.ha.stop();
  w.ext.pump();
  w.int.pump();
  w.ext.down.add(w.d1.ext);
  w.int.down.add(w.d1.int);
  await w.run(400);
  assert.deepEqual(stateOf(w.d2), ['MASTER', 'MASTER'], 'priority-0 advert: skew time (0.3 s) only');
});

test('a reload with the same instances keeps the master master and the backup backup', async () => {
  const w = await world();
  await w.run(5000);
  w.d1.ha.reload(config(200));
  w.d2.ha.reload(config(180));
  await w.run(5000);
  assert.deepEqual(stateOf(w.d1), ['MASTER', 'MASTER']);
  assert.deepEqual(stateOf(w.d2), ['BACKUP', 'BACKUP']);
  // Director 2 reloaded without instances: they stop, and director 1 stays master.
  w.d2.ha.reload({ instances: [], syncGroups: [], lvsSyncDaemon: config(180).lvsSyncDaemon });
  await w.run(4000);
  assert.deepEqual(stateOf(w.d1), ['MASTER', 'MASTER']);
  assert.deepEqual(
    w.d2.ha.status().vrrp?.map((v) => v.name),
    [],
  );
});
