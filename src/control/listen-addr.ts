/**
 * `[ADDR:]PORT` as --metrics and --http take it: an IPv4 address, a bracketed IPv6 address or
 * `localhost`, then a port 1..65535. ADDR defaults to 127.0.0.1: the endpoints have no
 * authentication, so they stay on loopback unless the operator names another address.
 */
export interface ListenAddr {
  readonly host: string;
  readonly port: number;
}

/** The address to listen on, or null when `v` is not `[ADDR:]PORT`. */
export function parseListenAddr(v: string): ListenAddr | null {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):)?(\d{1,5})$/.exec(v);
  if (m === null) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}
