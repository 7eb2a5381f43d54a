/**
 * How the daemon's event loop waits for frames (native/poll-spin.cc):
 * - adaptive (the default): after a link read frames, the loop keeps polling all fds without
 *   sleeping for `budgetUs`, so the reply of a request/response exchange is taken without a
 *   wake-up; an idle daemon sleeps as before;
 * - busy (`--busy-poll`): the loop never sleeps (one core at 100%, for the lowest latency);
 * - off (`--poll-budget 0`): the loop sleeps in epoll whenever nothing is ready.
 * The budget's default comes from measurement (docs/dataplane.md#waiting-for-frames).
 */
import { loadTapAddon, type PollingStats } from './tap.js';

export type PollingMode = 'off' | 'adaptive' | 'busy';

/** Microseconds of polling after the last frame, by default. */
export const DEFAULT_POLL_BUDGET_US = 50;

export function setPolling(mode: PollingMode, budgetUs: number): void {
  loadTapAddon().setPolling(mode, budgetUs);
}

export function pollingStats(): PollingStats {
  return loadTapAddon().pollingStats();
}
