import { hostname } from 'node:os';
import { matchesAny } from '../../manifest/glob.js';
import type { ListingEntry } from '../listing.js';
import type {
  CommitBatch,
  CommitEffect,
  CurrentTaskInput,
  EdgeInput,
  GatherStep,
  InputChanges,
  LeafStep,
  MetadataStore,
  NamedObject,
  ObjectRow,
  RunInputFile,
  StepStatus,
  TaskVersionInput,
} from '../metadata-store.js';
import { commitFenced } from './pg-commit.js';
import { currentStepIds } from './pg-current.js';
import { hashBytes, hashHex, type PgDb } from './pg-db.js';
import { missingFrom } from './pg-input-cache.js';
import { leafOf, PgLeases, type RawLeaf } from './pg-leases.js';
import { addInputs, reconcile, rootSteps } from './pg-reconcile.js';

/**
 * The PostgreSQL metadata store, as a run's coordinator uses it: the same verbs as SQLite's.
 * Claims and commits go under the coordinator's lease (`lease`), like any worker's, so that
 * steps it runs are fenced the same way.
 */
export class PostgresMetadata implements MetadataStore {
  readonly leases: PgLeases;
  lease = 0;

  constructor(readonly db: PgDb) {
    this.leases = new PgLeases(db);
  }

  async beginRun(manifest: string, pid: number): Promise<number> {
    const r = await this.db.query<{ id: string }>(
      `INSERT INTO run(manifest, host, pid, started_at) VALUES ($1, $2, $3, $4) RETURNING id`,
      [manifest, hostname(), pid, Date.now()],
    );
    return Number(r[0]!.id);
  }

  async finishRun(runId: number, exitCode: number, summary: unknown): Promise<void> {
    await this.db.query(`UPDATE run SET finished_at = $1, exit_code = $2, summary = $3 WHERE id = $4`, [
      Date.now(),
      exitCode,
      JSON.stringify(summary),
      runId,
    ]);
  }

  async registerTasks(tasks: TaskVersionInput[]): Promise<Map<string, number>> {
    return this.db.tx(async (sql) => {
      const ids = new Map<string, number>();
      for (const t of tasks) {
        await sql.query(
          `INSERT INTO task(name, script, version, definition, created_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name, version) DO NOTHING`,
          [t.name, t.script, t.version, t.definition, Date.now()],
        );
        const r = await sql.query<{ id: number }>(`SELECT id FROM task WHERE name = $1 AND version = $2`, [
          t.name,
          t.version,
        ]);
        ids.set(t.name, r.rows[0]!.id);
      }
      return ids;
    });
  }

