import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Manifest } from '../manifest/index.js';
import { LocalObjectStore } from '../store/object-store.js';
import { PgDb } from '../store/postgres/pg-db.js';
import { PgRunLock } from '../store/postgres/pg-lock.js';
import { PostgresMetadata } from '../store/postgres/pg-metadata.js';
import { migratePg } from '../store/postgres/pg-schema.js';
import { chooseExecutor } from '../executor/choose-executor.js';
import { PgGathers, summariseFromDb } from './coordinator-parts.js';
import { limitHeapGrowth } from '../engine/heap-limits.js';
import { checkInputs, ingestChecked, movedAside } from '../engine/ingest.js';
import { PgInputStatCache } from '../store/postgres/pg-input-cache.js';
import { ProcessGroups } from '../executor/process-groups.js';
import { reconcileEdges } from '../engine/reconcile-edges.js';
import { registerRun } from '../engine/register-run.js';
import { runExitCode, summaryJson, type RunSummary } from '../engine/run-summary.js';
import { processTmpDir, sweepDeadHosts } from './shared-store.js';
import { WorkerLoop } from './worker-loop.js';
import { WorkSlots } from '../engine/work-slots.js';
import type { RunInputFile } from '../store/metadata-store.js';

export interface CoordinatorOptions {
  manifest: Manifest;
  /** postgres://... */
  url: string;
  /** The shared directory holding objects/ (and each process's tmp/). */
  storeDir: string;
  inputs: string[];
  parallel: number;
  /** Run no step here: the workers run them all. */
  coordinateOnly: boolean;
  tasks: string[];
  /** Tasks whose current steps run again although done (-force). */
  force: string[];
  durable: boolean;
  /** Read every -input file again, trusting no cached stat (-rehash). */
  rehash: boolean;
  echo: ((line: string) => void) | null;
  stop: AbortSignal;
  kill: AbortSignal;
  onNewDb?: () => void;
}

/**
 * A run on PostgreSQL: take the db's run lock, register the manifest (its tasks' `files` go
 * into the store for the workers), recover what dead processes held, ingest inputs, reconcile,
 * then run steps like any worker (worker-loop.ts) while firing gathers, until nothing in the
 * current graph is pending or running anywhere: workers' steps included.
 */
export async function runCoordinator(options: CoordinatorOptions): Promise<RunSummary> {
  const started = Date.now();
  limitHeapGrowth();
  const o = { ...options, storeDir: resolve(options.storeDir) };
  const known = new Set(o.manifest.tasks.map((t) => t.name));
  for (const t of o.tasks)
    if (!known.has(t)) throw new UserError('EUSAGE', `-task ${t}: no task of that name in ${o.manifest.path}`);
  for (const t of o.force)
    if (!known.has(t)) throw new UserError('EUSAGE', `-force ${t}: no task of that name in ${o.manifest.path}`);
  // Checked before anything is written, each directory summed up on the way (ingest.ts).
  const inputs = await checkInputs(o.inputs, { summarize: !o.rehash });
  if (o.inputs.length > 0 && !o.manifest.tasks.some((t) => t.inputs.length === 0)) {
    throw new UserError('EUSAGE', `-input: no task in ${o.manifest.path} takes run inputs (give one inputs = [])`);
  }
  const db = new PgDb(o.url);
  const halt = new AbortController();
  const groups = new ProcessGroups();
  const onKill = () => groups.signalAll('SIGKILL');
  o.kill.addEventListener('abort', onKill, { once: true });
  const lock = new PgRunLock(db, (why) => {
    haltWhy = why;
    halt.abort();
  });
  let haltWhy: string | null = null;
  let tmpDir: string | null = null;
  try {
    if (await migratePg(db)) o.onNewDb?.();
    await lock.acquire();
    mkdirSync(join(o.storeDir, 'objects'), { recursive: true });
    tmpDir = processTmpDir(o.storeDir);
    const store = new LocalObjectStore(o.storeDir, { durable: o.durable, tmpDir });
    const meta = new PostgresMetadata(db);
    const empty = await store.putBytes('');
    // The workers find the tasks' files in the store: each checked against the hash its version names.
    for (const t of o.manifest.tasks) {
      for (const f of t.files) {
        const put = await store.ingest(join(o.manifest.dir, f.path));
        if (put.hash !== f.hash) throw new UserError('EUSAGE', `${f.path}: changed while the run started; run again`);
      }
    }
    const { runId, summary, ids, plans, graph } = await registerRun(meta, o.manifest);
    const only = o.tasks.map((t) => ids.get(t)!);
    await meta.setCurrentGraph(graph.tasks, graph.edges, runId, only);
    await meta.recover(plans.map((p) => p.taskId));
    await sweepDeadHosts(db, o.storeDir);

    const sink = {
      add: (batch: RunInputFile[]) => meta.addRunInputs(batch, runId, false),
      missing: (dir: string, given: number, isFile: (path: string) => boolean) =>
        meta.missingInputs(dir, given, isFile),
    };
    const { changes, read } = await ingestChecked(inputs, store, sink, {
      cache: new PgInputStatCache(db),
      rehash: o.rehash,
      movedAside: movedAside(o.storeDir),
    });
    summary.inputsRead = read;
    summary.inputsAdded = changes.added;
    summary.inputsReplaced = changes.replaced;
    summary.inputsMissing = changes.missing;
    const roots = plans.filter((p) => p.isRoot).map((p) => p.taskId);
    const seed = (await meta.hasRunInputs()) ? null : { hash: empty.hash, size: empty.size };
    await meta.ensureRootSteps(roots, seed);
    await reconcileEdges({ meta, plans, summary }, graph.edges);
    // After reconcile, so that what the forced steps produce flows on like any commit.
    for (const name of o.force) summary.forced.set(name, await meta.force(ids.get(name)!));

    const stop = AbortSignal.any([o.stop, halt.signal]);
    const executor = chooseExecutor(groups, o.parallel, (why) => {
      haltWhy = why;
      halt.abort();
    });
    const slots = new WorkSlots(store.tmpDir);
    const selected = only.length > 0 ? plans.filter((p) => only.includes(p.taskId)) : plans;
    const gathers = new PgGathers(meta, store, selected, graph.edges, summary);
    const loop = new WorkerLoop({
      db,
      leases: meta.leases,
      kind: 'coordinator',
      parallel: o.coordinateOnly ? 0 : o.parallel,
      store,
      executor,
      groups,
      slots,
      echo: o.echo,
      stop,
      load: async () => ({ plans, manifestDir: o.manifest.dir }),
      idle: async () => {
        await meta.leases.reap();
        if ((await gathers.openSteps(selected)) > 0) return false;
        return !(await gathers.fire());
      },
      onLease: (lease) => {
        meta.lease = lease;
      },
    });
    try {
      await loop.run();
    } finally {
      executor.close?.();
      slots.close();
    }
    summary.heldBack = await gathers.heldBack();
    await summariseFromDb(db, store, summary, plans, started);
    summary.interrupted = o.stop.aborted;
    summary.halted = haltWhy;
    summary.wallMs = Date.now() - started;
    summary.maxRssKb = process.resourceUsage().maxRSS;
    await meta.finishRun(runId, runExitCode(summary), summaryJson(summary));
    return summary;
  } finally {
    o.kill.removeEventListener('abort', onKill);
    groups.signalAll('SIGKILL');
    await lock.release();
    await db.close();
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  }
}
