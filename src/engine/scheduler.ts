// Deep imports: the 'rxjs' entry loads all of rxjs (~70 ms of start-up, most of a no-op re-run).
import { Observable } from 'rxjs/internal/Observable';
import { mergeMap } from 'rxjs/internal/operators/mergeMap';
import type { Subscriber } from 'rxjs/internal/Subscriber';
import type { CommitEffect, EdgeInput, LeafStep, MetadataStore, StepOutcome } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { executeStep$, type RunnableStep, type StepContext, type StepEvent } from './execute-step.js';
import { fireGather } from './gather.js';
import type { TaskPlan } from './plan.js';
import type { RunSummary } from './run-summary.js';
import { WriteBatcher } from './write-batcher.js';

/** Leaves are read from the db this many at a time per task: memory stays bounded at any db size. */
const PAGE = 256;
const RETRY_BASE_MS = 250;
/** Steps held ready in the executor beyond those running, at least (see launchLimit). */
const AHEAD = 64;
const RETRY_MAX_MS = 10_000;

export interface TaskProgress {
  name: string;
  /** Steps of the current version done, this run or before. */
  done: number;
  total: number;
  running: number;
  /** Failed in this run. */
  failed: number;
  /** Executed in this run. */
  ran: number;
}

export interface ProgressSnapshot {
  tasks: TaskProgress[];
}

interface TaskState {
  plan: TaskPlan;
  limit: number;
  /** Launched (running, or ready in the executor's queue) and not yet exited: what the task's `parallel` limits. */
  running: number;
  /** Scripts started and not yet exited. */
  scripts: number;
  /** Scripts done, outputs being stored. */
  collecting: number;
  /** Finished, waiting for their batch to be committed. */
  committing: number;
  retrying: number;
  queue: LeafStep[];
  cursor: number;
  /** The last page came back empty; set again when a commit creates steps for this task. */
  exhausted: boolean;
  selected: boolean;
  /** Steps of this task committed done in this run (a gather re-fires when its closure's sum moves). */
  done: number;
  firedAt: number;
}

export interface SchedulerOptions {
  meta: MetadataStore;
  store: ObjectStore;
  ctx: StepContext;
  plans: TaskPlan[];
  /** The current graph's edges: what a gather's reused step flows along. */
  edges: EdgeInput[];
  runId: number;
  parallel: number;
  /** Only these task ids launch steps (the -task flag); null for all. */
  only: Set<number> | null;
  stop: AbortSignal;
  summary: RunSummary;
}

/**
 * The leaves of the graph as one stream. The source emits a step only when a global slot
 * and a slot of its task are free, so mergeMap never has to buffer; each finished step is
 * committed, and the steps its outputs create join the same stream through the next page.
 */
export class Scheduler {
  private readonly states = new Map<number, TaskState>();
  private readonly order: TaskState[];
  private readonly hasGathers: boolean;
  private rr = 0;
  private running = 0;
  private collecting = 0;
  private committing = 0;
  private retryTimers = new Set<NodeJS.Timeout>();
  private readonly attemptsThisRun = new Map<number, number>();
  private readonly interrupted: number[] = [];
  private readonly heldBack = new Set<string>();
  private source: Subscriber<RunnableStep> | null = null;
  private pumping = false;
  private pumpAgain = false;
  private failed: unknown = null;
  private readonly writer: WriteBatcher;
  private readonly ctx: StepContext;

  constructor(private readonly o: SchedulerOptions) {
    for (const plan of o.plans) {
      this.states.set(plan.taskId, {
        plan, limit: plan.spec.parallel ?? Infinity, running: 0, scripts: 0, collecting: 0, committing: 0, retrying: 0, queue: [], cursor: 0,
        exhausted: false, selected: o.only === null || o.only.has(plan.taskId), done: 0, firedAt: -1,
      });
    }
    this.order = [...this.states.values()];
    this.hasGathers = this.order.some((s) => s.plan.spec.gather);
    this.ctx = { ...o.ctx, scripts: (taskId, delta) => { this.states.get(taskId)!.scripts += delta; } };
    this.writer = new WriteBatcher(o.meta, o.runId, (outs, effect) => this.afterCommit(outs, effect), (err) => this.fail(err));
  }

  /**
   * Steps launched and not yet exited: `parallel` running, and up to AHEAD more ready in the
   * executor's queue, so that a script starts the moment another exits instead of when this
   * event loop gets round to it. The queue must outlast the longest time the event loop is
   * busy elsewhere, a batch's transaction (a few ms): with only `parallel` ready, on two cores
   * the scripts of B1 waited through every commit.
   */
  private get launchLimit(): number {
    return this.o.parallel + Math.max(this.o.parallel, AHEAD);
  }

  /** Where the run stands, per task: for a live progress display. */
  async snapshot(): Promise<ProgressSnapshot> {
    const tasks: TaskProgress[] = [];
    for (const st of this.order) {
      const c = await this.o.meta.taskCounts(st.plan.taskId);
      const counts = this.o.summary.tasks.get(st.plan.spec.name)!;
      tasks.push({
        name: st.plan.spec.name,
        done: c.done,
        total: c.done + c.pending + c.running + c.failed,
        running: st.scripts,
        failed: counts.failed,
        ran: counts.ran,
      });
    }
    return { tasks };
  }

