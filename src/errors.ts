/**
 * Errors of tapvs, in three kinds that are never mixed:
 * 1. bad input on the data path is a `Drop` reason and a counter, never an exception;
 * 2. user errors on the control path are `TapvsError`s with a stable `code` that crosses the
 *    control socket (tapvsadm maps (operation, code) to ipvsadm's words and exit status);
 * 3. broken invariants are bugs: `assert` from node:assert.
 */

/** Stable codes. They cross the control socket; tapvsadm maps them to ipvsadm's messages. */
export type ErrorCode =
  | 'SERVICE_EXISTS'
  | 'SERVICE_NOT_FOUND'
  | 'DEST_EXISTS'
  | 'DEST_NOT_FOUND'
  | 'LADDR_EXISTS'
  | 'LADDR_NOT_FOUND'
  | 'SCHED_NOT_FOUND'
  | 'BAD_ARGUMENT'
  | 'NOT_SUPPORTED'
  | 'OUT_OF_RANGE'
  | 'RULES_SYNTAX'
  | 'PROTOCOL'
  | 'TAP_NO_DEVICE'
  | 'TAP_PERMISSION'
  | 'TAP_BUSY'
  | 'TAP_GONE'
  | 'LINK_CONFIG'
  | 'DAEMON_EXISTS'
  | 'DAEMON_NOT_RUNNING'
  | 'NO_DEVICE'
  /** The control socket has no room for another client. */
  | 'BUSY'
  | 'INTERNAL';

export class TapvsError extends Error {
  override readonly name = 'TapvsError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export function isTapvsError(e: unknown): e is TapvsError {
  return e instanceof TapvsError;
}
