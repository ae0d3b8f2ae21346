import type { EdgeInput } from '../store/metadata-store.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { hashHex, type PgDb } from '../store/postgres/pg-db.js';
import type { PostgresMetadata } from '../store/postgres/pg-metadata.js';
import { fireGather } from '../engine/gather.js';
import { tailOf } from '../engine/log-text.js';
import type { TaskPlan } from '../engine/plan.js';
import type { RunSummary } from '../engine/run-summary.js';

/**
 * The coordinator's gathers: a gather fires once nothing upstream of it (transitively) is
 * pending, running or failed anywhere, workers' steps included, and again only when the done
 * steps upstream have moved since.
 */
export class PgGathers {
  private readonly gathers: TaskPlan[];
  private readonly firedAt = new Map<number, number>();

  constructor(
    private readonly meta: PostgresMetadata,
    private readonly store: LocalObjectStore,
    plans: TaskPlan[],
    private readonly edges: EdgeInput[],
    private readonly summary: RunSummary,
  ) {
    this.gathers = plans.filter((p) => p.spec.gather);
  }

  /** Steps of these tasks still to run or running, here or on a worker (cut rounds of a cycle left out). */
  async openSteps(plans: TaskPlan[]): Promise<number> {
    const r = await this.meta.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM step s JOIN unnest($1::int[], $2::int[]) AS t(id, max_round) ON s.task = t.id
        WHERE s.status = 'running' OR (s.status = 'pending' AND s.round <= t.max_round)`,
      [plans.map((p) => p.taskId), plans.map((p) => p.spec.maxRounds)],
    );
    return Number(r[0]!.n);
  }

  /** Fire what is ready; true when that made steps to run. */
  async fire(): Promise<boolean> {
    let made = false;
    for (const plan of this.gathers) {
      let unfinished = 0;
      let done = 0;
      for (const id of plan.closure) {
        const c = await this.meta.taskCounts(id);
        unfinished += c.pending + c.running + c.failed;
        done += c.done;
      }
      if (unfinished > 0 || this.firedAt.get(plan.taskId) === done) continue;
      this.firedAt.set(plan.taskId, done);
      const g = await fireGather(this.meta, this.store, plan.taskId);
      if (g.status === 'pending' || g.status === 'failed') {
        if (g.status === 'failed') await this.meta.release([g.stepId]);
        made = true;
        continue;
      }
      if (g.wasCurrent || g.status !== 'done') continue;
      // A listing seen before (an undo): its step is done, and what it produced flows on now.
      this.summary.tasks.get(plan.spec.name)!.reused++;
      for (const e of this.edges) {
        if (e.fromTaskId !== plan.taskId) continue;
        const r = await this.meta.reconcileEdge(e);
        if (r.created > 0) made = true;
      }
    }
    return made;
  }

  /** Gathers that could not fire: something upstream failed (or was cut). */
  async heldBack(): Promise<string[]> {
    const held: string[] = [];
    for (const plan of this.gathers) {
      for (const id of plan.closure) {
        if ((await this.meta.unfinishedCount(id)) > 0) {
          held.push(plan.spec.name);
          break;
        }
      }
    }
    return held;
  }
}

/** What the run did, workers included: the attempts made under this run, its failed steps, the objects added. */
export async function summariseFromDb(
  db: PgDb,
  store: LocalObjectStore,
  summary: RunSummary,
  plans: TaskPlan[],
  started: number,
): Promise<void> {
  const names = new Map(plans.map((p) => [p.taskId, p.spec.name]));
  const ran = await db.query<{ task: number; n: string }>(
    `SELECT s.task, count(*) AS n FROM attempt a JOIN step s ON s.id = a.step_id
      WHERE a.run_id = $1 AND a.status = 'done' GROUP BY s.task`,
    [summary.runId],
  );
  for (const r of ran) {
    const counts = summary.tasks.get(names.get(r.task) ?? '');
    if (counts) counts.ran = Number(r.n);
  }
  const failed = await db.query<{
    id: string;
    task: number;
    exit_code: number | null;
    error: string | null;
    log_hash: Buffer | null;
    size: string | null;
  }>(
    `SELECT s.id, s.task, s.exit_code, s.error, s.log_hash, b.size FROM step s LEFT JOIN object b ON b.hash = s.log_hash
      WHERE s.run_id = $1 AND s.status = 'failed' AND s.task = ANY($2::int[]) ORDER BY s.id`,
    [summary.runId, plans.map((p) => p.taskId)],
  );
  for (const f of failed) {
    const task = names.get(f.task)!;
    summary.tasks.get(task)!.failed++;
    const size = Number(f.size ?? 0);
    summary.failures.push({
      task,
      stepId: Number(f.id),
      exitCode: f.exit_code,
      error: f.error ?? 'failed',
      logTail: f.log_hash && size > 0 ? tailOf(store.pathOf(hashHex(f.log_hash)), size) : '',
    });
  }
  const added = await db.query<{ n: string; bytes: string }>(
    `SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM object WHERE created_at >= $1`,
    [started],
  );
  summary.objectsAdded = Number(added[0]!.n);
  summary.bytesAdded = Number(added[0]!.bytes);
}
