import type Database from 'better-sqlite3';
import { lstatSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errnoCode } from '../../errors.js';
import { DbLock } from '../lock.js';
import { objectRelPath } from '../object-path.js';
import { stepInputIs } from '../schema.js';
import { dropHistory, type HistoryDropped } from './drop-history.js';
import { blockSize, historyFrees, shardDirUse, sqliteUse, type DiskUse } from './disk-use.js';
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

/**
 * gc: delete the object files and `object` rows that nothing references. It holds the db lock
 * throughout, so no engine can commit a reference to an object while it is being deleted.
 * Rows go first, files after: a crash in between leaves unreferenced files (the next gc takes
 * them), never a row naming a missing file.
 */
export function collectGarbage(
  db: Database.Database,
  dbDir: string,
  options: { dryRun: boolean; history?: boolean },
): GcReport {
  const lock = new DbLock(join(dbDir, 'lock'));
  lock.acquire();
  // -history -dry-run: drop the history inside a transaction, see what it frees, roll it back.
  const rehearse = Boolean(options.history) && options.dryRun;
  try {
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
        sqlite: 0,
        total: 0,
        historyFrees: null,
      },
    };
    const shards = shardDirUse(dbDir);
    Object.assign(report.disk, { shardDirs: shards.bytes, shardDirCount: shards.count, sqlite: sqliteUse(dbDir) });
    // Without -history: what it would free, as status says it (with -history, the garbage is that).
    if (!options.history) report.disk.historyFrees = historyFreesOfCurrent(db, blockSize(dbDir));
    if (options.history) {
      if (rehearse) db.exec('BEGIN IMMEDIATE');
      // Its deletes check their references the way gc's do (see below): no scan per row.
      if (!rehearse) db.pragma('foreign_keys = OFF');
      try {
        report.history = rehearse ? dropHistory(db) : db.transaction(() => dropHistory(db)).immediate();
      } finally {
        if (!rehearse) db.pragma('foreign_keys = ON');
      }
    }
    db.exec(GC_SQL.setup);
    try {
      const addFile = db.prepare(GC_SQL.addFile);
      // Inserts in batches: a transaction each 10k rows, not an fsync-bound commit per row.
      let batch: { hash: string; size: number; disk: number }[] = [];
      const flush = db.transaction((rows: typeof batch) => {
        for (const r of rows) addFile.run(r.hash, r.size, r.disk);
      });
      for (const f of walkObjects(dbDir)) {
        if (f.kind === 'stray') {
          report.stray++;
          continue;
        }
        const st = lstatSync(f.path, { throwIfNoEntry: false });
        if (!st) continue;
        batch.push({ hash: f.hash, size: st.size, disk: st.blocks * 512 });
        report.disk.objects += st.blocks * 512;
        if (batch.length >= 10_000) {
          flush(batch);
          batch = [];
        }
      }
      flush(batch);
      db.exec(GC_SQL.addRows);
      db.exec(GC_SQL.fillLogs);
      report.garbage = (
        db.prepare(GC_SQL.unreferenced).all() as (Omit<Garbage, 'hasFile' | 'hasRow'> & {
          hasFile: number;
          hasRow: number;
        })[]
      ).map((g) => ({ ...g, hasFile: Boolean(g.hasFile), hasRow: Boolean(g.hasRow) }));
      for (const g of report.garbage) {
        if (g.hasFile) report.files++;
        if (g.hasRow) report.rows++;
        report.bytes += g.size ?? 0;
        report.diskFreed += g.disk;
      }
      report.disk.total = report.disk.objects + report.disk.shardDirs + report.disk.sqlite;
      if (!options.dryRun) {
        // deleteRow checks every reference itself. SQLite's own foreign-key check would look for
        // steps by object_hash alone, which no index serves (schema.ts, 2): a scan of every step
        // for every row deleted.
        db.pragma('foreign_keys = OFF');
        try {
          const del = db.prepare(GC_SQL.deleteRow);
          db.transaction(() => {
            for (const g of report.garbage) if (g.hasRow) del.run({ hash: g.hash });
            // The stat cache of run inputs vouches only for objects that have a row (input-cache.ts).
            db.exec(GC_SQL.forgetStats);
          }).immediate();
        } finally {
          db.pragma('foreign_keys = ON');
        }
        for (const g of report.garbage) if (g.hasFile) removeObjectFile(dbDir, g.hash);
      }
    } finally {
      db.exec(GC_SQL.teardown);
    }
    return report;
  } finally {
    if (rehearse && db.inTransaction) db.exec('ROLLBACK');
    lock.release();
  }
}

/** What gc -history would free: the current graph walked as status walks it. */
function historyFreesOfCurrent(db: Database.Database, block: number): DiskUse['historyFrees'] {
  db.exec(TASK_STATUS_SQL.setup);
  try {
    db.prepare(TASK_STATUS_SQL.fillCurrent).run();
    return historyFrees(db, block);
  } finally {
    db.exec(TASK_STATUS_SQL.teardown);
  }
}

/** Unlink the file, then its shard directories if that left them empty. */
function removeObjectFile(dbDir: string, hash: string): void {
  const path = join(dbDir, objectRelPath(hash));
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
