import type { Query } from './query.js';

/** One attempt of a step: a run of its script, however it ended. */
export interface StepAttempt {
  /** 1, 2, ...: earlier attempts of a db older than attempt records were not kept (see `attempts` of the step). */
  attempt: number;
  runId: number | null;
  status: 'done' | 'failed';
  /** null when not known (an attempt recorded by the migration from a step claimed again since). */
  startedAt: number | null;
  endedAt: number;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  timedOut: boolean;
  /** size is null when the log has no `object` row (fsck reports that). */
  log: { hash: string; size: number | null } | null;
  /** The script's process tree as the kernel reported it on exit; null when not measured. */
  cpuUserMs: number | null;
  cpuSysMs: number | null;
  maxRssKb: number | null;
}

type Row = Omit<StepAttempt, 'log' | 'timedOut'> & { timedOut: number; logHash: string | null; logSize: number | null };

export const STEP_ATTEMPTS_SQL = `
  SELECT a.attempt, a.run_id AS runId, a.status, a.started_at AS startedAt, a.ended_at AS endedAt, a.exit_code AS exitCode,
         a.signal, a.error, a.timed_out AS timedOut, nullif(lower(hex(a.log_hash)), '') AS logHash, b.size AS logSize,
         a.cpu_user_ms AS cpuUserMs, a.cpu_sys_ms AS cpuSysMs, a.max_rss_kb AS maxRssKb
    FROM attempt a LEFT JOIN object b ON b.hash = a.log_hash
   WHERE a.step_id = ? ORDER BY a.attempt`;

/** Every recorded attempt of a step, oldest first. */
export async function stepAttempts(q: Query, stepId: number): Promise<StepAttempt[]> {
  return (await q.all<Row>(STEP_ATTEMPTS_SQL, [stepId])).map(({ logHash, logSize, timedOut, ...rest }) => ({
    ...rest,
    timedOut: timedOut === 1,
    log: logHash === null ? null : { hash: logHash, size: logSize },
  }));
}
