import type Database from 'better-sqlite3';
import { openDatabase, type OpenOptions } from '../store/database.js';

/**
 * Open the db (read-only unless `options` say otherwise), hand it to `use`, close it whatever
 * happens. Errors go on to main.ts, which turns them into one line and an exit code.
 */
export async function withDb<T>(
  dbDir: string,
  use: (db: Database.Database) => T | Promise<T>,
  options: OpenOptions = {},
): Promise<T> {
  const db = openDatabase(dbDir, options);
  try {
    return await use(db);
  } finally {
    db.close();
  }
}
