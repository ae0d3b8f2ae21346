import Database from 'better-sqlite3';
import { existsSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errnoCode, UserError } from '../errors.js';
import { matchesAny } from '../manifest/glob.js';
import { migrate, SCHEMA_VERSION, SchemaTooNewError } from './schema.js';
import { isPostgresUrl } from './postgres/pg-url.js';

export const DB_FILE = 'pipeline.sqlite';

export interface OpenOptions {
  /** The run: create the db directory and file when missing, and migrate the schema forward. The caller holds the lock. */
  create?: boolean;
  /** gc, inputs rm, fsck -repair: read-write, but never migrated (only a run does that). The caller holds the lock. */
  write?: boolean;
  /** -durable: every commit is fsynced (synchronous=FULL), so that a step reported done stays done after a power loss. */
  durable?: boolean;
}

/**
 * Open <db>/pipeline.sqlite with the engine's pragmas and functions. Without options it is
 * opened read-only, for the inspection commands, so that they write nothing at all: not the
 * db, and not a -wal or -shm file either (see openReadOnly).
 */
export function openDatabase(dbDir: string, options: OpenOptions = {}): Database.Database {
  if (isPostgresUrl(dbDir)) {
    throw new UserError('EUSAGE', 'this command does not work with a PostgreSQL db yet');
  }
  const file = join(dbDir, DB_FILE);
  if (!options.create && !existsSync(file)) {
    throw new UserError(
      'ENODB',
      `${dbDir}: no pipeline db here (${DB_FILE} not found); run a manifest with -db ${dbDir} first`,
    );
  }
  enableUris();
  if (!options.create && !options.write) return openReadOnly(dbDir, file);
  // A writer's schema is checked before it opens the db read-write, which makes the -wal and -shm.
  if (!options.create) openReadOnly(dbDir, file).close();
  if (options.create) mkdirSync(dbDir, { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(resolve(file), { fileMustExist: !options.create });
  } catch (err) {
    throw new UserError('EDBOPEN', `${file}: cannot open: ${(err as Error).message}`, { cause: err });
  }
  db.pragma('busy_timeout = 5000');
  try {
    db.pragma('journal_mode = WAL');
  } catch (err) {
    db.close();
    const code = errnoCode(err) ?? '';
    if (!code.startsWith('SQLITE_CANTOPEN') && !code.startsWith('SQLITE_READONLY')) throw err;
    throw new UserError(
      'EDBOPEN',
      `${file}: cannot open it for writing (${(err as Error).message}): ` +
        'a run, gc, inputs rm and fsck -repair need a writable db directory; the other commands only read',
      { cause: err },
    );
  }
  // NORMAL in WAL mode survives any process crash; only power loss may drop the last commits.
  db.pragma(options.durable ? 'synchronous = FULL' : 'synchronous = NORMAL');
  // Checkpoint every ~32 MiB of WAL, not 4 MiB: the hot index pages a run rewrites over and
  // over are copied back to the db file once per checkpoint (B1: 30% fewer writes).
  db.pragma('wal_autocheckpoint = 8192');
  setCommonPragmas(db);
  try {
    if (options.create) migrate(db);
    else checkSchema(db, dbDir, file);
  } catch (err) {
    db.close();
    if (err instanceof SchemaTooNewError) throw tooNew(file, err.found);
    throw err;
  }
  return db;
}

/**
 * Read-only, creating and modifying no file. SQLite's read-only mode alone is not enough in WAL
 * mode: it creates the -wal and -shm files when they are missing, and leaves them behind. So:
 *  - no -wal (or an empty one): every commit is in pipeline.sqlite, which is opened `immutable`
 *    (no locks, no -shm). A run that checkpoints into the file meanwhile would go unseen: the
 *    file is compared when the db is closed, and a note says so.
 *  - a -wal with frames (a run is going on, or one was killed): the latest commits may be only
 *    there, so it is read through SQLite's read-only WAL mode, which uses the -shm file that
 *    the run left. Where that cannot work (a read-only directory without the -shm), one line says
 *    so rather than showing the older state that pipeline.sqlite alone holds.
 */
function openReadOnly(dbDir: string, file: string): Database.Database {
  const walFile = `${file}-wal`;
  const wal = statSync(walFile, { throwIfNoEntry: false });
  const immutable = !wal || wal.size === 0;
  const before = immutable ? statSync(file) : null;
  let db: Database.Database;
  try {
    db = immutable
      ? openUri(`${pathToFileURL(resolve(file)).href}?immutable=1`)
      : new Database(resolve(file), { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new UserError('EDBOPEN', `${file}: cannot open: ${(err as Error).message}`, { cause: err });
  }
  try {
    setCommonPragmas(db);
    checkSchema(db, dbDir, file);
  } catch (err) {
    db.close();
    const code = errnoCode(err) ?? '';
    if (!immutable && (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY'))) {
      throw new UserError(
        'EDBWAL',
        `${file}: its latest commits are in ${DB_FILE}-wal, which cannot be read here ` +
          `(${(err as Error).message}; a read-only directory needs the ${DB_FILE}-shm left beside it): run the manifest once ` +
          'where the db is writable (a run folds them into the db)',
        { cause: err },
      );
    }
    throw err;
  }
  if (before) {
    const close = db.close.bind(db);
    db.close = () => {
      close();
      if (changedSince(file, before)) {
        process.stderr.write(
          `task-pipeline: note: a run wrote to ${file} while this command read it; run the command again for a consistent view\n`,
        );
      }
      return db;
    };
  }
  return db;
}

let uriEnabled = false;

/**
 * A database named by a `file:` URI. better-sqlite3 turns URI names on only through an
 * environment variable read when its addon loads (with the first database opened), so it is
 * set for that moment alone: scripts started later must not inherit it. Names that do not start
 * with `file:` mean what they always did, and the engine's own names are absolute paths.
 */
function openUri(uri: string): Database.Database {
  enableUris();
  return new Database(uri, { readonly: true });
}

/** Before the first database of the process, of any kind: the setting is read once, when the addon loads. */
function enableUris(): void {
  if (!uriEnabled) {
    const had = process.env.SQLITE_USE_URI;
    process.env.SQLITE_USE_URI = '1';
    try {
      new Database(':memory:').close();
    } finally {
      if (had === undefined) delete process.env.SQLITE_USE_URI;
      else process.env.SQLITE_USE_URI = had;
    }
    uriEnabled = true;
  }
}

function changedSince(file: string, before: Stats): boolean {
  const after = statSync(file, { throwIfNoEntry: false });
  const wal = statSync(`${file}-wal`, { throwIfNoEntry: false });
  return (
    !after ||
    after.ino !== before.ino ||
    after.size !== before.size ||
    after.mtimeMs !== before.mtimeMs ||
    (wal !== undefined && wal.size > 0)
  );
}

function setCommonPragmas(db: Database.Database): void {
  // 4 MiB of page cache. SQLite fills its cache up to the limit as the db grows: at 16 MiB it was
  // most of what grew outside the JS heap from 5,000 to 20,000 inputs, where 4 MiB is full at
  // 5,000 already. The hash-keyed indexes take a batch's rows on random pages, which miss either
  // cache once the db is bigger (bench/PROFILE.md, "Peak RSS against the number of inputs").
  db.pragma('cache_size = -4096');
  db.pragma('temp_store = MEMORY');
  registerFunctions(db);
}

/** Only a run migrates (under the lock, with its own checks): everything else needs the engine's schema exactly. */
function checkSchema(db: Database.Database, dbDir: string, file: string): void {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > SCHEMA_VERSION) throw tooNew(file, found);
  if (found < SCHEMA_VERSION) {
    throw new UserError(
      'ESCHEMA',
      `${file}: schema version ${found} is older than this engine's ${SCHEMA_VERSION}: ` +
        `run the manifest once (task-pipeline -manifest m.toml -db ${dbDir}): a run migrates it`,
    );
  }
}

function tooNew(file: string, found: number): UserError {
  return new UserError(
    'ESCHEMA',
    `${file}: schema version ${found} is newer than this engine's ${SCHEMA_VERSION}; upgrade task-pipeline to read it`,
  );
}

export function registerFunctions(db: Database.Database): void {
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
