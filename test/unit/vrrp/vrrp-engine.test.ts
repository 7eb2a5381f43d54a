/**
 * The VRRP engine in virtual time: two (or three) engines on one fake segment, each advert
 * delivered to the others a tick later, every host call recorded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIpv4 } from '../../../src/packet/ipv4.js';
import type { VrrpConfig, VrrpInstanceConfig } from '../../../src/vrrp/vrrp-config.js';
import { VrrpEngine } from '../../../src/vrrp/vrrp-engine.js';
import type { VrrpHost, VrrpState } from '../../../src/vrrp/vrrp-host.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';
import { instanceConfig } from '../../helpers/vrrp-instance-config.js';

const A_ADDR = 0x0a000001;
const B_ADDR = 0x0a000002;

function instance(over: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig {
  return instanceConfig({
    virtualAddresses: [{ addr: 0xc0a8de83 | 0, prefixLen: 24, link: over.link ?? 'ext' }],
    ...over,
  });
}

function config(...instances: VrrpInstanceConfig[]): VrrpConfig {
  return { instances, syncGroups: [], lvsSyncDaemon: null };
}

/** One director on the fake segment: what its engine asked of it. */
class Node implements VrrpHost {
  engine!: VrrpEngine;
  readonly owned = new Map<string, boolean>();
  readonly garps: Array<{ at: number; addr: string }> = [];
  readonly scripts: string[][] = [];
  readonly transitions: string[] = [];
  readonly sent: Array<{ at: number; priority: number; packet: Uint8Array }> = [];
  constructor(
    readonly name: string,
    readonly addr: number,
    private readonly net: Segment,
  ) {}
  primaryAddress(): number {
    return this.addr;
  }
  sendIp(link: string, buf: Uint8Array, len: number): void {
    const packet = buf.slice(0, len);
    this.sent.push({ at: this.net.clock.elapsed, priority: buf[22], packet });
    this.net.carry(this, link, packet);
  }
  setVirtualAddresses(instance: VrrpInstanceConfig, owned: boolean): void {
    this.owned.set(instance.name, owned);
  }
  gratuitousArp(_link: string, addr: number): void {
    this.garps.push({ at: this.net.clock.elapsed, addr: formatIpv4(addr) });
  }
  runScript(argv: readonly string[]): void {
    this.scripts.push([...argv]);
  }
  stateChanged(instance: VrrpInstanceConfig, from: VrrpState, to: VrrpState): void {
    this.transitions.push(`${this.net.clock.elapsed} ${instance.name} ${from}->${to}`);
  }
  state(name = 'VI_1'): VrrpState | undefined {
    return this.engine.status().find((s) => s.name === name)?.state;
  }
}

/** A shared segment: adverts reach every other node one millisecond later. */
class Segment {
  readonly clock = new VirtualClock();
  readonly nodes: Node[] = [];
  /** Links cut between nodes (the adverts are lost). */
  cut = false;
  node(name: string, addr: number, cfg: VrrpConfig): Node {
    const n = new Node(name, addr, this);
    n.engine = new VrrpEngine(cfg, n, this.clock);
    this.nodes.push(n);
    return n;
  }
  carry(from: Node, link: string, pkt: Uint8Array): void {
    if (this.cut) return;
    for (const n of this.nodes) {
      if (n !== from) this.clock.setTimer(() => n.engine.receive(link, pkt, 0, pkt.length), 1);
    }
  }
}

test('a lone backup of priority 100 becomes master after 3.609375 s (v2 and v3)', async () => {
  for (const version of [2, 3] as const) {
    const net = new Segment();
    const a = net.node('a', A_ADDR, config(instance({ version })));
    a.engine.start();
    assert.equal(a.state(), 'BACKUP');
    assert.equal(a.owned.get('VI_1'), false);
    await net.clock.advance(3609);
    assert.equal(a.state(), 'BACKUP', `v${version}`);
    await net.clock.advance(1);
    assert.equal(a.state(), 'MASTER', `v${version}`);
    assert.deepEqual(a.transitions, ['0 VI_1 INIT->BACKUP', '3609.375 VI_1 BACKUP->MASTER']);
    assert.equal(a.owned.get('VI_1'), true);
  }
});

