/**
 * The soak's HTTP client, run inside the lab's client namespace: `node http-load.js VIP RATE
 * SECONDS`. Sends GET / at RATE requests per second for SECONDS, alternating a new connection per
 * request (Connection: close, the director sees a full TCP life each time) with requests on a
 * small keep-alive pool; every reply must be a real server's identity line. Prints one JSON line
 * at the end: ok, failed, by real server, failures by cause.
 */
import http from 'node:http';

const [vip = '', rateArg = '50', secondsArg = '60'] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
const result = { ok: 0, failed: 0, byServer: {} as Record<string, number>, causes: {} as Record<string, number> };
let inFlight = 0;

function fail(cause: string): void {
  result.failed++;
  result.causes[cause] = (result.causes[cause] ?? 0) + 1;
}

function once(n: number): void {
  inFlight++;
  const req = http.get(
    { host: vip, port: 80, path: '/', agent: n % 2 === 0 ? false : keepAlive, timeout: 3000 },
    (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        inFlight--;
        const id = /^(RS\d) /.exec(body)?.[1];
        if (res.statusCode === 200 && id !== undefined) {
          result.ok++;
          result.byServer[id] = (result.byServer[id] ?? 0) + 1;
        } else fail(`status ${res.statusCode}`);
      });
    },
  );
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e: NodeJS.ErrnoException) => {
    inFlight--;
    fail(e.code ?? e.message);
  });
}

const total = Math.round(rate * seconds);
let sent = 0;
const started = Date.now();
const timer = setInterval(() => {
  // Catch up to the schedule, but never more than 4 per second of backlog at once.
  const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
  for (let i = 0; sent < due && i < rate * 4; i++) once(sent++);
  if (sent >= total) {
    clearInterval(timer);
    const finish = setInterval(() => {
      if (inFlight === 0 || Date.now() - started > (seconds + 10) * 1000) {
        clearInterval(finish);
        console.log(JSON.stringify(result));
        process.exit(0);
      }
    }, 100);
  }
}, 20);
