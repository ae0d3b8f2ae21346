import type Database from 'better-sqlite3';
import { CURRENT_STEPS_CTE } from '../schema.js';

export interface HistoryDropped {
  steps: number;
  taskVersions: number;
  inputs: number;
}

// History is everything outside the current graph: steps of old task versions, superseded gather
// steps, steps over replaced or retired inputs, and what only they reach.
const HISTORY_SQL = {
  setup: `CREATE TEMP TABLE IF NOT EXISTS keep_step (id INTEGER PRIMARY KEY); DELETE FROM temp.keep_step;`,
  fill: `INSERT OR IGNORE INTO temp.keep_step(id) ${CURRENT_STEPS_CTE} SELECT id FROM cur`,
  links: `DELETE FROM step_link WHERE from_step_id NOT IN (SELECT id FROM temp.keep_step)
                                 OR to_step_id NOT IN (SELECT id FROM temp.keep_step)`,
  outputs: `DELETE FROM step_output WHERE step_id NOT IN (SELECT id FROM temp.keep_step)`,
  attempts: `DELETE FROM attempt WHERE step_id NOT IN (SELECT id FROM temp.keep_step)`,
  steps: `DELETE FROM step WHERE id NOT IN (SELECT id FROM temp.keep_step)`,
  tasks: `DELETE FROM task WHERE id NOT IN (SELECT task_id FROM current_task)
            AND NOT EXISTS (SELECT 1 FROM step WHERE step.task = task.id)`,
  inputs: `DELETE FROM run_input WHERE retired_at IS NOT NULL`,
  // Reconcile marks name task ids, and SQLite may hand a deleted id to a new row: a stale mark
  // must not make the next run skip work. Dropping them costs one full reconcile.
  marks: `DELETE FROM reconciled`,
  teardown: `DROP TABLE IF EXISTS temp.keep_step`,
};

/**
 * gc -history: drop the history (within the caller's transaction, under the db lock). Afterwards
 * an undo is no longer free: the steps it would have found are gone, and their objects are
 * garbage unless the current graph names them too.
 */
export function dropHistory(db: Database.Database): HistoryDropped {
  db.exec(HISTORY_SQL.setup);
  try {
    db.prepare(HISTORY_SQL.fill).run();
    db.prepare(HISTORY_SQL.links).run();
    db.prepare(HISTORY_SQL.outputs).run();
    db.prepare(HISTORY_SQL.attempts).run();
    const steps = db.prepare(HISTORY_SQL.steps).run().changes;
    const taskVersions = db.prepare(HISTORY_SQL.tasks).run().changes;
    const inputs = db.prepare(HISTORY_SQL.inputs).run().changes;
    db.prepare(HISTORY_SQL.marks).run();
    return { steps, taskVersions, inputs };
  } finally {
    db.exec(HISTORY_SQL.teardown);
  }
}
