import type { Manifest, TaskSpec } from '../manifest/index.js';
import { taskVersion, canonicalJson, matchesAny } from '../manifest/index.js';
import type { CurrentTaskInput, EdgeInput, TaskVersionInput } from '../store/metadata-store.js';

export interface Downstream {
  taskId: number;
  match: string[] | null;
}

/** A task of the manifest as the engine runs it: its current version id and its edges. */
export interface TaskPlan {
  spec: TaskSpec;
  taskId: number;
  isRoot: boolean;
  /** Non-gather tasks fed by this one's outputs. */
  downstream: Downstream[];
  /** For a gather task: every task upstream of it, transitively. */
  closure: number[];
  /** The engine's environment plus the task's `env`, built once. */
  env: Record<string, string>;
}

export function taskVersionInputs(manifest: Manifest): TaskVersionInput[] {
  return manifest.tasks.map((t) => ({
    name: t.name,
    script: t.script,
    version: taskVersion(t),
    definition: canonicalJson({ script: t.script, shell: t.shell, env: t.env, stdout: t.stdout }),
  }));
}

export function buildPlan(manifest: Manifest, ids: Map<string, number>): TaskPlan[] {
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) baseEnv[k] = v;
  const byName = new Map<string, TaskPlan>();
  for (const spec of manifest.tasks) {
    byName.set(spec.name, {
      spec, taskId: ids.get(spec.name)!, isRoot: spec.inputs.length === 0, downstream: [], closure: [],
      env: { ...baseEnv, ...spec.env },
    });
  }
  for (const plan of byName.values()) {
    if (plan.spec.gather) continue;
    for (const up of plan.spec.inputs) byName.get(up)!.downstream.push({ taskId: plan.taskId, match: plan.spec.match });
  }
  for (const plan of byName.values()) {
    if (plan.spec.gather) plan.closure = upstreamClosure(plan.spec, byName);
  }
  return [...byName.values()];
}

function upstreamClosure(start: TaskSpec, byName: Map<string, TaskPlan>): number[] {
  const seen = new Set<string>();
  const todo = [...start.inputs];
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    todo.push(...byName.get(name)!.spec.inputs);
  }
  // A gather inside its own closure (a cycle through it) must not wait for itself.
  seen.delete(start.name);
  return [...seen].map((n) => byName.get(n)!.taskId);
}

export function currentGraph(plans: TaskPlan[]): { tasks: CurrentTaskInput[]; edges: EdgeInput[] } {
  const byName = new Map(plans.map((p) => [p.spec.name, p]));
  const tasks = plans.map((p) => ({
    name: p.spec.name, taskId: p.taskId, position: p.spec.index, isRoot: p.isRoot, gather: p.spec.gather, spec: p.spec,
  }));
  const edges: EdgeInput[] = [];
  for (const p of plans) {
    for (const up of p.spec.inputs) {
      const from = byName.get(up)!;
      edges.push({ fromTaskId: from.taskId, toTaskId: p.taskId, match: p.spec.match, toGather: p.spec.gather, fromGather: from.spec.gather });
    }
  }
  return { tasks, edges };
}

export function passes(match: string[] | null, name: string): boolean {
  return match === null || matchesAny(match, name);
}