test('election: the higher priority wins, the other stays backup and learns the master', async () => {
  const net = new Segment();
  const a = net.node('a', A_ADDR, config(instance({ priority: 150 })));
  const b = net.node('b', B_ADDR, config(instance({ priority: 100 })));
  a.engine.start();
  b.engine.start();
  await net.clock.advance(20_000);
  assert.equal(a.state(), 'MASTER');
  assert.equal(b.state(), 'BACKUP');
  // Skew for 150: 106/256 s.
  assert.deepEqual(a.transitions, ['0 VI_1 INIT->BACKUP', '3414.0625 VI_1 BACKUP->MASTER']);
  assert.equal(b.engine.status()[0].masterAddress, A_ADDR);
  assert.ok(b.engine.status()[0].advertsReceived >= 16);
  assert.equal(b.sent.length, 0);
  // Owner of the address from the first advert on; GARP: 5 at once, 5 more after 5 s.
  assert.deepEqual(
    a.garps.map((g) => g.at),
    [...Array(5).fill(3414.0625), ...Array(5).fill(8414.0625)],
  );
});

test('preemption: a higher priority backup takes over when its down timer runs out', async () => {
  const net = new Segment();
  const b = net.node('b', B_ADDR, config(instance({ priority: 100 })));
  b.engine.start();
  await net.clock.advance(5000);
  assert.equal(b.state(), 'MASTER');
  const a = net.node('a', A_ADDR, config(instance({ priority: 150 })));
  a.engine.start();
  await net.clock.advance(3413);
  assert.equal(a.state(), 'BACKUP', 'lower adverts do not make it take over at once');
  await net.clock.advance(10);
  assert.equal(a.state(), 'MASTER');
  assert.equal(b.state(), 'BACKUP');
  assert.equal(b.owned.get('VI_1'), false);
});

test('nopreempt: the higher priority backup leaves the running master alone', async () => {
  const net = new Segment();
  const b = net.node('b', B_ADDR, config(instance({ priority: 100 })));
  b.engine.start();
  await net.clock.advance(5000);
  const a = net.node('a', A_ADDR, config(instance({ priority: 150, preempt: false })));
  a.engine.start();
  await net.clock.advance(60_000);
  assert.equal(a.state(), 'BACKUP');
  assert.equal(b.state(), 'MASTER');
});

test('preempt_delay: lower priority adverts are accepted until the delay has passed', async () => {
  const net = new Segment();
  const b = net.node('b', B_ADDR, config(instance({ priority: 100 })));
  b.engine.start();
  await net.clock.advance(5000);
  const a = net.node('a', A_ADDR, config(instance({ priority: 150, preemptDelayMs: 10_000 })));
  a.engine.start();
  await net.clock.advance(10_000);
  assert.equal(a.state(), 'BACKUP');
  // The first advert came at ~1 ms, the delay ends at ~10 s, then a full down interval.
  await net.clock.advance(3_500);
  assert.equal(a.state(), 'MASTER');
  assert.equal(b.state(), 'BACKUP');
});

test('a tie goes to the higher primary address, compared unsigned', async () => {
  for (const [low, high] of [
    [A_ADDR, B_ADDR],
    [0x0a000002, 0xc0a80001 | 0],
  ]) {
    const net = new Segment();
    const l = net.node('low', low, config(instance()));
    const h = net.node('high', high, config(instance()));
    l.engine.start();
    h.engine.start();
    await net.clock.advance(3610);
    assert.equal(l.state(), 'MASTER', 'both became master together');
    assert.equal(h.state(), 'MASTER');
    await net.clock.advance(10);
    assert.equal(l.state(), 'BACKUP', formatIpv4(low));
    assert.equal(h.state(), 'MASTER', formatIpv4(high));
    await net.clock.advance(30_000);
    assert.equal(l.state(), 'BACKUP');
    assert.equal(h.state(), 'MASTER');
  }
});

test('priority 0 on stop: the backup takes over after Skew_Time, not the down interval', async () => {
  const net = new Segment();
  const a = net.node('a', A_ADDR, config(instance({ priority: 150, notifyStop: ['/bin/stop'] })));
  const b = net.node('b', B_ADDR, config(instance({ priority: 100 })));
  a.engine.start();
  b.engine.start();
  await net.clock.advance(10_000);
  a.engine.stop();
  assert.equal(a.sent.at(-1)?.priority, 0);
  assert.equal(a.owned.get('VI_1'), false);
  assert.deepEqual(a.scripts, [['/bin/stop']]);
  assert.equal(a.state(), 'INIT');
  const stoppedAt = net.clock.elapsed;
  await net.clock.advance(611);
  assert.equal(b.state(), 'MASTER');
  assert.equal(b.transitions.at(-1), `${stoppedAt + 1 + 609.375} VI_1 BACKUP->MASTER`);
});

