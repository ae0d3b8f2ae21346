import { value, type Query } from './query.js';
import { lstatSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../../errors.js';
import { DB_FILE } from '../database.js';

/** What the db directory holds on disk, by part, in bytes of allocated blocks. */
export interface DiskUse {
  /** Object files. `status` estimates them (each row's size rounded up to the block); gc measures each file. */
  objects: number;
  objectsMeasured: boolean;
  /** objects/AB and objects/AB/CD: a directory costs a block or more, whatever it holds. */
  shardDirs: number;
  shardDirCount: number;
  /** pipeline.sqlite and its -wal; null on PostgreSQL, whose files are the server's. */
  sqlite: number | null;
  total: number;
  /** What `gc -history` would free: the objects that only history, or nothing, references (estimated); null under -history. */
  historyFrees: { objects: number; bytes: number; disk: number } | null;
}

/** The filesystem's block: what a small file costs at least (4 KiB on ext4). */
export function blockSize(dbDir: string): number {
  try {
    return statfsSync(dbDir).bsize || 4096;
  } catch {
    return 4096;
  }
}

/**
 * The shard directories, measured: a readdir of objects/ and of each objects/AB, an lstat of each
 * directory (at most 65,792), and no object file: cheap enough for `status` at any number of objects.
 */
export function shardDirUse(dbDir: string): { bytes: number; count: number } {
  let bytes = 0;
  let count = 0;
  const root = join(dbDir, 'objects');
  for (const a of names(root)) {
    const pa = join(root, a);
    const st = lstatSync(pa, { throwIfNoEntry: false });
    if (!st?.isDirectory()) continue;
    bytes += st.blocks * 512;
    count++;
    for (const b of names(pa)) {
      const sb = lstatSync(join(pa, b), { throwIfNoEntry: false });
      if (!sb?.isDirectory()) continue;
      bytes += sb.blocks * 512;
      count++;
    }
  }
  return { bytes, count };
}

/** pipeline.sqlite and pipeline.sqlite-wal, allocated. */
export function sqliteUse(dbDir: string): number {
  let bytes = 0;
  for (const f of [DB_FILE, `${DB_FILE}-wal`])
    bytes += (lstatSync(join(dbDir, f), { throwIfNoEntry: false })?.blocks ?? 0) * 512;
  return bytes;
}

// After `gc -history` only the current graph remains: its steps' inputs, outputs and logs, and the
// current run inputs. Every other object row is freed. Needs temp.status_step (task-status.ts).
const HISTORY_FREES_SQL = {
  setup: `CREATE TEMP TABLE IF NOT EXISTS keep_object (hash BLOB PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.keep_object;`,
  fill: `INSERT OR IGNORE INTO temp.keep_object(hash)
           SELECT s.object_hash FROM temp.status_step c CROSS JOIN step s ON s.id = c.id
           UNION ALL SELECT o.object_hash FROM temp.status_step c CROSS JOIN step_output o ON o.step_id = c.id
           UNION ALL SELECT a.log_hash FROM temp.status_step c CROSS JOIN attempt a ON a.step_id = c.id
                      WHERE a.log_hash IS NOT NULL
           UNION ALL SELECT object_hash FROM run_input WHERE retired_at IS NULL`,
  freed: `SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes, coalesce(sum((size + :b - 1) / :b * :b), 0) AS disk
            FROM object WHERE NOT EXISTS (SELECT 1 FROM temp.keep_object k WHERE k.hash = object.hash)`,
  objects: `SELECT coalesce(sum((size + :b - 1) / :b * :b), 0) FROM object`,
  teardown: `DROP TABLE IF EXISTS temp.keep_object`,
};
export { HISTORY_FREES_SQL };

/** What `gc -history` would free, from the object rows (their files estimated by size). */
export async function historyFreesOf(q: Query, block: number): Promise<NonNullable<DiskUse['historyFrees']>> {
  await q.exec(HISTORY_FREES_SQL.setup);
  try {
    await q.run(HISTORY_FREES_SQL.fill);
    return (await q.get<NonNullable<DiskUse['historyFrees']>>(HISTORY_FREES_SQL.freed, { b: block }))!;
  } finally {
    await q.exec(HISTORY_FREES_SQL.teardown);
  }
}

/** The object files' blocks as their rows' sizes say (no file is read or stat'ed). */
export async function estimatedObjectUse(q: Query, block: number): Promise<number> {
  return (await value<number>(q, HISTORY_FREES_SQL.objects, { b: block }))!;
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}
