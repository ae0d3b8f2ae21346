import type Database from 'better-sqlite3';
import { CURRENT_STEPS_CTE } from './schema.js';

/**
 * Every statement of the SQLite metadata store, prepared once when it opens. Hashes are BLOBs in
 * the db and hex here: `unhex(?)` takes a parameter in, `lower(hex(col))` gives a column out.
 */
export function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  const insertObject = p(
    `INSERT INTO object(hash, size, created_at) VALUES (unhex(?), ?, ?) ON CONFLICT(hash) DO NOTHING`,
  );
  // The objects new to the db, counted as their rows go in: a run's summary reports them without a
  // pass over every object row at its end. (A write that fails ends the run: nothing is retried.)
  const objectsAdded = { count: 0, bytes: 0 };
  // CROSS JOIN pins the join order where SQLite's planner, without statistics, would
  // otherwise start from the wrong side and loop over every pair of steps.
  return {
    insertRun: p(`INSERT INTO run(manifest, pid, started_at) VALUES (?, ?, ?)`),
    finishRun: p(`UPDATE run SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?`),
    insertTask: p(`INSERT INTO task(name, script, version, definition, created_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(name, version) DO NOTHING`),
    taskId: p(`SELECT id FROM task WHERE name = ? AND version = ?`).pluck(),
    oldGatherSteps: p(
      `SELECT task_id AS taskId, gather_step_id AS stepId FROM current_task WHERE gather_step_id IS NOT NULL`,
    ),
    clearCurrentTasks: p(`DELETE FROM current_task`),
    clearCurrentEdges: p(`DELETE FROM current_edge`),
    insertCurrentTask: p(`INSERT INTO current_task(name, task_id, position, is_root, gather, spec, gather_step_id)
                          VALUES (?, ?, ?, ?, ?, ?, ?)`),
    insertCurrentEdge: p(
      `INSERT OR REPLACE INTO current_edge(from_task_id, to_task_id, match, to_gather) VALUES (?, ?, ?, ?)`,
    ),
    allTaskIds: p(`SELECT id FROM task`).pluck(),
    // Per task, so that it is an index range, not a scan of every step.
    recoverRunning: p(`UPDATE step SET status = 'pending' WHERE task = ? AND status = 'running'`),
    recoverFailed: p(`UPDATE step SET status = 'pending' WHERE task = ? AND status = 'failed'`),
    insertObject: {
      run(hash: string, size: number, now: number) {
        const r = insertObject.run(hash, size, now);
        if (r.changes > 0) {
          objectsAdded.count++;
          objectsAdded.bytes += size;
        }
        return r;
      },
    },
    objectsAdded,
    // The current rows of a chunk of names (a JSON array): one probe of idx_run_input_current
    // each. Raw rows: better-sqlite3 makes an object per row at thrice the cost of an array.
    currentInputs: p(`SELECT r.id, r.name, lower(hex(r.object_hash)), r.source FROM json_each(?) j
                       CROSS JOIN run_input r ON r.name = j.value AND r.retired_at IS NULL`).raw(true),
    insertRunInput: p(`INSERT INTO run_input(name, object_hash, run_id, source) VALUES (?, unhex(?), ?, ?)`),
    retireInput: p(`UPDATE run_input SET retired_at = ?, retired_how = ? WHERE id = ?`),
    setInputSource: p(`UPDATE run_input SET source = ? WHERE id = ?`),
    currentFromSource: p(`SELECT name FROM run_input WHERE source = ? AND retired_at IS NULL`).pluck(),
    countFromSource: p(`SELECT count(*) FROM run_input WHERE source = ? AND retired_at IS NULL`).pluck(),
    anyRunInput: p(`SELECT EXISTS (SELECT 1 FROM run_input)`).pluck(),
    rootStepsFromInputs: p(`INSERT INTO step(task, object_hash, input_name, created_at)
                            SELECT :task, object_hash, name, :now FROM run_input WHERE id > :mark AND retired_at IS NULL
                             ORDER BY name
                            ON CONFLICT(task, object_hash, input_name) DO NOTHING`),
    getMark: p(`SELECT mark FROM reconciled WHERE edge = ?`).pluck(),
    setMark: p(`INSERT INTO reconciled(edge, mark) VALUES (?, ?) ON CONFLICT(edge) DO UPDATE SET mark = excluded.mark`),
    // Row ids only grow: the latest row, by the primary key (max(run_id) would read the whole table).
    latestRunInput: p(`SELECT id FROM run_input ORDER BY id DESC LIMIT 1`).pluck(),
    // Per task through idx_step_done: a plain max() over step would scan every row.
    maxDoneSeq: p(`SELECT max((SELECT done_seq FROM step WHERE task = t.id AND done_seq IS NOT NULL
                                 ORDER BY done_seq DESC LIMIT 1)) FROM task t`).pluck(),
    maxDoneSeqOf: p(
      `SELECT done_seq FROM step WHERE task = ? AND done_seq IS NOT NULL ORDER BY done_seq DESC LIMIT 1`,
    ).pluck(),
    insertStep: p(`INSERT INTO step(task, object_hash, input_name, created_at, round) VALUES (?, unhex(?), ?, ?, ?)
                   ON CONFLICT(task, object_hash, input_name) DO NOTHING`),
    findStep: p(`SELECT id, status FROM step WHERE task = ? AND object_hash = unhex(?) AND input_name = ?`),
    // Another step of a current task version already feeds this one: the same item reached it
    // from two producers (equal name, equal bytes) and runs once for both.
    otherProducer: p(`SELECT EXISTS (SELECT 1 FROM step_link l CROSS JOIN step f ON f.id = l.from_step_id
                        WHERE l.to_step_id = :to AND l.from_step_id <> :from AND f.task IN (SELECT task_id FROM current_task))`).pluck(),
    mergedSteps: p(`SELECT count(*) FROM (SELECT t.id FROM step t CROSS JOIN step_link l ON l.to_step_id = t.id
                      CROSS JOIN step f ON f.id = l.from_step_id
                     WHERE t.task = ? AND f.task IN (SELECT task_id FROM current_task) GROUP BY t.id HAVING count(*) > 1)`).pluck(),
    insertLink: p(`INSERT INTO step_link(from_step_id, to_step_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
    reconcileSteps: p(`INSERT INTO step(task, object_hash, input_name, created_at, round)
                       SELECT :to, o.object_hash, o.name, :now, CASE WHEN :cycle THEN s.round + 1 ELSE 0 END
                         FROM step s CROSS JOIN step_output o ON o.step_id = s.id
                        WHERE s.task = :from AND s.done_seq > :mark AND s.status = 'done' AND (:only IS NULL OR s.id = :only)
                          AND (:match IS NULL OR tp_match(:match, o.name))
                        ORDER BY s.id, o.name
                       ON CONFLICT(task, object_hash, input_name) DO NOTHING`),
    reconcileLinks: p(`INSERT INTO step_link(from_step_id, to_step_id)
                       SELECT s.id, t.id
                         FROM step s CROSS JOIN step_output o ON o.step_id = s.id
                         CROSS JOIN step t ON t.task = :to AND t.object_hash = o.object_hash AND t.input_name = o.name
                        WHERE s.task = :from AND s.done_seq > :mark AND s.status = 'done' AND (:only IS NULL OR s.id = :only)
                          AND (:match IS NULL OR tp_match(:match, o.name)) AND (t.status = 'done') = :done
                       ON CONFLICT DO NOTHING`),
    pendingPage: p(`SELECT id, task, lower(hex(object_hash)) AS object_hash, input_name, attempts, round FROM step
                     WHERE task = ? AND status = 'pending' AND id > ? AND round <= ? ORDER BY id LIMIT ?`),
    forcedSteps: p(
      `${CURRENT_STEPS_CTE} SELECT s.id FROM cur CROSS JOIN step s ON s.id = cur.id WHERE s.task = ? AND s.status = 'done'`,
    ).pluck(),
    dropOutputs: p(`DELETE FROM step_output WHERE step_id = ?`),
    unfinish: p(`UPDATE step SET status = 'pending' WHERE id = ?`),
    hasOutputs: p(`SELECT EXISTS (SELECT 1 FROM step s CROSS JOIN step_output o ON o.step_id = s.id
                    WHERE s.task = ? AND s.status = 'done')`).pluck(),
    cutCount: p(`SELECT count(*) FROM step WHERE task = ? AND status = 'pending' AND round > ?`).pluck(),
    taskCounts: p(`SELECT status, count(*) AS n FROM step WHERE task = ? GROUP BY status`),
    unfinished: p(`SELECT count(*) FROM step WHERE task = ? AND status IN ('pending', 'running', 'failed')`).pluck(),
    markRunning: p(
      `UPDATE step SET status = 'running', run_id = ?, started_at = ? WHERE id = ? AND status = 'pending'`,
    ),
    release: p(`UPDATE step SET status = 'pending' WHERE id = ? AND status IN ('running', 'failed')`),
    finishStep: p(`UPDATE step SET status = ?, exit_code = ?, error = ?, run_id = ?, started_at = ?, finished_at = ?,
                          done_seq = ?, attempts = attempts + 1
                    WHERE id = ? RETURNING attempts`).pluck(),
    insertAttempt:
      p(`INSERT INTO attempt(step_id, attempt, run_id, status, started_at, ended_at, exit_code, signal, error, timed_out,
                                          log_hash, cpu_user_ms, cpu_sys_ms, max_rss_kb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, unhex(?), ?, ?, ?)`),
    insertOutput: p(`INSERT INTO step_output(step_id, name, object_hash) VALUES (?, ?, unhex(?))
                     ON CONFLICT(step_id, name) DO UPDATE SET object_hash = excluded.object_hash`),
    gatherListing: p(`${CURRENT_STEPS_CTE}
                      SELECT lower(hex(o.object_hash)) AS hash, o.name AS name, s.input_name AS fromName, s.id AS stepId
                        FROM cur JOIN step s ON s.id = cur.id AND s.status = 'done'
                        JOIN current_edge e ON e.from_task_id = s.task AND e.to_task_id = ?
                        JOIN step_output o ON o.step_id = s.id
                       WHERE e.match IS NULL OR tp_match(e.match, o.name)
                       ORDER BY s.id, o.name`),
    gatherStepOf: p(`SELECT gather_step_id FROM current_task WHERE task_id = ?`).pluck(),
    setGatherStep: p(`UPDATE current_task SET gather_step_id = ? WHERE task_id = ?`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
