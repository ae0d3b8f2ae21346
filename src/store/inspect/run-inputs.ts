import { UserError } from '../../errors.js';
import { globError, matchesAny } from '../../manifest/glob.js';
import { BYTES, type Query } from './query.js';

/** A run input: a name and the bytes it stands for, current or (with -all) history. */
export interface RunInput {
  name: string;
  hash: string;
  size: number | null;
  /** The run that added it. */
  run: number;
  current: boolean;
  /** How it stopped being current: given again with other bytes, or `inputs rm`. */
  retired: 'replaced' | 'removed' | null;
  retiredAt: number | null;
}

const COLUMNS = `i.name AS name, lower(hex(i.object_hash)) AS hash, b.size AS size, i.run_id AS run,
  (i.retired_at IS NULL) AS current, i.retired_how AS retired, i.retired_at AS retiredAt`;

const RUN_INPUTS_SQL = {
  current: `SELECT ${COLUMNS} FROM run_input i LEFT JOIN object b ON b.hash = i.object_hash
             WHERE i.retired_at IS NULL ORDER BY i.name ${BYTES}`,
  all: `SELECT ${COLUMNS} FROM run_input i LEFT JOIN object b ON b.hash = i.object_hash ORDER BY i.name ${BYTES}, i.id DESC`,
  currentNames: `SELECT id, name FROM run_input WHERE retired_at IS NULL ORDER BY name ${BYTES}`,
  retire: `UPDATE run_input SET retired_at = ?, retired_how = 'removed' WHERE id = ? AND retired_at IS NULL`,
};

/** The run inputs, sorted by name (history after the current item of each name). */
export async function runInputs(q: Query, all: boolean): Promise<RunInput[]> {
  const rows = await q.all<Omit<RunInput, 'current'> & { current: number }>(
    all ? RUN_INPUTS_SQL.all : RUN_INPUTS_SQL.current,
  );
  return rows.map((r) => ({ ...r, current: Boolean(r.current) }));
}

/**
 * Retire the current inputs named, or matched by a glob (the rules of `match`). Every pattern
 * must match something, or nothing is retired: a typo must not half-apply.
 */
export async function retireInputs(q: Query, patterns: string[]): Promise<string[]> {
  for (const p of patterns) {
    const bad = globError(p);
    if (bad !== null) throw new UserError('EUSAGE', `inputs rm: "${p}" is not a valid glob: ${bad}`);
  }
  return q.tx(async () => {
    const current = await q.all<{ id: number; name: string }>(RUN_INPUTS_SQL.currentNames);
    const chosen = new Map<number, string>();
    for (const p of patterns) {
      const hits = current.filter((c) => c.name === p || matchesAny([p], c.name));
      if (hits.length === 0)
        throw new UserError(
          'ENOINPUT',
          `inputs rm: no current run input is named or matches "${p}" (see: task-pipeline inputs)`,
        );
      for (const h of hits) chosen.set(h.id, h.name);
    }
    const now = Date.now();
    for (const id of chosen.keys()) await q.run(RUN_INPUTS_SQL.retire, [now, id]);
    return [...chosen.values()].sort();
  });
}
