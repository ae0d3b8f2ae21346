import Database from 'better-sqlite3';
import { resolve } from 'node:path';
import type { Manifest } from '../manifest/index.js';
import { UserError } from '../errors.js';
import { openDatabase, registerFunctions } from '../store/database.js';
import { checkDbDir } from '../store/db-dir.js';
import { hashBytes, hashFile } from '../store/hash-file.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { previousVersionChange } from '../store/inspect/version-change.js';
import { EMPTY_HASH } from '../store/object-path.js';
import { migrate } from '../store/schema.js';
import type { MetadataStore } from '../store/metadata-store.js';
import { SqliteMetadata } from '../store/sqlite-metadata.js';
import { listingBytes } from '../engine/gather.js';
import { listInputs } from '../engine/ingest.js';
import { buildPlan, currentGraph, taskVersionInputs } from '../engine/plan.js';
import { table } from '../cli/format.js';

export interface DryRunTask {
  name: string;
  /** Steps that would run now; null for a task that waits on others (its work is not known yet). */
  run: number | null;
  /** More may come: an upstream task would run first. */
  more: boolean;
  why: string[];
}

export interface DryRunOptions {
  manifest: Manifest;
  dbDir: string;
  inputs: string[];
  force: string[];
}

/**
 * What the planning reads besides the metadata verbs, from a db that is thrown away after it
 * (SQLite: an in-memory copy; PostgreSQL: a transaction rolled back, cluster/dry-run-postgres.ts).
 */
export interface DryRunDb {
  meta: MetadataStore;
  /** `NAME\0VERSION` of every task version the db holds. */
  versions(): Promise<Set<string>>;
  /** What changed since the task's previous version, or null for a first version. */
  versionChange(name: string, taskId: number): Promise<string[] | null>;
  /** The status of the gather task's step over the listing of this hash, if it has one. */
  listingStatus(taskId: number, hash: string): Promise<string | undefined>;
  /** Throw it all away. */
  close(): Promise<void>;
}

/**
 * -dry-run: the run's own planning (register, recover, ingest, reconcile, force) on an in-memory
 * copy of the db, then what is pending per task and why. The db is only read, and the inputs
 * only hashed: nothing is written anywhere.
 */
export async function dryRun(o: DryRunOptions): Promise<DryRunTask[]> {
  return planDryRun(o, async () => {
    const db = scratchCopy(o.dbDir);
    const meta = new SqliteMetadata(db);
    return {
      meta,
      versions: async () =>
        new Set(db.prepare('SELECT name || char(0) || version FROM task').pluck().all() as string[]),
      versionChange: async (name, taskId) =>
        (await previousVersionChange(sqliteQuery(db), name, taskId))?.changed ?? null,
      listingStatus: async (taskId, hash) =>
        db
          .prepare(`SELECT status FROM step WHERE task = ? AND object_hash = unhex(?) AND input_name = 'listing'`)
          .pluck()
          .get(taskId, hash) as string | undefined,
      close: () => meta.close(),
    };
  });
}

