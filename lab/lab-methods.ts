/**
 * The lab's forwarding methods (`lab up --method nat|dr|tun|fullnat`): what changes in the
 * topology and on the real servers for each, and which rules file tapvsd loads.
 *
 * - nat: the textbook lab (real servers' default route via the DIP), lab/textbook.rules.
 * - dr and tun: the real servers hold the VIP on `lo` (arp_ignore=1, arp_announce=2, rp_filter 0)
 *   and answer the client directly, through a router that is not tapvsd: the kernel of tapvs-dir
 *   gets a second address, `ROUTER_EXT` on tapvs-br-ext, and ip_forward=1, and the real servers'
 *   default route is the check address. tapvsd keeps the VIP and the DIP (that kernel owns
 *   neither), so the client's packets still go to tapvsd, the replies do not.
 *   tun adds a user-space tunnel endpoint (lab/tunnel-endpoint.ts) in each real server's
 *   namespace, since the lab's kernel has no ipip/gre/fou modules; the lab records and stops it
 *   by pid like the servers.
 * - fullnat: the real servers have NO default route at all (replies come back only because
 *   tapvsd rewrote the source to one of its local addresses, on-link for them);
 *   lab/textbook-fullnat.rules adds the local addresses (`-P -t VIP:port -z LIP`) and two
 *   PROXY-protocol services (:8080 v1, :8082 v2) on rs-server's PROXY port 8080.
 *
 * The rules files name the default addresses: with other addresses write your own rules.
 */
import { join } from 'node:path';
import { type ExecResult, ip, LAB, type LabAddresses, macFor, nsExec, type RealServerKey } from './lab-lib.js';

export type LabMethod = 'nat' | 'dr' | 'tun' | 'fullnat';
export const LAB_METHODS: readonly LabMethod[] = Object.freeze(['nat', 'dr', 'tun', 'fullnat'] as const);
export type LabTunType = 'ipip' | 'gue' | 'gre';
export const LAB_TUN_TYPES: readonly LabTunType[] = Object.freeze(['ipip', 'gue', 'gre'] as const);

/** Addresses and ports the methods add to the lab (none collides with the HA lab's .132-.134, .138). */
export const METHOD_LAB = Object.freeze({
  /** The kernel of tapvs-dir's address on the external network when it routes the dr/tun replies. */
  routerExt: '192.168.222.137',
  /** Full NAT local addresses (tapvsd's, on link int): .140 for :80, :5201 and :8080, .141 for :80 and :8082. */
  laddrs: Object.freeze(['192.168.2.140', '192.168.2.141']),
  /** rs-server's PROXY-protocol listener on every real server. */
  proxyPort: 8080,
  /** The full NAT services that send a PROXY header: VIP:8080 (v1) and VIP:8082 (v2), both to RIP:8080. */
  proxyV1Port: 8080,
  proxyV2Port: 8082,
  /** The GUE destination port (`--tun-port`) of lab/textbook-tun-gue.rules. */
  guePort: 6080,
  /** The TUN device the tunnel endpoint writes the inner packets to, in each real server's namespace. */
  tunDevice: 'tvs-tun0',
});

/** The rules file `lab up --method M` loads when no --rules/--keepalived is given. */
export function methodRulesFile(method: LabMethod, tunType: LabTunType = 'ipip'): string {
  const name =
    method === 'nat'
      ? 'textbook.rules'
      : method === 'tun'
        ? tunType === 'ipip'
          ? 'textbook-tun.rules'
          : `textbook-tun-${tunType}.rules`
        : `textbook-${method}.rules`;
  return join(LAB.repoRoot, 'lab', name);
}

/** The real servers' default gateway: the DIP (nat), the kernel of tapvs-dir (dr, tun), none (fullnat). */
export function rsGateway(method: LabMethod, a: LabAddresses): string | null {
  if (method === 'nat') return a.dip;
  if (method === 'fullnat') return null;
  return a.check;
}

function sysctl(ns: string, ...settings: string[]): Promise<ExecResult> {
  return nsExec(ns, 'sysctl', ['-qw', ...settings], { timeoutMs: 10_000, check: true });
}

/**
 * dr/tun: the kernel of tapvs-dir becomes the site's router for the real servers' replies. It
 * already has the check address on the internal side (`intDev`); it gets `routerExt` on the
 * external bridge (MAC pinned, ARP only for that address) and forwards. rp_filter off on both
 * sides: the replies' source is the VIP, whose route points back out of the external side.
 * It still owns neither the VIP nor the DIP, so ARP for them is answered by tapvsd only.
 */
export async function makeDirectorKernelRouter(a: LabAddresses, intDev: string): Promise<void> {
  const ns = LAB.ns.dir;
  const ext = LAB.bridge.ext;
  await ip(['-n', ns, 'link', 'set', ext, 'address', macFor(METHOD_LAB.routerExt)]);
  await sysctl(
    ns,
    `net.ipv4.conf.${ext}.arp_ignore=1`,
    `net.ipv4.conf.${ext}.arp_announce=2`,
    `net.ipv4.conf.${ext}.rp_filter=0`,
    `net.ipv4.conf.${intDev}.rp_filter=0`,
    'net.ipv4.conf.all.rp_filter=0',
    // Replies enter on one side and leave on the other: never a reason to redirect, say so anyway.
    'net.ipv4.conf.all.send_redirects=0',
    `net.ipv4.conf.${intDev}.send_redirects=0`,
    'net.ipv4.ip_forward=1',
  );
  await ip(['-n', ns, 'addr', 'add', `${METHOD_LAB.routerExt}/${a.extPrefixLen}`, 'dev', ext]);
}

/**
 * dr/tun on one real server: the VIP on `lo` (accepts the client's packets, never ARPs for them),
 * arp_ignore=1 / arp_announce=2 on all and its veth, rp_filter 0 (tun: the inner packets arrive
 * on the TUN device, their source routed out of the veth; `default` covers that device, created later).
 */
export async function prepareVipOnRealServer(key: RealServerKey, a: LabAddresses): Promise<void> {
  const ns = LAB.ns[key];
  const dev = LAB.veth[key].name;
  await sysctl(
    ns,
    'net.ipv4.conf.all.arp_ignore=1',
    'net.ipv4.conf.all.arp_announce=2',
    `net.ipv4.conf.${dev}.arp_ignore=1`,
    `net.ipv4.conf.${dev}.arp_announce=2`,
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    `net.ipv4.conf.${dev}.rp_filter=0`,
  );
  await ip(['-n', ns, 'addr', 'add', `${a.vip}/32`, 'dev', 'lo']);
}

/** The tunnel endpoint's arguments for one real server (lab/tunnel-endpoint.ts's command line). */
export function tunnelEndpointArgs(tunType: LabTunType): string[] {
  const args = ['--dev', METHOD_LAB.tunDevice, '--type', tunType];
  if (tunType === 'gue') args.push('--port', String(METHOD_LAB.guePort));
  return args;
}
