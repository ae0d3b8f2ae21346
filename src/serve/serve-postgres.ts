import { UserError } from '../errors.js';
import { PgDb, redactUrl } from '../store/postgres/pg-db.js';
import { pgQuery } from '../store/postgres/pg-query.js';
import { checkPgSchema } from '../store/postgres/pg-schema.js';
import type { ServeDb } from './serve-db.js';

/**
 * serve on -db postgres://...: one pool for the server's life, a connection per request (its temp
 * tables are that request's). Its own module, so that serving a local db never loads `pg`.
 */
export async function postgresServeDb(url: string, store: string | null): Promise<ServeDb> {
  if (store === null)
    throw new UserError('EUSAGE', 'serve: -db postgres://... needs -store DIR, where its objects are');
  const db = new PgDb(url);
  try {
    await checkPgSchema(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const name = redactUrl(url);
  return {
    name,
    store,
    async use(fn) {
      const { q, release } = await pgQuery(db);
      try {
        return await fn({ q, store, name, dbArgs: `-db ${name} -store ${store}` });
      } finally {
        release();
      }
    },
    // Commits come from any host: no file to watch. The counts are recounted as they age.
    signature: () => null,
    close: () => db.close(),
  };
}
