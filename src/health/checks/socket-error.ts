/**
 * Socket errors in the words an operator reads in `tapvsd status` and the log: "connection
 * refused" rather than "connect ECONNREFUSED 10.0.0.2:80". The codes are the ones Linux reports
 * for a failed connect, a reset, or an ICMP error on a connected socket (net/ipv4/icmp.c,
 * icmp_err_convert[]); anything else keeps its code and Node's message.
 */
const WORDS: ReadonlyMap<string, string> = new Map([
  ['ECONNREFUSED', 'connection refused'],
  ['ECONNRESET', 'connection reset'],
  ['ECONNABORTED', 'connection aborted'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENETUNREACH', 'network unreachable'],
  ['EHOSTDOWN', 'host down'],
  ['ENETDOWN', 'network down'],
  ['ETIMEDOUT', 'timed out'],
  ['ENOPROTOOPT', 'protocol unreachable'],
  ['EPIPE', 'connection closed by peer'],
  ['EADDRINUSE', 'source address in use'],
  ['EADDRNOTAVAIL', 'source address not available'],
]);

export function describeSocketError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code !== undefined) {
    const words = WORDS.get(code);
    if (words !== undefined) return words;
  }
  const message = err instanceof Error ? err.message : String(err);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}
