import { UserError } from '../../errors.js';
import { nearest } from '../../edit-distance.js';
import { BYTES, column, type Query } from './query.js';

export interface TaskName {
  name: string;
  /** The task is in the manifest of the latest run (not only in history). */
  current: boolean;
}

const FIND_TASK_SQL = {
  byName: `SELECT EXISTS (SELECT 1 FROM task WHERE name = ?) AS known,
                  EXISTS (SELECT 1 FROM current_task WHERE name = ?) AS current`,
  // GROUP BY, not DISTINCT: PostgreSQL sorts a DISTINCT list only by what it selects, and the collation differs.
  names: `SELECT name FROM task GROUP BY name ORDER BY name ${BYTES}`,
};

/** A task named on the command line, or a UserError (exit 2) that suggests the nearest known name. */
export async function findTask(q: Query, dbName: string, name: string): Promise<TaskName> {
  const row = (await q.get<{ known: number; current: number }>(FIND_TASK_SQL.byName, [name, name]))!;
  if (row.known) return { name, current: Boolean(row.current) };
  const names = await column<string>(q, FIND_TASK_SQL.names);
  const hint = nearest(name, names);
  const known =
    names.length === 0
      ? 'it has no tasks yet'
      : `its tasks: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}`;
  throw new UserError('ENOTASK', `no task "${name}" in ${dbName}${hint ? ` (did you mean "${hint}"?)` : `; ${known}`}`);
}
