import type Database from 'better-sqlite3';
import { UserError } from '../../errors.js';
import { nearest } from '../../edit-distance.js';

export interface TaskName {
  name: string;
  /** The task is in the manifest of the latest run (not only in history). */
  current: boolean;
}

const FIND_TASK_SQL = {
  byName: `SELECT EXISTS (SELECT 1 FROM task WHERE name = ?) AS known,
                  EXISTS (SELECT 1 FROM current_task WHERE name = ?) AS current`,
  names: `SELECT DISTINCT name FROM task ORDER BY name`,
};

/** A task named on the command line, or a UserError (exit 2) that suggests the nearest known name. */
export function findTask(db: Database.Database, dbDir: string, name: string): TaskName {
  const row = db.prepare(FIND_TASK_SQL.byName).get(name, name) as { known: number; current: number };
  if (row.known) return { name, current: Boolean(row.current) };
  const names = db.prepare(FIND_TASK_SQL.names).pluck().all() as string[];
  const hint = nearest(name, names);
  const known =
    names.length === 0
      ? 'it has no tasks yet'
      : `its tasks: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}`;
  throw new UserError('ENOTASK', `no task "${name}" in ${dbDir}${hint ? ` (did you mean "${hint}"?)` : `; ${known}`}`);
}
