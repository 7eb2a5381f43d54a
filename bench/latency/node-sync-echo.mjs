/**
 * ICMP echo responder on a TAP with no event loop: a bench-only addon (sync-tap/) blocks in
 * epoll_wait + read and returns the frame's length, JavaScript answers, write() sends. What is
 * left of Node when libuv and napi_make_callback are taken out of the wake-up path. Bounded:
 * exits after `seconds` (SIGTERM ends it at once: its default action, no handler can run).
 *   node bench/latency/node-sync-echo.mjs TAP [seconds]
 */
import { createRequire } from 'node:module';
import { makeEchoReply } from './echo-frame.mjs';

const [name, seconds = '120'] = process.argv.slice(2);
const sync = createRequire(import.meta.url)('./sync-tap/build/Release/sync_tap.node');
const tap = sync.open(name);
const buf = Buffer.alloc(2048);
const end = Date.now() + Number(seconds) * 1000;
console.log('node-sync-echo: ready');
while (Date.now() < end) {
  const len = sync.wait(tap, buf, 1000); // 0 on timeout
  if (len > 0 && makeEchoReply(buf, 0, len)) sync.write(tap, buf, len);
}
