import {
  concatAll,
  concatMap,
  finalize,
  fromEvent,
  mergeMap,
  Observable,
  Subject,
  Subscription,
  takeUntil,
  timer,
} from './rx.js';
import type { CommitEffect, EdgeInput, MetadataStore, StepOutcome } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { executeStep$ } from './execute-step.js';
import type { RunnableStep, StepContext, StepEvent } from './step-context.js';
import type { GatherTrigger } from './gather-trigger.js';
import type { TaskPlan } from './plan.js';
import type { RunSummary } from './run-summary.js';
import type { TaskLanes } from './task-lanes.js';
import { backoffMs, TUNING, type Tuning } from './tuning.js';
import { WriteBatcher } from './write-batcher.js';

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
  /** Runs one step (execute-step.ts); a unit test hands in one that runs no script. */
  execute?: (ctx: StepContext, step: RunnableStep) => Observable<StepEvent>;
  /** Overrides of the tuning constants (a test shortens the retry backoff). */
  tuning?: Partial<Tuning>;
}

/**
 * The leaves of the graph as one RxJS stream. Each wake (a script exited, a commit created
 * steps, a retry is due) asks for a launch pass; passes run one at a time (concatMap) and take
 * leaves from the task lanes while the launch limit allows; mergeMap runs the steps they emit
 * concurrently. Each finished step goes to the write batcher, and the steps its outputs create
 * join the lanes, so the same stream runs them. The stream completes when nothing is in flight,
 * waiting to retry, or left to launch, and no gather can fire.
 */
export class Scheduler {
  private readonly t: Tuning;
  private readonly writer: WriteBatcher;
  private readonly ctx: StepContext;
  private readonly plans = new Map<number, TaskPlan>();
  private readonly wake$ = new Subject<void>();
  /** A pass is waiting to run: more wakes add nothing, it will see what they changed. */
  private passQueued = false;
  /** Launched, result not yet in (what is launched and not exited, or not committed, the lanes count). */
  private inStream = 0;
  /** Scripts exited in this run (the launch-ahead grows with them). */
  private exited = 0;
  private readonly retries = new Subscription();
  private readonly triesThisRun = new Map<number, number>();
  private readonly interrupted: number[] = [];
  private failed: unknown = null;

  constructor(
    private readonly o: SchedulerOptions,
    private readonly lanes: TaskLanes,
    private readonly gathers: GatherTrigger,
  ) {
    this.t = { ...TUNING, ...o.tuning };
    for (const plan of o.plans) this.plans.set(plan.taskId, plan);
    this.ctx = {
      ...o.ctx,
      scripts: (taskId, delta) => {
        lanes.get(taskId)!.scripts += delta;
      },
    };
    this.writer = new WriteBatcher(
      o.meta,
      o.runId,
      (outs, effect) => this.afterCommit(outs, effect),
      (err) => this.fail(err),
      this.t,
    );
  }

  /**
   * `-parallel` running and at least launchAhead more ready in the executor's queue: a script
   * starts the moment another exits instead of when this event loop gets round to it. The
   * launch-ahead starts at launchAheadFirst and grows as scripts exit (tuning.ts).
   */
  private get launchLimit(): number {
    const ahead = Math.min(this.t.launchAhead, Math.max(this.t.launchAheadFirst, this.exited >> 2));
    return this.o.parallel + Math.max(this.o.parallel, ahead);
  }

  /** The most steps launched and not yet exited, however far the launch-ahead has grown. */
  private get launchMax(): number {
    return this.o.parallel + Math.max(this.o.parallel, this.t.launchAhead);
  }

  private get stopping(): boolean {
    return this.o.stop.aborted || this.failed !== null;
  }

  run(): Promise<void> {
    const execute = this.o.execute ?? executeStep$;
    const steps$ = this.wake$.pipe(
      concatMap(() => this.launchPass()),
      concatAll(),
      // The passes bound what is launched and not yet exited (a slot frees when its script
      // exits, not when its outputs are stored); this bounds the steps still storing outputs.
      mergeMap((step) => execute(this.ctx, step), this.launchMax + this.t.storeBacklog * this.o.parallel),
    );
    return new Promise<void>((resolve, reject) => {
      const onStop = this.o.stop.aborted ? null : fromEvent(this.o.stop, 'abort').subscribe(() => this.wake());
      steps$.subscribe({
        next: (event) => this.onEvent(event),
        error: (err: unknown) => {
          onStop?.unsubscribe();
          this.retries.unsubscribe();
          reject(err);
        },
        complete: () => {
          onStop?.unsubscribe();
          if (this.failed !== null) reject(this.failed);
          else resolve();
        },
      });
      this.wake();
    });
  }

  /** Ask for a launch pass; at most one waits behind the one running. */
  private wake(): void {
    if (this.passQueued) return;
    this.passQueued = true;
    this.wake$.next();
  }

