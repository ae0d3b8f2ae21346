import type Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY_SQL } from '../hash-blob.js';
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
  inputs: `SELECT name, source FROM run_input WHERE object_hash = unhex(?) AND retired_at IS NULL ORDER BY name`,
};

/**
 * fsck -repair: a corrupt object file goes to <db>/damaged/ (kept for a post-mortem, out of the
 * store), and every step that produced a corrupt or missing object is pending again, so the next
 * run rebuilds it. A damaged run input cannot be rebuilt: it is named with the -input that restores it.
 */
export function repairStore(db: Database.Database, dbDir: string, damage: Damage[]): RepairReport {
  const report: RepairReport = { movedAside: [], rerun: 0, historyOnly: [], logsLost: 0, inputs: [] };
  const q = {
    producers: db.prepare(REPAIR_SQL.producers),
    reset: db.prepare(REPAIR_SQL.reset),
    dropOutputs: db.prepare(REPAIR_SQL.dropOutputs),
    logOf: db.prepare(REPAIR_SQL.logOf).pluck(),
    attemptLogOf: db.prepare(REPAIR_SQL.attemptLogOf),
    inputs: db.prepare(REPAIR_SQL.inputs),
  };
  const aside = join(dbDir, 'damaged');
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
    db.transaction(() => {
      for (const p of q.producers.all(d.hash) as { id: number; current: number }[]) {
        q.dropOutputs.run(p.id);
        q.reset.run(p.id);
        report.rerun++;
        if (!p.current) report.historyOnly.push(`step ${p.id}`);
      }
      report.logsLost += q.logOf.get(d.hash) as number;
      q.attemptLogOf.run(d.hash);
      for (const i of q.inputs.all(d.hash) as { name: string; source: string | null }[]) {
        report.inputs.push({
          name: i.name,
          hash: d.hash,
          restore: i.source === null ? `-input <the file ${i.name}>` : `-input ${i.source}`,
        });
      }
    }).immediate();
  }
  return report;
}
