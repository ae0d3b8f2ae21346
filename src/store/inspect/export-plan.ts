import { posix } from 'node:path';
import { safeRelativePath } from './safe-name.js';
import type { TaskOutput } from './current-outputs.js';

export interface ExportEntry {
  /** Path under the export directory, "/"-separated. */
  path: string;
  name: string;
  hash: string;
  size: number | null;
  /** The item the producing step processed. */
  from: string;
  /**
   * Why path is not simply the name: an unsafe name; a name several steps left (so it goes under
   * the item it came from); or a path another output already has.
   */
  renamed: 'sanitised' | 'shared' | 'duplicate' | null;
  /** The same bytes already go to this path: nothing more to write. */
  merged: boolean;
}

/**
 * Where each output goes. An output whose name only one step left goes to NAME. When several
 * steps left the same name (three inputs each giving `n`), none is dropped: each goes to
 * FROM/NAME, FROM being the item its step processed (`_` for a seed step). A path taken by
 * other bytes, or that another output needs as a directory, becomes `path~<short hash>`.
 * Outputs arrive sorted by name, then FROM, so the layout is the same on every export.
 */
export function planExport(outputs: Iterable<TaskOutput>): ExportEntry[] {
  const rows = [...outputs];
  const stepsOf = new Map<string, Set<number>>();
  for (const o of rows) {
    const steps = stepsOf.get(o.name);
    if (steps) steps.add(o.step);
    else stepsOf.set(o.name, new Set([o.step]));
  }
  const wanted: { o: TaskOutput; path: string; renamed: ExportEntry['renamed'] }[] = [];
  const dirs = new Set<string>();
  for (const o of rows) {
    const shared = stepsOf.get(o.name)!.size > 1;
    const safe = safeRelativePath(shared ? `${o.from === '' ? '_' : o.from}/${o.name}` : o.name);
    wanted.push({ o, path: safe.path, renamed: safe.changed ? 'sanitised' : shared ? 'shared' : null });
    for (let d = posix.dirname(safe.path); d !== '.'; d = posix.dirname(d)) dirs.add(d);
  }
  const taken = new Map<string, string>(); // path -> hash
  const plan: ExportEntry[] = [];
  for (const w of wanted) {
    let path = w.path;
    let renamed = w.renamed;
    const entry = { name: w.o.name, hash: w.o.hash, size: w.o.size, from: w.o.from };
    const owner = taken.get(path);
    if (owner === w.o.hash) {
      plan.push({ ...entry, path, renamed, merged: true });
      continue;
    }
    if (owner !== undefined || dirs.has(path)) {
      path = freeVariant(path, w.o.hash, taken, dirs);
      renamed = 'duplicate';
    }
    taken.set(path, w.o.hash);
    plan.push({ ...entry, path, renamed, merged: false });
  }
  return plan;
}

function freeVariant(path: string, hash: string, taken: Map<string, string>, dirs: Set<string>): string {
  // 8 hex digits tell objects apart in practice; the longer forms only guard against the odd clash.
  for (const n of [8, 16, 64]) {
    const candidate = `${path}~${hash.slice(0, n)}`;
    if (!taken.has(candidate) && !dirs.has(candidate)) return candidate;
  }
  let i = 2;
  while (taken.has(`${path}~${hash}.${i}`) || dirs.has(`${path}~${hash}.${i}`)) i++;
  return `${path}~${hash}.${i}`;
}