  /** Take the leaves the limits allow, fire the gathers that are ready, and end the stream when all is settled. */
  private async launchPass(): Promise<RunnableStep[]> {
    this.passQueued = false;
    const launched: RunnableStep[] = [];
    try {
      while (!this.stopping && this.lanes.total('active') < this.launchLimit) {
        const next = await this.lanes.take();
        if (next === null) break;
        this.inStream++;
        this.writer.claim(next.leaf.id);
        launched.push({ ...next.leaf, plan: this.plans.get(next.lane.taskId)! });
      }
      // A free slot with nothing to run may be waiting for what a commit creates.
      const idleSlot = this.lanes.total('active') < this.launchLimit;
      if (idleSlot && this.lanes.total('unsettled') > this.inStream) this.writer.flushSoon();
      if (!this.stopping && this.gathers.any && (await this.gathers.fire())) this.wake();
      if (this.settled()) await this.finish();
    } catch (err) {
      this.fail(err);
    }
    return launched;
  }

  private settled(): boolean {
    if (this.inStream > 0 || (this.lanes.total('unsettled') > 0 && this.failed === null)) return false;
    return this.stopping || (this.lanes.total('retrying') === 0 && !this.lanes.hasLeaves());
  }

  private async finish(): Promise<void> {
    // Settled while not stopping means no retry is waiting; stopping, the waits are cancelled.
    if (this.stopping) this.retries.unsubscribe();
    await this.writer.drain();
    if (this.interrupted.length > 0) await this.o.meta.release(this.interrupted.splice(0));
    // A commit or a retry may have woken a pass meanwhile: that pass decides.
    if (this.passQueued || !this.settled()) return;
    this.o.summary.heldBack = [...this.gathers.heldBack];
    this.wake$.complete();
  }

  private onEvent(event: StepEvent): void {
    if (event.kind === 'exited') {
      this.exited++;
      this.lanes.exited(event.step.task);
    } else if (event.kind === 'interrupted') {
      this.inStream--;
      this.lanes.settled(event.step.task, false);
      this.interrupted.push(event.step.id);
    } else {
      this.inStream--;
      this.record(event);
      this.writer.commit(event.outcome);
    }
    this.wake();
  }

  /** Counts a finished step in the summary, and has a failed one retried if its task allows. */
  private record(result: Extract<StepEvent, { kind: 'finished' }>): void {
    const { step, outcome } = result;
    const summary = this.o.summary;
    const counts = summary.tasks.get(step.plan.spec.name)!;
    if (outcome.status === 'done') {
      counts.ran++;
      return;
    }
    const tries = (this.triesThisRun.get(step.id) ?? 0) + 1;
    this.triesThisRun.set(step.id, tries);
    if (tries <= step.plan.spec.retries && !this.stopping) {
      this.retryLater(step, tries);
      return;
    }
    counts.failed++;
    summary.failures.push({
      task: step.plan.spec.name,
      stepId: step.id,
      exitCode: outcome.exitCode,
      error: outcome.error ?? 'failed',
      logTail: result.logTail,
    });
  }

  /**
   * After the backoff, once the failure (and its log) is committed, the step is pending again
   * and first in its lane. An interrupt cancels the wait.
   */
  private retryLater(step: RunnableStep, tries: number): void {
    const lane = this.lanes.get(step.task)!;
    lane.retrying++;
    const retry = timer(backoffMs(tries, this.t)).pipe(
      takeUntil(fromEvent(this.o.stop, 'abort')),
      concatMap(() => this.writer.drain().then(() => this.o.meta.release([step.id]))),
      finalize(() => {
        lane.retrying--;
        this.wake();
      }),
    );
    this.retries.add(
      retry.subscribe({
        next: () => {
          const { plan: _, ...leaf } = step;
          this.lanes.retry({ ...leaf, attempts: step.attempts + tries });
        },
        error: (err: unknown) => this.fail(err),
      }),
    );
  }

  private afterCommit(outcomes: StepOutcome[], effect: CommitEffect): void {
    for (const [taskId, steps] of effect.created) this.lanes.created(taskId, steps);
    for (const out of outcomes) this.lanes.settled(out.taskId, out.status === 'done');
    const summary = this.o.summary;
    for (const [taskId, n] of effect.reused) {
      const plan = this.plans.get(taskId);
      if (plan) summary.tasks.get(plan.spec.name)!.reused += n;
    }
    for (const [taskId, n] of effect.merged) {
      const plan = this.plans.get(taskId);
      if (plan) summary.merged.set(plan.spec.name, (summary.merged.get(plan.spec.name) ?? 0) + n);
    }
    this.wake();
  }

  private fail(err: unknown): void {
    this.failed ??= err;
    this.wake();
  }
}
