/**
 * Why a frame was not forwarded or answered: indexes into per-link drop counters. Every frame
 * the dataplane receives ends as exactly one verdict: SENT, CONSUMED (taken by the host itself,
 * e.g. an ARP reply learned) or one Drop reason, so the counters always add up to the RX count.
 */
export const SENT = -1;
export const CONSUMED = -2;
/** Not a verdict: a stage did not take the frame and the next one decides (netfilter's NF_ACCEPT). */
export const PASS = -3;

export const Drop = {
  Truncated: 0,
  BadHeader: 1,
  BadLength: 2,
  BadChecksum: 3,
  NotForUs: 4,
  UnknownEtherType: 5,
  Ipv6: 6,
  Fragment: 7,
  Martian: 8,
  UnknownProtocol: 9,
  DestUnavailable: 10,
  NoDestination: 11,
  TableFull: 12,
  TtlExceeded: 13,
  TooBig: 14,
  NoRoute: 15,
  ArpQueueFull: 16,
  IcmpIgnored: 17,
  LocalUnreachable: 18,
  ArpIgnored: 19,
  TxFull: 20,
  Broadcast: 21,
  /** To a VRRP virtual address another director holds (we are its backup). */
  VrrpBackup: 22,
  /** A VRRP advert or sync message found the control plane's queue full. */
  ControlQueueFull: 23,
  /** Direct routing to a real server that is not a neighbour on a link (only its MAC could change). */
  NotOnLink: 24,
  /** Full NAT: the service has no local address, or no free port on any (DPVS: "no lip/lport available"). */
  NoLocalAddress: 25,
  /** Processing the frame threw: a bug, caught by the batch loop and reported (frame-faults.ts). */
  Exception: 26,
} as const;
export type Drop = (typeof Drop)[keyof typeof Drop];

export const DROP_COUNT = 27;

/** Names for status output and metrics, indexed by Drop value. */
export const DROP_NAMES: readonly string[] = [
  'truncated',
  'bad_header',
  'bad_length',
  'bad_checksum',
  'not_for_us',
  'unknown_ethertype',
  'ipv6',
  'fragment',
  'martian',
  'unknown_protocol',
  'dest_unavailable',
  'no_destination',
  'table_full',
  'ttl_exceeded',
  'too_big',
  'no_route',
  'arp_queue_full',
  'icmp_ignored',
  'local_unreachable',
  'arp_ignored',
  'tx_full',
  'broadcast',
  'vrrp_backup',
  'control_queue_full',
  'not_on_link',
  'no_local_address',
  'exception',
];
