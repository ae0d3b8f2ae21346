import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { killLeftovers } from '../executor/running-scripts.js';

/**
 * In a store shared by many processes (PostgreSQL runs and workers), each process works in its
 * own `tmp/<host>-<pid>/` beside `objects/` (same filesystem: outputs are renamed into place).
 * Directories this host's dead processes left are emptied first, their scripts killed as a local
 * run does after a crash; other hosts' are theirs to clean.
 */
export function processTmpDir(storeDir: string): string {
  const tmp = join(storeDir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const host = hostname();
  for (const name of readdirSync(tmp)) {
    const m = /^(.*)-(\d+)$/.exec(name);
    if (!m || m[1] !== host || alive(Number(m[2]))) continue;
    killLeftovers(join(tmp, name));
    rmSync(join(tmp, name), { recursive: true, force: true });
  }
  const own = join(tmp, `${host}-${process.pid}`);
  rmSync(own, { recursive: true, force: true });
  mkdirSync(own, { recursive: true });
  return own;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
