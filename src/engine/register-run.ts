import type { Manifest } from '../manifest/index.js';
import type { MetadataStore } from '../store/metadata-store.js';
import { buildPlan, currentGraph, taskVersionInputs } from './plan.js';
import { newSummary } from './run-summary.js';

/** A run's first writes, on SQLite or PostgreSQL alike: the run row, its summary, the task versions and the graph. */
export async function registerRun(meta: MetadataStore, manifest: Manifest) {
  const runId = await meta.beginRun(manifest.path, process.pid);
  const summary = newSummary(
    runId,
    manifest.tasks.map((t) => t.name),
  );
  const ids = await meta.registerTasks(taskVersionInputs(manifest));
  const plans = buildPlan(manifest, ids);
  return { runId, summary, ids, plans, graph: currentGraph(plans) };
}
