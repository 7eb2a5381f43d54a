/**
 * An existing network interface as the attachments that take one (`packet=`, `pcap=`) see it:
 * its sysfs attributes and the checks both make before opening it, with the same messages.
 */
import { existsSync, readFileSync } from 'node:fs';
import { type ErrorCode, TapvsError } from '../errors.js';

const IFNAMSIZ = 16;
const ARPHRD_ETHER = 1;
const IFF_UP = 0x1;

/** /sys/class/net/IFACE/ATTR, trimmed. */
export function sysfs(iface: string, attr: string): string {
  return readFileSync(`/sys/class/net/${iface}/${attr}`, 'utf8').trim();
}

/**
 * Checks that `iface` names an existing Ethernet interface that is up, with a sane MTU, and that
 * `slots` is 1..4096; returns the MTU. Errors are prefixed with `kind` ("packet", "pcap"); a
 * missing interface gets `missingCode` (each attachment keeps the code it has always given).
 */
export function checkNic(kind: string, iface: unknown, slots: number, missingCode: ErrorCode): number {
  if (
    typeof iface !== 'string' ||
    !/^[A-Za-z0-9_.:@-]+$/.test(iface) ||
    iface === '.' ||
    iface === '..' ||
    Buffer.byteLength(iface) >= IFNAMSIZ
  ) {
    throw new TapvsError(
      'LINK_CONFIG',
      `${kind}: interface name '${String(iface)}' is not a valid name of 1..${IFNAMSIZ - 1} bytes`,
    );
  }
  if (!existsSync(`/sys/class/net/${iface}`)) {
    throw new TapvsError(missingCode, `${kind} ${iface}: no such interface (see ip link)`);
  }
  if (Number(sysfs(iface, 'type')) !== ARPHRD_ETHER) {
    throw new TapvsError('LINK_CONFIG', `${kind} ${iface}: not an Ethernet interface (type ${sysfs(iface, 'type')})`);
  }
  if ((parseInt(sysfs(iface, 'flags'), 16) & IFF_UP) === 0) {
    throw new TapvsError('LINK_CONFIG', `${kind} ${iface}: the interface is down (ip link set ${iface} up)`);
  }
  const mtu = Number(sysfs(iface, 'mtu'));
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new TapvsError('LINK_CONFIG', `${kind} ${iface}: MTU ${mtu} is not in 68..65535`);
  }
  if (!Number.isInteger(slots) || slots < 1 || slots > 4096) {
    throw new TapvsError('LINK_CONFIG', `${kind} ${iface}: slots ${slots} is not in 1..4096`);
  }
  return mtu;
}
