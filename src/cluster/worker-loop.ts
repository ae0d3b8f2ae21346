import type { StepOutcome } from '../store/metadata-store.js';
import type { LinesPool } from '../executor/lines/lines-pool.js';
import type { ProcessGroups } from '../executor/process-groups.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { commitFenced } from '../store/postgres/pg-commit.js';
import type { PgDb } from '../store/postgres/pg-db.js';
import { leaseMs, type Claimable, type PgLeases, type RunState } from '../store/postgres/pg-leases.js';
import { executeStep$ } from '../engine/execute-step.js';
import type { RunnableStep, StepContext } from '../engine/step-context.js';
import type { Executor } from '../executor/executor.js';
import { fanOutOf, type TaskPlan } from '../engine/plan.js';
import type { WorkSlots } from '../engine/work-slots.js';
import { GraphLines } from './graph-lines.js';

export interface LoadedGraph {
  plans: TaskPlan[];
  /** The scripts' working directory: the manifest's (coordinator) or the task files' copy (worker). */
  manifestDir: string;
}

export interface WorkerLoopOptions {
  db: PgDb;
  leases: PgLeases;
  kind: 'coordinator' | 'worker';
  parallel: number;
  store: LocalObjectStore;
  executor: Executor;
  /** Where the long-lived processes of protocol = "lines" tasks are registered, as the executor's are. */
  groups: ProcessGroups;
  slots: WorkSlots;
  echo: ((line: string) => void) | null;
  /** Aborted on SIGINT/SIGTERM: claim nothing more, stop the running scripts, give their steps back. */
  stop: AbortSignal;
  /** The current graph as published in the db, loaded again whenever its generation changes. */
  load(state: RunState): Promise<LoadedGraph>;
  /** Nothing runs here and nothing could be claimed: resolve true to end the loop (the coordinator's end of run). */
  idle(): Promise<boolean>;
  /** Told of a lease registered (its id): the coordinator's store commits under it too. */
  onLease?(lease: number): void;
}

interface InFlight {
  lease: number;
  taskId: number;
  lines: LinesPool | undefined;
}

interface Finished {
  lease: number;
  outcome: StepOutcome;
  /** The generation of the graph its fan-out was worked out along (the one it was claimed under). */
  graph: number;
  /** The step's round in a cycle: its fan-out is worked out again if the graph moved. */
  round: number;
}

/** How often an idle process looks for work (ms): TASK_PIPELINE_POLL_MS, a test hook, else 250. */
function pollMs(): number {
  const v = Number(process.env.TASK_PIPELINE_POLL_MS);
  return Number.isFinite(v) && v > 0 ? v : 250;
}

/**
 * The loop of a process that runs steps from a PostgreSQL db (a worker, or a run's coordinator):
 * claim pending steps of the current graph in batches (as many as free slots, FOR UPDATE SKIP
 * LOCKED), run each like a local run does (execute-step.ts), commit what finished, fenced by the
 * lease it was claimed under. A heartbeat keeps the lease; a lease found reaped (this process
 * was paused or cut off longer than the lease) stops the steps held under it, whose commits
 * would be refused anyway, and a new lease is taken.
 */
export class WorkerLoop {
  private lease = 0;
  private leaseStop = new AbortController();
  private readonly inFlight = new Map<number, InFlight>();
  private readonly finished: Finished[] = [];
  private readonly givenBack: { lease: number; id: number }[] = [];
  private graph: LoadedGraph | null = null;
  private readonly lines: GraphLines;
  private pool: LinesPool | undefined;
  private state: RunState = { graph: -1, runId: null, only: null };
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private heart: NodeJS.Timeout | null = null;
  private beating: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private seenRetries = 0;
  private refreshedAt = 0;
  readonly counts = { done: 0, failed: 0, fenced: 0 }; // steps committed here, and those the fence refused

  constructor(private readonly o: WorkerLoopOptions) {
    this.lines = new GraphLines({ groups: o.groups, parallel: o.parallel, tmpDir: o.store.tmpDir, stop: o.stop });
  }

  async run(): Promise<void> {
    await this.newLease();
    this.beat();
    try {
      while (!this.o.stop.aborted && this.failure === null) {
        await this.refresh();
        // A free slot first: its next step starts while the finished ones are committed.
        const claimed = await this.claim();
        await this.settle();
        await this.lines.sweep([...this.inFlight.values()].map((f) => f.lines));
        if (claimed > 0) continue;
        if (this.inFlight.size === 0 && this.finished.length === 0 && (await this.o.idle())) break;
        // Slots free: look for work again soon. All busy: a step that finishes wakes the loop.
        await this.sleep(this.inFlight.size < this.o.parallel ? pollMs() : 1000);
      }
    } finally {
      if (this.heart) clearTimeout(this.heart);
      this.heart = null;
      await this.beating;
      // Interrupted: the running scripts are stopped by the stop signal; wait for them to settle.
      while (this.inFlight.size > 0) await this.sleep(100);
      await this.settle();
      await this.o.leases.end(this.lease);
      await this.lines.close();
    }
    if (this.failure !== null) throw this.failure;
  }

  private async newLease(): Promise<void> {
    this.lease = await this.o.leases.register(this.o.kind, this.o.parallel);
    this.leaseStop = new AbortController();
    this.o.onLease?.(this.lease);
  }

  /**
   * The heartbeat, every third of the lease; a lease lost stops what it held and takes a new one.
   * Once the loop is stopping (heart null) a beat in flight does nothing more: the lease it
   * finds ended is this process's own ending, not a loss.
   */
  private beat(): void {
    this.heart = setTimeout(() => {
      this.beating = (async () => {
        const alive = await this.o.leases.heartbeat(this.lease);
        if (this.heart === null) return;
        if (!alive) {
          this.leaseStop.abort();
          await this.newLease();
        }
        this.beat();
      })().catch((err: unknown) => {
        this.failure ??= err;
        this.wake();
      });
    }, leaseMs() / 3);
  }

