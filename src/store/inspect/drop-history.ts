import type { Query } from './query.js';

export interface HistoryDropped {
  steps: number;
  taskVersions: number;
  inputs: number;
}

// History is everything outside the current graph: steps of old task versions, superseded gather
// steps, steps over replaced or retired inputs, and what only they reach.
const HISTORY_SQL = {
  setup: `CREATE TEMP TABLE IF NOT EXISTS keep_step (id INTEGER PRIMARY KEY); DELETE FROM temp.keep_step;`,
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
export async function dropHistory(q: Query): Promise<HistoryDropped> {
  await q.exec(HISTORY_SQL.setup);
  try {
    await q.fillCurrentSteps('keep_step');
    await q.run(HISTORY_SQL.links);
    await q.run(HISTORY_SQL.outputs);
    await q.run(HISTORY_SQL.attempts);
    const steps = await q.run(HISTORY_SQL.steps);
    const taskVersions = await q.run(HISTORY_SQL.tasks);
    const inputs = await q.run(HISTORY_SQL.inputs);
    // PostgreSQL keeps no reconcile marks (a run there reconciles every edge).
    if (q.engine === 'sqlite') await q.run(HISTORY_SQL.marks);
    return { steps, taskVersions, inputs };
  } finally {
    await q.exec(HISTORY_SQL.teardown);
  }
}
