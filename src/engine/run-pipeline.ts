import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Manifest } from '../manifest/index.js';
import { UserError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import { armFaultPoint } from '../store/fault-point.js';
import { checkDbDir } from '../store/db-dir.js';
import { DbLock } from '../store/lock.js';
import { LocalObjectStore } from '../store/object-store.js';
import { SqliteMetadata } from '../store/sqlite-metadata.js';
import { chooseExecutor } from '../executor/choose-executor.js';
import { checkInputs, ingestChecked, movedAside } from './ingest.js';
import type { CheckedInputs } from './input-check.js';
import { InputVouch } from '../store/input-vouch.js';
import { InputStatCache } from '../store/input-cache.js';
import type { EdgeInput, RunInputFile } from '../store/metadata-store.js';
import type { TaskPlan } from './plan.js';
import { registerRun } from './register-run.js';
import { reconcileEdges } from './reconcile-edges.js';
import { killLeftovers } from '../executor/running-scripts.js';
import { LinesPool } from '../executor/lines/lines-pool.js';
import { KILL_GRACE_MS, ProcessGroups } from '../executor/process-groups.js';
import { runExitCode, summaryJson, type RunSummary } from './run-summary.js';
import type { ProgressSnapshot } from './progress.js';
import { streamLeaves } from './stream-leaves.js';
import { WorkSlots } from './work-slots.js';
import { limitHeapGrowth } from './heap-limits.js';

export interface RunOptions {
  manifest: Manifest;
  dbDir: string;
  inputs: string[];
  parallel: number;
  tasks: string[];
  /** Tasks whose current steps run again although done (-force). */
  force: string[];
  durable: boolean;
  /** Read every -input file again, trusting no cached stat (-rehash). */
  rehash?: boolean;
  /** Script output lines, prefixed, for -verbose. */
  echo: ((line: string) => void) | null;
  /** Aborted on the first SIGINT/SIGTERM. */
  stop: AbortSignal;
  /** Aborted on the second: kill every script at once. */
  kill: AbortSignal;
  /** Told when the run creates a new db (so that a mistyped -db is noticed). */
  onNewDb?: (dir: string) => void;
  /** Handed the running scheduler, to poll for a progress display. */
  onStart?: (progress: { snapshot(): Promise<ProgressSnapshot> }) => void;
}

/** One run: lock, register, recover, ingest, reconcile, stream the leaves, summarise. */
export async function runPipeline(options: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  // Scripts run in the manifest's directory: every path handed to them must be absolute.
  const o = { ...options, dbDir: resolve(options.dbDir) };
  armFaultPoint();
  limitHeapGrowth();
  const known = new Set(o.manifest.tasks.map((t) => t.name));
  for (const t of o.tasks)
    if (!known.has(t)) throw new UserError('EUSAGE', `-task ${t}: no task of that name in ${o.manifest.path}`);
  for (const t of o.force)
    if (!known.has(t)) throw new UserError('EUSAGE', `-force ${t}: no task of that name in ${o.manifest.path}`);
  const fresh = checkDbDir(o.dbDir) === 'new';
  const lock = new DbLock(join(o.dbDir, 'lock'));
  // An existing db is locked first: its stat cache then tells the input check which files of a
  // directory given again are the run inputs they were, and nothing changes it in between.
  if (!fresh) lock.acquire();
  let inputs: CheckedInputs;
  try {
    inputs = await checkRunInputs(o, fresh);
  } catch (err) {
    if (!fresh) lock.release();
    throw err;
  }
  mkdirSync(o.dbDir, { recursive: true });
  if (fresh) {
    o.onNewDb?.(o.dbDir);
    lock.acquire();
  }
  const groups = new ProcessGroups();
  const onKill = () => groups.signalAll('SIGKILL');
  o.kill.addEventListener('abort', onKill, { once: true });
  let meta: SqliteMetadata | undefined;
  try {
    mkdirSync(join(o.dbDir, 'objects'), { recursive: true });
    emptyTmp(join(o.dbDir, 'tmp'));
    const db = openDatabase(o.dbDir, { create: true, durable: o.durable });
    meta = new SqliteMetadata(db);
    const store = new LocalObjectStore(o.dbDir, { durable: o.durable });
    // The empty object is the seed, and the log of every step that prints nothing.
    const empty = await store.putBytes('');
    const { runId, summary, ids, plans, graph } = await registerRun(meta, o.manifest);
    await meta.setCurrentGraph(graph.tasks, graph.edges);
    await meta.recover(plans.map((p) => p.taskId));

    const inputCache = new InputStatCache(db);
    const sink = {
      add: (batch: RunInputFile[]) => meta!.addRunInputs(batch, runId, false),
      missing: (dir: string, given: number, isFile: (path: string) => boolean) =>
        meta!.missingInputs(dir, given, isFile),
    };
    const ingested = await ingestChecked(inputs, store, sink, {
      cache: inputCache,
      rehash: o.rehash ?? false,
      movedAside: movedAside(o.dbDir),
    });
    const { changes } = ingested;
    summary.inputsAdded = changes.added;
    summary.inputsReplaced = changes.replaced;
    summary.inputsRead = ingested.read;
    for (const a of inputs.args) if (a.kind === 'dir') summary.inputsLookedUp += a.lookedUp;
    summary.inputsMissing = changes.missing;

    const roots = plans.filter((p) => p.isRoot).map((p) => p.taskId);
    const seed = (await meta.hasRunInputs()) ? null : { hash: empty.hash, size: empty.size };
    await meta.ensureRootSteps(roots, seed);
    const { linked: linkedTo } = await reconcileEdges({ meta, plans, summary }, graph.edges);

    // After reconcile, so that what the forced steps produce flows on like any commit.
    for (const name of o.force) summary.forced.set(name, await meta.force(ids.get(name)!));

    const slots = new WorkSlots(store.tmpDir);
    // The spawner helper dying under running steps stops the run like an interrupt (its steps go
    // back to pending), and the summary says why.
    const halt = new AbortController();
    const stop = AbortSignal.any([o.stop, halt.signal]);
    const executor = chooseExecutor(groups, o.parallel, (why) => {
      summary.halted = why;
      halt.abort();
    });
    const lines = o.manifest.tasks.some((t) => t.protocol === 'lines')
      ? new LinesPool({
          groups,
          parallel: o.parallel,
          tmpDir: store.tmpDir,
          manifestDir: o.manifest.dir,
          graceMs: KILL_GRACE_MS,
          stop,
        })
      : undefined;
    const leaves = {
      meta,
      store,
      ctx: {
        store,
        executor,
        slots,
        manifestDir: o.manifest.dir,
        echo: o.echo,
        stop,
        lines,
      },
      plans,
      edges: graph.edges,
      runId,
      parallel: o.parallel,
      only: o.tasks.length > 0 ? new Set(o.tasks.map((t) => ids.get(t)!)) : null,
      stop,
      summary,
    };
    try {
      await streamLeaves(leaves, o.onStart);
    } finally {
      executor.close?.();
      await lines?.close();
      slots.close();
    }
    await countMergesAndCuts(meta, plans, graph.edges, linkedTo, summary);
    await noteWhatWasLeft(meta, plans, o.tasks, summary);
    const added = meta.objectsAdded();
    summary.objectsAdded = added.count;
    summary.bytesAdded = added.bytes;
    summary.interrupted = o.stop.aborted;
    summary.wallMs = Date.now() - started;
    summary.maxRssKb = process.resourceUsage().maxRSS;
    const exitCode = runExitCode(summary);
    await meta.finishRun(runId, exitCode, summaryJson(summary));
    return summary;
  } finally {
    o.kill.removeEventListener('abort', onKill);
    groups.signalAll('SIGKILL');
    await meta?.close();
    lock.release();
  }
}

/**
 * The -input arguments checked before anything is written (ingest.ts), each directory summed up on
 * the way and, in an existing db, its files vouched for by the stat cache.
 */
async function checkRunInputs(o: RunOptions, fresh: boolean): Promise<CheckedInputs> {
  const vouch = fresh || o.rehash ? null : InputVouch.open(o.dbDir);
  let inputs: CheckedInputs;
  try {
    inputs = await checkInputs(o.inputs, { summarize: !o.rehash, vouch });
  } finally {
    vouch?.close();
  }
  if (o.inputs.length > 0 && !o.manifest.tasks.some((t) => t.inputs.length === 0)) {
    throw new UserError(
      'EUSAGE',
      `-input: no task in ${o.manifest.path} takes run inputs (every task lists its inputs; give one inputs = [])`,
    );
  }
  return inputs;
}

/**
 * Per task, how many items reached it from more than one current step (equal name and bytes:
 * they ran once), counted where this run linked anything; and the steps a cycle's max_rounds cut.
 */
async function countMergesAndCuts(
  meta: SqliteMetadata,
  plans: TaskPlan[],
  edges: EdgeInput[],
  linkedTo: Set<number>,
  summary: RunSummary,
): Promise<void> {
  const cyclic = new Set(edges.filter((e) => e.cycle).map((e) => e.toTaskId));
  for (const p of plans) {
    if (p.spec.gather) continue;
    if (linkedTo.has(p.taskId) || summary.merged.has(p.spec.name)) {
      const merged = await meta.mergedCount(p.taskId);
      if (merged > 0) summary.merged.set(p.spec.name, merged);
      else summary.merged.delete(p.spec.name);
    }
    if (cyclic.has(p.taskId)) {
      const steps = await meta.cutCount(p.taskId, p.spec.maxRounds);
      if (steps > 0) summary.cut.set(p.spec.name, { steps, maxRounds: p.spec.maxRounds });
    }
  }
}

/**
 * What a run should not leave unsaid: with -task, the pending work of the tasks it skipped; and
 * a task that ran but left no output in any step while others consume it (a wrong path in its
 * script looks like success otherwise).
 */
async function noteWhatWasLeft(
  meta: SqliteMetadata,
  plans: TaskPlan[],
  only: string[],
  summary: RunSummary,
): Promise<void> {
  if (only.length > 0) {
    for (const p of plans) {
      if (only.includes(p.spec.name)) continue;
      const c = await meta.taskCounts(p.taskId);
      if (c.pending + c.failed > 0) summary.leftPending.push({ task: p.spec.name, pending: c.pending + c.failed });
    }
  }
  for (const p of plans) {
    if (summary.tasks.get(p.spec.name)!.ran === 0) continue;
    const consumers = plans.filter((c) => c.spec.inputs.includes(p.spec.name) && c !== p).map((c) => c.spec.name);
    if (consumers.length > 0 && !(await meta.hasOutputs(p.taskId)))
      summary.noOutputs.push({ task: p.spec.name, consumers });
  }
}

/**
 * tmp/ holds only the working files of running steps: whatever is there at start is a
 * crash's debris. If the engine was killed with -9, its scripts may still be running
 * there: they go first.
 */
function emptyTmp(tmp: string): void {
  mkdirSync(tmp, { recursive: true });
  const debris = readdirSync(tmp);
  if (debris.length === 0) return;
  killLeftovers(tmp);
  for (const name of debris) rmSync(join(tmp, name), { recursive: true, force: true });
}
