import type Database from 'better-sqlite3';
import type { ListingEntry } from './listing.js';
import { EMPTY_HASH } from './object-path.js';
import { commitBatch, type CommitState } from './sqlite-commit.js';
import { addRunInputs, missingFrom } from './sqlite-run-inputs.js';
import { prepareStatements, type Statements } from './sqlite-statements.js';
import type {
  CommitBatch,
  CommitEffect,
  CurrentTaskInput,
  EdgeInput,
  GatherStep,
  InputChanges,
  LeafStep,
  MetadataStore,
  NamedObject,
  ObjectRow,
  RunInputFile,
  StepStatus,
  TaskVersionInput,
} from './metadata-store.js';

/** The SQLite metadata store: every statement prepared once, every write batched in a transaction. */
export class SqliteMetadata implements MetadataStore {
  private readonly s: Statements;
  private readonly state: CommitState = { doneSeq: undefined, emptyRegistered: false, markedEdges: [] };

  constructor(private readonly db: Database.Database) {
    this.s = prepareStatements(db);
  }

  async beginRun(manifest: string, pid: number): Promise<number> {
    return Number(this.s.insertRun.run(manifest, pid, Date.now()).lastInsertRowid);
  }

  /**
   * The objects this run brought into the store: outputs, logs, gather listings, inputs and the
   * empty object alike, as PostgreSQL's run counts them (sqlite-statements.ts counts the rows).
   */
  objectsAdded(): { count: number; bytes: number } {
    return { ...this.s.objectsAdded };
  }

  async finishRun(runId: number, exitCode: number, summary: unknown): Promise<void> {
    this.s.finishRun.run(Date.now(), exitCode, JSON.stringify(summary), runId);
  }

