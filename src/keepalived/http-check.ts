/**
 * HTTP_GET and SSL_GET (check_http.c http_get_handler(), url_handler(), digest_handler(),
 * status_code_handler(), http_protocol_handler(); check_ssl.c for SNI):
 * - `url { path P; digest HEX32; status_code 200 300-399 …; virtualhost H }`, repeatable; a url
 *   without path, or a checker without url, is dropped by keepalived: an error here;
 * - `virtualhost H`, `http_protocol 1.0|1.1|1.0C`, `fast_recovery [BOOL]`, `enable_sni [BOOL]`,
 *   `sni_name NAME`, and `nb_get_retry N`, the deprecated spelling of retry (a warning);
 * - status codes and ranges lie within 100-599 (`3xx` is no code); the default is 200-299;
 *   digests are 32 hex digits, kept in lowercase.
 * Regex matching and TLS tuning are read but not used (warnings).
 *
 * Host header: url > checker > real server > virtual server virtualhost. SNI (SSL_GET, when
 * enable_sni is on or sni_name is given): sni_name > url > checker > virtual server
 * virtualhost; check_ssl.c leaves the real server's virtualhost out of SNI.
 */
import type { ConfStatement } from './blocks.js';
import type { CheckerInheritance, CheckerKind, TypeKeywords } from './checker-kind.js';
import type { DiagnosticSink } from './diagnostics.js';
import type { CheckerCommon, CheckerSpec, HttpUrl, SourceRef } from './lvs-config.js';
import { field, type Handler, into, type KeywordTable, walkBlock } from './statements.js';
import { argument, extraWords, readers, UINT_MAX } from './values.js';

interface UrlDraft {
  readonly at: SourceRef;
  path: string | null;
  digest: string | null;
  /** status[code - 100] for 100..599; all false gives the default 200-299. */
  readonly status: boolean[];
  virtualhost: string | null;
}

interface HttpDraft {
  readonly urls: UrlDraft[];
  virtualhost: string | null;
  httpProtocol: '1.0' | '1.1' | '1.0C';
  fastRecovery: boolean;
  enableSni: boolean;
  sniName: string | null;
}

export function httpCheck(
  type: 'HTTP_GET' | 'SSL_GET',
  retry: (v: number) => void,
  diags: DiagnosticSink,
): CheckerKind {
  const d: HttpDraft = {
    urls: [],
    virtualhost: null,
    httpProtocol: '1.0',
    fastRecovery: false,
    enableSni: false,
    sniName: null,
  };
  const r = readers(diags);
  const keywords: TypeKeywords = {
    handlers: [
      [
        'nb_get_retry',
        (st) => {
          diags.warning(st.at, "nb_get_retry is deprecated: use 'retry'");
          field(diags, r.unsigned(0, UINT_MAX), retry)(st);
        },
      ],
      ['virtualhost', field(diags, r.text, into(d, 'virtualhost'))],
      ['http_protocol', field(diags, (st) => readHttpProtocol(st, diags), into(d, 'httpProtocol'))],
      ['fast_recovery', field(diags, r.flag, into(d, 'fastRecovery'))],
      ['enable_sni', field(diags, r.flag, into(d, 'enableSni'))],
      ['sni_name', field(diags, r.text, into(d, 'sniName'))],
      ['url', (st) => readUrl(st, d, diags)],
    ],
    blocks: ['url'],
    unused: [['tls_compliant', 'tapvs does not tune TLS']],
  };
  return {
    keywords,
    complete(at, sink) {
      if (d.urls.length > 0) return true;
      sink.error(at, `${type} has no url (keepalived drops such a checker)`);
      return false;
    },
    spec(common: CheckerCommon, inh: CheckerInheritance): CheckerSpec {
      const urls = d.urls.map((u) => resolveUrl(u, type, d, inh));
      return {
        ...common,
        type,
        urls,
        httpProtocol: d.httpProtocol,
        fastRecovery: d.fastRecovery,
        sniName: urls[0].sniName ?? null,
      };
    },
  };
}

