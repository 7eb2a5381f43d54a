/**
 * The ICMP echo answer shared by the Node echo responders of bench/latency-floor.sh (the same
 * rewrite as bench/c/tap-echo.c): turns the Ethernet + IPv4 + ICMP echo request at `off` in
 * `buf` into its reply in place and returns true, or returns false for any other frame.
 */
export function makeEchoReply(buf, off, len) {
  if (len < 42 || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) return false;
  const ip = off + 14;
  const ihl = (buf[ip] & 0x0f) * 4;
  if (buf[ip] >> 4 !== 4 || ihl < 20 || len < 14 + ihl + 8 || buf[ip + 9] !== 1) return false;
  const icmp = ip + ihl;
  if (buf[icmp] !== 8 || buf[icmp + 1] !== 0) return false;
  for (let i = 0; i < 6; i++) {
    const t = buf[off + i];
    buf[off + i] = buf[off + 6 + i];
    buf[off + 6 + i] = t;
  }
  for (let i = 0; i < 4; i++) {
    const t = buf[ip + 12 + i];
    buf[ip + 12 + i] = buf[ip + 16 + i];
    buf[ip + 16 + i] = t;
  }
  buf[icmp] = 0;
  // Type 8 -> 0 lowers the checksummed word by 0x0800: the checksum rises by it (RFC 1624).
  let sum = ((buf[icmp + 2] << 8) | buf[icmp + 3]) + 0x0800;
  sum = (sum & 0xffff) + (sum >>> 16);
  buf[icmp + 2] = sum >>> 8;
  buf[icmp + 3] = sum & 0xff;
  return true;
}
