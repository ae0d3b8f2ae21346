import type Database from 'better-sqlite3';
import { CURRENT_STEPS_CTE } from '../schema.js';

/** One output of a task: a name and the bytes under it, with the steps that left it. */
export interface TaskOutput {
  name: string;
  hash: string;
  /** null when the object has no `object` row (should not happen; fsck reports it). */
  size: number | null;
  /** Steps of the task that produced these bytes under this name, ascending. */
  steps: number[];
}

// Grouped by (name, hash): equal bytes left under one name by several steps are one output.
const GROUPED = `GROUP BY o.name, o.object_hash ORDER BY o.name, o.object_hash`;
const COLUMNS = `o.name AS name, o.object_hash AS hash, b.size AS size, json_group_array(s.id) AS steps`;

export const CURRENT_OUTPUTS_SQL = {
  // The current graph (SPEC 3) restricted to this task's current version.
  current: `${CURRENT_STEPS_CTE}
    SELECT ${COLUMNS}
      FROM cur JOIN step s ON s.id = cur.id
      JOIN current_task c ON c.name = :task AND c.task_id = s.task
      JOIN step_output o ON o.step_id = s.id
      LEFT JOIN object b ON b.hash = o.object_hash
     ${GROUPED}`,
  // History too: every version of the task, every step it ever finished.
  all: `SELECT ${COLUMNS}
      FROM task t JOIN step s ON s.task = t.id
      JOIN step_output o ON o.step_id = s.id
      LEFT JOIN object b ON b.hash = o.object_hash
     WHERE t.name = :task
     ${GROUPED}`,
};

/** A task's outputs, sorted by name then hash, streamed from the db (a task may have millions). */
export function* taskOutputs(db: Database.Database, task: string, all: boolean): Generator<TaskOutput> {
  const rows = db.prepare(all ? CURRENT_OUTPUTS_SQL.all : CURRENT_OUTPUTS_SQL.current).iterate({ task });
  for (const r of rows as Iterable<Omit<TaskOutput, 'steps'> & { steps: string }>) {
    yield { ...r, steps: (JSON.parse(r.steps) as number[]).sort((a, b) => a - b) };
  }
}