function readHttpProtocol(st: ConfStatement, diags: DiagnosticSink): HttpDraft['httpProtocol'] | null {
  const v = argument(st, diags);
  if (v === null) return null;
  if (v === '1.0' || v === '1.1') return v;
  if (v === '1.0C' || v === '1.0c') return '1.0C';
  diags.error(st.at, `http_protocol: '${v}' is not 1.0, 1.1 or 1.0C`);
  return null;
}

const URL_UNUSED: ReadonlyMap<string, string> = new Map([
  ['regex', 'bodies are checked by status and digest only'],
  ['regex_no_match', 'bodies are checked by status and digest only'],
  ['regex_options', 'bodies are checked by status and digest only'],
  ['regex_min_offset', 'bodies are checked by status and digest only'],
  ['regex_max_offset', 'bodies are checked by status and digest only'],
  ['regex_stack', 'bodies are checked by status and digest only'],
  ['tls_compliant', 'tapvs does not tune TLS'],
]);

function readUrl(st: ConfStatement, d: HttpDraft, diags: DiagnosticSink): void {
  extraWords(st, diags, 0);
  const url: UrlDraft = { at: st.at, path: null, digest: null, status: new Array(500).fill(false), virtualhost: null };
  const r = readers(diags);
  const table: KeywordTable = {
    handlers: new Map<string, Handler>([
      ['path', field(diags, r.text, into(url, 'path'))],
      ['digest', field(diags, (s) => readDigest(s, diags), into(url, 'digest'))],
      ['status_code', (s) => readStatusCodes(s, url, diags)],
      ['virtualhost', field(diags, r.text, into(url, 'virtualhost'))],
    ]),
    unused: URL_UNUSED,
  };
  walkBlock(st.block ?? [], table, 'url', diags);
  if (url.path === null) diags.error(st.at, 'url has no path (keepalived drops such a url)');
  else d.urls.push(url);
}

function readDigest(st: ConfStatement, diags: DiagnosticSink): string | null {
  const v = argument(st, diags);
  if (v === null) return null;
  if (!/^[0-9a-fA-F]{32}$/.test(v)) {
    diags.error(st.at, `digest: '${v}' is not an MD5 sum (32 hex digits)`);
    return null;
  }
  return v.toLowerCase();
}

function readStatusCodes(st: ConfStatement, url: UrlDraft, diags: DiagnosticSink): void {
  if (st.args.length === 0) diags.error(st.at, 'status_code: missing value');
  for (const word of st.args) {
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(word);
    const lo = m === null ? 0 : Number(m[1]);
    const hi = m === null ? 0 : Number(m[2] ?? m[1]);
    if (m === null || lo < 100 || hi > 599 || lo > hi) {
      diags.error(st.at, `status_code: '${word}' is no code or range within 100-599 (such as 200 or 200-299)`);
      continue;
    }
    for (let c = lo; c <= hi; c++) url.status[c - 100] = true;
  }
}

function resolveUrl(u: UrlDraft, type: string, d: HttpDraft, inh: CheckerInheritance): HttpUrl {
  const sniOn = type === 'SSL_GET' && (d.enableSni || d.sniName !== null);
  return {
    at: u.at,
    path: u.path ?? '/',
    statusCodes: statusRanges(u.status),
    digest: u.digest,
    virtualhost: u.virtualhost ?? d.virtualhost ?? inh.rsVirtualhost ?? inh.vsVirtualhost,
    sniName: sniOn ? (d.sniName ?? u.virtualhost ?? d.virtualhost ?? inh.vsVirtualhost) : null,
  };
}

function statusRanges(status: readonly boolean[]): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  let start = -1;
  for (let i = 0; i <= status.length; i++) {
    if (i < status.length && status[i]) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push([start + 100, i - 1 + 100]);
      start = -1;
    }
  }
  return out.length === 0 ? [[200, 299]] : out;
}
