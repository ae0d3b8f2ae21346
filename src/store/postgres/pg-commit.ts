import type { FanOut, StepOutcome } from '../metadata-store.js';
import { hashBytes, type PgDb, type Sql } from './pg-db.js';

export interface FencedResult {
  /** Outcomes written now (or by an earlier try of this same transaction). */
  committed: StepOutcome[];
  /** Outcomes refused: the step is no longer running under this lease (it expired; another process has it). */
  fenced: StepOutcome[];
  /** Per task id, links made to steps already done: work found instead of done. */
  reused: Map<number, number>;
  /** Nothing written: the current graph is no longer generation `graph` (fan-outs must be worked out again). */
  stale: boolean;
}

/**
 * Commit finished steps, fenced: a step's row is updated only while it is still `running`
 * under `lease`, the claim it was run for. A process whose lease expired (paused, cut off) and
 * whose steps were then claimed by another cannot commit them a second time. Safe to run twice
 * (PgDb.tx tries again after a lost connection): a step already finished under this lease is
 * taken as committed, and every insert is ON CONFLICT DO NOTHING.
 * `retries`: per task id, how many failed attempts within the run go back to pending.
 *
 * `graph`: the generation of the current graph the fan-outs were worked out from. A new run
 * publishes a new graph (new edges, new task versions), then reconciles the done steps along
 * it; a commit made from an older graph after that reconcile would feed the old edges only. So
 * the commit holds the generation's row (FOR SHARE: a new graph waits for it, and it waits for
 * a new graph being published), and refuses the whole batch, as `stale`, if it has moved.
 */
