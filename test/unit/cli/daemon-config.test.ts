/**
 * tapvsd's config source (src/cli/daemon-config.ts): a rules file is checked whole, against the
 * --link prefixes, before any device exists (errors as FILE:LINE); SIGHUP re-reads it and applies
 * it in one atomic change, and a file with an error changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, DaemonConfig } from '../../../src/cli/daemon-config.js';
import { plannedLinks } from '../../../src/cli/planned-links.js';
import { ControlDispatcher } from '../../../src/control/dispatch.js';
import type { ListResult } from '../../../src/control/protocol.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-daemon-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const VIP = '192.168.222.131';
const INT = { name: 'int', addrs: [{ addr: (192 << 24) | (168 << 16) | (2 << 8) | 136, prefixLen: 24 }], gateway: 0 };
const links = plannedLinks([INT]);

function rules(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

function listing(d: ControlDispatcher): string {
  const l = d.handle({ id: 0, op: 'list', service: null }) as ListResult;
  return l.services
    .map((s) => `${s.service.addr}:${s.service.port}[${s.dests.map((x) => x.addr).join(',')}]`)
    .join(' ');
}

test('daemon config: a semantic error in the rules file is refused before start, as FILE:LINE: error', () => {
  const f = rules('dup', `# web\n-A -t ${VIP}:80 -s rr\n-A -t ${VIP}:80 -s rr\n`);
  assert.throws(
    () => DaemonConfig.read({ kind: 'rules', file: f }, links),
    (e: unknown) => e instanceof ConfigError && e.message === `${f}:3: error: Service already exists`,
  );
});

test('daemon config: with the links, a direct-routing real server off every prefix is refused before start', () => {
  const f = rules('dr', `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 172.16.0.5:80 -g\n`);
  assert.doesNotThrow(() => DaemonConfig.read({ kind: 'rules', file: f }));
  assert.throws(
    () => DaemonConfig.read({ kind: 'rules', file: f }, links),
    new RegExp(`${f}:2: error: direct routing`),
  );
});

test('daemon config: SIGHUP applies a good file and refuses a bad one whole, leaving the rules as they were', () => {
  const f = rules('live', `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.129:80 -m\n`);
  const config = DaemonConfig.read({ kind: 'rules', file: f }, links);
  const d = new ControlDispatcher(new Ipvs({ maxConns: 64 }), { links });
  config.start(d);
  assert.equal(listing(d), `${VIP}:80[192.168.2.129]`);
  const quiet = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    // A good line first, then one the links refuse: nothing of it is applied.
    writeFileSync(
      f,
      `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m\n-a -t ${VIP}:80 -r 172.16.0.5:80 -g\n`,
    );
    config.reload(d);
    assert.equal(listing(d), `${VIP}:80[192.168.2.129]`);
    writeFileSync(f, `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.2.130:80 -m\n`);
    config.reload(d);
    assert.equal(listing(d), `${VIP}:80[192.168.2.130]`);
  } finally {
    process.stderr.write = quiet;
  }
});
