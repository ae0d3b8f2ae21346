import { GatherTrigger } from './gather-trigger.js';
import { progressSnapshot, type ProgressSnapshot } from './progress.js';
import type { SchedulerOptions } from './scheduler.js';
import { TaskLanes } from './task-lanes.js';
import { TUNING } from './tuning.js';

/**
 * Run every leaf of the graph until none is left (scheduler.ts). A run with nothing to launch
 * and no gather to fire, a no-op re-run, ends here without loading the scheduler, nor rxjs
 * with it: loading them would be a good part of such a run's time.
 */
export async function streamLeaves(
  o: SchedulerOptions,
  onStart?: (progress: { snapshot(): Promise<ProgressSnapshot> }) => void,
): Promise<void> {
  if (o.stop.aborted) return;
  const specs = o.plans.map((p) => ({
    taskId: p.taskId,
    limit: p.spec.parallel ?? Infinity,
    maxRounds: p.spec.maxRounds,
    selected: o.only === null || o.only.has(p.taskId),
  }));
  const pageSize = o.tuning?.pageSize ?? TUNING.pageSize;
  const lanes = new TaskLanes(
    specs,
    (taskId, after, limit, maxRound) => o.meta.pendingPage(taskId, after, limit, maxRound),
    pageSize,
  );
  const gathers = new GatherTrigger(o, lanes);
  if (!(await lanes.anyLeaves()) && !(await gathers.fire())) {
    o.summary.heldBack = [...gathers.heldBack];
    return;
  }
  const { Scheduler } = await import('./scheduler.js');
  onStart?.({ snapshot: () => progressSnapshot(o, lanes) });
  await new Scheduler(o, lanes, gathers).run();
}
