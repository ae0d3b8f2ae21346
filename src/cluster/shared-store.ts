import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { killLeftovers } from '../executor/running-scripts.js';
import type { PgDb } from '../store/postgres/pg-db.js';

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

/**
 * Directories other hosts' dead processes left in the shared tmp/: a `<host>-<pid>` whose lease
 * expired (the process died or was cut off: its steps went back to pending), with no live lease of
 * that host and pid, and untouched since the lease's expiry (so not a new process that reused the
 * pid). A process that ends cleanly removes its own; one with no lease row yet is starting. Each
 * host's own dead processes are cleaned by processTmpDir. Returns the names removed.
 */
export async function sweepDeadHosts(db: PgDb, storeDir: string): Promise<string[]> {
  const tmp = join(storeDir, 'tmp');
  const rows = await db.query<{ host: string; pid: number; until: string | null; live: boolean }>(
    `SELECT host, pid, bool_or(state = 'live') AS live,
            (extract(epoch FROM max(expires_at) FILTER (WHERE state = 'expired')) * 1000)::bigint AS until
       FROM lease WHERE host <> $1 GROUP BY host, pid`,
    [hostname()],
  );
  const removed: string[] = [];
  for (const r of rows) {
    if (r.live || r.until === null) continue;
    const dir = join(tmp, `${r.host}-${r.pid}`);
    let mtime: number;
    try {
      mtime = statSync(dir).mtimeMs;
    } catch {
      continue;
    }
    if (mtime >= Number(r.until)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(`${r.host}-${r.pid}`);
  }
  return removed;
}
