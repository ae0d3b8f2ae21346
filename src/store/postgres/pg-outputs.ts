import { UserError } from '../../errors.js';
import type { TaskOutput } from '../inspect/current-outputs.js';
import { currentStepIds } from './pg-current.js';
import { hashHex, redactUrl, type PgDb } from './pg-db.js';
import { checkPgSchema } from './pg-schema.js';

/**
 * A task's current outputs on PostgreSQL, ordered as on SQLite (name, then the item it came
 * from, hash, step; bytewise), so that ls and export give the same on both.
 */
export async function pgTaskOutputs(db: PgDb, task: string): Promise<TaskOutput[]> {
  await checkPgSchema(db);
  const t = await db.query<{ task_id: number }>(`SELECT task_id FROM current_task WHERE name = $1`, [task]);
  if (t.length === 0) {
    throw new UserError('ENOTASK', `${redactUrl(db.url)}: no task "${task}" in the latest manifest`);
  }
  const ids = [...(await currentStepIds(db))];
  const rows = await db.query<{ name: string; hash: Buffer; size: string | null; from: string; step: string }>(
    `SELECT o.name, o.object_hash AS hash, b.size, s.input_name AS "from", s.id AS step
       FROM step s JOIN step_output o ON o.step_id = s.id LEFT JOIN object b ON b.hash = o.object_hash
      WHERE s.id = ANY($1::bigint[]) AND s.task = $2`,
    [ids, t[0]!.task_id],
  );
  const out: TaskOutput[] = rows.map((r) => ({
    name: r.name,
    hash: hashHex(r.hash),
    size: r.size === null ? null : Number(r.size),
    from: r.from,
    step: Number(r.step),
  }));
  return out.sort((a, b) => bytes(a.name, b.name) || bytes(a.from, b.from) || bytes(a.hash, b.hash) || a.step - b.step);
}

function bytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
