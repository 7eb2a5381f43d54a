/** Namespaces made by tests: removal that also kills whatever still runs inside. */
import { spawnSync } from 'node:child_process';

/** Kills every process left in `ns` (by PID, from `ip netns pids`), then deletes it. Never throws. */
export function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  spawnSync('ip', ['netns', 'del', ns]);
}
