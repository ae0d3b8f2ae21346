import { PgDb, redactUrl } from '../store/postgres/pg-db.js';
import { checkPgSchema } from '../store/postgres/pg-schema.js';
import { pgStatus, type PgStatus } from '../store/postgres/pg-status.js';
import type { Io } from './command.js';
import { table } from './format.js';

/** `status -db postgres://...`: the current graph's steps per task, and the processes that claim them. */
export async function statusOnPostgres(url: string, json: boolean, io: Io): Promise<number> {
  const db = new PgDb(url);
  try {
    await checkPgSchema(db);
    const s = await pgStatus(db);
    io.stdout.write(json ? `${JSON.stringify(s, null, 2)}\n` : formatPgStatus(s, redactUrl(url)));
    return 0;
  } finally {
    await db.close();
  }
}

function formatPgStatus(s: PgStatus, where: string): string {
  if (s.tasks.length === 0) return `${where}: no tasks yet\n`;
  const tasks = table(
    ['task', 'version', 'pending', 'running', 'done', 'failed'],
    s.tasks.map((t) => [t.name, t.version.slice(0, 8), t.pending, t.running, t.done, t.failed]),
  );
  const leases =
    s.leases.length === 0
      ? 'no workers yet'
      : table(
          ['lease', 'kind', 'host', 'pid', 'state', 'parallel', 'running', 'done', 'heartbeat', 'expires in'],
          s.leases.map((l) => [
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
        );
  const r = s.latestRun;
  const run =
    r === null
      ? 'no run yet'
      : `latest run ${r.id} (pid ${r.pid} on ${r.host}): ${
          r.finishedAt === null
            ? `started ${new Date(r.startedAt).toISOString()}, not finished (running, or killed)`
            : `finished ${new Date(r.finishedAt).toISOString()}, exit ${r.exitCode}`
        }`;
  return `${tasks}\n\n${leases}\n\n${run}; history hidden\n`;
}
