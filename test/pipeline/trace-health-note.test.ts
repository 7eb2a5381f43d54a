/**
 * A trace comment on a scheduling decision names the real servers the health checks hold down
 * (Dataplane.setHealthNote, set by the daemon from the checker state), and nothing when none is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IPPROTO_TCP } from '../../src/packet/ipv4.js';
import { Tracer } from '../../src/trace/tracer.js';
import {
  CLIENT,
  CLIENT_MAC,
  EXT_MAC,
  makeDirector,
  resolveNeighbours,
  textbookService,
  VIP,
} from '../helpers/director.js';
import { ipFrame, SYN, TCP } from '../helpers/frames.js';

function tracedSyn(note: ((proto: number, vaddr: number, vport: number) => string | null) | null): string[] {
  const td = makeDirector();
  resolveNeighbours(td);
  textbookService(td);
  const asked: string[] = [];
  td.dp.setHealthNote(
    note === null
      ? null
      : (proto, vaddr, vport) => {
          asked.push(`${proto} ${vaddr} ${vport}`);
          return note(proto, vaddr, vport);
        },
  );
  const lines: string[] = [];
  td.dp.setTracer(new Tracer({ links: [{ name: 'ext' }, { name: 'int' }], live: (l) => lines.push(l) }));
  td.send('ext', [ipFrame(EXT_MAC, CLIENT_MAC, CLIENT, VIP, { proto: TCP, sport: 41000, dport: 80, flags: SYN })]);
  td.dp.setTracer(null);
  if (note !== null)
    assert.deepEqual(asked, [`${IPPROTO_TCP} ${VIP} 80`], 'asked once, for the service of the new flow');
  return lines.filter((l) => l.includes(' ext rx '));
}

test('trace: a new flow scheduled while a server is down says which and why', () => {
  const [rx] = tracedSyn(() => 'skipped 192.168.2.129:80 (down: HTTP_GET: status 503)');
  assert.match(rx ?? '', /new flow scheduled by rr -> .*; skipped 192\.168\.2\.129:80 \(down: HTTP_GET: status 503\)/);
});

test('trace: with every server up (or no health checks) the comment has no skipped part', () => {
  for (const note of [() => null, null]) {
    const [rx] = tracedSyn(note);
    assert.match(rx ?? '', /new flow scheduled by rr -> /);
    assert.doesNotMatch(rx ?? '', /skipped/);
  }
});
