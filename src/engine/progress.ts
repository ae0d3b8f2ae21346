import type { MetadataStore } from '../store/metadata-store.js';
import type { TaskPlan } from './plan.js';
import type { RunSummary } from './run-summary.js';
import type { TaskLanes } from './task-lanes.js';

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

/** Where the run stands, per task: for a live progress display. */
export async function progressSnapshot(
  o: { meta: MetadataStore; plans: TaskPlan[]; summary: RunSummary },
  lanes: TaskLanes,
): Promise<ProgressSnapshot> {
  const tasks: TaskProgress[] = [];
  for (const lane of lanes.all()) {
    const plan = o.plans.find((p) => p.taskId === lane.taskId)!;
    const c = await o.meta.taskCounts(lane.taskId);
    const counts = o.summary.tasks.get(plan.spec.name)!;
    tasks.push({
      name: plan.spec.name,
      done: c.done,
      total: c.done + c.pending + c.running + c.failed,
      running: lane.scripts,
      failed: counts.failed,
      ran: counts.ran,
    });
  }
  return { tasks };
}
