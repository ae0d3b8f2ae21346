import { posix } from 'node:path';
import { safeRelativePath } from './safe-name.js';
import type { TaskOutput } from './current-outputs.js';

export interface ExportEntry {
  /** Path under the export directory, "/"-separated. */
  path: string;
  name: string;
  hash: string;
  size: number | null;
  /** Why path is not simply the name: unsafe name, or another output already has it. */
  renamed: 'sanitised' | 'duplicate' | null;
  /** The same bytes already go to this path under another name: nothing more to write. */
  merged: boolean;
}

/**
 * Where each output goes. A name used by two different objects keeps the first (lowest hash)
 * at the plain name and the others at `name~<short hash>`; equal bytes under one name are one
 * file. A path that another output needs as a directory also moves to `name~<short hash>`.
 */
export function planExport(outputs: Iterable<TaskOutput>): ExportEntry[] {
  const wanted: { o: TaskOutput; path: string; sanitised: boolean }[] = [];
  const dirs = new Set<string>();
  for (const o of outputs) {
    const safe = safeRelativePath(o.name);
    wanted.push({ o, path: safe.path, sanitised: safe.changed });
    for (let d = posix.dirname(safe.path); d !== '.'; d = posix.dirname(d)) dirs.add(d);
  }
  const taken = new Map<string, string>(); // path -> hash
  const plan: ExportEntry[] = [];
  for (const w of wanted) {
    let path = w.path;
    let renamed: ExportEntry['renamed'] = w.sanitised ? 'sanitised' : null;
    const owner = taken.get(path);
    if (owner === w.o.hash) {
      plan.push({ path, name: w.o.name, hash: w.o.hash, size: w.o.size, renamed, merged: true });
      continue;
    }
    if (owner !== undefined || dirs.has(path)) {
      path = freeVariant(path, w.o.hash, taken, dirs);
      renamed = 'duplicate';
    }
    taken.set(path, w.o.hash);
    plan.push({ path, name: w.o.name, hash: w.o.hash, size: w.o.size, renamed, merged: false });
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
