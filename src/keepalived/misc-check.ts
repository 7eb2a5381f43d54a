/**
 * MISC_CHECK (check_misc.c misc_check_handler(), misc_path_handler(), misc_timeout_handler(),
 * misc_dynamic_handler()):
 * - `misc_path "CMD ARGS…"`: the command as argv (script-words.ts); missing, keepalived drops
 *   the checker, an error here;
 * - `misc_timeout N`: whole seconds; 0 or absent means the virtual server's delay_loop;
 * - `misc_dynamic`: exit codes 2..255 set the weight;
 * - `user`: read, not used (scripts run as tapvsd's user).
 * MISC_CHECK has no connection keywords: its probe is the script.
 */
import type { CheckerKind } from './checker-kind.js';
import type { DiagnosticSink } from './diagnostics.js';
import { scriptCommand } from './script-words.js';
import { field } from './statements.js';
import { msFromUs, readers, UINT_MAX } from './values.js';

export function miscCheck(diags: DiagnosticSink): CheckerKind {
  let argv: string[] | null = null;
  let timeoutS = 0;
  let dynamic = false;
  const r = readers(diags);
  return {
    keywords: {
      handlers: [
        [
          'misc_path',
          (st) => {
            const cmd = scriptCommand(st.text);
            if (!cmd.ok) {
              diags.error(st.at, `misc_path: ${cmd.error}`);
              return;
            }
            if (cmd.extra.length > 0) {
              const extra = cmd.extra.join(' ');
              diags.warning(
                st.at,
                `misc_path: words after the command are ignored (quote the whole command): ${extra}`,
              );
            }
            argv = cmd.argv;
          },
        ],
        // keepalived keeps it in microseconds in an unsigned int: at most 4294 s.
        ['misc_timeout', field(diags, r.unsigned(0, Math.floor(UINT_MAX / 1e6)), (v) => (timeoutS = v))],
        ['misc_dynamic', field(diags, r.bareFlag, (v) => (dynamic = v))],
      ],
      blocks: [],
      unused: [['user', 'scripts run as the user tapvsd runs as']],
    },
    complete(at, sink) {
      if (argv !== null) return true;
      sink.error(at, 'MISC_CHECK has no misc_path (keepalived drops such a checker)');
      return false;
    },
    spec(common, inh) {
      const timeoutMs = timeoutS > 0 ? timeoutS * 1000 : msFromUs(inh.vsDelayLoopUs);
      return { ...common, type: 'MISC_CHECK', argv: argv ?? [], timeoutMs, dynamic };
    },
  };
}

/** Whether a checker is a misc_dynamic MISC_CHECK: more than one per real server fight over its weight. */
export function isDynamicMisc(spec: { readonly type: string; readonly dynamic?: boolean }): boolean {
  return spec.type === 'MISC_CHECK' && spec.dynamic === true;
}
