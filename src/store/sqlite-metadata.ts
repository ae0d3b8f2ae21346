import type Database from 'better-sqlite3';
import { faultPoint } from './fault-point.js';
import type { ListingEntry } from './listing.js';
import { EMPTY_HASH } from './object-path.js';
import { CREATED_LISTED } from './metadata-store.js';
import { CURRENT_STEPS_CTE } from './schema.js';
import type {
  CommitBatch,
  CommitEffect,
  CurrentTaskInput,
  EdgeInput,
  GatherStep,
  InputChanges,
  LeafStep,
  MetadataStore,
  NamedObject,
  ObjectRow,
  RunInputFile,
  StepStatus,
  TaskVersionInput,
} from './metadata-store.js';

/** The SQLite metadata store: every statement prepared once, every write batched in a transaction. */
export class SqliteMetadata implements MetadataStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    // CROSS JOIN pins the join order where SQLite's planner, without statistics, would
    // otherwise start from the wrong side and loop over every pair of steps.
    this.s = {
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
      insertObject: p(
        `INSERT INTO object(hash, size, created_at) VALUES (unhex(?), ?, ?) ON CONFLICT(hash) DO NOTHING`,
      ),
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
                              SELECT :task, object_hash, name, :now FROM run_input WHERE run_id > :mark AND retired_at IS NULL
                               ORDER BY name
                              ON CONFLICT(task, object_hash, input_name) DO NOTHING`),
      getMark: p(`SELECT mark FROM reconciled WHERE edge = ?`).pluck(),
      setMark: p(
        `INSERT INTO reconciled(edge, mark) VALUES (?, ?) ON CONFLICT(edge) DO UPDATE SET mark = excluded.mark`,
      ),
      maxRunInput: p(`SELECT max(run_id) FROM run_input`).pluck(),
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

  private doneSeq: number | undefined;
  private emptyRegistered = false;
  /** Edges whose marks advance with every commit: a committed step has fanned out along all of them. */
  private markedEdges: string[] = [];

  private nextDoneSeq(): number {
    this.doneSeq ??= (this.s.maxDoneSeq.get() as number | null) ?? 0;
    return ++this.doneSeq;
  }

  async beginRun(manifest: string, pid: number): Promise<number> {
    return Number(this.s.insertRun.run(manifest, pid, Date.now()).lastInsertRowid);
  }

  async finishRun(runId: number, exitCode: number, summary: unknown): Promise<void> {
    this.s.finishRun.run(Date.now(), exitCode, JSON.stringify(summary), runId);
  }

  async registerTasks(tasks: TaskVersionInput[]): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    this.db
      .transaction(() => {
        const now = Date.now();
        for (const t of tasks) {
          this.s.insertTask.run(t.name, t.script, t.version, t.definition, now);
          ids.set(t.name, this.s.taskId.get(t.name, t.version) as number);
        }
      })
      .immediate();
    return ids;
  }

  async setCurrentGraph(tasks: CurrentTaskInput[], edges: EdgeInput[]): Promise<void> {
    this.markedEdges = edges.filter((e) => !e.fromGather && !e.toGather).map(edgeKey);
    this.db
      .transaction(() => {
        // A gather task whose version is unchanged keeps its latest listing step.
        const kept = new Map<number, number>();
        for (const r of this.s.oldGatherSteps.all() as { taskId: number; stepId: number }[])
          kept.set(r.taskId, r.stepId);
        this.s.clearCurrentTasks.run();
        this.s.clearCurrentEdges.run();
        for (const t of tasks) {
          this.s.insertCurrentTask.run(
            t.name,
            t.taskId,
            t.position,
            t.isRoot ? 1 : 0,
            t.gather ? 1 : 0,
            JSON.stringify(t.spec),
            t.gather ? (kept.get(t.taskId) ?? null) : null,
          );
        }
        for (const e of edges) {
          this.s.insertCurrentEdge.run(
            e.fromTaskId,
            e.toTaskId,
            e.match ? JSON.stringify(e.match) : null,
            e.toGather ? 1 : 0,
          );
        }
      })
      .immediate();
  }

  async recover(currentTaskIds: number[]): Promise<{ running: number; failed: number }> {
    return this.db
      .transaction(() => {
        let running = 0;
        for (const id of this.s.allTaskIds.all() as number[]) running += this.s.recoverRunning.run(id).changes;
        let failed = 0;
        for (const id of currentTaskIds) failed += this.s.recoverFailed.run(id).changes;
        return { running, failed };
      })
      .immediate();
  }

  async addRunInputs(inputs: RunInputFile[], runId: number): Promise<InputChanges> {
    type Current = [id: number, name: string, hash: string, source: string | null];
    return this.db
      .transaction(() => {
        const now = Date.now();
        const changes: InputChanges = { added: 0, replaced: 0, missing: [] };
        const seen = new Map<string, Set<string>>();
        // A query per chunk of names, not per input: 50,000 inputs given again cost 13 queries.
        for (let at = 0; at < inputs.length; at += 4096) {
          const chunk = inputs.slice(at, at + 4096);
          const current = new Map<string, Current>();
          for (const r of this.s.currentInputs.all(JSON.stringify(chunk.map((i) => i.name))) as Current[])
            current.set(r[1], r);
          for (const i of chunk) {
            if (i.source !== null) {
              if (!seen.has(i.source)) seen.set(i.source, new Set());
              seen.get(i.source)!.add(i.name);
            }
            const cur = current.get(i.name);
            if (cur !== undefined && cur[2] === i.hash) {
              if (cur[3] !== i.source) this.s.setInputSource.run(i.source, cur[0]);
              cur[3] = i.source;
              continue;
            }
            // Only for new bytes: a current row's object has its row already (the row names it).
            this.s.insertObject.run(i.hash, i.size, now);
            if (cur) {
              this.s.retireInput.run(now, 'replaced', cur[0]);
              changes.replaced++;
            } else {
              changes.added++;
            }
            const id = Number(this.s.insertRunInput.run(i.name, i.hash, runId, i.source).lastInsertRowid);
            current.set(i.name, [id, i.name, i.hash, i.source]);
          }
        }
        // A directory given again without some of its files: they stay current (nothing is dropped
        // silently), and the caller says how to retire them. Every name given is current under its
        // directory now, so there are missing ones only when the directory has more current rows.
        for (const [source, names] of seen) {
          if ((this.s.countFromSource.get(source) as number) <= names.size) continue;
          for (const name of this.s.currentFromSource.all(source) as string[])
            if (!names.has(name)) changes.missing.push(name);
        }
        return changes;
      })
      .immediate();
  }

  async hasRunInputs(): Promise<boolean> {
    return this.s.anyRunInput.get() === 1;
  }

  async ensureRootSteps(rootTaskIds: number[], seed: ObjectRow | null): Promise<number> {
    return this.db
      .transaction(() => {
        const now = Date.now();
        let created = 0;
        if (seed) this.s.insertObject.run(seed.hash, seed.size, now);
        const latest = (this.s.maxRunInput.get() as number | null) ?? 0;
        for (const id of rootTaskIds) {
          if (seed) {
            created += this.s.insertStep.run(id, EMPTY_HASH, '', now, 0).changes;
            continue;
          }
          // Only inputs added since this root version last looked: a re-run does not rescan them all.
          const key = `inputs>${id}`;
          const mark = (this.s.getMark.get(key) as number | undefined) ?? 0;
          if (mark >= latest) continue;
          created += this.s.rootStepsFromInputs.run({ task: id, now, mark }).changes;
          this.s.setMark.run(key, latest);
        }
        return created;
      })
      .immediate();
  }

  async reconcileEdge(edge: EdgeInput): Promise<{ created: number; reused: number; linked: number }> {
    // A gather task's only steps are over listings (ensureGatherStep): an item never flows into one.
    if (edge.toGather) return { created: 0, reused: 0, linked: 0 };
    return this.db
      .transaction(() => {
        // Out of a gather task flows only its step over the latest listing, not superseded ones.
        const only = edge.fromGather
          ? ((this.s.gatherStepOf.get(edge.fromTaskId) as number | null | undefined) ?? 0)
          : null;
        const match = edge.match ? JSON.stringify(edge.match) : null;
        // Steps done before the mark have flowed along this very edge (same versions, same match)
        // already, at their commit or an earlier reconcile. A gather's one step is always looked at.
        const key = edgeKey(edge);
        const mark = edge.fromGather ? -1 : ((this.s.getMark.get(key) as number | undefined) ?? -1);
        const args = { from: edge.fromTaskId, to: edge.toTaskId, match, only, mark };
        // Links to steps that are already done are reuse; the rest point at new or pending work.
        const reused = this.s.reconcileLinks.run({ ...args, done: 1 }).changes;
        const created = this.s.reconcileSteps.run({ ...args, now: Date.now(), cycle: edge.cycle ? 1 : 0 }).changes;
        const linked = this.s.reconcileLinks.run({ ...args, done: 0 }).changes + reused;
        if (!edge.fromGather)
          this.s.setMark.run(key, (this.s.maxDoneSeqOf.get(edge.fromTaskId) as number | null) ?? -1);
        return { created, reused, linked };
      })
      .immediate();
  }

  async pendingPage(taskId: number, afterId: number, limit: number, maxRound: number): Promise<LeafStep[]> {
    return this.s.pendingPage.all(taskId, afterId, maxRound, limit) as LeafStep[];
  }

  async cutCount(taskId: number, maxRound: number): Promise<number> {
    return this.s.cutCount.get(taskId, maxRound) as number;
  }

  async force(taskId: number): Promise<number> {
    return this.db
      .transaction(() => {
        const ids = this.s.forcedSteps.all(taskId) as number[];
        for (const id of ids) {
          this.s.dropOutputs.run(id);
          this.s.unfinish.run(id);
        }
        return ids.length;
      })
      .immediate();
  }

  async hasOutputs(taskId: number): Promise<boolean> {
    return this.s.hasOutputs.get(taskId) === 1;
  }

  async mergedCount(taskId: number): Promise<number> {
    return this.s.mergedSteps.get(taskId) as number;
  }

  async unfinishedCount(taskId: number): Promise<number> {
    return this.s.unfinished.get(taskId) as number;
  }

  async taskCounts(taskId: number): Promise<Record<StepStatus, number>> {
    const counts: Record<StepStatus, number> = { pending: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.s.taskCounts.all(taskId) as { status: StepStatus; n: number }[]) counts[r.status] = r.n;
    return counts;
  }

  async release(stepIds: number[]): Promise<void> {
    this.db
      .transaction(() => {
        for (const id of stepIds) this.s.release.run(id);
      })
      .immediate();
  }

  /** Claims, finished steps, their outputs and the downstream steps those outputs feed, in one transaction. */
  async commit(batch: CommitBatch, runId: number): Promise<CommitEffect> {
    const effect: CommitEffect = { created: new Map(), reused: new Map(), merged: new Map() };
    const { claims, outcomes, now } = batch;
    this.db
      .transaction(() => {
        for (const id of claims) this.s.markRunning.run(runId, now, id);
        for (const o of outcomes) {
          // Nearly every log is empty: the empty object's row is written once per run, not per step.
          if (o.log && (o.log.hash !== EMPTY_HASH || !this.emptyRegistered)) {
            this.s.insertObject.run(o.log.hash, o.log.size, now);
            this.emptyRegistered ||= o.log.hash === EMPTY_HASH;
          }
          const seq = o.status === 'done' ? this.nextDoneSeq() : null;
          const attempt = this.s.finishStep.get(
            o.status,
            o.exitCode,
            o.error,
            runId,
            o.startedAt,
            o.finishedAt,
            seq,
            o.stepId,
          );
          // Every attempt is kept (the step row holds the latest): a retry's failure is not lost to its success.
          const r = o.rusage ?? null;
          this.s.insertAttempt.run(
            o.stepId,
            attempt,
            runId,
            o.status,
            o.startedAt,
            o.finishedAt,
            o.exitCode,
            o.signal ?? null,
            o.error,
            o.timedOut ? 1 : 0,
            o.log?.hash ?? null,
            r ? Math.round(r.userMs) : null,
            r ? Math.round(r.sysMs) : null,
            r ? Math.round(r.maxRssKb) : null,
          );
          if (o.status !== 'done') continue;
          for (const out of o.outputs) {
            this.s.insertObject.run(out.hash, out.size, now);
            this.s.insertOutput.run(o.stepId, out.name, out.hash);
          }
          for (const f of o.fanOut) {
            const inserted = this.s.insertStep.run(f.taskId, f.hash, f.name, now, f.round);
            if (inserted.changes > 0) {
              const id = Number(inserted.lastInsertRowid);
              this.s.insertLink.run(o.stepId, id);
              listCreated(effect.created, {
                id,
                task: f.taskId,
                object_hash: f.hash,
                input_name: f.name,
                attempts: 0,
                round: f.round,
              });
              continue;
            }
            const target = this.s.findStep.get(f.taskId, f.hash, f.name) as { id: number; status: StepStatus };
            const linked = this.s.insertLink.run(o.stepId, target.id).changes > 0;
            if (!linked) continue;
            if (target.status === 'done') effect.reused.set(f.taskId, (effect.reused.get(f.taskId) ?? 0) + 1);
            if (this.s.otherProducer.get({ to: target.id, from: o.stepId }) === 1) {
              effect.merged.set(f.taskId, (effect.merged.get(f.taskId) ?? 0) + 1);
            }
          }
        }
        // Every step done so far has flowed along the current edges (at a reconcile, or just now
        // at its commit): the next run's reconcile need not look at any of them again.
        if (this.doneSeq !== undefined) for (const key of this.markedEdges) this.s.setMark.run(key, this.doneSeq);
        if (outcomes.length > 0) faultPoint('in-commit');
      })
      .immediate();
    return effect;
  }

  async gatherListing(gatherTaskId: number): Promise<(ListingEntry & { stepId: number })[]> {
    return this.s.gatherListing.all(gatherTaskId) as (ListingEntry & { stepId: number })[];
  }

  async ensureGatherStep(taskId: number, listing: NamedObject, fromStepIds: number[]): Promise<GatherStep> {
    return this.db
      .transaction(() => {
        const now = Date.now();
        this.s.insertObject.run(listing.hash, listing.size, now);
        const created = this.s.insertStep.run(taskId, listing.hash, listing.name, now, 0).changes > 0;
        const row = this.s.findStep.get(taskId, listing.hash, listing.name) as { id: number; status: StepStatus };
        const previous = this.s.gatherStepOf.get(taskId) as number | null | undefined;
        for (const from of fromStepIds) this.s.insertLink.run(from, row.id);
        this.s.setGatherStep.run(row.id, taskId);
        return { stepId: row.id, status: row.status, created, wasCurrent: previous === row.id };
      })
      .immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function listCreated(created: CommitEffect['created'], step: LeafStep): void {
  const list = created.get(step.task);
  if (list === undefined) created.set(step.task, [step]);
  else if (list === null) return;
  else if (list.length < CREATED_LISTED) list.push(step);
  else created.set(step.task, null);
}

/** The key of an edge's reconcile mark: its task versions and its match, so a changed edge starts afresh. */
function edgeKey(edge: EdgeInput): string {
  return `${edge.fromTaskId}>${edge.toTaskId}${edge.match ? JSON.stringify(edge.match) : ''}`;
}