  async registerTasks(tasks: TaskVersionInput[]): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    this.db
      .transaction(() => {
        const now = Date.now();
        for (const t of tasks) {
          this.s.insertTask.run(t.name, t.script, t.version, t.definition, now);
          ids.set(t.name, this.s.taskId.get(t.name, t.version) as number);
        }
      })
      .immediate();
    return ids;
  }

  async setCurrentGraph(tasks: CurrentTaskInput[], edges: EdgeInput[]): Promise<void> {
    this.state.markedEdges = edges.filter((e) => !e.fromGather && !e.toGather).map(edgeKey);
    this.db
      .transaction(() => {
        // A gather task whose version is unchanged keeps its latest listing step.
        const kept = new Map<number, number>();
        for (const r of this.s.oldGatherSteps.all() as { taskId: number; stepId: number }[])
          kept.set(r.taskId, r.stepId);
        this.s.clearCurrentTasks.run();
        this.s.clearCurrentEdges.run();
        for (const t of tasks) {
          this.s.insertCurrentTask.run(
            t.name,
            t.taskId,
            t.position,
            t.isRoot ? 1 : 0,
            t.gather ? 1 : 0,
            JSON.stringify(t.spec),
            t.gather ? (kept.get(t.taskId) ?? null) : null,
          );
        }
        for (const e of edges) {
          this.s.insertCurrentEdge.run(
            e.fromTaskId,
            e.toTaskId,
            e.match ? JSON.stringify(e.match) : null,
            e.toGather ? 1 : 0,
          );
        }
      })
      .immediate();
  }

  async recover(currentTaskIds: number[]): Promise<{ running: number; failed: number }> {
    return this.db
      .transaction(() => {
        let running = 0;
        for (const id of this.s.allTaskIds.all() as number[]) running += this.s.recoverRunning.run(id).changes;
        let failed = 0;
        for (const id of currentTaskIds) failed += this.s.recoverFailed.run(id).changes;
        return { running, failed };
      })
      .immediate();
  }

  /** `lookForMissing` false: one batch of a bigger walk, whose missing names missingInputs finds at its end. */
  async addRunInputs(inputs: RunInputFile[], runId: number, lookForMissing = true): Promise<InputChanges> {
    return addRunInputs(this.db, this.s, inputs, runId, lookForMissing);
  }

  missingInputs(dir: string, given: number, isFile: (path: string) => boolean): string[] {
    return missingFrom(this.s, dir, given, isFile);
  }

  async hasRunInputs(): Promise<boolean> {
    return this.s.anyRunInput.get() === 1;
  }

  async ensureRootSteps(rootTaskIds: number[], seed: ObjectRow | null): Promise<number> {
    return this.db
      .transaction(() => {
        const now = Date.now();
        let created = 0;
        if (seed) this.s.insertObject.run(seed.hash, seed.size, now);
        const latest = (this.s.latestRunInput.get() as number | undefined) ?? 0;
        for (const id of rootTaskIds) {
          if (seed) {
            created += this.s.insertStep.run(id, EMPTY_HASH, '', now, 0).changes;
            continue;
          }
          // Only inputs added since this root version last looked (by row id): a re-run does not rescan them all.
          const key = `input-rows>${id}`;
          const mark = (this.s.getMark.get(key) as number | undefined) ?? 0;
          if (mark >= latest) continue;
          created += this.s.rootStepsFromInputs.run({ task: id, now, mark }).changes;
          this.s.setMark.run(key, latest);
        }
        return created;
      })
      .immediate();
  }

  async reconcileEdge(edge: EdgeInput): Promise<{ created: number; reused: number; linked: number }> {
    // A gather task's only steps are over listings (ensureGatherStep): an item never flows into one.
    if (edge.toGather) return { created: 0, reused: 0, linked: 0 };
    return this.db
      .transaction(() => {
        // Out of a gather task flows only its step over the latest listing, not superseded ones.
        const only = edge.fromGather
          ? ((this.s.gatherStepOf.get(edge.fromTaskId) as number | null | undefined) ?? 0)
          : null;
        const match = edge.match ? JSON.stringify(edge.match) : null;
        // Steps done before the mark have flowed along this very edge (same versions, same match)
        // already, at their commit or an earlier reconcile. A gather's one step is always looked at.
        const key = edgeKey(edge);
        const mark = edge.fromGather ? -1 : ((this.s.getMark.get(key) as number | undefined) ?? -1);
        const args = { from: edge.fromTaskId, to: edge.toTaskId, match, only, mark };
        // Links to steps that are already done are reuse; the rest point at new or pending work.
        const reused = this.s.reconcileLinks.run({ ...args, done: 1 }).changes;
        const created = this.s.reconcileSteps.run({ ...args, now: Date.now(), cycle: edge.cycle ? 1 : 0 }).changes;
        const linked = this.s.reconcileLinks.run({ ...args, done: 0 }).changes + reused;
        if (!edge.fromGather)
          this.s.setMark.run(key, (this.s.maxDoneSeqOf.get(edge.fromTaskId) as number | null) ?? -1);
        return { created, reused, linked };
      })
      .immediate();
  }

  async pendingPage(taskId: number, afterId: number, limit: number, maxRound: number): Promise<LeafStep[]> {
    return this.s.pendingPage.all(taskId, afterId, maxRound, limit) as LeafStep[];
  }

  async cutCount(taskId: number, maxRound: number): Promise<number> {
    return this.s.cutCount.get(taskId, maxRound) as number;
  }

  async force(taskId: number): Promise<number> {
    return this.db
      .transaction(() => {
        const ids = this.s.forcedSteps.all(taskId) as number[];
        for (const id of ids) {
          this.s.dropOutputs.run(id);
          this.s.unfinish.run(id);
        }
        return ids.length;
      })
      .immediate();
  }

  async hasOutputs(taskId: number): Promise<boolean> {
    return this.s.hasOutputs.get(taskId) === 1;
  }

  async mergedCount(taskId: number): Promise<number> {
    return this.s.mergedSteps.get(taskId) as number;
  }

  async unfinishedCount(taskId: number): Promise<number> {
    return this.s.unfinished.get(taskId) as number;
  }

  async taskCounts(taskId: number): Promise<Record<StepStatus, number>> {
    const counts: Record<StepStatus, number> = { pending: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.s.taskCounts.all(taskId) as { status: StepStatus; n: number }[]) counts[r.status] = r.n;
    return counts;
  }

  async release(stepIds: number[]): Promise<void> {
    this.db
      .transaction(() => {
        for (const id of stepIds) this.s.release.run(id);
      })
      .immediate();
  }

  async commit(batch: CommitBatch, runId: number): Promise<CommitEffect> {
    return commitBatch(this.db, this.s, this.state, batch, runId);
  }

  async gatherListing(gatherTaskId: number): Promise<(ListingEntry & { stepId: number })[]> {
    return this.s.gatherListing.all(gatherTaskId) as (ListingEntry & { stepId: number })[];
  }

  async ensureGatherStep(taskId: number, listing: NamedObject, fromStepIds: number[]): Promise<GatherStep> {
    return this.db
      .transaction(() => {
        const now = Date.now();
        this.s.insertObject.run(listing.hash, listing.size, now);
        const created = this.s.insertStep.run(taskId, listing.hash, listing.name, now, 0).changes > 0;
        const row = this.s.findStep.get(taskId, listing.hash, listing.name) as { id: number; status: StepStatus };
        const previous = this.s.gatherStepOf.get(taskId) as number | null | undefined;
        for (const from of fromStepIds) this.s.insertLink.run(from, row.id);
        this.s.setGatherStep.run(row.id, taskId);
        return { stepId: row.id, status: row.status, created, wasCurrent: previous === row.id };
      })
      .immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** The key of an edge's reconcile mark: its task versions and its match, so a changed edge starts afresh. */
function edgeKey(edge: EdgeInput): string {
  return `${edge.fromTaskId}>${edge.toTaskId}${edge.match ? JSON.stringify(edge.match) : ''}`;
}
