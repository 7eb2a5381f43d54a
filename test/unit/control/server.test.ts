/**
 * The control server against misbehaving clients, over a real Unix socket in a temporary
 * directory: pipelining without reading, oversized lines, idle clients, the client cap, slow
 * live-trace consumers, streamed listings, and what may be at the socket path.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ControlClient } from '../../../src/control/client.js';
import type { Request } from '../../../src/control/protocol.js';
import { ControlServer, type RequestContext } from '../../../src/control/server.js';
import { OUTPUT_HIGH_WATER, PUSH_HIGH_WATER } from '../../../src/control/session.js';
import type { StreamedResult } from '../../../src/control/streamed.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-ctl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = (): string => join(dir, `s${++n}.sock`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A listing reply of about 2 kB, like `-L` with a few services. */
const BIG = { services: Array.from({ length: 20 }, (_, i) => ({ name: `service-${i}`, pad: 'x'.repeat(80) })) };

async function serve(
  handler: (req: Request, ctx: RequestContext) => unknown,
  opts: ConstructorParameters<typeof ControlServer>[2] = {},
): Promise<{ server: ControlServer; path: string }> {
  const path = sockPath();
  const server = new ControlServer(path, handler, opts);
  await server.listen();
  return { server, path };
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection. */
function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
    });
    s.on('close', () => resolve(got));
    s.on('error', () => {});
  });
}

test('server: a client that pipelines 100,000 requests and never reads costs a bounded amount', async (t) => {
  let handled = 0;
  const { server, path } = await serve(() => {
    handled++;
    return BIG;
  });
  try {
    const s = await connect(path);
    s.pause(); // never reads
    const line = '{"id":1,"op":"list"}\n';
    const burst = Buffer.from(line.repeat(100_000));
    s.write(burst);
    await sleep(500);
    // The server stopped running requests once about OUTPUT_HIGH_WATER of answers were unsent.
    const reply = JSON.stringify({ id: 1, ok: true, result: BIG }).length + 1;
    assert.ok(handled > 0, 'the first requests ran');
    t.diagnostic(`${handled} requests ran (${handled * reply} bytes of answers) while the client read nothing`);
    assert.ok(
      handled * reply < OUTPUT_HIGH_WATER + (1 << 20),
      `ran ${handled} requests (${handled * reply} bytes of answers) while the client read nothing`,
    );
    // Once the client reads, every request is answered, in order.
    let answers = 0;
    let buf = '';
    const done = new Promise<void>((resolve) => {
      s.on('data', (d) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          buf = buf.slice(nl + 1);
          if (++answers === 100_000) resolve();
        }
      });
    });
    s.resume();
    await done;
    assert.equal(handled, 100_000);
    s.destroy();
  } finally {
    server.close();
  }
});

test('server: after an oversized line nothing else from that client runs', async () => {
  const ops: string[] = [];
  const { server, path } = await serve((req) => {
    ops.push(req.op);
    return null;
  });
  try {
    const s = await connect(path);
    const got = readAll(s);
    // One write: a valid request, a 2 MiB line, then another valid request.
    s.write(`{"id":1,"op":"first"}\n${'a'.repeat(2 << 20)}\n{"id":3,"op":"after"}\n`);
    const text = await got;
    assert.deepEqual(ops, ['first']);
    assert.match(text, /"id":1,"ok":true/);
    assert.match(text, /larger than 1048576 bytes/);
    assert.doesNotMatch(text, /"id":3/);
    // A line with no newline that grows past the limit ends the session the same way.
    const t = await connect(path);
    const got2 = readAll(t);
    t.write('{"id":4,"op":"x","pad":"');
    t.write('b'.repeat((1 << 20) + 10));
    assert.match(await got2, /larger than/);
    assert.deepEqual(ops, ['first']);
  } finally {
    server.close();
  }
});

test('server: idle clients are closed; a subscriber is not', async () => {
  const { server, path } = await serve(
    (req, ctx) => {
      if ((req.op as string) === 'subscribe') ctx.onClose(() => {});
      return null;
    },
    { idleMs: 200 },
  );
  try {
    const idle = await connect(path);
    const idleGot = readAll(idle);
    const sub = await connect(path);
    let subClosed = false;
    sub.on('close', () => {
      subClosed = true;
    });
    sub.write('{"id":1,"op":"subscribe"}\n');
    assert.match(await idleGot, /"code":"BUSY".*without a request or a read/);
    await sleep(400);
    assert.equal(subClosed, false, 'the subscriber is still connected');
    assert.equal(server.counters.idleClosed, 1);
    sub.destroy();
  } finally {
    server.close();
  }
});

test('server: a client that stops reading with requests waiting is closed after the idle time', async () => {
  const { server, path } = await serve(() => BIG, { idleMs: 300 });
  try {
    const s = await connect(path);
    s.on('error', () => {});
    s.pause();
    s.write('{"id":1,"op":"list"}\n'.repeat(20_000));
    await sleep(100);
    assert.equal(server.clients, 1);
    // Not idle (requests wait), but no progress: closed after 300 ms, destroyed 1 s later.
    for (let i = 0; i < 40 && server.clients > 0; i++) await sleep(100);
    assert.equal(server.clients, 0, 'the stalled client is gone');
    assert.equal(server.counters.idleClosed, 1);
    s.destroy();
  } finally {
    server.close();
  }
});

