import type { EdgeInput, MetadataStore } from '../store/metadata-store.js';
import type { TaskPlan } from './plan.js';
import type { RunSummary } from './run-summary.js';

/**
 * Reconcile edges in the order given (the manifest's): reuse found is credited to the consuming
 * task. Returns the tasks that got links, and those that got new pending steps.
 */
export async function reconcileEdges(
  o: { meta: MetadataStore; plans: TaskPlan[]; summary: RunSummary },
  edges: EdgeInput[],
): Promise<{ linked: Set<number>; created: Set<number> }> {
  const linked = new Set<number>();
  const created = new Set<number>();
  for (const e of edges) {
    const r = await o.meta.reconcileEdge(e);
    const target = o.plans.find((p) => p.taskId === e.toTaskId);
    if (target) o.summary.tasks.get(target.spec.name)!.reused += r.reused;
    if (r.linked > 0) linked.add(e.toTaskId);
    if (r.created > 0) created.add(e.toTaskId);
  }
  return { linked, created };
}
