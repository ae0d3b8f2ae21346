import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { matchesAny } from '../manifest/glob.js';
import { migrate, SchemaTooNewError } from './schema.js';

export const DB_FILE = 'pipeline.sqlite';

export interface OpenOptions {
  /** Create the db directory and file when missing (the run command); inspection refuses instead. */
  create?: boolean;
  readonly?: boolean;
}

/** Open <db>/pipeline.sqlite with the engine's pragmas and functions, migrating it forward. */
export function openDatabase(dbDir: string, options: OpenOptions = {}): Database.Database {
  const file = join(dbDir, DB_FILE);
  if (!options.create && !existsSync(file)) {
    throw new UserError('ENODB', `${dbDir}: no pipeline db here (${DB_FILE} not found); run a manifest with -db ${dbDir} first`);
  }
  if (options.create) mkdirSync(dbDir, { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: options.readonly ?? false });
  } catch (err) {
    throw new UserError('EDBOPEN', `${file}: cannot open: ${(err as Error).message}`, { cause: err });
  }
  db.pragma('busy_timeout = 5000');
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives any process crash; only power loss may drop the last commits.
    db.pragma('synchronous = NORMAL');
    // Checkpoint every ~32 MiB of WAL, not 4 MiB: the hot index pages a run rewrites over and
    // over are copied back to the db file once per checkpoint (B1: 30% fewer writes).
    db.pragma('wal_autocheckpoint = 8192');
  }
  // 16 MiB of page cache: enough for the hot indexes, small beside the engine's memory budget.
  db.pragma('cache_size = -16384');
  db.pragma('temp_store = MEMORY');
  registerFunctions(db);
  try {
    if (!options.readonly) migrate(db);
  } catch (err) {
    db.close();
    if (err instanceof SchemaTooNewError) {
      throw new UserError('ESCHEMA', `${file}: ${err.message}; upgrade task-pipeline to read it`);
    }
    throw err;
  }
  return db;
}

function registerFunctions(db: Database.Database): void {
  const parsed = new Map<string, string[]>();
  // tp_match(match_json, name): the manifest's `match` globs, evaluated inside queries.
  db.function('tp_match', { deterministic: true }, (matchJson: unknown, name: unknown) => {
    const key = String(matchJson);
    let globs = parsed.get(key);
    if (!globs) {
      globs = JSON.parse(key) as string[];
      parsed.set(key, globs);
    }
    return matchesAny(globs, String(name)) ? 1 : 0;
  });
}
