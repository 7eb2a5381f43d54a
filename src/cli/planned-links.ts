/**
 * The director's links as the rules see them, before any device exists: their names and
 * connected prefixes, from the --link specs alone. Start-up validates the rules file (or
 * keepalived.conf) against this view, so a check that depends on the links (a direct-routing real
 * server must be a neighbour, a -P local address on its link's prefix) fails with FILE:LINE before
 * a TAP device or the control socket is made.
 *
 * It answers as the running dataplane does at start: Dataplane.linkOnPrefix() over the same
 * HostRoutes, built from the same addresses. VRRP virtual addresses are not on any link then
 * (DirectorHa.prepare() starts them as the peer's), so they are not here either.
 */
import type { DirectorLinks } from '../control/rule-editor.js';
import { HostRoutes, type LinkAddress } from '../host/addresses.js';

export interface PlannedLink {
  readonly name: string;
  readonly addrs: LinkAddress[];
  readonly gateway: number;
}

export function plannedLinks(links: readonly PlannedLink[]): DirectorLinks {
  const routes = new HostRoutes(links.map((l) => ({ addrs: l.addrs, gateway: l.gateway })));
  const names = links.map((l) => l.name);
  return {
    onLinkOf(addr: number): string | null {
      for (let i = 0; i < names.length; i++) if (routes.onLink(i, addr)) return names[i];
      return null;
    },
    names: () => names,
  };
}
