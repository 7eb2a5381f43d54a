/**
 * `tapvsd trace -r FILE [-c N] [expression]`: a saved trace printed as the live trace prints it,
 * one line per packet with the decision the director recorded ("| NAT in: ..."), optionally
 * selected by a tcpdump expression, as `tcpdump -r` does. Runs in the CLI: no daemon needed.
 *
 * The link and direction come from tapvsd's interface names ("ext rx"); for files from other
 * tools, the interface name and epb_flags' direction ("-" when the file does not say).
 */

import { CaptureFilter } from './filter.js';
import { DEFAULT_SNAPLEN } from './pcapng.js';
import { readSavedTrace } from './pcapng-reader.js';
import { formatTime, traceLine } from './tracer.js';

/** LINKTYPE_ETHERNET: the only link type the filter and describeFrame understand. */
const LINKTYPE_ETHERNET = 1;

export interface ReadTraceOptions {
  /** tcpdump expression; empty: every packet. */
  filter?: string | undefined;
  /** Stop after this many printed packets (-c). */
  count?: number | undefined;
}

/** Prints the packets of `path` through `out`; returns how many were printed. Throws TapvsError. */
export function printSavedTrace(path: string, opts: ReadTraceOptions, out: (line: string) => void): number {
  const filter = new CaptureFilter(opts.filter ?? '', DEFAULT_SNAPLEN);
  const max = opts.count ?? Infinity;
  let printed = 0;
  readSavedTrace(path, (p) => {
    const eth = p.iface.linkType === LINKTYPE_ETHERNET;
    if (!filter.matchesAll && (!eth || !filter.match(p.data, 0, p.data.length, p.wireLen))) return true;
    let link = p.iface.name,
      dir: string = p.dir;
    const m = /^(.*) (rx|tx)$/.exec(link);
    if (m !== null) {
      link = m[1];
      if (dir === '') dir = m[2];
    }
    if (dir === '') dir = '-';
    if (eth) out(traceLine(p.ms, link, dir, p.data, 0, p.data.length, p.comment));
    else {
      const line = `${formatTime(p.ms)} ${link} ${dir} link type ${p.iface.linkType}, length ${p.wireLen}`;
      out(p.comment !== null ? `${line} | ${p.comment}` : line);
    }
    return ++printed < max;
  });
  return printed;
}
