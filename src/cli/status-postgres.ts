import type { PgLeaseStatus } from '../store/postgres/pg-status.js';
import { table } from './format.js';

/** What `status` adds on a PostgreSQL db, as a table: the processes that claim its steps, each worker and coordinator, its host and pid, its heartbeat. */
export function formatLeases(leases: PgLeaseStatus[]): string {
  if (leases.length === 0) return 'no workers yet\n';
  return `${table(
    ['lease', 'kind', 'host', 'pid', 'state', 'parallel', 'running', 'done', 'heartbeat', 'expires in'],
    leases.map((l) => [
      l.lease,
      l.kind,
      l.host,
      l.pid,
      l.state,
      l.parallel,
      l.running,
      l.stepsDone,
      l.state === 'live' ? `${l.heartbeatAgoS}s ago` : '-',
      l.state === 'live' ? `${l.expiresInS}s` : '-',
    ]),
  )}\n`;
}
