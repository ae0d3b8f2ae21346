import { UserError } from '../../errors.js';
import { value, type InspectDb } from './query.js';
import { STEP_REF_COLUMNS, STEP_REF_JOINS, toStepRef, type RawRow, type StepRef } from './step-ref.js';

export interface StepDetail extends StepRef {
  inputName: string;
  inputHash: string;
  attempts: number;
  exitCode: number | null;
  error: string | null;
  /** size is null when the log has no `object` row (fsck reports that). */
  log: { hash: string; size: number | null } | null;
  runId: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

type Row = Omit<StepDetail, 'log'> & { logHash: string | null; logSize: number | null };

export const STEP_DETAIL_SQL = {
  step: `SELECT ${STEP_REF_COLUMNS}, s.input_name AS inputName, lower(hex(s.object_hash)) AS inputHash, s.attempts,
                s.exit_code AS exitCode, s.error, nullif(lower(hex(a.log_hash)), '') AS logHash, b.size AS logSize, s.run_id AS runId,
                s.created_at AS createdAt, s.started_at AS startedAt, s.finished_at AS finishedAt
           FROM step s ${STEP_REF_JOINS}
           LEFT JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts LEFT JOIN object b ON b.hash = a.log_hash
          WHERE s.id = ?`,
  maxId: `SELECT max(id) FROM step`,
};

/** One step by id, with where its log is; a UserError (exit 2) for an id that is not a step. */
export async function stepDetail(db: Pick<InspectDb, 'q' | 'name'>, id: string): Promise<StepDetail> {
  if (!/^[1-9][0-9]{0,15}$/.test(id))
    throw new UserError('EUSAGE', `log: "${id}" is not a step id (a positive integer, as status and show print them)`);
  const row = await db.q.get<RawRow<Row>>(STEP_DETAIL_SQL.step, [Number(id)]);
  if (!row) {
    const max = (await value<number | null>(db.q, STEP_DETAIL_SQL.maxId)) ?? null;
    throw new UserError(
      'ENOSTEP',
      `no step ${id} in ${db.name} (${max === null ? 'it has no steps yet' : `step ids go from 1 to ${max}`})`,
    );
  }
  const { logHash, logSize, ...rest } = toStepRef<Row>(row);
  return {
    ...rest,
    log: logHash === null ? null : { hash: logHash, size: logSize },
  };
}
