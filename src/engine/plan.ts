import type { Manifest, TaskSpec } from '../manifest/index.js';
import { taskVersion, canonicalJson, matchesAny } from '../manifest/index.js';
import type { CurrentTaskInput, EdgeInput, FanOut, NamedObject, TaskVersionInput } from '../store/metadata-store.js';

export interface Downstream {
  taskId: number;
  match: string[] | null;
  /** The edge closes a cycle's path (both tasks in one cycle): the step it feeds is a round further. */
  cycle: boolean;
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
    // What taskVersion hashes: `files` ({path: sha256}) only when the task lists some.
    definition: canonicalJson({
      script: t.script,
      shell: t.shell,
      env: t.env,
      stdout: t.stdout,
      files: t.files.length > 0 ? Object.fromEntries(t.files.map((f) => [f.path, f.hash])) : undefined,
      protocol: t.protocol === 'lines' ? 'lines' : undefined,
    }),
  }));
}

export function buildPlan(manifest: Manifest, ids: Map<string, number>): TaskPlan[] {
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) baseEnv[k] = v;
  const byName = new Map<string, TaskPlan>();
  for (const spec of manifest.tasks) {
    byName.set(spec.name, {
      spec,
      taskId: ids.get(spec.name)!,
      isRoot: spec.inputs.length === 0,
      downstream: [],
      closure: [],
      env: { ...baseEnv, ...spec.env },
    });
  }
  const component = cycles(manifest.tasks);
  for (const plan of byName.values()) {
    if (plan.spec.gather) continue;
    for (const up of plan.spec.inputs) {
      byName.get(up)!.downstream.push({
        taskId: plan.taskId,
        match: plan.spec.match,
        cycle: inCycle(component, up, plan.spec.name),
      });
    }
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

/**
 * The strongly connected components of the task graph (Tarjan): tasks that can reach each
 * other lie on a cycle. A self-listing task is its own cycle. Maps a task name to its component.
 */
export function cycles(tasks: TaskSpec[]): Map<string, { id: number; cyclic: boolean }> {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, { id: number; cyclic: boolean }>();
  let next = 0;
  let components = 0;
  // Edges run from a task to what it consumes; the components are the same either way.
  const visit = (name: string): void => {
    index.set(name, next);
    low.set(name, next++);
    stack.push(name);
    onStack.add(name);
    for (const up of byName.get(name)!.inputs) {
      if (!index.has(up)) {
        visit(up);
        low.set(name, Math.min(low.get(name)!, low.get(up)!));
      } else if (onStack.has(up)) {
        low.set(name, Math.min(low.get(name)!, index.get(up)!));
      }
    }
    if (low.get(name) !== index.get(name)) return;
    const members: string[] = [];
    for (;;) {
      const m = stack.pop()!;
      onStack.delete(m);
      members.push(m);
      if (m === name) break;
    }
    const cyclic = members.length > 1 || byName.get(name)!.inputs.includes(name);
    const c = { id: components++, cyclic };
    for (const m of members) component.set(m, c);
  };
  for (const t of tasks) if (!index.has(t.name)) visit(t.name);
  return component;
}

function inCycle(component: Map<string, { id: number; cyclic: boolean }>, from: string, to: string): boolean {
  const a = component.get(from)!;
  return a.cyclic && a === component.get(to);
}

export function currentGraph(plans: TaskPlan[]): { tasks: CurrentTaskInput[]; edges: EdgeInput[] } {
  const byName = new Map(plans.map((p) => [p.spec.name, p]));
  const component = cycles(plans.map((p) => p.spec));
  const tasks = plans.map((p) => ({
    name: p.spec.name,
    taskId: p.taskId,
    position: p.spec.index,
    isRoot: p.isRoot,
    gather: p.spec.gather,
    spec: p.spec,
  }));
  const edges: EdgeInput[] = [];
  for (const p of plans) {
    for (const up of p.spec.inputs) {
      const from = byName.get(up)!;
      edges.push({
        fromTaskId: from.taskId,
        toTaskId: p.taskId,
        match: p.spec.match,
        toGather: p.spec.gather,
        fromGather: from.spec.gather,
        cycle: inCycle(component, up, p.spec.name),
      });
    }
  }
  return { tasks, edges };
}

export function passes(match: string[] | null, name: string): boolean {
  return match === null || matchesAny(match, name);
}

/** The downstream steps a done step of `plan` (in cycle round `round`) feeds with its outputs. */
export function fanOutOf(plan: TaskPlan, outputs: NamedObject[], round: number): FanOut[] {
  return plan.downstream.flatMap((d) =>
    outputs
      .filter((o) => passes(d.match, o.name))
      .map((o) => ({ taskId: d.taskId, name: o.name, hash: o.hash, round: d.cycle ? round + 1 : 0 })),
  );
}
