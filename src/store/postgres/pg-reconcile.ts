import { matchesAny } from '../../manifest/glob.js';
import type { EdgeInput, InputChanges, ObjectRow, RunInputFile } from '../metadata-store.js';
import { EMPTY_HASH } from '../object-path.js';
import { hashBytes, hashHex, type Sql } from './pg-db.js';

/**
 * Run inputs keyed by name: a name given again with other bytes retires the old row. Missing
 * names under a directory given again are reported, not retired (unless `lookForMissing` is false:
 * one batch of a bigger walk, whose missing names missingFrom in pg-input-cache.ts finds at its end).
 */
export async function addInputs(
  sql: Sql,
  inputs: RunInputFile[],
  runId: number,
  lookForMissing = true,
): Promise<InputChanges> {
  const now = Date.now();
  const changes: InputChanges = { added: 0, replaced: 0, missing: [] };
  const seen = new Map<string, Set<string>>();
  for (let at = 0; at < inputs.length; at += 4096) {
    const chunk = inputs.slice(at, at + 4096);
    const cur = await sql.query<{ id: string; name: string; object_hash: Buffer; source: string | null }>(
      `SELECT id, name, object_hash, source FROM run_input WHERE name = ANY($1::text[]) AND retired_at IS NULL`,
      [chunk.map((i) => i.name)],
    );
    const current = new Map(cur.rows.map((r) => [r.name, r]));
    for (const i of chunk) {
      if (i.source !== null && lookForMissing) {
        if (!seen.has(i.source)) seen.set(i.source, new Set());
        seen.get(i.source)!.add(i.name);
      }
      const c = current.get(i.name);
      if (c && hashHex(c.object_hash) === i.hash) {
        if (c.source !== i.source) await sql.query(`UPDATE run_input SET source = $1 WHERE id = $2`, [i.source, c.id]);
        continue;
      }
      await sql.query(`INSERT INTO object(hash, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        hashBytes(i.hash),
        i.size,
        now,
      ]);
      if (c) {
        await sql.query(`UPDATE run_input SET retired_at = $1, retired_how = 'replaced' WHERE id = $2`, [now, c.id]);
        changes.replaced++;
      } else {
        changes.added++;
      }
      await sql.query(`INSERT INTO run_input(name, object_hash, run_id, source) VALUES ($1, $2, $3, $4)`, [
        i.name,
        hashBytes(i.hash),
        runId,
        i.source,
      ]);
    }
  }
  for (const [source, names] of seen) {
    const r = await sql.query<{ name: string }>(
      `SELECT name FROM run_input WHERE source = $1 AND retired_at IS NULL ORDER BY name`,
      [source],
    );
    for (const { name } of r.rows) if (!names.has(name)) changes.missing.push(name);
  }
  return changes;
}

/** Every root task version gets a step per current run input (or the seed step while there is none). */
export async function rootSteps(sql: Sql, roots: number[], seed: ObjectRow | null): Promise<number> {
  const now = Date.now();
  if (seed) {
    await sql.query(`INSERT INTO object(hash, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
      hashBytes(seed.hash),
      seed.size,
      now,
    ]);
    const r = await sql.query(
      `INSERT INTO step(task, object_hash, input_name, created_at) SELECT t, $2, '', $3 FROM unnest($1::int[]) AS t
       ON CONFLICT DO NOTHING`,
      [roots, hashBytes(EMPTY_HASH), now],
    );
    return r.rowCount ?? 0;
  }
  const r = await sql.query(
    `INSERT INTO step(task, object_hash, input_name, created_at)
     SELECT t, i.object_hash, i.name, $2 FROM unnest($1::int[]) AS t, run_input i WHERE i.retired_at IS NULL
      ORDER BY t, i.name
     ON CONFLICT DO NOTHING`,
    [roots, now],
  );
  return r.rowCount ?? 0;
}

/**
 * Every output of the upstream's done steps that passes the edge's match has a step downstream,
 * linked. `match` globs are applied here, not in SQL. Out of a gather task flows only its step
 * over the latest listing. No marks: a run looks at every done step of the upstream version.
 */
export async function reconcile(
  sql: Sql,
  edge: EdgeInput,
): Promise<{ created: number; reused: number; linked: number }> {
  const none = { created: 0, reused: 0, linked: 0 };
  if (edge.toGather) return none;
  let only: number | null = null;
  if (edge.fromGather) {
    const g = await sql.query<{ id: string | null }>(
      `SELECT gather_step_id AS id FROM current_task WHERE task_id = $1`,
      [edge.fromTaskId],
    );
    only = Number(g.rows[0]?.id ?? 0);
  }
  const outs = await sql.query<{ id: string; round: number; name: string; object_hash: Buffer }>(
    `SELECT s.id, s.round, o.name, o.object_hash FROM step s JOIN step_output o ON o.step_id = s.id
      WHERE s.task = $1 AND s.status = 'done' AND ($2::bigint IS NULL OR s.id = $2) ORDER BY s.id, o.name`,
    [edge.fromTaskId, only],
  );
  const rows = outs.rows.filter((r) => edge.match === null || matchesAny(edge.match, r.name));
  if (rows.length === 0) return none;
  const now = Date.now();
  const made = await sql.query(
    `INSERT INTO step(task, object_hash, input_name, round, created_at)
     SELECT $1, h, n, r, $5 FROM unnest($2::bytea[], $3::text[], $4::int[]) WITH ORDINALITY AS x(h, n, r, k)
      ORDER BY k
     ON CONFLICT DO NOTHING`,
    [
      edge.toTaskId,
      rows.map((r) => r.object_hash),
      rows.map((r) => r.name),
      rows.map((r) => (edge.cycle ? r.round + 1 : 0)),
      now,
    ],
  );
  const links = await sql.query<{ status: string }>(
    `WITH pairs AS (
       SELECT x.f, s.id AS t, s.status FROM unnest($2::bigint[], $3::bytea[], $4::text[]) AS x(f, h, n)
         JOIN step s ON s.task = $1 AND s.object_hash = x.h AND s.input_name = x.n),
     made AS (
       INSERT INTO step_link(from_step_id, to_step_id) SELECT f, t FROM pairs ON CONFLICT DO NOTHING
       RETURNING from_step_id, to_step_id)
     SELECT p.status FROM made JOIN pairs p ON p.f = made.from_step_id AND p.t = made.to_step_id`,
    [edge.toTaskId, rows.map((r) => r.id), rows.map((r) => r.object_hash), rows.map((r) => r.name)],
  );
  const reused = links.rows.filter((r) => r.status === 'done').length;
  return { created: made.rowCount ?? 0, reused, linked: links.rows.length };
}
