import { statSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY_SQL } from '../hash-blob.js';
import { EMPTY_HASH, objectRelPath } from '../object-path.js';
import { stepInputIs } from '../schema.js';
import { COUNT_CAP } from './count-cap.js';
import type { FoundObject } from './find-object.js';
import { BYTES, value, type InspectDb } from './query.js';
import { STEP_REF_COLUMNS, STEP_REF_JOINS, toStepRef, type RawRow, type StepRef } from './step-ref.js';

export interface Produced extends StepRef {
  /** The output name the step gave these bytes. */
  name: string;
}

export interface Consumed extends StepRef {
  /** The name the bytes arrived under (the step's INPUT_NAME). */
  inputName: string;
}

export interface ObjectUsage {
  hash: string;
  size: number;
  registered: boolean;
  /** Path of the file in the store, and whether it is there with the right size. */
  path: string;
  file: 'ok' | 'missing' | 'wrong size';
  runInputs: { name: string; runId: number }[];
  producedBy: Produced[];
  consumedBy: Consumed[];
  logOf: StepRef[];
  /** Totals, capped at COUNT_CAP; the lists above hold at most `limit` rows each. */
  totals: { producedBy: number; consumedBy: number; logOf: number };
}

// Each query starts from an index on the hash (object_hash or log_hash) and joins by primary key.
// Steps by input hash: one probe of UNIQUE(task, object_hash) per task version (see schema.ts, 2).
// A step's log is its latest attempt's. idx_attempt_log holds only non-empty logs (schema-6.ts): the
// empty object's steps are found by a walk in step order that stops at the limit (nearly every step
// prints nothing, so it stops at once).
const NOT_EMPTY = `a.log_hash <> ${EMPTY_SQL}`;
const LOG_OF = `attempt a CROSS JOIN step s ON s.id = a.step_id AND s.attempts = a.attempt`;
export const OBJECT_USAGE_SQL = {
  runInputs: `SELECT name, run_id AS runId FROM run_input WHERE object_hash = unhex(?) ORDER BY name ${BYTES}`,
  producedBy: `SELECT ${STEP_REF_COLUMNS}, o.name AS name
                 FROM step_output o JOIN step s ON s.id = o.step_id ${STEP_REF_JOINS}
                WHERE o.object_hash = unhex(?) ORDER BY o.step_id, o.name ${BYTES} LIMIT ?`,
  consumedBy: `SELECT ${STEP_REF_COLUMNS}, s.input_name AS inputName
                 FROM step s ${STEP_REF_JOINS} WHERE ${stepInputIs('s', 'unhex(?)')} ORDER BY s.id LIMIT ?`,
  logOf: `SELECT ${STEP_REF_COLUMNS} FROM ${LOG_OF} ${STEP_REF_JOINS}
          WHERE a.log_hash = unhex(?) AND ${NOT_EMPTY} ORDER BY a.step_id LIMIT ?`,
  emptyLogOf: `SELECT ${STEP_REF_COLUMNS} FROM ${LOG_OF} ${STEP_REF_JOINS}
               WHERE a.log_hash = ${EMPTY_SQL} ORDER BY a.step_id LIMIT ?`,
  countProduced: `SELECT count(*) FROM (SELECT 1 FROM step_output WHERE object_hash = unhex(?) LIMIT ${COUNT_CAP}) n`,
  countConsumed: `SELECT count(*) FROM (SELECT 1 FROM step WHERE ${stepInputIs('', 'unhex(?)')} LIMIT ${COUNT_CAP}) n`,
  countLogOf: `SELECT count(*) FROM (SELECT 1 FROM ${LOG_OF} WHERE a.log_hash = unhex(?) AND ${NOT_EMPTY} LIMIT ${COUNT_CAP}) n`,
  countEmptyLogOf: `SELECT count(*) FROM (SELECT 1 FROM ${LOG_OF} WHERE a.log_hash = ${EMPTY_SQL} LIMIT ${COUNT_CAP}) n`,
};

/** Everything the db knows about one object: its names, who made it, who read it, whose log it is. */
export async function objectUsage(db: InspectDb, obj: FoundObject, limit: number): Promise<ObjectUsage> {
  const { q } = db;
  const rel = objectRelPath(obj.hash);
  const st = statSync(join(db.store, rel), { throwIfNoEntry: false });
  const h = [obj.hash];
  // The empty object is named by a literal (its steps are walked, not looked up): no hash parameter.
  const empty = obj.hash === EMPTY_HASH;
  const steps = async <T extends StepRef>(sql: string, params: unknown[]) =>
    (await q.all<RawRow<T>>(sql, params)).map((r) => toStepRef<T>(r));
  return {
    hash: obj.hash,
    size: obj.size,
    registered: obj.registered,
    path: join(db.store, rel),
    file: !st ? 'missing' : st.size !== obj.size ? 'wrong size' : 'ok',
    runInputs: await q.all<ObjectUsage['runInputs'][number]>(OBJECT_USAGE_SQL.runInputs, h),
    producedBy: await steps<Produced>(OBJECT_USAGE_SQL.producedBy, [obj.hash, limit]),
    consumedBy: await steps<Consumed>(OBJECT_USAGE_SQL.consumedBy, [obj.hash, limit]),
    logOf: await (empty
      ? steps<StepRef>(OBJECT_USAGE_SQL.emptyLogOf, [limit])
      : steps<StepRef>(OBJECT_USAGE_SQL.logOf, [obj.hash, limit])),
    totals: {
      producedBy: (await value<number>(q, OBJECT_USAGE_SQL.countProduced, h))!,
      consumedBy: (await value<number>(q, OBJECT_USAGE_SQL.countConsumed, h))!,
      logOf: (await (empty
        ? value<number>(q, OBJECT_USAGE_SQL.countEmptyLogOf)
        : value<number>(q, OBJECT_USAGE_SQL.countLogOf, h)))!,
    },
  };
}
