import type Database from 'better-sqlite3';
import { EMPTY_SQL } from './hash-blob.js';
import { MIGRATIONS_1_TO_5 } from './schema-1-to-5.js';
import { MIGRATION_6 } from './schema-6.js';
import { MIGRATION_7 } from './schema-7.js';

/**
 * The schema, as an ordered list of migrations. `PRAGMA user_version` holds how many
 * have been applied, so an old db is brought forward in place and a db from a newer
 * engine is refused rather than misread.
 */
const MIGRATIONS: string[] = [...MIGRATIONS_1_TO_5, MIGRATION_6, MIGRATION_7];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The condition "steps (of `alias`) whose input is `hash`" (an SQL expression of a BLOB), one probe of UNIQUE(task,
 * object_hash, input_name) per task version: there is no index on object_hash alone (migration 2).
 */
export function stepInputIs(alias: string, hash: string): string {
  const a = alias === '' ? '' : `${alias}.`;
  return `${a}task IN (SELECT id FROM task) AND ${a}object_hash = ${hash}`;
}

/** Thrown when the db was written by a newer engine. */
export class SchemaTooNewError extends Error {
  constructor(readonly found: number) {
    super(`schema version ${found} is newer than this engine's ${SCHEMA_VERSION}`);
  }
}

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) throw new SchemaTooNewError(current);
  if (current === SCHEMA_VERSION) return;
  // Rebuilding a table (migration 3) drops the one other tables' keys point at; the rows keep
  // their ids, so every reference still holds once the new table takes the old one's name.
  db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
      db.prepare(`INSERT OR REPLACE INTO meta(key, value) VALUES ('layout', 'objects/AB/CD/rest sha256 v1')`).run();
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

/**
 * The current graph: steps of current task versions reachable from the roots' steps
 * (over run inputs, or the seed while there are none) along the current edges, with each
 * gather task contributing only its step over the latest listing. Needs tp_match().
 */
export const CURRENT_STEPS_CTE = `
  WITH RECURSIVE cur(id) AS (
    -- CROSS JOIN fixes the order: roots, their inputs, then each step by its unique key.
    SELECT s.id FROM current_task c CROSS JOIN run_input i
      CROSS JOIN step s ON s.task = c.task_id AND s.object_hash = i.object_hash AND s.input_name = i.name
      WHERE c.is_root AND i.retired_at IS NULL
    UNION
    SELECT s.id FROM current_task c
      CROSS JOIN step s ON s.task = c.task_id AND s.object_hash = ${EMPTY_SQL}
      WHERE c.is_root AND NOT EXISTS (SELECT 1 FROM run_input)
    UNION
    SELECT c.gather_step_id FROM current_task c WHERE c.gather_step_id IS NOT NULL
    UNION
    SELECT t.id FROM cur
      JOIN step s ON s.id = cur.id AND s.status = 'done'
      JOIN current_edge e ON e.from_task_id = s.task AND NOT e.to_gather
      JOIN step_output o ON o.step_id = s.id
      JOIN step t ON t.task = e.to_task_id AND t.object_hash = o.object_hash AND t.input_name = o.name
      WHERE e.match IS NULL OR tp_match(e.match, o.name)
  )`;
