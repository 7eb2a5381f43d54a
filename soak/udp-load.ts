/**
 * The soak's UDP traffic, run in the lab's namespaces with `node udp-load.js`:
 * - `echo ID PORT`: a server that answers each datagram with "ID " + the datagram (runs on the
 *   real servers until killed);
 * - `client VIP PORT RATE SECONDS`: sends RATE queries per second, each from a new socket (a new
 *   source port: a new IPVS connection), waits 2 s for each answer, prints one JSON line at the
 *   end: sent, answered, by real server.
 */
import dgram from 'node:dgram';

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'echo') {
  const [id = '?', port = '53'] = rest;
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from(`${id} `), m]), r.port, r.address));
  s.bind(Number(port));
} else if (mode === 'client') {
  const [vip = '', port = '53', rateArg = '20', secondsArg = '60'] = rest;
  const rate = Number(rateArg);
  const total = Math.round(rate * Number(secondsArg));
  const result = { sent: 0, answered: 0, byServer: {} as Record<string, number> };
  let open = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
    while (result.sent < due) {
      const s = dgram.createSocket('udp4');
      open++;
      const done = (): void => {
        clearTimeout(t);
        s.close();
        open--;
      };
      const t = setTimeout(done, 2000);
      s.on('message', (m) => {
        result.answered++;
        const id = m.toString().split(' ')[0] ?? '?';
        result.byServer[id] = (result.byServer[id] ?? 0) + 1;
        done();
      });
      s.on('error', done);
      s.send(`q${result.sent++}`, Number(port), vip);
    }
    if (result.sent >= total && open === 0) {
      clearInterval(timer);
      console.log(JSON.stringify(result));
      process.exit(0);
    }
  }, 20);
} else {
  console.error('usage: udp-load.js echo ID PORT | client VIP PORT RATE SECONDS');
  process.exit(2);
}