test('server: at the cap a new client closes the idlest one; with none idle it is refused', async () => {
  const { server, path } = await serve(
    (req, ctx) => {
      if ((req.op as string) === 'subscribe') ctx.onClose(() => {});
      return null;
    },
    { maxClients: 3 },
  );
  try {
    const first = await connect(path);
    const firstGot = readAll(first);
    await sleep(20);
    const second = await connect(path);
    const third = await connect(path);
    second.write('{"id":1,"op":"subscribe"}\n');
    third.write('{"id":1,"op":"subscribe"}\n');
    await sleep(50);
    // A fourth: the first (idle) makes room.
    const fourth = await connect(path);
    assert.match(await firstGot, /"code":"BUSY".*make room/);
    fourth.write('{"id":1,"op":"subscribe"}\n');
    await sleep(50);
    // Everyone is a subscriber now: a fifth is told and closed.
    const fifth = await connect(path);
    assert.match(await readAll(fifth), /"code":"BUSY","message":"too many control clients"/);
    assert.equal(server.counters.evicted, 1);
    assert.equal(server.counters.refused, 1);
    // The tool still works as soon as one leaves.
    second.destroy();
    await sleep(50);
    const c = await ControlClient.connect(path);
    assert.equal(await c.request({ op: 'status' }), null);
    c.close();
    third.destroy();
    fourth.destroy();
  } finally {
    server.close();
  }
});

test('server: a live-trace consumer that does not read loses lines (counted), not memory', async () => {
  let ctxOf: RequestContext | null = null;
  const { server, path } = await serve((req, ctx) => {
    if ((req.op as string) === 'trace') {
      ctx.onClose(() => {});
      ctxOf = ctx;
    }
    return null;
  });
  try {
    const s = await connect(path);
    s.write('{"id":1,"op":"trace"}\n');
    await sleep(50);
    s.pause();
    const line = { event: 'trace', line: 'x'.repeat(200) };
    let pushed = 0;
    // 100 MB of trace lines offered while the client reads nothing.
    for (let i = 0; i < 500_000; i++) if (ctxOf!.push(line)) pushed++;
    assert.equal(pushed, 500_000, 'a lagging consumer is not disconnected at once');
    assert.ok(server.counters.pushDropped > 400_000, `dropped ${server.counters.pushDropped}`);
    // What was queued stays near the limit (the rest was dropped).
    const queued = 500_000 - server.counters.pushDropped;
    assert.ok(queued * 230 < PUSH_HIGH_WATER + (1 << 20), `${queued} lines queued`);
    // When it reads again it is told how many it missed.
    let text = '';
    const missed = new Promise<number>((resolve) => {
      s.on('data', (d) => {
        text += d.toString();
        const m = /"event":"missed","count":(\d+)/.exec(text);
        if (m !== null) resolve(Number(m[1]));
      });
    });
    s.resume();
    assert.equal(await missed, server.counters.pushDropped);
    s.destroy();
  } finally {
    server.close();
  }
});

test('server: a streamed listing yields to the event loop between parts; the client gets it whole', async () => {
  const slices = 50;
  let turns = 0;
  let turnsSeen: number[] = [];
  // One count per turn of the event loop (an immediate that re-arms itself runs once per turn).
  let counting = true;
  const count = (): void => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  const listing = (): StreamedResult<number> => {
    let i = 0;
    turnsSeen = [];
    return {
      streamed: true,
      next: () => {
        turnsSeen.push(turns);
        if (i === slices) return null;
        const base = i++ * 100;
        return Array.from({ length: 100 }, (_, k) => base + k);
      },
    };
  };
  const { server, path } = await serve((req) => (req.op === 'listConns' ? listing() : null));
  try {
    const c = await ControlClient.connect(path);
    const all = (await c.request({ op: 'listConns' })) as number[];
    assert.deepEqual(
      all,
      Array.from({ length: slices * 100 }, (_, k) => k),
    );
    // Each slice ran in a turn of its own: I/O (the dataplane's) is polled between any two.
    const distinct = new Set(turnsSeen).size;
    assert.equal(distinct, slices + 1, `${slices + 1} slices ran in ${distinct} event-loop turns`);
    // With onPart, parts arrive one by one and the result holds no entry.
    const parts: number[][] = [];
    const rest = (await c.request({ op: 'listConns' }, { onPart: (p) => parts.push(p as number[]) })) as number[];
    assert.equal(parts.length, slices);
    assert.deepEqual(rest, []);
    // The next request on the same connection is answered after the listing, in order.
    const [a, b] = await Promise.all([c.request({ op: 'listConns' }), c.request({ op: 'status' })]);
    assert.equal((a as number[]).length, slices * 100);
    assert.equal(b, null);
    c.close();
  } finally {
    counting = false;
    server.close();
  }
});

test('server: the socket path is only taken over when it holds a stale socket', async () => {
  // A regular file: refused, left as it was.
  const file = join(dir, 'file.sock');
  writeFileSync(file, 'precious');
  await assert.rejects(new ControlServer(file, () => null).listen(), /exists and is not a socket/);
  assert.equal(readFileSync(file, 'utf8'), 'precious');
  // A directory: refused.
  const d = join(dir, 'dir.sock');
  mkdirSync(d);
  await assert.rejects(new ControlServer(d, () => null).listen(), /not a socket/);
  // A live daemon: refused.
  const live = await serve(() => null);
  await assert.rejects(new ControlServer(live.path, () => null).listen(), /another tapvsd is listening/);
  const c = await ControlClient.connect(live.path);
  assert.equal(await c.request({ op: 'status' }), null, 'the first daemon still answers');
  c.close();
  live.server.close();
  // A stale socket (a killed daemon's: the file stays, nobody accepts on it): replaced.
  const stale = sockPath();
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
  assert.ok(lstatSync(stale).isSocket());
  const again = new ControlServer(stale, () => 'fresh');
  await again.listen();
  const c2 = await ControlClient.connect(stale);
  assert.equal(await c2.request({ op: 'status' }), 'fresh');
  c2.close();
  again.close();
});
