/**
 * RuleEditor and the model for every forwarding method: -g/-i/--fullnat reach the dest as the
 * kernel's method numbers, tunnel options are checked as ipvsadm and the kernel check them,
 * direct routing is refused for a real server that is not a neighbour, and full NAT local
 * addresses are added, listed and deleted with their checks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listLaddrs, listServices } from '../../../src/control/listing.js';
import type { DestConfig, ServiceConfig, ServiceKey } from '../../../src/control/protocol.js';
import { type DirectorLinks, RuleEditor } from '../../../src/control/rule-editor.js';
import { TapvsError } from '../../../src/errors.js';
import { Fwd, TunFlag, TunType } from '../../../src/ipvs/dest.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { parseIpv4 } from '../../../src/packet/ipv4.js';

const WEB: ServiceKey = { proto: 'tcp', addr: '192.168.222.131', port: 80 };
const svcCfg: ServiceConfig = {
  scheduler: 'rr',
  schedFlags: [],
  persistentS: null,
  netmask: '255.255.255.255',
  ops: false,
};
function dcfg(over: Partial<DestConfig>): DestConfig {
  return { fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0, ...over };
}
/** int is 192.168.2.0/24, ext 192.168.222.0/24; anything else is behind a gateway. */
const LINKS: DirectorLinks = {
  onLinkOf(a: number) {
    if (a >>> 8 === 0xc0a802) return 'int';
    if (a >>> 8 === 0xc0a8de) return 'ext';
    return null;
  },
  names: () => ['ext', 'int'],
};
function editor(): RuleEditor {
  const r = new RuleEditor(new Ipvs({ maxConns: 64 }), LINKS);
  r.addService(WEB, svcCfg);
  return r;
}
function throwsWith(f: () => void, message: string | RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof TapvsError);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

test('methods: route, tunnel and fullnat dests carry the kernel numbers and tunnel settings', () => {
  const r = editor();
  r.addDest(WEB, { addr: '192.168.2.129', port: 80 }, dcfg({ fwd: 'route' }));
  r.addDest(
    WEB,
    { addr: '10.9.0.1', port: 80 },
    dcfg({ fwd: 'tunnel', tunnel: { type: 'gue', port: 6080, csum: 'remcsum' } }),
  );
  r.addDest(WEB, { addr: '10.9.0.2', port: 80 }, dcfg({ fwd: 'tunnel' }));
  r.addDest(WEB, { addr: '10.9.0.3', port: 8080 }, dcfg({ fwd: 'fullnat' }));
  const [fnat, ipip, gue, dr] = r.ipvs.services[0].dests;
  assert.equal(dr.fwd, Fwd.ROUTE);
  assert.deepEqual([gue.fwd, gue.tunType, gue.tunPort, gue.tunFlags], [Fwd.TUNNEL, TunType.GUE, 6080, TunFlag.REMCSUM]);
  assert.deepEqual([ipip.fwd, ipip.tunType, ipip.tunPort, ipip.tunFlags], [Fwd.TUNNEL, TunType.IPIP, 0, 0]);
  assert.equal(fnat.fwd, Fwd.FULLNAT);
  const listed = listServices(r.ipvs, r.ipvs.services).services[0].dests;
  assert.deepEqual(
    listed.map((d) => [d.fwd, d.tunnel]),
    [
      ['fullnat', undefined],
      ['tunnel', { type: 'ipip', port: 0, csum: 'nocsum' }],
      ['tunnel', { type: 'gue', port: 6080, csum: 'remcsum' }],
      ['route', undefined],
    ],
  );
  // -e changes the method of the dest (new connections take it; existing ones keep theirs).
  r.editDest(WEB, { addr: '192.168.2.129', port: 80 }, dcfg({ fwd: 'masq' }));
  assert.equal(dr.fwd, Fwd.MASQ);
});

