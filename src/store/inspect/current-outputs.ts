import type Database from 'better-sqlite3';
import { CURRENT_STEPS_CTE } from '../schema.js';
import { BYTES, type Query } from './query.js';

/** One output of a task: a name and the bytes a step left under it, and the item that step processed. */
export interface TaskOutput {
  name: string;
  hash: string;
  /** null when the object has no `object` row (should not happen; fsck reports it). */
  size: number | null;
  /** The name of the item the producing step processed (its INPUT_NAME; '' for a seed step). */
  from: string;
  step: number;
}

// One row per (step, output): three steps that each leave `n` holding `3` are three outputs.
const ORDER = `ORDER BY o.name ${BYTES}, s.input_name ${BYTES}, o.object_hash, s.id`;
const COLUMNS = `o.name AS name, lower(hex(o.object_hash)) AS hash, b.size AS size, s.input_name AS "from", s.id AS step`;

const CURRENT_OUTPUTS_SQL = {
  // The current graph restricted to this task's current version.
  current: `${CURRENT_STEPS_CTE}
    SELECT ${COLUMNS}
      FROM cur JOIN step s ON s.id = cur.id
      JOIN current_task c ON c.name = :task AND c.task_id = s.task
      JOIN step_output o ON o.step_id = s.id
      LEFT JOIN object b ON b.hash = o.object_hash
     ${ORDER}`,
  // History too: every version of the task, every step it ever finished.
  all: `SELECT ${COLUMNS}
      FROM task t JOIN step s ON s.task = t.id
      JOIN step_output o ON o.step_id = s.id
      LEFT JOIN object b ON b.hash = o.object_hash
     WHERE t.name = :task
     ${ORDER}`,
};

/** A task's outputs, sorted by name, then the item they came from, streamed from the db (a task may have millions). */
export function taskOutputs(db: Database.Database, task: string, all: boolean): IterableIterator<TaskOutput> {
  return db
    .prepare(all ? CURRENT_OUTPUTS_SQL.all : CURRENT_OUTPUTS_SQL.current)
    .iterate({ task }) as IterableIterator<TaskOutput>;
}

/** History too, through a Query (PostgreSQL's `ls -all`): every output of every version of the task, sorted as above. */
export function allTaskOutputs(q: Query, task: string): Promise<TaskOutput[]> {
  return q.all<TaskOutput>(CURRENT_OUTPUTS_SQL.all, { task });
}
