/**
 * tcpdump expressions to classic BPF, compiled by libpcap itself (native/bpf.cc: pcap_compile on
 * pcap_open_dead(DLT_EN10MB, snaplen)), so a trace accepts the whole tcpdump language with the
 * same meaning and the same error messages. The addon (build/Release/tapvs_bpf.node, linked with
 * -lpcap) is loaded on the first compile: a daemon nobody traces does not need libpcap.
 *
 * The daemon compiles the expressions it is sent (it must validate them anyway, and it then never
 * runs instructions a client made up); `tapvsd trace -r` compiles locally.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TapvsError } from '../errors.js';
import { packageRoot } from '../link/tap.js';
import { BpfProgram } from './bpf.js';

export interface BpfAddon {
  compile(expr: string, snaplen: number): Uint32Array;
  /** libpcap's bpf_filter() over a frame: for the benchmark and cross-checks, not per packet. */
  filter(insns: Uint32Array, frame: Uint8Array, caplen: number, wirelen: number): number;
  libpcapVersion: string;
}

let addon: BpfAddon | undefined;

/** Loads build/Release/tapvs_bpf.node once; throws TapvsError('BAD_ARGUMENT') naming what is missing. */
export function loadBpfAddon(): BpfAddon {
  if (addon !== undefined) return addon;
  const path = join(packageRoot(), 'build', 'Release', 'tapvs_bpf.node');
  if (!existsSync(path)) {
    throw new TapvsError('BAD_ARGUMENT', `trace filters need the native addon: run npm install (missing ${path})`);
  }
  try {
    addon = createRequire(import.meta.url)(path) as BpfAddon;
  } catch (e) {
    throw new TapvsError('BAD_ARGUMENT', `${path} failed to load (is libpcap installed?): ${(e as Error).message}`, {
      cause: e,
    });
  }
  return addon;
}

/**
 * The BPF instructions (code, jt, jf, k words) of tcpdump expression `expr`. A bad expression
 * throws TapvsError('BAD_ARGUMENT') with libpcap's message (pcap_geterr), e.g. "can't parse
 * filter expression: syntax error".
 */
export function compileExpression(expr: string, snaplen: number): Uint32Array {
  const a = loadBpfAddon();
  try {
    return a.compile(expr, snaplen);
  } catch (e) {
    throw new TapvsError('BAD_ARGUMENT', (e as Error).message, { cause: e });
  }
}

/** compileExpression, checked and ready to run. */
export function compileFilter(expr: string, snaplen: number): BpfProgram {
  return new BpfProgram(compileExpression(expr, snaplen));
}

/** "libpcap version 1.10.3 (...)", for --version style reports. */
export function libpcapVersion(): string {
  return loadBpfAddon().libpcapVersion;
}
