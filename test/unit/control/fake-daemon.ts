/** A tiny fake tapvsd for client and CLI tests: a Unix socket in a temporary directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Handler = (req: Record<string, unknown>, sock: net.Socket) => void;

/** A fake daemon: one JSON request per line, answered by `handler` (which writes the reply). */
/** Answers each JSON request line through `handler`, which writes the reply itself. */
export async function fakeDaemon(
  handler: Handler,
): Promise<{ path: string; close: () => Promise<void>; seen: unknown[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-client-'));
  const path = join(dir, 'tapvsd.sock');
  const seen: unknown[] = [];
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const req = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        seen.push(req);
        handler(req, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    seen,
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