  run(): Promise<void> {
    const leaves$ = new Observable<RunnableStep>((subscriber) => {
      this.source = subscriber;
      this.pump();
      return () => {
        this.source = null;
      };
    });
    return new Promise<void>((resolve, reject) => {
      const onStop = () => this.pump();
      this.o.stop.addEventListener('abort', onStop, { once: true });
      leaves$
        // The source bounds what runs (launch()), so mergeMap never has to hold a step back.
        .pipe(mergeMap((step) => executeStep$(this.ctx, step)))
        .subscribe({
          next: (event) => this.onEvent(event),
          error: (err: unknown) => {
            this.o.stop.removeEventListener('abort', onStop);
            reject(err);
          },
          complete: () => {
            this.o.stop.removeEventListener('abort', onStop);
            if (this.failed !== null) reject(this.failed);
            else resolve();
          },
        });
    });
  }

  private onEvent(event: StepEvent): void {
    if (event.kind === 'exited') {
      // The script is done: its slot takes the next step while this one's outputs are stored.
      this.running--;
      this.collecting++;
      const state = this.states.get(event.step.task)!;
      state.running--;
      state.collecting++;
      this.pump();
      return;
    }
    this.collecting--;
    this.states.get(event.step.task)!.collecting--;
    const result = event;
    if (result.kind === 'interrupted') {
      this.interrupted.push(result.step.id);
      this.pump();
      return;
    }
    const { step, outcome } = result;
    const summary = this.o.summary;
    const counts = summary.tasks.get(step.plan.spec.name)!;
    for (const a of result.added) {
      summary.objectsAdded++;
      summary.bytesAdded += a.size;
    }
    if (outcome.status === 'done') {
      counts.ran++;
    } else {
      const tries = (this.attemptsThisRun.get(step.id) ?? 0) + 1;
      this.attemptsThisRun.set(step.id, tries);
      if (tries <= (step.plan.spec.retries ?? 0) && !this.o.stop.aborted) {
        this.scheduleRetry(step, tries);
      } else {
        counts.failed++;
        summary.failures.push({
          task: step.plan.spec.name, stepId: step.id, exitCode: outcome.exitCode, error: outcome.error ?? 'failed',
          logTail: result.logTail,
        });
      }
    }
    // Until its batch is written it counts as committing (a gather waits for it).
    this.committing++;
    this.states.get(step.task)!.committing++;
    this.writer.commit(outcome);
    this.pump();
  }

