import { matchesAny } from '../../manifest/glob.js';
import { EMPTY_HASH } from '../object-path.js';
import { hashBytes, type PgDb } from './pg-db.js';

/**
 * The current graph (see the SQLite schema's CURRENT_STEPS_CTE): steps of current task
 * versions reachable from the roots' steps over the current run inputs (or the seed while there
 * are none) along the current edges, each gather task contributing only its latest listing's
 * step. Walked here level by level, since `match` globs are evaluated in JavaScript.
 */
export async function currentStepIds(db: PgDb): Promise<Set<number>> {
  const edges = await db.query<{ from_task_id: number; to_task_id: number; match: string | null }>(
    `SELECT from_task_id, to_task_id, match FROM current_edge WHERE NOT to_gather`,
  );
  const out = new Map<number, { to: number; match: string[] | null }[]>();
  for (const e of edges) {
    const list = out.get(e.from_task_id) ?? [];
    list.push({ to: e.to_task_id, match: e.match === null ? null : (JSON.parse(e.match) as string[]) });
    out.set(e.from_task_id, list);
  }
  const start = await db.query<{ id: string }>(
    `SELECT s.id FROM current_task c JOIN run_input i ON i.retired_at IS NULL
       JOIN step s ON s.task = c.task_id AND s.object_hash = i.object_hash AND s.input_name = i.name
      WHERE c.is_root
     UNION
     SELECT s.id FROM current_task c JOIN step s ON s.task = c.task_id AND s.object_hash = $1
      WHERE c.is_root AND NOT EXISTS (SELECT 1 FROM run_input)
     UNION
     SELECT gather_step_id FROM current_task WHERE gather_step_id IS NOT NULL`,
    [hashBytes(EMPTY_HASH)],
  );
  const seen = new Set<number>(start.map((r) => Number(r.id)));
  let frontier = [...seen];
  while (frontier.length > 0) {
    const rows = await db.query<{ task: number; name: string; object_hash: Buffer }>(
      `SELECT s.task, o.name, o.object_hash FROM step s JOIN step_output o ON o.step_id = s.id
        WHERE s.id = ANY($1::bigint[]) AND s.status = 'done'`,
      [frontier],
    );
    const t: number[] = [];
    const h: Buffer[] = [];
    const n: string[] = [];
    for (const r of rows) {
      for (const e of out.get(r.task) ?? []) {
        if (e.match !== null && !matchesAny(e.match, r.name)) continue;
        t.push(e.to);
        h.push(r.object_hash);
        n.push(r.name);
      }
    }
    frontier = [];
    if (t.length === 0) break;
    const next = await db.query<{ id: string }>(
      `SELECT s.id FROM unnest($1::int[], $2::bytea[], $3::text[]) AS x(t, h, n)
         JOIN step s ON s.task = x.t AND s.object_hash = x.h AND s.input_name = x.n`,
      [t, h, n],
    );
    for (const r of next) {
      const id = Number(r.id);
      if (seen.has(id)) continue;
      seen.add(id);
      frontier.push(id);
    }
  }
  return seen;
}