/** The planning of a dry run on the db `open` gives (checked first: a mistyped -force or -input opens nothing). */
export async function planDryRun(
  o: Pick<DryRunOptions, 'manifest' | 'inputs' | 'force'>,
  open: () => Promise<DryRunDb>,
): Promise<DryRunTask[]> {
  const known = new Set(o.manifest.tasks.map((t) => t.name));
  for (const t of o.force)
    if (!known.has(t)) throw new UserError('EUSAGE', `-force ${t}: no task of that name in ${o.manifest.path}`);
  const files = await listInputs(o.inputs);
  const d = await open();
  const { meta } = d;
  try {
    const before = await d.versions();
    const runId = await meta.beginRun(o.manifest.path, process.pid);
    const versions = taskVersionInputs(o.manifest);
    const ids = await meta.registerTasks(versions);
    const plans = buildPlan(o.manifest, ids);
    const graph = currentGraph(plans);
    const failedBefore = new Map(
      await Promise.all(plans.map(async (p) => [p.taskId, (await meta.taskCounts(p.taskId)).failed] as const)),
    );
    await meta.setCurrentGraph(graph.tasks, graph.edges);
    await meta.recover(plans.map((p) => p.taskId));
    const inputs = [];
    for (const f of files) inputs.push({ ...(await hashFile(f.path)), name: f.name, source: f.source });
    const changes = await meta.addRunInputs(inputs, runId);
    const seed = (await meta.hasRunInputs()) ? null : { hash: EMPTY_HASH, size: 0 };
    await meta.ensureRootSteps(
      plans.filter((p) => p.isRoot).map((p) => p.taskId),
      seed,
    );
    for (const e of graph.edges) await meta.reconcileEdge(e);
    const forced = new Map<string, number>();
    for (const name of o.force) forced.set(name, await meta.force(ids.get(name)!));

    const busy = new Set<string>();
    const out: DryRunTask[] = [];
    for (const p of plans) {
      const name = p.spec.name;
      const why: string[] = [];
      const v = versions.find((x) => x.name === name)!;
      if (!before.has(`${name}\0${v.version}`)) {
        const change = await d.versionChange(name, p.taskId);
        why.push(change ? `new version (${change.join(', ') || 'definition'})` : 'new task');
      }
      if (p.isRoot && changes.added + changes.replaced > 0)
        why.push(`${changes.added} new and ${changes.replaced} replaced inputs`);
      const failed = failedBefore.get(p.taskId) ?? 0;
      if (failed > 0) why.push(`${failed} failed step${failed === 1 ? '' : 's'} due again`);
      if (forced.has(name)) why.push(`-force: ${forced.get(name)} done steps`);
      const upstream = p.spec.inputs.filter((u) => busy.has(u) && u !== name);
      if (p.spec.gather) {
        const waits = plans
          .filter((q) => p.closure.includes(q.taskId) && busy.has(q.spec.name))
          .map((q) => q.spec.name);
        if (waits.length > 0) {
          out.push({ name, run: null, more: true, why: [`gather: waits on ${waits.join(', ')}`] });
          busy.add(name);
          continue;
        }
        const hash = hashBytes(listingBytes(await meta.gatherListing(p.taskId)));
        const done = await d.listingStatus(p.taskId, hash);
        const run = done === 'done' ? 0 : 1;
        if (run > 0) why.push('its listing is new');
        if (run > 0) busy.add(name);
        out.push({ name, run, more: false, why });
        continue;
      }
      const pending = (await meta.taskCounts(p.taskId)).pending;
      if (pending > 0) busy.add(name);
      if (pending > 0 && why.length === 0) why.push('new items from upstream, or left pending by an earlier run');
      if (upstream.length > 0)
        why.push(`then what ${upstream.join(', ')} ${upstream.length === 1 ? 'produces' : 'produce'}`);
      if (upstream.length > 0) busy.add(name);
      out.push({ name, run: pending, more: upstream.length > 0, why });
    }
    return out;
  } finally {
    await d.close();
  }
}

/** The plan as the run prints it: per task, the steps it would run now ("3+": and what upstream produces) and why. */
export function formatDryRun(plan: DryRunTask[]): string {
  const rows = plan.map((t) => [t.name, t.run === null ? 'later' : `${t.run}${t.more ? '+' : ''}`, t.why.join('; ')]);
  return `dry run: nothing was written\n${table(['task', 'would run', 'why'], rows)}\n`;
}

/** The db as it is, copied into memory (a new, empty one where -db names no db yet). */
function scratchCopy(dbDir: string): Database.Database {
  let db: Database.Database;
  if (checkDbDir(resolve(dbDir)) === 'new') {
    db = new Database(':memory:');
  } else {
    const source = openDatabase(dbDir);
    try {
      const image = source.serialize();
      // The header's WAL mark (file format bytes 18-19 = 2) would make the in-memory copy look for
      // a -wal file; as a rollback-journal db it is an ordinary in-memory database.
      image[18] = 1;
      image[19] = 1;
      db = new Database(image);
    } finally {
      source.close();
    }
  }
  registerFunctions(db);
  migrate(db);
  return db;
}
