// `-report FILE.html` of a run on -db postgres://...: its own module, so that a local run never loads `pg`.
import { PgDb, redactUrl } from '../store/postgres/pg-db.js';
import { pgQuery } from '../store/postgres/pg-query.js';
import { writeReport } from './report.js';

/** Write the report of run `runId` of the PostgreSQL db at `url`, whose objects are in `store`, to `file`. */
export async function writePostgresRunReport(url: string, store: string, runId: number, file: string): Promise<void> {
  const db = new PgDb(url);
  try {
    const { q, release } = await pgQuery(db);
    try {
      const name = redactUrl(url);
      await writeReport({ q, store, name, dbArgs: `-db ${name} -store ${store}` }, runId, file);
    } finally {
      release();
    }
  } finally {
    await db.close();
  }
}
