import { hostname } from 'node:os';
import type { LeafStep } from '../metadata-store.js';
import { hashHex, type PgDb } from './pg-db.js';

/** How long a claim lives without a heartbeat (ms): TASK_PIPELINE_LEASE_MS, a test hook, else 30 s. */
export function leaseMs(): number {
  const v = Number(process.env.TASK_PIPELINE_LEASE_MS);
  return Number.isFinite(v) && v >= 200 ? v : 30_000;
}

/** What a claim may take of one task: its id and how many rounds of a cycle it may be into. */
export interface Claimable {
  taskId: number;
  maxRound: number;
  limit: number;
}

/** What the coordinator publishes for the workers: the current graph's generation, its run, -task. */
export interface RunState {
  graph: number;
  runId: number | null;
  /** Task ids a `-task` run limits the work to; null for all. */
  only: number[] | null;
}

/**
 * Leases: a coordinator or worker process registers one and claims steps under its id. A
 * heartbeat keeps it alive; a lease past its expiry (its process died, or lost the db longer than
 * the lease) is reaped by whoever looks next, and its running steps go back to pending. The
 * lease id is the fence: a commit only lands on a step still running under the claim it was
 * made for (pg-commit.ts). Times are the server's (now()), so hosts' clocks do not matter.
 */
export class PgLeases {
  constructor(private readonly db: PgDb) {}

  async register(kind: 'coordinator' | 'worker', parallel: number): Promise<number> {
    const rows = await this.db.query<{ id: string }>(
      `INSERT INTO lease(kind, host, pid, parallel, expires_at) VALUES ($1, $2, $3, $4, now() + $5 * interval '1 ms')
       RETURNING id`,
      [kind, hostname(), process.pid, parallel, leaseMs()],
    );
    return Number(rows[0]!.id);
  }

  /** Extend the lease; false when it was reaped meanwhile (its steps may be running elsewhere now). */
  async heartbeat(lease: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE lease SET heartbeat_at = now(), expires_at = now() + $2 * interval '1 ms'
        WHERE id = $1 AND state = 'live' RETURNING id`,
      [lease, leaseMs()],
    );
    return rows.length === 1;
  }

  /** Expired leases end, and the steps they held are pending again. Returns how many steps. */
  async reap(): Promise<number> {
    return this.db.tx(async (sql) => {
      const dead = await sql.query<{ id: string }>(
        `UPDATE lease SET state = 'expired' WHERE state = 'live' AND expires_at < now() RETURNING id`,
      );
      if (dead.rows.length === 0) return 0;
      const freed = await sql.query(
        `UPDATE step SET status = 'pending', lease = NULL WHERE status = 'running' AND lease = ANY($1::bigint[])`,
        [dead.rows.map((r) => r.id)],
      );
      return freed.rowCount ?? 0;
    });
  }

  /** A process that stops: what it still holds goes back to pending at once, not at expiry. */
  async end(lease: number): Promise<void> {
    await this.db.tx(async (sql) => {
      await sql.query(`UPDATE step SET status = 'pending', lease = NULL WHERE status = 'running' AND lease = $1`, [
        lease,
      ]);
      await sql.query(`UPDATE lease SET state = 'ended' WHERE id = $1 AND state = 'live'`, [lease]);
    });
  }

  /**
   * Claim up to `limit` pending steps of these tasks, oldest first, skipping rows another claim
   * has locked, and only while the lease is live. One statement: the claim is atomic.
   */
  async claim(lease: number, runId: number | null, tasks: Claimable[], limit: number): Promise<LeafStep[]> {
    if (tasks.length === 0 || limit <= 0) return [];
    const rows = await this.db.query<RawLeaf>(
      `WITH t AS (SELECT * FROM unnest($3::int[], $4::int[], $5::int[]) AS t(id, max_round, lim)),
            pick AS (
              SELECT s.id FROM t, LATERAL (
                SELECT s.id FROM step s WHERE s.task = t.id AND s.status = 'pending' AND s.round <= t.max_round
                 ORDER BY s.id LIMIT t.lim FOR UPDATE SKIP LOCKED) s
               WHERE EXISTS (SELECT 1 FROM lease WHERE id = $1 AND state = 'live')
               ORDER BY s.id LIMIT $6)
       UPDATE step s SET status = 'running', lease = $1, run_id = $2, started_at = $7
         FROM pick WHERE s.id = pick.id
       RETURNING s.id, s.task, s.object_hash, s.input_name, s.attempts, s.round`,
      [
        lease,
        runId,
        tasks.map((t) => t.taskId),
        tasks.map((t) => t.maxRound),
        tasks.map((t) => t.limit),
        limit,
        Date.now(),
      ],
    );
    return rows.map(leafOf).sort((a, b) => a.id - b.id);
  }

  /** Steps given back (interrupted): pending again, if this lease still holds them. */
  async release(lease: number, stepIds: number[]): Promise<void> {
    if (stepIds.length === 0) return;
    await this.db.query(
      `UPDATE step SET status = 'pending', lease = NULL WHERE id = ANY($2::bigint[]) AND lease = $1 AND status = 'running'`,
      [lease, stepIds],
    );
  }

  /**
   * After a lost connection a claim may have landed without its answer: what the lease holds
   * beyond the steps in hand goes back to pending.
   */
  async releaseOrphans(lease: number, inHand: number[]): Promise<number> {
    const rows = await this.db.query(
      `UPDATE step SET status = 'pending', lease = NULL
        WHERE lease = $1 AND status = 'running' AND NOT (id = ANY($2::bigint[])) RETURNING id`,
      [lease, inHand],
    );
    return rows.length;
  }

  async runState(): Promise<RunState> {
    const rows = await this.db.query<{ key: string; value: string }>(
      `SELECT key, value FROM meta WHERE key IN ('graph', 'run', 'only')`,
    );
    const m = new Map(rows.map((r) => [r.key, r.value]));
    return {
      graph: Number(m.get('graph') ?? 0),
      runId: m.has('run') ? Number(m.get('run')) : null,
      only: m.has('only') ? (JSON.parse(m.get('only')!) as number[] | null) : null,
    };
  }
}

export interface RawLeaf {
  id: string;
  task: number;
  object_hash: Buffer;
  input_name: string;
  attempts: number;
  round: number;
}

export function leafOf(r: RawLeaf): LeafStep {
  return {
    id: Number(r.id),
    task: r.task,
    object_hash: hashHex(r.object_hash),
    input_name: r.input_name,
    attempts: r.attempts,
    round: r.round,
  };
}
