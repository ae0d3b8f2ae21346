import type Database from 'better-sqlite3';
import { faultPoint } from './fault-point.js';
import {
  CREATED_LISTED,
  type CommitBatch,
  type CommitEffect,
  type LeafStep,
  type StepStatus,
} from './metadata-store.js';
import { EMPTY_HASH } from './object-path.js';
import type { Statements } from './sqlite-statements.js';

/** What the store keeps between commits of one run. */
export interface CommitState {
  doneSeq: number | undefined;
  /** The empty object's row is written once per run, not per silent step. */
  emptyRegistered: boolean;
  /** Edges whose marks advance with every commit: a committed step has fanned out along all of them. */
  markedEdges: string[];
}

export function nextDoneSeq(state: CommitState, s: Statements): number {
  state.doneSeq ??= (s.maxDoneSeq.get() as number | null) ?? 0;
  return ++state.doneSeq;
}

/** Claims, finished steps, their outputs and the downstream steps those outputs feed, in one transaction. */
export function commitBatch(
  db: Database.Database,
  s: Statements,
  state: CommitState,
  batch: CommitBatch,
  runId: number,
): CommitEffect {
  const effect: CommitEffect = { created: new Map(), reused: new Map(), merged: new Map() };
  const { claims, outcomes, now } = batch;
  db.transaction(() => {
    for (const id of claims) s.markRunning.run(runId, now, id);
    for (const o of outcomes) {
      // Nearly every log is empty: the empty object's row is written once per run, not per step.
      if (o.log && (o.log.hash !== EMPTY_HASH || !state.emptyRegistered)) {
        s.insertObject.run(o.log.hash, o.log.size, now);
        state.emptyRegistered ||= o.log.hash === EMPTY_HASH;
      }
      const seq = o.status === 'done' ? nextDoneSeq(state, s) : null;
      const attempt = s.finishStep.get(o.status, o.exitCode, o.error, runId, o.startedAt, o.finishedAt, seq, o.stepId);
      // Every attempt is kept (the step row holds the latest): a retry's failure is not lost to its success.
      const r = o.rusage ?? null;
      s.insertAttempt.run(
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
        s.insertObject.run(out.hash, out.size, now);
        s.insertOutput.run(o.stepId, out.name, out.hash);
      }
      for (const f of o.fanOut) {
        const inserted = s.insertStep.run(f.taskId, f.hash, f.name, now, f.round);
        if (inserted.changes > 0) {
          const id = Number(inserted.lastInsertRowid);
          s.insertLink.run(o.stepId, id);
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
        const target = s.findStep.get(f.taskId, f.hash, f.name) as { id: number; status: StepStatus };
        const linked = s.insertLink.run(o.stepId, target.id).changes > 0;
        if (!linked) continue;
        if (target.status === 'done') effect.reused.set(f.taskId, (effect.reused.get(f.taskId) ?? 0) + 1);
        if (s.otherProducer.get({ to: target.id, from: o.stepId }) === 1) {
          effect.merged.set(f.taskId, (effect.merged.get(f.taskId) ?? 0) + 1);
        }
      }
    }
    // Every step done so far has flowed along the current edges (at a reconcile, or just now
    // at its commit): the next run's reconcile need not look at any of them again.
    if (state.doneSeq !== undefined) for (const key of state.markedEdges) s.setMark.run(key, state.doneSeq);
    if (outcomes.length > 0) faultPoint('in-commit');
  }).immediate();
  return effect;
}

function listCreated(created: CommitEffect['created'], step: LeafStep): void {
  const list = created.get(step.task);
  if (list === undefined) created.set(step.task, [step]);
  else if (list === null) return;
  else if (list.length < CREATED_LISTED) list.push(step);
  else created.set(step.task, null);
}
