/**
 * bind() results shared by every header view: small integers, so they double as drop-counter
 * indexes (see dataplane/drops.ts).
 */
export const Parse = { Ok: 0, Truncated: 1, BadHeader: 2, BadLength: 3 } as const;
export type Parse = (typeof Parse)[keyof typeof Parse];
