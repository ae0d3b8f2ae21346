import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE, openDatabase } from '../store/database.js';
import type { InspectDb } from '../store/inspect/query.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { isPostgresUrl } from '../store/postgres/pg-url.js';

/** The db behind the web view, whichever engine holds it. */
export interface ServeDb {
  /** How the page names it (a URL without its password on PostgreSQL). */
  name: string;
  /** The directory that holds objects/: the db directory, or PostgreSQL's -store. */
  store: string;
  /** `fn` with the db opened for one request, closed after it. */
  use<T>(fn: (db: InspectDb) => Promise<T>): Promise<T>;
  /** What changes with every commit, or null where that is not cheap to tell (the counts then age by time). */
  signature(): string | null;
  close(): Promise<void>;
}

/** A local db: opened for each request, since a read-only connection without a -wal must not outlive a run starting. */
export function sqliteServeDb(dbDir: string): ServeDb {
  return {
    name: dbDir,
    store: dbDir,
    async use(fn) {
      const db = openDatabase(dbDir);
      try {
        return await fn({ q: sqliteQuery(db), store: dbDir, name: dbDir, dbArgs: `-db ${dbDir}` });
      } finally {
        db.close();
      }
    },
    signature: () => signature(dbDir),
    close: async () => undefined,
  };
}

/** Open a -db for serve: refuses a missing or unreadable db at once, with the inspection commands' message. */
export async function openServeDb(db: string, store: string | null): Promise<ServeDb> {
  if (isPostgresUrl(db)) return (await import('./serve-postgres.js')).postgresServeDb(db, store);
  openDatabase(db).close();
  return sqliteServeDb(db);
}

/** What changes with every commit: the db file, and its -wal while a writer has it open. */
function signature(dbDir: string): string {
  const part = (f: string) => {
    const st = statSync(join(dbDir, f), { throwIfNoEntry: false });
    return st ? `${st.size}:${st.mtimeMs}:${st.ino}` : '-';
  };
  return `${part(DB_FILE)}|${part(`${DB_FILE}-wal`)}`;
}
