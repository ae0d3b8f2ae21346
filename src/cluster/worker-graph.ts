import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Manifest, TaskSpec } from '../manifest/index.js';
import type { LocalObjectStore } from '../store/object-store.js';
import type { PgDb } from '../store/postgres/pg-db.js';
import type { RunState } from '../store/postgres/pg-leases.js';
import { buildPlan } from '../engine/plan.js';
import type { LoadedGraph } from './worker-loop.js';

/**
 * A worker has no manifest: the current graph comes from the db (each current task's entry as
 * the coordinator parsed it), and the files the tasks name in `files` from the store, where the
 * coordinator put them. They are copied under `<filesRoot>/graph-N/` at their paths relative
 * to the manifest, read-only and executable, and that directory is the scripts' working
 * directory, as the manifest's directory is on the coordinator.
 */
export async function loadWorkerGraph(
  db: PgDb,
  store: LocalObjectStore,
  filesRoot: string,
  state: RunState,
): Promise<LoadedGraph> {
  const rows = await db.query<{ task_id: number; spec: string }>(
    `SELECT task_id, spec FROM current_task ORDER BY position`,
  );
  const specs = rows.map((r) => JSON.parse(r.spec) as TaskSpec);
  const ids = new Map(rows.map((r, i) => [specs[i]!.name, r.task_id]));
  const dir = join(filesRoot, `graph-${state.graph}`);
  mkdirSync(dir, { recursive: true });
  for (const spec of specs) {
    for (const f of spec.files) {
      const dest = join(dir, f.path);
      if (existsSync(dest)) continue;
      mkdirSync(dirname(dest), { recursive: true });
      const tmp = `${dest}.part`;
      copyFileSync(store.pathOf(f.hash), tmp);
      chmodSync(tmp, 0o555);
      renameSync(tmp, dest);
    }
  }
  const manifest: Manifest = { path: join(dir, 'manifest'), dir, tasks: specs };
  return { plans: buildPlan(manifest, ids), manifestDir: dir };
}
