import { join } from 'node:path';
import { DbLock } from '../store/lock.js';
import type { InspectDb } from '../store/inspect/query.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';
import type { ParsedArgs } from './command.js';
import { withDb } from './with-db.js';

export interface InspectOptions {
  /** gc, fsck -repair, inputs rm: opened for writing, under the lock (see below). */
  write?: boolean;
  /** The command reads object files: on PostgreSQL it needs -store. */
  objects?: boolean;
  /** gc: deleting objects is safe only when no worker can be writing one (PostgreSQL). */
  noWorkers?: boolean;
}

/**
 * Open the db named by -db for an inspection command, a SQLite directory or a PostgreSQL URL, hand it
 * to `use` as an InspectDb, close it whatever happens. A writer holds the lock that keeps a run out:
 * SQLite's db lock, or on PostgreSQL the run lock (a run there exits 2 while it is held).
 */
export async function withInspectDb<T>(
  command: string,
  args: ParsedArgs,
  use: (db: InspectDb) => Promise<T>,
  options: InspectOptions = {},
): Promise<T> {
  const dbDir = String(args.flags.db);
  if (isPostgresUrl(dbDir)) return (await import('./inspect-postgres.js')).withPostgres(command, args, use, options);
  return withDb(
    dbDir,
    async (raw) => {
      const lock = options.write ? new DbLock(join(dbDir, 'lock')) : null;
      try {
        lock?.acquire();
        return await use({ q: sqliteQuery(raw), store: dbDir, name: dbDir, dbArgs: `-db ${dbDir}` });
      } finally {
        lock?.release();
      }
    },
    { write: Boolean(options.write) },
  );
}
