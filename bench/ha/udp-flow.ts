/**
 * A UDP flow for measuring failover (bench/ha/main.ts): `send HOST PORT INTERVAL_MS COUNT` sends
 * sequence-numbered datagrams from one socket (one IPVS connection) every INTERVAL_MS, COUNT at
 * most; `recv PORT FILE` writes "seq arrival-ms" per datagram to FILE until SIGTERM.
 */
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';

const [mode, a, b, c, d] = process.argv.slice(2);
if (mode === 'send') {
  const sock = createSocket('udp4');
  const count = Number(d);
  let seq = 0;
  const buf = Buffer.alloc(64);
  const timer = setInterval(() => {
    buf.writeUInt32BE(seq, 0);
    sock.send(buf, Number(b), a);
    if (++seq >= count) {
      clearInterval(timer);
      setTimeout(() => sock.close(), 100);
    }
  }, Number(c));
} else if (mode === 'recv') {
  const lines: string[] = [];
  const sock = createSocket('udp4');
  sock.on('message', (m) => lines.push(`${m.readUInt32BE(0)} ${Date.now()}`));
  sock.bind(Number(a), '0.0.0.0');
  const done = (): void => {
    writeFileSync(b, `${lines.join('\n')}\n`);
    process.exit(0);
  };
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
} else {
  process.stderr.write('usage: udp-flow send HOST PORT INTERVAL_MS COUNT | recv PORT FILE\n');
  process.exit(2);
}