  /**
   * Once a second: a new graph generation (a new run of the coordinator) has its plans loaded,
   * and expired leases are reaped (their steps pending again) whoever else is looking.
   */
  private async refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.refreshedAt >= 1000 || this.graph === null) {
      this.refreshedAt = now;
      const state = await this.o.leases.runState();
      if (state.graph !== this.state.graph || this.graph === null) await this.load(state);
      this.state = state;
      await this.o.leases.reap();
    }
    // A lost connection may have eaten a claim's answer: what we hold beyond our steps goes back.
    if (this.o.db.retries !== this.seenRetries) {
      this.seenRetries = this.o.db.retries;
      await this.o.leases.releaseOrphans(this.lease, [...this.inFlight.keys()]);
    }
  }

  private async load(state: RunState): Promise<void> {
    this.graph = await this.o.load(state);
    this.pool = this.lines.use(this.graph);
  }

  private claimable(): Claimable[] {
    const running = new Map<number, number>();
    for (const f of this.inFlight.values()) running.set(f.taskId, (running.get(f.taskId) ?? 0) + 1);
    const only = this.state.only === null ? null : new Set(this.state.only);
    const out: Claimable[] = [];
    for (const p of this.graph?.plans ?? []) {
      if (only !== null && !only.has(p.taskId)) continue;
      const limit = (p.spec.parallel ?? Infinity) - (running.get(p.taskId) ?? 0);
      if (limit > 0)
        out.push({ taskId: p.taskId, maxRound: p.spec.maxRounds, limit: Math.min(limit, this.o.parallel) });
    }
    return out;
  }

  private async claim(): Promise<number> {
    const free = this.o.parallel - this.inFlight.size;
    if (free <= 0 || this.o.stop.aborted || this.graph === null) return 0;
    const lease = this.lease;
    const claimedUnder = this.state.graph;
    const steps = await this.o.leases.claim(lease, this.state.runId, this.claimable(), free);
    const plans = new Map(this.graph.plans.map((p) => [p.taskId, p]));
    const ctx: StepContext = {
      store: this.o.store,
      executor: this.o.executor,
      slots: this.o.slots,
      manifestDir: this.graph.manifestDir,
      echo: this.o.echo,
      stop: AbortSignal.any([this.o.stop, this.leaseStop.signal]),
      lines: this.pool,
    };
    for (const leaf of steps) {
      const step: RunnableStep = { ...leaf, plan: plans.get(leaf.task)! };
      this.inFlight.set(step.id, { lease, taskId: step.task, lines: this.pool });
      executeStep$(ctx, step).subscribe({
        next: (event) => {
          if (event.kind === 'finished')
            this.finished.push({ lease, outcome: event.outcome, graph: claimedUnder, round: step.round });
          else if (event.kind === 'interrupted') this.givenBack.push({ lease, id: step.id });
          else return;
          this.inFlight.delete(step.id);
          this.wake();
        },
        error: (err: unknown) => {
          this.inFlight.delete(step.id);
          this.failure ??= err;
          this.wake();
        },
      });
    }
    return steps.length;
  }

  /**
   * Commit what finished (fenced, per lease it was claimed under) and give back what was
   * interrupted. A step's fan-out follows the graph it was claimed under: one loaded since (a new
   * run published it) has them worked out again along its edges first, and a commit refused as
   * stale (published while committing) loads the graph and tries again.
   */
  private async settle(): Promise<void> {
    const finished = this.finished.splice(0);
    for (const lease of new Set(finished.map((f) => f.lease))) {
      const mine = finished.filter((f) => f.lease === lease);
      for (;;) {
        this.refan(mine);
        const retries = new Map((this.graph?.plans ?? []).map((p) => [p.taskId, p.spec.retries]));
        const outcomes = mine.map((f) => f.outcome);
        const r = await commitFenced(this.o.db, lease, this.state.runId, outcomes, retries, this.state.graph);
        if (r.stale) {
          this.state = await this.o.leases.runState();
          await this.load(this.state);
          this.refreshedAt = Date.now();
          continue;
        }
        for (const c of r.committed) this.counts[c.status]++;
        this.counts.fenced += r.fenced.length;
        break;
      }
    }
    const back = this.givenBack.splice(0);
    for (const lease of new Set(back.map((b) => b.lease))) {
      await this.o.leases.release(
        lease,
        back.filter((b) => b.lease === lease).map((b) => b.id),
      );
    }
  }

  /** Fan-outs worked out along an older graph, again along the one loaded (none if their task left it). */
  private refan(finished: Finished[]): void {
    const plans = new Map((this.graph?.plans ?? []).map((p) => [p.taskId, p]));
    for (const f of finished) {
      if (f.graph === this.state.graph) continue;
      const plan = plans.get(f.outcome.taskId);
      const done = f.outcome.status === 'done';
      f.outcome.fanOut = plan && done ? fanOutOf(plan, f.outcome.outputs, f.round) : [];
      f.graph = this.state.graph;
    }
  }

  /** A step ended: the loop's sleep ends now, or the next one does not start (the loop was busy). */
  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    if (w) w();
    else this.woken = true;
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const stop = this.o.stop;
      const done = () => {
        clearTimeout(t);
        stop.removeEventListener('abort', done);
        if (this.wakeUp === done) this.wakeUp = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      stop.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
    });
  }
}
