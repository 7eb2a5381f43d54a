/**
 * What a checker type adds to the common checker (checkers.ts): its own keywords, what it needs
 * once its block is read, and how its CheckerSpec is made. One module per type family
 * (http-check.ts, misc-check.ts, udp-check.ts, dns-check.ts); TCP_CHECK and PING_CHECK add
 * nothing.
 */
import type { DiagnosticSink } from './diagnostics.js';
import type { CheckerCommon, CheckerSpec, SourceRef } from './lvs-config.js';
import type { Handler } from './statements.js';

export type CheckerType = CheckerSpec['type'];

export interface TypeKeywords {
  readonly handlers: ReadonlyArray<readonly [string, Handler]>;
  /** Keywords among them that read a `{ … }` block. */
  readonly blocks: readonly string[];
  /** keepalived keywords of this type that tapvs ignores, with why. */
  readonly unused: ReadonlyArray<readonly [string, string]>;
}

/** What a checker inherits: the real server's values, which already hold the virtual server's. */
export interface CheckerInheritance {
  readonly rsAddr: string;
  /** The port on the real_server line, 0 when none (keepalived copies it before fixing it up). */
  readonly rsPortAsWritten: number;
  readonly connectTimeoutUs: number;
  readonly delayLoopUs: number;
  readonly retry: number | null;
  readonly delayBeforeRetryUs: number | null;
  readonly warmupUs: number | null;
  readonly alpha: boolean;
  readonly logAllFailures: boolean;
  readonly vsDelayLoopUs: number;
  readonly rsVirtualhost: string | null;
  readonly vsVirtualhost: string | null;
}

/** One checker's type-specific part; it owns its draft. */
export interface CheckerKind {
  readonly keywords: TypeKeywords;
  /** After the block: false when the checker cannot be used (reported on `at`). */
  complete(at: SourceRef, diags: DiagnosticSink): boolean;
  spec(common: CheckerCommon, inh: CheckerInheritance): CheckerSpec;
}

export const NO_KEYWORDS: TypeKeywords = { handlers: [], blocks: [], unused: [] };
