import { lstatSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errnoCode } from '../../errors.js';
import { objectRelPath } from '../object-path.js';
import { stepInputIs } from '../schema.js';
import { dropHistory, type HistoryDropped } from './drop-history.js';
import { blockSize, historyFreesOf, shardDirUse, sqliteUse, type DiskUse } from './disk-use.js';
import type { InspectDb, Query } from './query.js';
import { TASK_STATUS_SQL } from './task-status.js';
import { walkObjects } from './walk-objects.js';

export interface Garbage {
  hash: string;
  /** Bytes of the file, or null when only an `object` row was left (no file). */
  size: number | null;
  hasFile: boolean;
  hasRow: boolean;
  /** Its file's allocated blocks, in bytes (0 without a file). */
  disk: number;
}

export interface GcReport {
  dryRun: boolean;
  /** With -history: what was (or would be) dropped before looking for garbage. */
  history: HistoryDropped | null;
  garbage: Garbage[];
  files: number;
  rows: number;
  bytes: number;
  /** Entries of objects/ that are not objects: left alone (fsck names them). */
  stray: number;
  /** The allocated blocks of the garbage's files. */
  diskFreed: number;
  /** The db directory on disk before gc deleted anything (object files measured by the walk). */
  disk: DiskUse;
}

// Referenced = named by step.object_hash, step_output.object_hash, attempt.log_hash (a step's log is
// its latest attempt's; an earlier attempt's log stays readable) or run_input.object_hash. Candidates are every object
// file and every object row; the indexed columns are probed per candidate (step.object_hash through
// UNIQUE(task, object_hash), one probe per task version), the log hashes through a temp table
// filled by one pass over step and attempt.
export const GC_SQL = {
  setup: `
    CREATE TEMP TABLE IF NOT EXISTS gc_candidate (hash BLOB PRIMARY KEY, size INTEGER, has_file INTEGER NOT NULL, disk INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TEMP TABLE IF NOT EXISTS gc_log (hash BLOB PRIMARY KEY) WITHOUT ROWID;
    DELETE FROM gc_candidate;
    DELETE FROM gc_log;`,
  addFile: `INSERT OR IGNORE INTO gc_candidate(hash, size, has_file, disk) VALUES (unhex(?), ?, 1, ?)`,
  addRows: `INSERT OR IGNORE INTO gc_candidate(hash, size, has_file, disk) SELECT hash, NULL, 0, 0 FROM object`,
  fillLogs: `INSERT OR IGNORE INTO gc_log(hash) SELECT log_hash FROM attempt WHERE log_hash IS NOT NULL`,
  // PostgreSQL's step row names its log too (a foreign key): those count as well.
  fillStepLogs: `INSERT OR IGNORE INTO gc_log(hash) SELECT log_hash FROM step WHERE log_hash IS NOT NULL`,
  unreferenced: `SELECT lower(hex(g.hash)) AS hash, g.size, g.has_file AS hasFile, g.disk, (o.hash IS NOT NULL) AS hasRow
      FROM gc_candidate g LEFT JOIN object o ON o.hash = g.hash
     WHERE NOT EXISTS (SELECT 1 FROM step WHERE ${stepInputIs('', 'g.hash')})
       AND NOT EXISTS (SELECT 1 FROM step_output WHERE object_hash = g.hash)
       AND NOT EXISTS (SELECT 1 FROM run_input WHERE object_hash = g.hash)
       AND NOT EXISTS (SELECT 1 FROM gc_log WHERE hash = g.hash)
     ORDER BY g.hash`,
  // Checked again in the DELETE itself, so that a row goes only if nothing names it; the lock
  // keeps gc_log (the log hashes) true until the end.
  deleteRow: `DELETE FROM object WHERE hash = unhex(:hash)
       AND NOT EXISTS (SELECT 1 FROM step WHERE ${stepInputIs('', 'unhex(:hash)')})
       AND NOT EXISTS (SELECT 1 FROM gc_log WHERE hash = unhex(:hash))
       AND NOT EXISTS (SELECT 1 FROM step_output WHERE object_hash = unhex(:hash))
       AND NOT EXISTS (SELECT 1 FROM run_input WHERE object_hash = unhex(:hash))`,
  forgetStats: `DELETE FROM input_stat WHERE NOT EXISTS (SELECT 1 FROM object o WHERE o.hash = input_stat.object_hash)`,
  teardown: `DROP TABLE IF EXISTS temp.gc_candidate; DROP TABLE IF EXISTS temp.gc_log;`,
};

/** A -dry-run -history: everything done inside one transaction, then rolled back with the report. */
class Rehearsed {
  constructor(readonly report: GcReport) {}
}

/**
 * gc: delete the object files and `object` rows that nothing references. The caller holds the
 * lock (SQLite's db lock; on PostgreSQL the run lock, with no live worker), so no engine can commit
 * a reference to an object while it is being deleted. Rows go first, files after: a crash in
 * between leaves unreferenced files (the next gc takes them), never a row naming a missing file.
 * `sqliteDir` is the SQLite db's directory, whose file is part of the disk use (none on PostgreSQL).
 */
