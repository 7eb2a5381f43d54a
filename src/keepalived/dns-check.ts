/**
 * DNS_CHECK (check_dns.c dns_check_handler(), dns_type_handler(), dns_name_handler()):
 * `type` A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG or DNSKEY (any case; default SOA) and `name`
 * (default the root, `.`). A name given twice keeps the first, with an error here.
 *
 * keepalived refuses names with an empty label, and its loop also refuses a one-character
 * first label ("a.example.com"), querying `.` instead: both are errors here, so the name
 * written is the name asked.
 */
import type { CheckerKind } from './checker-kind.js';
import type { DiagnosticSink } from './diagnostics.js';
import { field } from './statements.js';
import { readers } from './values.js';

export const DNS_TYPES: ReadonlySet<string> = new Set([
  'A',
  'NS',
  'CNAME',
  'SOA',
  'MX',
  'TXT',
  'AAAA',
  'RRSIG',
  'DNSKEY',
]);

export function dnsCheck(diags: DiagnosticSink): CheckerKind {
  let queryType = 'SOA';
  let name: string | null = null;
  const r = readers(diags);
  return {
    keywords: {
      handlers: [
        [
          'type',
          (st) =>
            field(diags, r.text, (v) => {
              if (DNS_TYPES.has(v.toUpperCase())) queryType = v.toUpperCase();
              else diags.error(st.at, `type: '${v}' is not one of ${[...DNS_TYPES].join(' ')}`);
            })(st),
        ],
        [
          'name',
          (st) =>
            field(diags, r.text, (v) => {
              if (name !== null) diags.error(st.at, 'name given twice (keepalived keeps the first)');
              else if ((v[0] === '.' && v.length > 1) || v.includes('..') || v[1] === '.') {
                diags.error(
                  st.at,
                  `name '${v}': keepalived refuses it (empty or one-character first label) and would query '.'`,
                );
              } else name = v;
            })(st),
        ],
      ],
      blocks: [],
      unused: [],
    },
    complete: () => true,
    spec(common) {
      return { ...common, type: 'DNS_CHECK', queryType, name: name ?? '.' };
    },
  };
}