  /** Also publishes the graph for the workers: a new generation makes them load it again. */
  async setCurrentGraph(tasks: CurrentTaskInput[], edges: EdgeInput[], runId?: number, only?: number[]) {
    await this.db.tx(async (sql) => {
      const old = await sql.query<{ task_id: number; id: string }>(
        `SELECT task_id, gather_step_id AS id FROM current_task WHERE gather_step_id IS NOT NULL`,
      );
      const kept = new Map(old.rows.map((r) => [r.task_id, r.id]));
      await sql.query(`DELETE FROM current_task`);
      await sql.query(`DELETE FROM current_edge`);
      for (const t of tasks) {
        await sql.query(
          `INSERT INTO current_task(name, task_id, position, is_root, gather, spec, gather_step_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            t.name,
            t.taskId,
            t.position,
            t.isRoot,
            t.gather,
            JSON.stringify(t.spec),
            t.gather ? (kept.get(t.taskId) ?? null) : null,
          ],
        );
      }
      for (const e of edges) {
        await sql.query(
          `INSERT INTO current_edge(from_task_id, to_task_id, match, to_gather) VALUES ($1, $2, $3, $4)
           ON CONFLICT (from_task_id, to_task_id) DO UPDATE SET match = excluded.match, to_gather = excluded.to_gather`,
          [e.fromTaskId, e.toTaskId, e.match ? JSON.stringify(e.match) : null, e.toGather],
        );
      }
      await sql.query(
        `INSERT INTO meta(key, value) VALUES ('graph', '1'), ('run', $1), ('only', $2)
         ON CONFLICT (key) DO UPDATE SET value = CASE WHEN meta.key = 'graph' THEN (meta.value::bigint + 1)::text
                                                      ELSE excluded.value END`,
        [String(runId ?? 0), JSON.stringify(only && only.length > 0 ? only : null)],
      );
    });
  }

  /** Expired leases' steps go back to pending (live workers keep theirs); failed current steps are due again. */
  async recover(currentTaskIds: number[]): Promise<{ running: number; failed: number }> {
    const running = await this.leases.reap();
    const r = await this.db.query(
      `UPDATE step SET status = 'pending' WHERE task = ANY($1::int[]) AND status = 'failed' RETURNING id`,
      [currentTaskIds],
    );
    return { running, failed: r.length };
  }

  /** `lookForMissing` false: one batch of a bigger walk, whose missing names missingInputs finds at its end. */
  async addRunInputs(inputs: RunInputFile[], runId: number, lookForMissing = true): Promise<InputChanges> {
    return this.db.tx((sql) => addInputs(sql, inputs, runId, lookForMissing));
  }

  async missingInputs(dir: string, given: number, isFile: (path: string) => boolean): Promise<string[]> {
    return missingFrom(this.db, dir, given, isFile);
  }

  async hasRunInputs(): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM run_input LIMIT 1`)).length > 0;
  }

  async ensureRootSteps(rootTaskIds: number[], seed: ObjectRow | null): Promise<number> {
    return this.db.tx((sql) => rootSteps(sql, rootTaskIds, seed));
  }

  async reconcileEdge(edge: EdgeInput): Promise<{ created: number; reused: number; linked: number }> {
    return this.db.tx((sql) => reconcile(sql, edge));
  }

  async pendingPage(taskId: number, afterId: number, limit: number, maxRound: number): Promise<LeafStep[]> {
    const rows = await this.db.query<RawLeaf>(
      `SELECT id, task, object_hash, input_name, attempts, round FROM step
        WHERE task = $1 AND status = 'pending' AND id > $2 AND round <= $3 ORDER BY id LIMIT $4`,
      [taskId, afterId, maxRound, limit],
    );
    return rows.map(leafOf);
  }

  async cutCount(taskId: number, maxRound: number): Promise<number> {
    return this.count(`SELECT count(*) AS n FROM step WHERE task = $1 AND status = 'pending' AND round > $2`, [
      taskId,
      maxRound,
    ]);
  }

  /** -force: the task's done steps in the current graph are pending again, their recorded outputs dropped. */
  async force(taskId: number): Promise<number> {
    const current = [...(await currentStepIds(this.db))];
    return this.db.tx(async (sql) => {
      const r = await sql.query<{ id: string }>(
        `UPDATE step SET status = 'pending', lease = NULL
          WHERE task = $1 AND status = 'done' AND id = ANY($2::bigint[]) RETURNING id`,
        [taskId, current],
      );
      const ids = r.rows.map((x) => x.id);
      await sql.query(`DELETE FROM step_output WHERE step_id = ANY($1::bigint[])`, [ids]);
      return ids.length;
    });
  }

  async hasOutputs(taskId: number): Promise<boolean> {
    const r = await this.db.query(
      `SELECT 1 FROM step s JOIN step_output o ON o.step_id = s.id WHERE s.task = $1 AND s.status = 'done' LIMIT 1`,
      [taskId],
    );
    return r.length > 0;
  }

  async mergedCount(taskId: number): Promise<number> {
    return this.count(
      `SELECT count(*) AS n FROM (SELECT t.id FROM step t JOIN step_link l ON l.to_step_id = t.id
          JOIN step f ON f.id = l.from_step_id
         WHERE t.task = $1 AND f.task IN (SELECT task_id FROM current_task) GROUP BY t.id HAVING count(*) > 1) m`,
      [taskId],
    );
  }

  async unfinishedCount(taskId: number): Promise<number> {
    return this.count(`SELECT count(*) AS n FROM step WHERE task = $1 AND status IN ('pending', 'running', 'failed')`, [
      taskId,
    ]);
  }

  async taskCounts(taskId: number): Promise<Record<StepStatus, number>> {
    const counts: Record<StepStatus, number> = { pending: 0, running: 0, done: 0, failed: 0 };
    const rows = await this.db.query<{ status: StepStatus; n: string }>(
      `SELECT status, count(*) AS n FROM step WHERE task = $1 GROUP BY status`,
      [taskId],
    );
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  async release(stepIds: number[]): Promise<void> {
    await this.db.query(
      `UPDATE step SET status = 'pending', lease = NULL WHERE id = ANY($1::bigint[]) AND status IN ('running', 'failed')`,
      [stepIds],
    );
  }

  /** Claims and outcomes under the coordinator's lease (fenced). Created steps are left for the claims to find. */
  async commit(batch: CommitBatch, runId: number): Promise<CommitEffect> {
    const r = await commitFenced(this.db, this.lease, runId, batch.outcomes, new Map());
    return { created: new Map(), reused: r.reused, merged: new Map() };
  }

  async gatherListing(gatherTaskId: number): Promise<(ListingEntry & { stepId: number })[]> {
    const current = await currentStepIds(this.db);
    const rows = await this.db.query<{
      hash: Buffer;
      name: string;
      from_name: string;
      step_id: string;
      match: string | null;
    }>(
      `SELECT o.object_hash AS hash, o.name, s.input_name AS from_name, s.id AS step_id, e.match
         FROM current_edge e JOIN step s ON s.task = e.from_task_id AND s.status = 'done'
         JOIN step_output o ON o.step_id = s.id
        WHERE e.to_task_id = $1 ORDER BY s.id, o.name`,
      [gatherTaskId],
    );
    return rows
      .filter((r) => current.has(Number(r.step_id)))
      .filter((r) => r.match === null || matchesAny(JSON.parse(r.match) as string[], r.name))
      .map((r) => ({ hash: hashHex(r.hash), name: r.name, fromName: r.from_name, stepId: Number(r.step_id) }));
  }

  async ensureGatherStep(taskId: number, listing: NamedObject, fromStepIds: number[]): Promise<GatherStep> {
    return this.db.tx(async (sql) => {
      const now = Date.now();
      const hash = hashBytes(listing.hash);
      await sql.query(`INSERT INTO object(hash, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        hash,
        listing.size,
        now,
      ]);
      const made = await sql.query(
        `INSERT INTO step(task, object_hash, input_name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [taskId, hash, listing.name, now],
      );
      const row = (
        await sql.query<{ id: string; status: StepStatus }>(
          `SELECT id, status FROM step WHERE task = $1 AND object_hash = $2 AND input_name = $3`,
          [taskId, hash, listing.name],
        )
      ).rows[0]!;
      const prev = await sql.query<{ id: string | null }>(
        `SELECT gather_step_id AS id FROM current_task WHERE task_id = $1`,
        [taskId],
      );
      await sql.query(
        `INSERT INTO step_link(from_step_id, to_step_id) SELECT f, $2 FROM unnest($1::bigint[]) AS f ON CONFLICT DO NOTHING`,
        [fromStepIds, row.id],
      );
      await sql.query(`UPDATE current_task SET gather_step_id = $1 WHERE task_id = $2`, [row.id, taskId]);
      const id = Number(row.id);
      const previous = prev.rows[0]?.id;
      return { stepId: id, status: row.status, created: (made.rowCount ?? 0) > 0, wasCurrent: Number(previous) === id };
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private async count(sql: string, params: unknown[]): Promise<number> {
    const r = await this.db.query<{ n: string }>(sql, params);
    return Number(r[0]!.n);
  }
}