export async function collectGarbage(
  db: InspectDb,
  options: { dryRun: boolean; history?: boolean; sqliteDir?: string },
): Promise<GcReport> {
  const { q } = db;
  const report: GcReport = {
    dryRun: options.dryRun,
    history: null,
    garbage: [],
    files: 0,
    rows: 0,
    bytes: 0,
    stray: 0,
    diskFreed: 0,
    disk: {
      objects: 0,
      objectsMeasured: true,
      shardDirs: 0,
      shardDirCount: 0,
      sqlite: options.sqliteDir === undefined ? null : sqliteUse(options.sqliteDir),
      total: 0,
      historyFrees: null,
    },
  };
  const shards = shardDirUse(db.store);
  Object.assign(report.disk, { shardDirs: shards.bytes, shardDirCount: shards.count });
  // Without -history: what it would free, as status says it (with -history, the garbage is that).
  if (!options.history) report.disk.historyFrees = await historyFreesOfCurrent(q, blockSize(db.store));
  if (!options.history) return sweep(db, report);
  // -history -dry-run: drop the history inside a transaction, see what it frees, roll it back.
  if (options.dryRun) {
    try {
      await q.tx(async () => {
        report.history = await dropHistory(q);
        throw new Rehearsed(await sweep(db, report));
      });
    } catch (err) {
      if (err instanceof Rehearsed) return err.report;
      throw err;
    }
  }
  // Its deletes check their references the way gc's do (see below): no scan per row.
  report.history = await withoutForeignKeys(q, () => q.tx(() => dropHistory(q)));
  return sweep(db, report);
}

/** Find the garbage (every object file and row that nothing names) and, unless a dry run, delete it. */
async function sweep(db: InspectDb, report: GcReport): Promise<GcReport> {
  const { q } = db;
  await q.exec(GC_SQL.setup);
  try {
    // Inserts in batches: a transaction each 10k rows, not an fsync-bound commit per row.
    let batch: { hash: string; size: number; disk: number }[] = [];
    const flush = async (rows: typeof batch) => {
      if (rows.length === 0) return;
      const insert = async () => {
        for (const r of rows) await q.run(GC_SQL.addFile, [r.hash, r.size, r.disk]);
      };
      // Inside a rehearsal the transaction is already open.
      await (report.dryRun && report.history !== null ? insert() : q.tx(insert));
    };
    for (const f of walkObjects(db.store)) {
      if (f.kind === 'stray') {
        report.stray++;
        continue;
      }
      const st = lstatSync(f.path, { throwIfNoEntry: false });
      if (!st) continue;
      batch.push({ hash: f.hash, size: st.size, disk: st.blocks * 512 });
      report.disk.objects += st.blocks * 512;
      if (batch.length >= 10_000) {
        await flush(batch);
        batch = [];
      }
    }
    await flush(batch);
    await q.run(GC_SQL.addRows);
    await q.run(GC_SQL.fillLogs);
    if (q.engine === 'postgres') await q.run(GC_SQL.fillStepLogs);
    report.garbage = (
      await q.all<Omit<Garbage, 'hasFile' | 'hasRow'> & { hasFile: number; hasRow: number }>(GC_SQL.unreferenced)
    ).map((g) => ({ ...g, hasFile: Boolean(g.hasFile), hasRow: Boolean(g.hasRow) }));
    for (const g of report.garbage) {
      if (g.hasFile) report.files++;
      if (g.hasRow) report.rows++;
      report.bytes += g.size ?? 0;
      report.diskFreed += g.disk;
    }
    report.disk.total = report.disk.objects + report.disk.shardDirs + (report.disk.sqlite ?? 0);
    if (!report.dryRun) {
      // deleteRow checks every reference itself. SQLite's own foreign-key check would look for
      // steps by object_hash alone, which no index serves (schema.ts, 2): a scan of every step
      // for every row deleted.
      await withoutForeignKeys(q, () =>
        q.tx(async () => {
          for (const g of report.garbage) if (g.hasRow) await q.run(GC_SQL.deleteRow, { hash: g.hash });
          // The stat cache of run inputs vouches only for objects that have a row (input-cache.ts).
          if (q.engine === 'sqlite') await q.exec(GC_SQL.forgetStats);
        }),
      );
      for (const g of report.garbage) if (g.hasFile) removeObjectFile(db.store, g.hash);
    }
  } finally {
    await q.exec(GC_SQL.teardown);
  }
  return report;
}

/** SQLite's foreign keys off around `fn` (outside a transaction: the pragma is a no-op inside one); PostgreSQL's stay. */
async function withoutForeignKeys<T>(q: Query, fn: () => Promise<T>): Promise<T> {
  if (q.engine !== 'sqlite') return fn();
  await q.exec('PRAGMA foreign_keys = OFF');
  try {
    return await fn();
  } finally {
    await q.exec('PRAGMA foreign_keys = ON');
  }
}

/** What gc -history would free: the current graph walked as status walks it. */
async function historyFreesOfCurrent(q: Query, block: number): Promise<DiskUse['historyFrees']> {
  await q.exec(TASK_STATUS_SQL.setup);
  try {
    await q.fillCurrentSteps('status_step');
    return await historyFreesOf(q, block);
  } finally {
    await q.exec(TASK_STATUS_SQL.teardown);
  }
}

/** Unlink the file, then its shard directories if that left them empty. */
function removeObjectFile(store: string, hash: string): void {
  const path = join(store, objectRelPath(hash));
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  for (const dir of [dirname(path), dirname(dirname(path))]) {
    try {
      rmdirSync(dir);
    } catch {
      // Not empty (or already gone): it stays.
      return;
    }
  }
}
