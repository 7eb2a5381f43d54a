/**
 * ICMP echo responder on a TAP through tapvs's own addon (native/tap.cc), as tapvsd receives:
 * libuv polls the fd, the addon reads a batch and calls back once (napi_make_callback), the
 * reply is queued in TX slot 0 and sent by the fused flush when the callback returns 1. No
 * adaptive polling (the addon's default is off). Bounded: exits after `seconds`.
 *   node bench/latency/node-tap-echo.mjs TAP [seconds]
 */
import { createRequire } from 'node:module';
import { makeEchoReply } from './echo-frame.mjs';

const [name, seconds = '120'] = process.argv.slice(2);
const { TapDevice } = createRequire(import.meta.url)('../../build/Release/tapvs_tap.node');
const dev = new TapDevice(name, { slots: 64 });
const { rxBuf, rxLengths, txBuf, txLengths, slotSize } = dev;

dev.start(
  (count) => {
    let queued = 0;
    for (let i = 0; i < count; i++) {
      const len = rxLengths[i];
      const off = i * slotSize;
      if (!makeEchoReply(rxBuf, off, len)) continue;
      rxBuf.copy(txBuf, queued * slotSize, off, off + len);
      txLengths[queued++] = len;
    }
    return queued;
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
const stop = () => {
  dev.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, Number(seconds) * 1000).unref();
console.log('node-tap-echo: ready');
