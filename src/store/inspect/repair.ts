import { chmodSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY_SQL } from '../hash-blob.js';
import { BYTES, value, type InspectDb } from './query.js';
import type { Damage } from './verify.js';

export interface RepairReport {
  /** Corrupt object files moved to damaged/. */
  movedAside: string[];
  /** Steps that produced a damaged or missing object, pending again: the next run rebuilds it. */
  rerun: number;
  /** Of those, steps of task versions no longer current: a run of the manifest as it is will not redo them. */
  historyOnly: string[];
  /** Logs lost (a step's captured output cannot be rebuilt without re-running it). */
  logsLost: number;
  /** Damaged run inputs: only the user has their bytes. */
  inputs: { name: string; hash: string; restore: string }[];
}

const REPAIR_SQL = {
  producers: `SELECT DISTINCT o.step_id AS id, (s.task IN (SELECT task_id FROM current_task)) AS current
                FROM step_output o JOIN step s ON s.id = o.step_id WHERE o.object_hash = unhex(?) AND s.status = 'done'`,
  // The step runs again and records its outputs anew; downstream steps keep their links.
  reset: `UPDATE step SET status = 'pending', exit_code = NULL, error = NULL WHERE id = ?`,
  dropOutputs: `DELETE FROM step_output WHERE step_id = ?`,
  // Steps whose log (their latest attempt's) is the object: counted; then every attempt's. Through
  // idx_attempt_log, which holds only non-empty logs (the empty object has no bytes to lose).
  logOf: `SELECT count(*) FROM attempt a CROSS JOIN step s ON s.id = a.step_id AND s.attempts = a.attempt
           WHERE a.log_hash = unhex(?) AND a.log_hash <> ${EMPTY_SQL}`,
  attemptLogOf: `UPDATE attempt SET log_hash = NULL WHERE log_hash = unhex(?) AND log_hash <> ${EMPTY_SQL}`,
  inputs: `SELECT name, source FROM run_input WHERE object_hash = unhex(?) AND retired_at IS NULL ORDER BY name ${BYTES}`,
  // PostgreSQL's step row still names its log too (a foreign key): it goes with the attempt's.
  stepLogOf: `UPDATE step SET log_hash = NULL WHERE log_hash = unhex(?) AND log_hash <> ${EMPTY_SQL}`,
};

/**
 * fsck -repair: a corrupt object file goes to <db>/damaged/ (kept for a post-mortem, out of the
 * store), and every step that produced a corrupt or missing object is pending again, so the next
 * run rebuilds it. A damaged run input cannot be rebuilt: it is named with the -input that restores it.
 */
export async function repairStore(db: InspectDb, damage: Damage[]): Promise<RepairReport> {
  const report: RepairReport = { movedAside: [], rerun: 0, historyOnly: [], logsLost: 0, inputs: [] };
  const { q } = db;
  const aside = join(db.store, 'damaged');
  for (const d of damage) {
    if (d.kind !== 'corrupt' && d.kind !== 'missing') continue;
    if (d.kind === 'corrupt') {
      mkdirSync(aside, { recursive: true });
      let dest = join(aside, d.hash);
      for (let i = 2; existsSync(dest); i++) dest = join(aside, `${d.hash}.${i}`);
      // Out of the store first: from here on the object is missing, never served corrupt.
      chmodSync(d.path, 0o444);
      renameSync(d.path, dest);
      report.movedAside.push(d.hash);
    }
    await q.tx(async () => {
      for (const p of await q.all<{ id: number; current: number }>(REPAIR_SQL.producers, [d.hash])) {
        await q.run(REPAIR_SQL.dropOutputs, [p.id]);
        await q.run(REPAIR_SQL.reset, [p.id]);
        report.rerun++;
        if (!p.current) report.historyOnly.push(`step ${p.id}`);
      }
      report.logsLost += (await value<number>(q, REPAIR_SQL.logOf, [d.hash]))!;
      await q.run(REPAIR_SQL.attemptLogOf, [d.hash]);
      if (q.engine === 'postgres') await q.run(REPAIR_SQL.stepLogOf, [d.hash]);
      for (const i of await q.all<{ name: string; source: string | null }>(REPAIR_SQL.inputs, [d.hash])) {
        report.inputs.push({
          name: i.name,
          hash: d.hash,
          restore: i.source === null ? `-input <the file ${i.name}>` : `-input ${i.source}`,
        });
      }
    });
  }
  return report;
}
