import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forceGc } from '../../helpers/force-gc.js';

test('forceGc: really collects (a weakly held object is gone afterwards)', async () => {
  let obj: object | null = { big: new Array(1000).fill(1) };
  const ref = new WeakRef(obj);
  obj = null;
  // WeakRef targets survive until the end of the current job: collect in a later turn.
  await new Promise((r) => setImmediate(r));
  forceGc();
  assert.equal(ref.deref(), undefined);
});