export async function commitFenced(
  db: PgDb,
  lease: number,
  runId: number | null,
  outcomes: StepOutcome[],
  retries: Map<number, number>,
  graph?: number,
): Promise<FencedResult> {
  const sorted = [...outcomes].sort((a, b) => a.stepId - b.stepId);
  return db.tx(async (sql) => {
    const result: FencedResult = { committed: [], fenced: [], reused: new Map(), stale: false };
    if (graph !== undefined) {
      const g = await sql.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'graph' FOR SHARE`);
      if (Number(g.rows[0]?.value ?? 0) !== graph) return { ...result, stale: true };
    }
    const now = Date.now();
    await insertObjects(sql, sorted, now);
    for (const o of sorted) {
      const attempt = await finishStep(sql, lease, runId, o, retries.get(o.taskId) ?? 0);
      if (attempt === 'fenced') {
        result.fenced.push(o);
        continue;
      }
      result.committed.push(o);
      if (attempt === 'already' || o.status !== 'done') continue;
      await fanOut(sql, o.stepId, o.fanOut, now, result.reused);
    }
    return result;
  });
}

/** Object rows first: the step, output and attempt rows reference them. */
async function insertObjects(sql: Sql, outcomes: StepOutcome[], now: number): Promise<void> {
  const objects = new Map<string, number>();
  for (const o of outcomes) {
    if (o.log) objects.set(o.log.hash, o.log.size);
    if (o.status === 'done') for (const out of o.outputs) objects.set(out.hash, out.size);
  }
  if (objects.size === 0) return;
  const hashes = [...objects.keys()].sort();
  await sql.query(
    `INSERT INTO object(hash, size, created_at) SELECT h, s, $3 FROM unnest($1::bytea[], $2::bigint[]) AS x(h, s)
     ON CONFLICT DO NOTHING`,
    [hashes.map(hashBytes), hashes.map((h) => objects.get(h)!), now],
  );
}

/** The step row, if the lease still holds it: its attempt number, 'already' (an earlier try landed), or 'fenced'. */
async function finishStep(
  sql: Sql,
  lease: number,
  runId: number | null,
  o: StepOutcome,
  retries: number,
): Promise<number | 'already' | 'fenced'> {
  let status: string = o.status;
  if (o.status === 'failed' && retries > 0) {
    // A retry within the run: the failed attempts this run has made of it so far.
    const r = await sql.query<{ n: string }>(`SELECT count(*) AS n FROM attempt WHERE step_id = $1 AND run_id = $2`, [
      o.stepId,
      runId,
    ]);
    if (Number(r.rows[0]!.n) < retries) status = 'pending';
  }
  // One statement: the fenced update, then (only if it matched) the attempt, the outputs and the lease's count.
  const r = o.rusage;
  const done = o.status === 'done';
  const updated = await sql.query<{ attempts: number }>(
    `WITH up AS (
       UPDATE step SET status = $3, exit_code = $4, error = $5, log_hash = $6, run_id = $7, started_at = $8,
                       finished_at = $9, attempts = attempts + 1
        WHERE id = $1 AND status = 'running' AND lease = $2 RETURNING id, attempts),
     att AS (
       INSERT INTO attempt(step_id, attempt, run_id, lease, status, started_at, ended_at, exit_code, signal, error,
                           timed_out, log_hash, cpu_user_ms, cpu_sys_ms, max_rss_kb)
       SELECT id, attempts, $7, $2, $10, $8, $9, $4, $11, $5, $12, $6, $13, $14, $15 FROM up ON CONFLICT DO NOTHING),
     outs AS (
       INSERT INTO step_output(step_id, name, object_hash)
       SELECT up.id, n, h FROM up, unnest($16::text[], $17::bytea[]) AS x(n, h) ON CONFLICT DO NOTHING),
     counted AS (
       UPDATE lease SET steps_done = steps_done + 1 WHERE id = $2 AND $18 AND EXISTS (SELECT 1 FROM up))
     SELECT attempts FROM up`,
    [
      o.stepId,
      lease,
      status,
      o.exitCode,
      o.error,
      o.log ? hashBytes(o.log.hash) : null,
      runId,
      o.startedAt,
      o.finishedAt,
      o.status,
      o.signal,
      o.timedOut,
      r ? Math.round(r.userMs) : null,
      r ? Math.round(r.sysMs) : null,
      r ? Math.round(r.maxRssKb) : null,
      done ? o.outputs.map((x) => x.name) : [],
      done ? o.outputs.map((x) => hashBytes(x.hash)) : [],
      done,
    ],
  );
  if (updated.rows.length === 1) return updated.rows[0]!.attempts;
  const now = await sql.query<{ status: string; lease: string | null }>(
    `SELECT status, lease FROM step WHERE id = $1`,
    [o.stepId],
  );
  const row = now.rows[0];
  return row && row.status !== 'running' && row.lease !== null && Number(row.lease) === lease ? 'already' : 'fenced';
}

/** The downstream steps a done step's outputs feed: made when new, linked either way. */
async function fanOut(sql: Sql, from: number, items: FanOut[], now: number, reused: Map<number, number>) {
  if (items.length === 0) return;
  const sorted = [...items].sort((a, b) => a.taskId - b.taskId || cmp(a.hash, b.hash) || cmp(a.name, b.name));
  const cols = [
    sorted.map((f) => f.taskId),
    sorted.map((f) => hashBytes(f.hash)),
    sorted.map((f) => f.name),
    sorted.map((f) => f.round),
  ];
  await sql.query(
    `INSERT INTO step(task, object_hash, input_name, round, created_at)
     SELECT t, h, n, r, $5 FROM unnest($1::int[], $2::bytea[], $3::text[], $4::int[]) AS x(t, h, n, r)
     ON CONFLICT DO NOTHING`,
    [...cols, now],
  );
  const linked = await sql.query<{ task: number; status: string }>(
    `WITH targets AS (
       SELECT s.id, s.task, s.status FROM unnest($1::int[], $2::bytea[], $3::text[]) AS x(t, h, n)
         JOIN step s ON s.task = x.t AND s.object_hash = x.h AND s.input_name = x.n),
     made AS (
       INSERT INTO step_link(from_step_id, to_step_id) SELECT $4, id FROM targets ON CONFLICT DO NOTHING RETURNING to_step_id)
     SELECT t.task, t.status FROM made JOIN targets t ON t.id = made.to_step_id`,
    [cols[0], cols[1], cols[2], from],
  );
  for (const r of linked.rows) if (r.status === 'done') reused.set(r.task, (reused.get(r.task) ?? 0) + 1);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
