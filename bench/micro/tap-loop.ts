/**
 * tap-loop: frames/s through two TapLinks joined by a kernel bridge, in one process.
 *
 *   JS --write--> tapvs-b0 ==[bridge tapvs-bbr]== tapvs-b1 --read--> JS
 *
 * Each event-loop turn queues one TX batch of 60-byte frames on b0 (one flush); the bridge
 * forwards them to b1, whose poll callback delivers them in batches. This measures the addon's
 * batch read/write plus the kernel's TAP and bridge cost per frame, not tapvs's dataplane.
 * Root only; everything lives in a namespace this script creates (`tapvs-b-<pid>`) and deletes.
 *
 *   node dist/bench/micro/tap-loop.js [frames=2000000] [slots=64]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TapLink } from '../../src/link/tap.js';

const CHILD_ENV = 'TAPVS_TAP_BENCH_CHILD';
const FRAME_LEN = 60;

function child(total: number, slots: number): Promise<void> {
  execFileSync('ip', ['link', 'add', 'tapvs-bbr', 'type', 'bridge']);
  execFileSync('ip', ['link', 'set', 'dev', 'tapvs-bbr', 'up']);
  const a = new TapLink({ name: 'tapvs-b0', bridge: 'tapvs-bbr', slots });
  const b = new TapLink({ name: 'tapvs-b1', bridge: 'tapvs-bbr', slots });
  // Frames from a's MAC to b's: after the first flood the bridge forwards them to b1 only.
  const tx = a.tx;
  for (let i = 0; i < tx.slots; i++) {
    const off = tx.offsets[i];
    tx.buf.set(b.mac, off);
    tx.buf.set(a.mac, off + 6);
    tx.buf.writeUInt16BE(0x88b5, off + 12);
    tx.lengths[i] = FRAME_LEN;
  }
  let received = 0;
  const rx = b.rx;
  const dv = new DataView(rx.buf.buffer, rx.buf.byteOffset, rx.buf.byteLength);
  // Count only our frames: the namespace's own chatter (IPv6 RS/MLD) also crosses the bridge.
  b.start((count) => {
    for (let i = 0; i < count; i++) if (dv.getUint16(rx.offsets[i] + 12) === 0x88b5) received++;
  });
  return new Promise((resolve) => {
    let sent = 0;
    const t0 = process.hrtime.bigint();
    const turn = (): void => {
      if (sent < total) {
        tx.count = tx.slots;
        sent += a.flush();
        setImmediate(turn);
        return;
      }
      // Let the last batches arrive, then report.
      setTimeout(() => {
        const ns = Number(process.hrtime.bigint() - t0) - 50e6;
        const line = {
          frames: sent,
          received,
          rxBatches: b.rxBatches,
          avgBatch: +(b.rxFrames / Math.max(1, b.rxBatches)).toFixed(1),
          txDropped: a.txDropped,
          lost: sent - received,
          txMfps: +((sent / ns) * 1e3).toFixed(3),
          rxMfps: +((received / ns) * 1e3).toFixed(3),
          nsPerFrame: +(ns / Math.max(1, received)).toFixed(0),
        };
        process.stdout.write(`${JSON.stringify(line)}\n`);
        a.close();
        b.close();
        resolve();
      }, 50);
    };
    setImmediate(turn);
  });
}

const scenario = process.env[CHILD_ENV];
const total = Number(process.argv[2] ?? 2_000_000);
const slots = Number(process.argv[3] ?? 64);
if (scenario !== undefined) {
  await child(total, slots);
} else {
  if (process.getuid?.() !== 0) {
    console.error('tap-loop: needs root (creates TAP devices and a bridge in a namespace)');
    process.exit(2);
  }
  const ns = `tapvs-b-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), String(total), String(slots)],
      { env: { ...process.env, [CHILD_ENV]: '1' }, stdio: 'inherit' },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
  console.log(`node ${process.version}, slots ${slots}, ${FRAME_LEN}-byte frames`);
}
