import { currentStepIds } from './pg-current.js';
import type { PgDb } from './pg-db.js';

export interface PgTaskStatus {
  name: string;
  taskId: number;
  version: string;
  pending: number;
  running: number;
  done: number;
  failed: number;
}

export interface PgLeaseStatus {
  lease: number;
  kind: string;
  host: string;
  pid: number;
  state: string;
  parallel: number;
  /** Steps running under this lease now. */
  running: number;
  stepsDone: number;
  startedAt: string;
  /** Seconds since its last heartbeat, by the server's clock. */
  heartbeatAgoS: number;
  /** Seconds until the lease expires without a heartbeat (negative: expired, not yet reaped). */
  expiresInS: number;
}

export interface PgStatus {
  tasks: PgTaskStatus[];
  leases: PgLeaseStatus[];
  latestRun: {
    id: number;
    host: string;
    pid: number;
    startedAt: number;
    finishedAt: number | null;
    exitCode: number | null;
  } | null;
}

/** Per current task, the steps of the current graph by status; the live leases and the latest ended ones. */
export async function pgStatus(db: PgDb): Promise<PgStatus> {
  const ids = [...(await currentStepIds(db))];
  const counts = await db.query<{ task: number; status: keyof PgTaskStatus; n: string }>(
    `SELECT task, status, count(*) AS n FROM step WHERE id = ANY($1::bigint[]) GROUP BY task, status`,
    [ids],
  );
  const tasks = await db.query<{ name: string; task_id: number; version: string }>(
    `SELECT c.name, c.task_id, t.version FROM current_task c JOIN task t ON t.id = c.task_id ORDER BY c.position`,
  );
  const status: PgTaskStatus[] = tasks.map((t) => ({
    name: t.name,
    taskId: t.task_id,
    version: t.version,
    pending: 0,
    running: 0,
    done: 0,
    failed: 0,
  }));
  const byId = new Map(status.map((t) => [t.taskId, t]));
  for (const c of counts) {
    const t = byId.get(c.task);
    if (t) (t[c.status] as number) = Number(c.n);
  }
  const leases = await db.query<{
    id: string;
    kind: string;
    host: string;
    pid: number;
    state: string;
    parallel: number;
    running: string;
    steps_done: string;
    started_at: Date;
    ago: number;
    left: number;
  }>(
    `SELECT l.id, l.kind, l.host, l.pid, l.state, l.parallel, l.steps_done, l.started_at,
            (SELECT count(*) FROM step s WHERE s.lease = l.id AND s.status = 'running') AS running,
            extract(epoch FROM now() - l.heartbeat_at)::float8 AS ago,
            extract(epoch FROM l.expires_at - now())::float8 AS left
       FROM lease l
      WHERE l.state = 'live' OR l.id IN (SELECT id FROM lease WHERE state <> 'live' ORDER BY id DESC LIMIT 10)
      ORDER BY l.id`,
  );
  const run = await db.query<{
    id: string;
    host: string;
    pid: number;
    started_at: string;
    finished_at: string | null;
    exit_code: number | null;
  }>(`SELECT id, host, pid, started_at, finished_at, exit_code FROM run ORDER BY id DESC LIMIT 1`);
  const r = run[0];
  return {
    tasks: status,
    leases: leases.map((l) => ({
      lease: Number(l.id),
      kind: l.kind,
      host: l.host,
      pid: l.pid,
      state: l.state,
      parallel: l.parallel,
      running: Number(l.running),
      stepsDone: Number(l.steps_done),
      startedAt: l.started_at.toISOString(),
      heartbeatAgoS: Math.round(l.ago * 10) / 10,
      expiresInS: Math.round(l.left * 10) / 10,
    })),
    latestRun: r
      ? {
          id: Number(r.id),
          host: r.host,
          pid: r.pid,
          startedAt: Number(r.started_at),
          finishedAt: r.finished_at === null ? null : Number(r.finished_at),
          exitCode: r.exit_code,
        }
      : null,
  };
}
