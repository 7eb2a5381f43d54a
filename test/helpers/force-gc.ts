/**
 * A real garbage collection for tests that measure the heap. `globalThis.gc` exists only under
 * `--expose-gc`, which node --test does not pass to its test processes; V8 exposes `gc` in
 * contexts created after the flag is set, so the flag is set here and `gc` taken from a fresh
 * context. Throws when that fails: a heap check without a collection would measure noise.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function forceGc(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    const f: unknown = runInNewContext('gc');
    if (typeof f !== 'function') throw new Error('cannot get a gc() function (V8 --expose-gc)');
    gc = f as () => void;
  }
  gc();
}
