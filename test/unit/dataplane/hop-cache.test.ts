/**
 * The fast path's hop cache must answer exactly what the route and ARP lookups answer now: a
 * remembered hop is dropped when the ARP slot it names is freed or reused, when routes change
 * (invalidate), and when a connection id is reused for a client routed elsewhere.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DestRoutes } from '../../../src/dataplane/dest-routes.js';
import { HopCache } from '../../../src/dataplane/hop-cache.js';
import type { Port } from '../../../src/dataplane/port.js';
import { HostRoutes, Route } from '../../../src/host/addresses.js';
import { ArpCache } from '../../../src/host/arp-cache.js';
import type { Dest } from '../../../src/ipvs/dest.js';
import { ip } from '../../helpers/frames.js';

const RS1 = ip('192.168.2.130'),
  RS2 = ip('192.168.2.129'),
  CLIENT = ip('10.9.8.7'), // beyond ext's gateway
  GW = ip('192.168.222.254');
const MAC_A = Uint8Array.from([2, 0, 0, 0, 0, 0xa]);

function setup(arpEntries: number) {
  // Two links: ext (client side, with a gateway) and int (the real servers).
  const ports = [{ arp: new ArpCache({ maxEntries: arpEntries }) }, { arp: new ArpCache({ maxEntries: arpEntries }) }];
  const routes = new HostRoutes([
    { addrs: [{ addr: ip('192.168.222.131'), prefixLen: 24 }], gateway: GW },
    { addrs: [{ addr: ip('192.168.2.136'), prefixLen: 24 }], gateway: 0 },
  ]);
  const destRoutes = new DestRoutes();
  const dests = [{ addr: RS1 }, { addr: RS2 }] as unknown as Dest[];
  destRoutes.rebuild(routes, dests);
  const hops = new HopCache(ports as unknown as Port[], routes, destRoutes, new Route(), 16);
  hops.invalidate(dests.length);
  return { ports, routes, destRoutes, dests, hops };
}

test('hop cache: a dest hop is remembered, and looked up again once its ARP slot is reused', () => {
  const { ports, hops } = setup(1);
  const arp = ports[1].arp;
  assert.equal(hops.toDest(0), false, 'RS1 not resolved yet: no hop');
  const slot = arp.learn(RS1, MAC_A, 0, 0, true);
  assert.equal(hops.toDest(0), true);
  assert.deepEqual([hops.link, hops.nextHop, hops.arpSlot], [1, RS1, slot]);
  assert.equal(hops.toDest(0), true, 'from the cache');
  assert.deepEqual([hops.link, hops.nextHop, hops.arpSlot], [1, RS1, slot]);
  // A one-entry table: learning RS2 evicts RS1 and reuses its slot.
  const slot2 = arp.learn(RS2, MAC_A, 0, 1, true);
  assert.equal(slot2, slot);
  assert.equal(hops.toDest(0), false, 'RS1 is no longer resolved: the remembered slot must not be used');
  assert.equal(hops.toDest(1), true);
  assert.deepEqual([hops.link, hops.nextHop, hops.arpSlot], [1, RS2, slot2]);
});

test('hop cache: a reply hop is per connection and per client address', () => {
  const { ports, hops } = setup(4);
  const gwSlot = ports[0].arp.learn(GW, MAC_A, 0, 0, true);
  assert.equal(hops.toClient(3, CLIENT), true);
  assert.deepEqual([hops.link, hops.nextHop, hops.arpSlot], [0, GW, gwSlot]);
  // Connection id 3 reused for a client on the int prefix (unresolved): not the old hop.
  assert.equal(hops.toClient(3, RS1), false);
  const s = ports[1].arp.learn(RS1, MAC_A, 0, 0, true);
  assert.equal(hops.toClient(3, RS1), true);
  assert.deepEqual([hops.link, hops.nextHop, hops.arpSlot], [1, RS1, s]);
});

test('hop cache: invalidate() forgets every hop (routes or dest routes changed)', () => {
  const { ports, routes, destRoutes, dests, hops } = setup(4);
  ports[0].arp.learn(GW, MAC_A, 0, 0, true);
  ports[1].arp.learn(RS1, MAC_A, 0, 0, true);
  assert.equal(hops.toDest(0), true);
  assert.equal(hops.toClient(5, CLIENT), true);
  // The int link loses its prefix: RS1 is now routed through ext's gateway.
  routes.setLinkAddresses(1, []);
  destRoutes.rebuild(routes, dests);
  hops.invalidate(dests.length);
  assert.equal(hops.toDest(0), true);
  assert.deepEqual([hops.link, hops.nextHop], [0, GW]);
  // The client's prefix appears on int (a longer prefix than ext's): it is now a neighbour
  // there, not yet resolved, so the remembered hop through the gateway must not be used.
  routes.setLinkAddresses(1, [{ addr: ip('10.9.8.100'), prefixLen: 25 }]);
  hops.invalidate(dests.length);
  assert.equal(hops.toClient(5, CLIENT), false);
  assert.deepEqual([hops.link, hops.nextHop], [1, CLIENT]);
});
