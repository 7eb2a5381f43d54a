/**
 * The JavaScript half of a native link's receive loop (TAP, `packet=`): the addon calls the
 * returned function once per RX batch and, when it returns n > 0, sends TX frames 0..n-1 right
 * after it (one crossing per batch, native/tap.cc and native/packet.cc). Made once per start(),
 * never per batch.
 */
import { TapvsError } from '../errors.js';
import type { BatchHandler, FrameRing } from './link.js';

/**
 * The batch callback: publishes the RX count, runs the handler, hands the queued TX count to the
 * addon. A handler that throws (the dataplane catches its own faults) must not strand what it
 * queued: it is sent with `flush` before the exception goes on to 'uncaughtException'.
 */
export function fusedBatch(rx: FrameRing, tx: FrameRing, onBatch: BatchHandler, flush: () => number) {
  return (count: number): number => {
    rx.count = count;
    try {
      onBatch(count);
    } catch (e) {
      flush();
      throw e;
    }
    const queued = tx.count;
    tx.count = 0; // the addon sends them as soon as we return
    return queued;
  };
}

/**
 * The addon's error callback: a coded TapvsError (TAP_GONE for anything uncoded: the device or
 * interface went away) to `onError`, once; without one it is thrown from the event loop.
 */
export function linkErrorHandler(fromNative: (e: unknown) => unknown, onError?: (err: TapvsError) => void) {
  return (e: Error): void => {
    const err = fromNative(e);
    const linkErr = err instanceof TapvsError ? err : new TapvsError('TAP_GONE', e.message, { cause: e });
    if (onError === undefined) throw linkErr;
    onError(linkErr);
  };
}
