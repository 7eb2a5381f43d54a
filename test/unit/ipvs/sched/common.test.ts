import assert from 'node:assert/strict';
import test from 'node:test';
import { createScheduler, schedulerNames } from '../../../../src/ipvs/sched/registry.js';
import { SCHED_FLAG_1 } from '../../../../src/ipvs/service.js';
import { dest, flow, service } from './sched-fixtures.js';

// Every scheduler, over many flows and changing counters: a quiesced (weight 0) or OVERLOADed
// dest is never chosen, and a service with only such dests gives null. (lblc may return an
// OVERLOADed dest from its cache; here the flags are set before any entry exists.)
for (const name of schedulerNames()) {
  test(`${name}: quiesced and overloaded dests are never chosen`, () => {
    const flags = name === 'sh' || name === 'mh' ? SCHED_FLAG_1 : 0; // fallback on
    const sched = createScheduler(name, { flags });
    const good = [dest('G1', { weight: 3 }), dest('G2', { weight: 1 }), dest('G3', { weight: 2 })];
    const quiesced = dest('Q', { weight: 0 });
    const over = dest('O', { weight: 5, overloaded: true });
    const svc = service(sched, [quiesced, good[0], over, good[1], good[2]]);
    const f = flow(0);
    for (let i = 0; i < 3000; i++) {
      f.caddr = (0x0a000000 + i * 2654435761) | 0;
      f.cport = 1024 + (i % 5000);
      f.vaddr = (0x0b000000 + (i % 37)) | 0;
      const d = sched.schedule(svc, f, i * 1000);
      if (d !== null) {
        assert.ok(d.weight > 0 && !d.overloaded, `${name} chose ${d.weight}/${d.overloaded}`);
        if (i % 3 === 0) d.activeConns++;
        else d.inactConns++;
      } else {
        // dh keys on the VIP only (no fallback); ovf refuses dests with active > weight
        assert.ok(name === 'dh' || name === 'ovf', `${name} gave null`);
      }
    }
    const none = service(createScheduler(name, { flags }), [dest('Q', { weight: 0 }), dest('O', { overloaded: true })]);
    assert.equal(none.scheduler.schedule(none, f, 0), null);
  });
}
