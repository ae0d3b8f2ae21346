import type { EdgeInput, MetadataStore } from '../store/metadata-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { fireGather } from './gather.js';
import type { TaskPlan } from './plan.js';
import { reconcileEdges } from './reconcile-edges.js';
import type { RunSummary } from './run-summary.js';
import type { TaskLanes } from './task-lanes.js';

export interface GatherTriggerOptions {
  meta: MetadataStore;
  store: ObjectStore;
  plans: TaskPlan[];
  /** The current graph's edges: what a gather's reused step flows along. */
  edges: EdgeInput[];
  summary: RunSummary;
}

/**
 * Fires each gather task once everything upstream of it is finished: nothing pending, in flight,
 * waiting to retry or failed, since a sum over partial data would look like a result. A failed
 * upstream step holds the gather back (named in the summary) until a later run fixes it.
 */
export class GatherTrigger {
  private readonly gathers: TaskPlan[];
  /** Per gather task, the done steps of its upstream when it last fired: it fires again when they move. */
  private readonly firedAt = new Map<number, number>();
  readonly heldBack = new Set<string>();

  constructor(
    private readonly o: GatherTriggerOptions,
    private readonly lanes: TaskLanes,
  ) {
    this.gathers = o.plans.filter((p) => p.spec.gather && lanes.get(p.taskId)?.selected === true);
  }

  get any(): boolean {
    return this.gathers.length > 0;
  }

  /** Fire what is ready; true when that made steps to run. */
  async fire(): Promise<boolean> {
    let made = false;
    for (const plan of this.gathers) {
      const doneSum = this.lanes.doneIn(plan.closure);
      if (this.firedAt.get(plan.taskId) === doneSum || !this.lanes.idle(plan.closure)) continue;
      if (!(await this.upstreamFinished(plan))) {
        this.heldBack.add(plan.spec.name);
        continue;
      }
      this.heldBack.delete(plan.spec.name);
      this.firedAt.set(plan.taskId, doneSum);
      if (await this.fireOne(plan)) made = true;
    }
    return made;
  }

  private async upstreamFinished(plan: TaskPlan): Promise<boolean> {
    for (const id of plan.closure) if ((await this.o.meta.unfinishedCount(id)) > 0) return false;
    return true;
  }

  private async fireOne(plan: TaskPlan): Promise<boolean> {
    const { meta, store, summary } = this.o;
    const g = await fireGather(meta, store, plan.taskId);
    if (g.status === 'pending' || g.status === 'failed') {
      if (g.status === 'failed') await meta.release([g.stepId]);
      this.lanes.reopen(plan.taskId);
      return true;
    }
    if (g.wasCurrent || g.status !== 'done') return false;
    // A listing seen before (an undo): its step is done, and what it produced flows on now, to
    // whatever versions of the downstream tasks are current.
    summary.tasks.get(plan.spec.name)!.reused++;
    const downstream = this.o.edges.filter((e) => e.fromTaskId === plan.taskId);
    const { created } = await reconcileEdges(this.o, downstream);
    for (const taskId of created) this.lanes.reopen(taskId);
    return created.size > 0;
  }
}
