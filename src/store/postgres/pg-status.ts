import type { Query } from '../inspect/query.js';

/** A process that claims steps on a PostgreSQL db: a run's coordinator or a worker, by its lease. */
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

// PostgreSQL's own SQL (no SQLite twin): the shim passes it through as it is.
const LEASES_SQL = `SELECT l.id AS lease, l.kind, l.host, l.pid, l.state, l.parallel, l.steps_done AS steps,
       to_char(l.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started,
       (SELECT count(*) FROM step s WHERE s.lease = l.id AND s.status = 'running') AS running,
       extract(epoch FROM now() - l.heartbeat_at)::float8 AS ago,
       extract(epoch FROM l.expires_at - now())::float8 AS remaining
  FROM lease l
 WHERE l.state = 'live' OR l.id IN (SELECT id FROM lease WHERE state <> 'live' ORDER BY id DESC LIMIT 10)
 ORDER BY l.id`;

/** The live leases and the latest ten ended ones, oldest first. */
export async function pgLeases(q: Query): Promise<PgLeaseStatus[]> {
  const rows = await q.all<{
    lease: number;
    kind: string;
    host: string;
    pid: number;
    state: string;
    parallel: number;
    steps: number;
    started: string;
    running: number;
    ago: number;
    remaining: number;
  }>(LEASES_SQL);
  return rows.map((l) => ({
    lease: l.lease,
    kind: l.kind,
    host: l.host,
    pid: l.pid,
    state: l.state,
    parallel: l.parallel,
    running: l.running,
    stepsDone: l.steps,
    startedAt: l.started,
    heartbeatAgoS: Math.round(l.ago * 10) / 10,
    expiresInS: Math.round(l.remaining * 10) / 10,
  }));
}