  private scheduleRetry(step: RunnableStep, tries: number): void {
    const state = this.states.get(step.task)!;
    state.retrying++;
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (tries - 1));
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      state.retrying--;
      if (!this.o.stop.aborted) {
        // The failure (and its log) is committed; the retry runs it again as a new attempt.
        // Its failure must be written before it is released.
        void this.writer.drain().then(() => this.o.meta.release([step.id])).then(() => {
          state.queue.unshift({
            id: step.id, task: step.task, object_hash: step.object_hash, input_name: step.input_name, attempts: step.attempts + tries,
            round: step.round,
          });
          this.pump();
        }, (err: unknown) => this.fail(err));
      } else {
        this.pump();
      }
    }, delay);
    this.retryTimers.add(timer);
  }

  private afterCommit(outcomes: StepOutcome[], effect: CommitEffect): void {
    for (const [taskId, steps] of effect.created) {
      const s = this.states.get(taskId);
      if (!s) continue;
      // Caught up with the db (its last page was empty): the new steps are all it lacks, and
      // they are run as they are, without being read back. Otherwise they are paged in turn.
      if (s.selected && s.exhausted && steps !== null && s.queue.length + steps.length <= PAGE) {
        // Steps past the task's max_rounds generations of a cycle are cut: left pending, not run.
        s.queue.push(...steps.filter((step) => step.round <= s.plan.spec.maxRounds));
        s.cursor = steps[steps.length - 1]!.id;
      } else {
        s.exhausted = false;
      }
    }
    for (const out of outcomes) {
      const state = this.states.get(out.taskId)!;
      if (out.status === 'done') state.done++;
      state.committing--;
      this.committing--;
    }
    for (const [taskId, n] of effect.reused) {
      const s = this.states.get(taskId);
      if (s) this.o.summary.tasks.get(s.plan.spec.name)!.reused += n;
    }
    for (const [taskId, n] of effect.merged) {
      const s = this.states.get(taskId);
      if (s) this.o.summary.merged.set(s.plan.spec.name, (this.o.summary.merged.get(s.plan.spec.name) ?? 0) + n);
    }
    this.pump();
  }

  private fail(err: unknown): void {
    this.failed ??= err;
    this.pump();
  }

  private get stopping(): boolean {
    return this.o.stop.aborted || this.failed !== null;
  }

  /** Launch what the limits allow; complete the stream when nothing is left to do. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.pumpLoop().catch((err: unknown) => {
      this.failed ??= err;
    }).finally(() => {
      this.pumping = false;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.pump();
      }
    });
  }

  private async pumpLoop(): Promise<void> {
    for (;;) {
      this.pumpAgain = false;
      let launched = 0;
      let starved = false;
      // Storing outputs may lag behind fast scripts (big files): it holds back new scripts once
      // more than twice `parallel` steps wait on it.
      while (!this.stopping && this.running < this.launchLimit && this.collecting < 2 * this.o.parallel && this.source) {
        const now = this.readyNow();
        const state = now === undefined ? await this.nextReady() : now;
        if (!state) {
          starved = true;
          break;
        }
        const leaf = state.queue.shift()!;
        this.running++;
        state.running++;
        this.writer.claim(leaf.id);
        launched++;
        this.source.next({ ...leaf, plan: state.plan });
      }
      // A free slot with nothing to run may be waiting for what a commit creates.
      if (starved && this.committing > 0) this.writer.flushSoon();
      const fired = this.stopping || !this.hasGathers ? false : await this.fireGathers();
      if (launched === 0 && !fired && !this.pumpAgain) break;
    }
    const settled = this.running === 0 && this.collecting === 0 && (this.committing === 0 || this.failed !== null);
    if (settled && (this.stopping || this.retryTimers.size === 0)) {
      for (const t of this.retryTimers) clearTimeout(t);
      this.retryTimers.clear();
      await this.writer.drain();
      if (this.interrupted.length > 0) await this.o.meta.release(this.interrupted.splice(0));
      if (this.running === 0 && this.collecting === 0 && (this.committing === 0 || this.failed !== null) && this.source) {
        this.o.summary.heldBack = [...this.heldBack];
        const source = this.source;
        this.source = null;
        source.complete();
      }
    }
  }

  /**
   * The task whose turn it is, when that is known without reading the db: the same choice as
   * nextReady() makes, without a promise per launch.
   */
  private readyNow(): TaskState | null | undefined {
    for (let i = 0; i < this.order.length; i++) {
      const state = this.order[(this.rr + i) % this.order.length]!;
      if (!state.selected || state.running >= state.limit) continue;
      if (state.queue.length === 0 && !state.exhausted) return undefined; // its next page decides
      if (state.queue.length > 0) {
        this.rr = (this.rr + i + 1) % this.order.length;
        return state;
      }
    }
    return null;
  }

  private async nextReady(): Promise<TaskState | undefined> {
    for (let i = 0; i < this.order.length; i++) {
      const state = this.order[(this.rr + i) % this.order.length]!;
      if (!state.selected || state.running >= state.limit) continue;
      if (state.queue.length === 0 && !state.exhausted) {
        const page = await this.o.meta.pendingPage(state.plan.taskId, state.cursor, PAGE, state.plan.spec.maxRounds);
        if (page.length === 0) state.exhausted = true;
        else {
          state.cursor = page[page.length - 1]!.id;
          state.queue.push(...page);
        }
      }
      if (state.queue.length > 0) {
        this.rr = (this.rr + i + 1) % this.order.length;
        return state;
      }
    }
    return undefined;
  }

  /**
   * A gather fires when nothing upstream of it is pending, running, waiting to retry or
   * failed: a sum over partial data would look like a result. A failed upstream step holds
   * the gather back until a later run fixes it.
   */
  private async fireGathers(): Promise<boolean> {
    let fired = false;
    for (const state of this.order) {
      if (!state.plan.spec.gather || !state.selected) continue;
      const closure = state.plan.closure.map((id) => this.states.get(id)!);
      const doneSum = closure.reduce((n, s) => n + s.done, 0);
      if (state.firedAt === doneSum) continue;
      if (closure.some((s) => s.running > 0 || s.collecting > 0 || s.committing > 0 || s.retrying > 0 || s.queue.length > 0 || (s.selected && !s.exhausted))) continue;
      let busy = false;
      for (const s of closure) if ((await this.o.meta.unfinishedCount(s.plan.taskId)) > 0) busy = true;
      if (busy) {
        this.heldBack.add(state.plan.spec.name);
        continue;
      }
      this.heldBack.delete(state.plan.spec.name);
      state.firedAt = doneSum;
      const g = await fireGather(this.o.meta, this.o.store, state.plan.taskId);
      if (g.status === 'pending' || g.status === 'failed') {
        state.exhausted = false;
        if (g.status === 'failed') await this.o.meta.release([g.stepId]);
        fired = true;
      } else if (!g.wasCurrent && g.status === 'done') {
        // A listing seen before (an undo): its step is done, and what it produced flows on now,
        // to whatever versions of the downstream tasks are current.
        this.o.summary.tasks.get(state.plan.spec.name)!.reused++;
        for (const e of this.o.edges) {
          if (e.fromTaskId !== state.plan.taskId || e.toGather) continue;
          const r = await this.o.meta.reconcileEdge(e);
          const target = this.states.get(e.toTaskId);
          if (target && r.created > 0) target.exhausted = false;
          if (target) this.o.summary.tasks.get(target.plan.spec.name)!.reused += r.reused;
          fired = fired || r.created > 0;
        }
      }
    }
    return fired;
  }
}
