import { UserError } from '../errors.js';
import type { InspectDb } from '../store/inspect/query.js';
import { PgDb, redactUrl } from '../store/postgres/pg-db.js';
import { PgRunLock } from '../store/postgres/pg-lock.js';
import { pgQuery } from '../store/postgres/pg-query.js';
import { checkPgSchema } from '../store/postgres/pg-schema.js';
import type { ParsedArgs } from './command.js';
import type { InspectOptions } from './inspect-db.js';

/** withInspectDb for -db postgres://...: its own module, so that a local command never loads `pg`. */
export async function withPostgres<T>(
  command: string,
  args: ParsedArgs,
  use: (db: InspectDb) => Promise<T>,
  options: InspectOptions,
): Promise<T> {
  const url = String(args.flags.db);
  const store = typeof args.flags.store === 'string' && args.flags.store !== '' ? args.flags.store : null;
  if (options.objects && store === null)
    throw new UserError('EUSAGE', `${command}: -db postgres://... needs -store DIR, where its objects are`);
  const db = new PgDb(url);
  try {
    await checkPgSchema(db);
    // A server restart drops the lock with the connection; the command's own queries fail then too.
    const lock = options.write ? new PgRunLock(db, () => undefined) : null;
    await lock?.acquire();
    try {
      if (options.noWorkers) await refuseLiveWorkers(db, command);
      const { q, release } = await pgQuery(db);
      try {
        const name = redactUrl(url);
        const dbArgs = `-db ${name}${store === null ? '' : ` -store ${store}`}`;
        return await use({ q, store: store ?? '', name, dbArgs });
      } finally {
        release();
      }
    } finally {
      await lock?.release();
    }
  } finally {
    await db.close();
  }
}

/**
 * A worker may be writing an object it has not committed yet: gc would take it for garbage. The run
 * lock keeps new runs out; live workers are refused by name (they finish, or stop with Ctrl-C).
 */
async function refuseLiveWorkers(db: PgDb, command: string): Promise<void> {
  const live = await db.query<{ host: string; pid: number }>(
    `SELECT host, pid FROM lease WHERE kind = 'worker' AND state = 'live' AND expires_at > now() ORDER BY id`,
  );
  if (live.length === 0) return;
  const who = live
    .slice(0, 3)
    .map((w) => `pid ${w.pid} on ${w.host}`)
    .join(', ');
  throw new UserError(
    'ELOCKED',
    `${command}: ${live.length} worker${live.length === 1 ? ' is' : 's are'} live on ${redactUrl(db.url)} (${who}${live.length > 3 ? ', ...' : ''}): stop ${live.length === 1 ? 'it' : 'them'} (Ctrl-C) and run ${command} again`,
  );
}