test('v2: another advert interval is dropped (both become master); v3 adopts it', async () => {
  const net = new Segment();
  const a = net.node('a', A_ADDR, config(instance({ priority: 150 })));
  const b = net.node('b', B_ADDR, config(instance({ advertIntMs: 2000 })));
  a.engine.start();
  b.engine.start();
  await net.clock.advance(20_000);
  assert.equal(a.state(), 'MASTER');
  assert.equal(b.state(), 'MASTER');
  assert.ok((b.engine.status()[0].drops.interval ?? 0) > 5);

  const net3 = new Segment();
  const a3 = net3.node('a', A_ADDR, config(instance({ version: 3, priority: 150, advertIntMs: 2000 })));
  const b3 = net3.node('b', B_ADDR, config(instance({ version: 3 })));
  a3.engine.start();
  b3.engine.start();
  await net3.clock.advance(20_000);
  assert.equal(b3.state(), 'BACKUP');
  assert.equal(b3.engine.status()[0].advertIntMs, 2000);
  // Learned interval: down interval 3 × 2 s + 156/256 × 2 s after the last advert.
  a3.engine.setLinkState('ext', false);
  // a resigns with priority 0: b takes over after Skew_Time of the learned interval, 156/256 × 2 s.
  const at = net3.clock.elapsed;
  await net3.clock.advance(1300);
  assert.equal(b3.state(), 'MASTER');
  assert.equal(Number(b3.transitions.at(-1)?.split(' ')[0]) - at, 1 + 1218.75);
});

test('v2 PASS: another password is dropped and counted', async () => {
  const net = new Segment();
  const a = net.node('a', A_ADDR, config(instance({ priority: 150, authPass: 'one' })));
  const b = net.node('b', B_ADDR, config(instance({ authPass: 'two' })));
  const c = net.node('c', 0x0a000003, config(instance({ priority: 90, authPass: 'one' })));
  for (const n of [a, b, c]) n.engine.start();
  await net.clock.advance(10_000);
  assert.equal(a.state(), 'MASTER');
  assert.equal(b.state(), 'MASTER');
  assert.equal(c.state(), 'BACKUP');
  assert.ok((b.engine.status()[0].drops['auth-pass'] ?? 0) > 3);
});

test('notifies: the specific script, then the generic one with INSTANCE name STATE priority', async () => {
  const net = new Segment();
  const a = net.node(
    'a',
    A_ADDR,
    config(instance({ notifyMaster: ['/m', 'x'], notifyBackup: ['/b'], notifyFault: ['/f'], notify: ['/n'] })),
  );
  a.engine.start();
  await net.clock.advance(4000);
  a.engine.setLinkState('ext', false);
  assert.equal(a.sent.at(-1)?.priority, 0, 'a master resigns on FAULT');
  a.engine.setLinkState('ext', true);
  assert.deepEqual(a.scripts, [
    ['/b'],
    ['/n', 'INSTANCE', 'VI_1', 'BACKUP', '100'],
    ['/m', 'x'],
    ['/n', 'INSTANCE', 'VI_1', 'MASTER', '100'],
    ['/f'],
    ['/n', 'INSTANCE', 'VI_1', 'FAULT', '100'],
    ['/b'],
    ['/n', 'INSTANCE', 'VI_1', 'BACKUP', '100'],
  ]);
  assert.equal(a.state(), 'BACKUP');
});

test('lower priority adverts make a master answer at once, unless lower_prio_no_advert', async () => {
  for (const quiet of [false, true]) {
    const net = new Segment();
    const a = net.node('a', A_ADDR, config(instance({ priority: 150, lowerPrioNoAdvert: quiet })));
    const b = net.node('b', B_ADDR, config(instance({ priority: 100 })));
    a.engine.start();
    await net.clock.advance(4000);
    b.engine.start();
    // b believes it is alone: make it master, then watch a's answer.
    net.cut = true;
    await net.clock.advance(4000);
    assert.equal(b.state(), 'MASTER');
    const lower = b.sent.at(-1)?.packet ?? new Uint8Array(0);
    const before = a.sent.length;
    a.engine.receive('ext', lower, 0, lower.length);
    assert.equal(a.sent.length > before, !quiet, `quiet ${quiet}`);
    assert.equal(a.state(), 'MASTER');
  }
});

