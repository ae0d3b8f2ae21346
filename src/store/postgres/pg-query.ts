import pg from 'pg';
import type { Params, Query } from '../inspect/query.js';
import type { PgDb } from './pg-db.js';
import { currentStepIds } from './pg-current.js';
import { toPostgres } from './pg-dialect.js';

/** Rows as SQLite gives them (query.ts): bigint, numeric (sums) and counts as numbers, booleans as 1 or 0. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return Number;
    if (oid === pg.types.builtins.BOOL) return (v: string) => (v === 't' ? 1 : 0);
    return pg.types.getTypeParser(oid, format ?? 'text') as (v: string) => unknown;
  },
};

/**
 * The inspection Query on PostgreSQL: one connection for the whole command, so that its temp
 * tables (gc, fsck) and its transaction are the same session's. It is checked out through the
 * pool's retries, so a server still starting is waited for like anywhere else.
 */
export async function pgQuery(db: PgDb): Promise<{ q: Query; release: () => void }> {
  const client = await db.retrying(() => db.pool.connect());
  client.on('error', () => undefined);
  const send = async (sql: string, params?: Params) => {
    const { text, values } = toPostgres(sql, params);
    return client.query({ text, values, types: TYPES });
  };
  const q: Query = {
    engine: 'postgres',
    all: async <T>(sql: string, params?: Params) => (await send(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: Params) => (await send(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: Params) => (await send(sql, params)).rowCount ?? 0,
    exec: async (sql: string) => {
      await client.query(toPostgres(sql, undefined).text);
    },
    fillCurrentSteps: async (table: string) => {
      const ids = [...(await currentStepIds(db))];
      await client.query(`INSERT INTO pg_temp.${table}(id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING`, [ids]);
    },
    async tx<T>(fn: () => Promise<T>): Promise<T> {
      await client.query('BEGIN');
      try {
        const result = await fn();
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    },
  };
  return { q, release: () => client.release() };
}