test('methods: tunnel options are checked as ipvsadm and the kernel check them', () => {
  const r = editor();
  const rs = { addr: '10.9.0.1', port: 80 };
  throwsWith(
    () => r.addDest(WEB, rs, dcfg({ fwd: 'tunnel', tunnel: { type: 'gue', port: 0, csum: 'nocsum' } })),
    'illegal tunnel port specified',
  );
  throwsWith(
    () => r.addDest(WEB, rs, dcfg({ fwd: 'tunnel', tunnel: { type: 'ipip', port: 6080, csum: 'nocsum' } })),
    "Illegal 'tun-port' option with the 'ipip' tunnel type",
  );
  throwsWith(
    () => r.addDest(WEB, rs, dcfg({ fwd: 'tunnel', tunnel: { type: 'ipip', port: 0, csum: 'csum' } })),
    "Illegal 'tun-csum' option with the 'ipip' tunnel type",
  );
  throwsWith(
    () => r.addDest(WEB, rs, dcfg({ fwd: 'tunnel', tunnel: { type: 'gre', port: 0, csum: 'remcsum' } })),
    "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
  );
  throwsWith(
    () => r.addDest(WEB, rs, dcfg({ fwd: 'masq', tunnel: { type: 'gre', port: 0, csum: 'csum' } })),
    'Tunnel options conflict with forward method',
  );
  throwsWith(
    () => r.addDest(WEB, rs, dcfg({ fwd: 'tunnel', tunnel: { type: 'vxlan' as 'gre', port: 0, csum: 'csum' } })),
    'illegal tunnel type specified',
  );
  assert.equal(r.ipvs.services[0].dests.length, 0, 'nothing was added');
});

test('methods: direct routing needs a neighbour; a tunnel does not', () => {
  const r = editor();
  throwsWith(
    () => r.addDest(WEB, { addr: '10.9.0.1', port: 80 }, dcfg({ fwd: 'route' })),
    /direct routing needs the real server on a link of the director: 10\.9\.0\.1 is not on any link's prefix/,
  );
  r.addDest(WEB, { addr: '10.9.0.1', port: 80 }, dcfg({ fwd: 'tunnel' }));
  throwsWith(
    () => r.editDest(WEB, { addr: '10.9.0.1', port: 80 }, dcfg({ fwd: 'route' })),
    /direct routing needs the real server on a link/,
  );
  assert.equal(r.ipvs.services[0].dests[0].fwd, Fwd.TUNNEL, 'the failed edit changed nothing');
});

test('methods: full NAT local addresses are added, listed, refused and deleted', () => {
  const r = editor();
  r.addLaddr(WEB, { addr: '192.168.2.140' });
  r.addLaddr(WEB, { addr: '192.168.2.141', ifname: 'int' });
  throwsWith(() => r.addLaddr(WEB, { addr: '192.168.2.140' }), 'local address already exists');
  throwsWith(() => r.addLaddr(WEB, { addr: '192.168.2.142', ifname: 'ext' }), /is not on the prefix of link 'ext'/);
  throwsWith(() => r.addLaddr(WEB, { addr: '10.1.1.1' }), /is not on the prefix of any link/);
  throwsWith(
    () => r.addLaddr(WEB, { addr: '192.168.2.143', ifname: 'eth9' }),
    "no link named 'eth9' (links: ext, int)",
  );
  throwsWith(() => r.addLaddr(WEB, { addr: '224.0.0.1' }), 'illegal local address specified');
  throwsWith(() => r.addLaddr({ ...WEB, port: 81 }, { addr: '192.168.2.140' }), 'No such service');
  assert.deepEqual(listLaddrs(r.ipvs.services).services[0].laddrs, [
    { addr: '192.168.2.140', conns: 0, conflicts: 0 },
    { addr: '192.168.2.141', ifname: 'int', conns: 0, conflicts: 0 },
  ]);
  assert.deepEqual(r.ipvs.laddrAddresses(), [parseIpv4('192.168.2.140'), parseIpv4('192.168.2.141')]);
  r.deleteLaddr(WEB, { addr: '192.168.2.140' });
  throwsWith(() => r.deleteLaddr(WEB, { addr: '192.168.2.140' }), 'no such local address');
  assert.deepEqual(r.ipvs.laddrAddresses(), [parseIpv4('192.168.2.141')]);
});

test('methods: --proxy-protocol is kept on the service and listed', () => {
  const r = editor();
  r.editService(WEB, { ...svcCfg, proxyProtocol: 'v2' });
  assert.equal(r.ipvs.services[0].proxyProtocol, 2);
  assert.equal(listServices(r.ipvs, r.ipvs.services).services[0].config.proxyProtocol, 'v2');
  throwsWith(
    () => r.editService(WEB, { ...svcCfg, proxyProtocol: 'v2-insecure' as 'v2' }),
    /illegal proxy protocol "v2-insecure"/,
  );
  r.editService(WEB, svcCfg);
  assert.equal(r.ipvs.services[0].proxyProtocol, 0);
});
