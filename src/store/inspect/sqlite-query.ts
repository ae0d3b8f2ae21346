import type Database from 'better-sqlite3';
import { CURRENT_STEPS_CTE } from '../schema.js';
import type { Params, Query } from './query.js';

/**
 * The Query of a better-sqlite3 db: each statement prepared once, run synchronously (a resolved
 * promise). A transaction is BEGIN IMMEDIATE .. COMMIT around the awaited callback, which is safe
 * because nothing else uses this connection meanwhile.
 */
export function sqliteQuery(db: Database.Database): Query {
  const cache = new Map<string, Database.Statement>();
  const prep = (sql: string) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  };
  const args = (params: Params | undefined): unknown[] =>
    params === undefined ? [] : Array.isArray(params) ? params : [params];
  return {
    engine: 'sqlite',
    all: async <T>(sql: string, params?: Params) => prep(sql).all(...args(params)) as T[],
    get: async <T>(sql: string, params?: Params) => prep(sql).get(...args(params)) as T | undefined,
    run: async (sql: string, params?: Params) => prep(sql).run(...args(params)).changes,
    exec: async (sql: string) => {
      db.exec(sql);
    },
    fillCurrentSteps: async (table: string) => {
      prep(`INSERT OR IGNORE INTO temp.${table}(id) ${CURRENT_STEPS_CTE} SELECT id FROM cur`).run();
    },
    async tx<T>(fn: () => Promise<T>): Promise<T> {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn();
        db.exec('COMMIT');
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    },
  };
}
