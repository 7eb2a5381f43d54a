/** IP protocol numbers (IANA "Assigned Internet Protocol Numbers") that tapvs acts on. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