test('sync group: all members move together, a FAULT in one moves all, group notifies', async () => {
  const group = (prio: number): VrrpConfig => ({
    instances: [
      instance({ name: 'VI_EXT', priority: prio }),
      instance({ name: 'VI_INT', link: 'int', vrid: 52, priority: prio }),
    ],
    syncGroups: [
      {
        name: 'G',
        file: 'k',
        line: 1,
        members: ['VI_EXT', 'VI_INT'],
        notifyMaster: ['/gm'],
        notifyBackup: null,
        notifyFault: ['/gf'],
        notifyStop: null,
        notify: ['/gn'],
      },
    ],
    lvsSyncDaemon: null,
  });
  const net = new Segment();
  const a = net.node('a', A_ADDR, group(150));
  const b = net.node('b', B_ADDR, group(100));
  a.engine.start();
  b.engine.start();
  await net.clock.advance(10_000);
  assert.deepEqual([a.state('VI_EXT'), a.state('VI_INT')], ['MASTER', 'MASTER']);
  assert.deepEqual([b.state('VI_EXT'), b.state('VI_INT')], ['BACKUP', 'BACKUP']);
  assert.deepEqual(
    a.scripts.filter((s) => s[0].startsWith('/g')),
    [['/gn', 'GROUP', 'G', 'BACKUP', '0'], ['/gm'], ['/gn', 'GROUP', 'G', 'MASTER', '0']],
  );
  a.engine.setLinkState('int', false);
  assert.deepEqual([a.state('VI_EXT'), a.state('VI_INT')], ['FAULT', 'FAULT']);
  assert.equal(a.owned.get('VI_EXT'), false);
  await net.clock.advance(1000);
  assert.deepEqual([b.state('VI_EXT'), b.state('VI_INT')], ['MASTER', 'MASTER']);
  assert.deepEqual(a.scripts.slice(-2), [['/gf'], ['/gn', 'GROUP', 'G', 'FAULT', '0']]);
  // Link back: a preempts again, and b's members both leave MASTER.
  a.engine.setLinkState('int', true);
  await net.clock.advance(10_000);
  assert.deepEqual([a.state('VI_EXT'), a.state('VI_INT')], ['MASTER', 'MASTER']);
  assert.deepEqual([b.state('VI_EXT'), b.state('VI_INT')], ['BACKUP', 'BACKUP']);
});

test('sync group: a member that may become master waits while another is held by a master', async () => {
  const cfg = (prio: number, intPrio: number): VrrpConfig => ({
    instances: [
      instance({ name: 'VI_EXT', priority: prio }),
      instance({ name: 'VI_INT', link: 'int', vrid: 52, priority: intPrio }),
    ],
    syncGroups: [
      {
        name: 'G',
        file: 'k',
        line: 1,
        members: ['VI_EXT', 'VI_INT'],
        notifyMaster: null,
        notifyBackup: null,
        notifyFault: null,
        notifyStop: null,
        notify: null,
      },
    ],
    lvsSyncDaemon: null,
  });
  const net = new Segment();
  // Only the int instance exists on b (a plain instance, no group there).
  const b = net.node('b', B_ADDR, config(instance({ name: 'VI_INT', link: 'int', vrid: 52, priority: 200 })));
  const a = net.node('a', A_ADDR, cfg(150, 100));
  b.engine.start();
  a.engine.start();
  await net.clock.advance(30_000);
  assert.equal(b.state('VI_INT'), 'MASTER');
  assert.equal(a.state('VI_INT'), 'BACKUP');
  assert.equal(a.state('VI_EXT'), 'BACKUP', 'all or none: VI_EXT is held back');
  assert.equal(a.owned.get('VI_EXT'), false);
});

test('reload keeps the state of an unchanged instance, stops removed ones, starts new ones', async () => {
  const net = new Segment();
  const a = net.node('a', A_ADDR, config(instance(), instance({ name: 'VI_2', vrid: 2, notifyStop: ['/s2'] })));
  a.engine.start();
  await net.clock.advance(4000);
  assert.equal(a.state(), 'MASTER');
  a.engine.reload(config(instance({ priority: 120 }), instance({ name: 'VI_3', vrid: 3 })));
  assert.equal(a.state(), 'MASTER');
  assert.equal(a.engine.status()[0].priority, 120);
  assert.equal(a.state('VI_3'), 'BACKUP');
  assert.equal(a.state('VI_2'), undefined);
  assert.deepEqual(a.scripts.at(-1), ['/s2']);
  const before = a.sent.length;
  await net.clock.advance(1000);
  assert.equal(a.sent.at(before)?.priority, 120);
});
