/**
 * DNS_CHECK (keepalived check_dns.c): one query over a connected UDP socket, with a random id,
 * RD set and one question of the checker's type and name, class IN. A reply with our id, QR set
 * and RCODE 0 passes (answers are not looked at); one with our id, QR set and another RCODE
 * fails; anything else (another id, QR clear, shorter than a header) is ignored until
 * connect_timeout ends the attempt.
 *
 * The name is encoded as RFC 1035 §3.1 says, with or without a final dot; keepalived leaves the
 * root label out when the name ends with a dot (other than ".") and sends a malformed query.
 */
import { randomInt } from 'node:crypto';
import type { DnsCheck } from '../../keepalived/lvs-config.js';
import { runAttempt, seconds } from './attempt.js';
import type { CheckResult } from './check.js';
import { connectDatagram } from './datagram.js';

/** RFC 1035 §3.2.2, RFC 3596 (AAAA), RFC 4034 (RRSIG, DNSKEY): the types keepalived knows. */
const QUERY_TYPES: ReadonlyMap<string, number> = new Map([
  ['A', 1],
  ['NS', 2],
  ['CNAME', 5],
  ['SOA', 6],
  ['MX', 15],
  ['TXT', 16],
  ['AAAA', 28],
  ['RRSIG', 46],
  ['DNSKEY', 48],
]);
/** RFC 1035 §4.1.1 header: id, flags, four counts. */
export const DNS_HEADER_BYTES = 12;
const FLAG_QR = 0x8000;
const FLAG_RD = 0x0100;
const RCODE_MASK = 0x000f;
const CLASS_IN = 1;
const MAX_LABEL_BYTES = 63;
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** The query for `name` and `type` with `id`, or a reason why the name cannot be encoded. */
export function dnsQuery(id: number, queryType: string, name: string): Buffer | string {
  const type = QUERY_TYPES.get(queryType.toUpperCase());
  if (type === undefined) return `unknown query type ${queryType}`;
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0 || bytes.length > MAX_LABEL_BYTES) return `invalid query name "${name}"`;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  const header = Buffer.alloc(DNS_HEADER_BYTES);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(FLAG_RD, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(CLASS_IN, 3);
  return Buffer.concat([header, ...parts, tail]);
}

export function dnsCheck(spec: DnsCheck, signal: AbortSignal): Promise<CheckResult> {
  return runAttempt(spec.type, signal, (a) => {
    const id = randomInt(0, 0x10000);
    const query = dnsQuery(id, spec.queryType, spec.name);
    if (typeof query === 'string') {
      a.fail(query);
      return;
    }
    const timeoutMs = spec.connectTimeoutMs;
    a.deadline(timeoutMs, () => a.fail(`no answer within ${seconds(timeoutMs)}`));
    connectDatagram(
      spec,
      a,
      (sock) => sock.send(query),
      (reply) => {
        if (reply.length < DNS_HEADER_BYTES || reply.readUInt16BE(0) !== id) return;
        const flags = reply.readUInt16BE(2);
        if ((flags & FLAG_QR) === 0) return;
        const rcode = flags & RCODE_MASK;
        if (rcode === 0) a.pass(`answer with ${reply.readUInt16BE(6)} records`);
        else a.fail(`rcode ${rcode}${rcode < RCODE_NAMES.length ? ` (${RCODE_NAMES[rcode]})` : ''}`);
      },
    );
  });
}
