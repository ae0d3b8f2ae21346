import type { ListingEntry } from './listing.js';

/**
 * The narrow metadata interface the engine uses: register tasks, claim leaves,
 * commit a finished step with its outputs and links. Asynchronous in shape so that a
 * networked implementation (PostgreSQL) can stand behind it; SQLite is the first.
 */

export type StepStatus = 'pending' | 'running' | 'done' | 'failed';

export interface TaskVersionInput {
  name: string;
  script: string;
  version: string;
  definition: string;
}

export interface CurrentTaskInput {
  name: string;
  taskId: number;
  position: number;
  isRoot: boolean;
  gather: boolean;
  spec: unknown;
}

export interface EdgeInput {
  fromTaskId: number;
  toTaskId: number;
  match: string[] | null;
  toGather: boolean;
  fromGather: boolean;
  /** Both ends are in one cycle of the task graph: a step made along it is one round further. */
  cycle: boolean;
}

export interface ObjectRow {
  hash: string;
  size: number;
}

export interface NamedObject extends ObjectRow {
  name: string;
}

/** A file given with -input, stored: `source` is the directory argument it was found under (null for a file argument). */
export interface RunInputFile extends NamedObject {
  source: string | null;
}

/** What ingesting the -input arguments changed among the run inputs, which are keyed by name. */
export interface InputChanges {
  added: number;
  /** Names given again with other bytes: the old item is history now. */
  replaced: number;
  /** Current inputs found under a directory argument before and missing from it now (not retired). */
  missing: string[];
}

export interface LeafStep {
  id: number;
  task: number;
  object_hash: string;
  input_name: string;
  attempts: number;
  /** Generations of a cycle this step is into (0 outside cycles). */
  round: number;
}

/** A downstream step to create from a finished step's output (the engine has applied `match`). */
export interface FanOut {
  taskId: number;
  name: string;
  hash: string;
  round: number;
}

export interface StepOutcome {
  stepId: number;
  taskId: number;
  status: 'done' | 'failed';
  exitCode: number | null;
  /** The signal that killed the script, if one did. */
  signal: string | null;
  timedOut: boolean;
  error: string | null;
  /** null when even the log could not be stored (a full disk). */
  log: ObjectRow | null;
  startedAt: number;
  finishedAt: number;
  /** What the script's process tree cost (the executor's Rusage); null when not measured. */
  rusage: { userMs: number; sysMs: number; maxRssKb: number } | null;
  outputs: NamedObject[];
  fanOut: FanOut[];
}

/** What the engine writes in one transaction: steps it has started, and steps that finished. */
export interface CommitBatch {
  /** Steps launched (status running). A step that also finishes in the same batch need not be listed. */
  claims: number[];
  outcomes: StepOutcome[];
  now: number;
}

/** At most this many created steps are listed per task in a CommitEffect; beyond it, null (page them). */
export const CREATED_LISTED = 256;

export interface CommitEffect {
  /**
   * Per task id, the pending steps the commit created, in id order, so that the engine can run
   * them without reading them back; null when there were more than CREATED_LISTED.
   */
  created: Map<number, LeafStep[] | null>;
  /** Per task id, links made to steps that were already done: work found instead of done. */
  reused: Map<number, number>;
  /** Per task id, items that reached a step another current step already feeds (equal name and bytes). */
  merged: Map<number, number>;
}

export interface GatherStep {
  stepId: number;
  status: StepStatus;
  created: boolean;
  /** It was already the gather task's current step (nothing upstream changed). */
  wasCurrent: boolean;
}

export interface MetadataStore {
  beginRun(manifest: string, pid: number): Promise<number>;
  finishRun(runId: number, exitCode: number, summary: unknown): Promise<void>;
  registerTasks(tasks: TaskVersionInput[]): Promise<Map<string, number>>;
  setCurrentGraph(tasks: CurrentTaskInput[], edges: EdgeInput[]): Promise<void>;
  /** After a crash: `running` steps go back to pending; failed steps of current versions are due again. */
  recover(currentTaskIds: number[]): Promise<{ running: number; failed: number }>;
  /** Run inputs are keyed by name: a name given with other bytes replaces the old item. */
  addRunInputs(inputs: RunInputFile[], runId: number): Promise<InputChanges>;
  hasRunInputs(): Promise<boolean>;
  /** Every root task version gets a step per run input (or the seed step while there is none). */
  ensureRootSteps(rootTaskIds: number[], seed: ObjectRow | null): Promise<number>;
  /**
   * Every output of the upstream's done steps that passes the edge's match gets a step downstream, linked.
   * Nothing for an edge into a gather task: its steps are over listings only (ensureGatherStep).
   */
  reconcileEdge(edge: EdgeInput): Promise<{ created: number; reused: number; linked: number }>;
  /** Pending steps of a task in id order, those beyond `maxRound` rounds of a cycle left out (cut). */
  pendingPage(taskId: number, afterId: number, limit: number, maxRound: number): Promise<LeafStep[]>;
  /** Pending steps of a task beyond `maxRound` rounds of a cycle: what the cycle limit cut. */
  cutCount(taskId: number, maxRound: number): Promise<number>;
  /**
   * -force: every done step of the task version in the current graph is pending again, its
   * recorded outputs dropped (the run records them anew). Returns how many.
   */
  force(taskId: number): Promise<number>;
  /** Whether any done step of the task version left an output. */
  hasOutputs(taskId: number): Promise<boolean>;
  /** Steps of a task fed by more than one step of current task versions (the same item from several producers). */
  mergedCount(taskId: number): Promise<number>;
  /** Steps of the task that are pending, running or failed: what holds a gather back. */
  unfinishedCount(taskId: number): Promise<number>;
  /** Per status, the steps of one task version: for progress. */
  taskCounts(taskId: number): Promise<Record<StepStatus, number>>;
  /** Failed or interrupted steps go back to pending (the run did not finish them). */
  release(stepIds: number[]): Promise<void>;
  /** Claims and finished steps, their outputs and the steps those outputs feed, at once. */
  commit(batch: CommitBatch, runId: number): Promise<CommitEffect>;
  /** The gather's listing lines, each with the upstream step that left the output. */
  gatherListing(gatherTaskId: number): Promise<(ListingEntry & { stepId: number })[]>;
  ensureGatherStep(taskId: number, listing: NamedObject, fromStepIds: number[]): Promise<GatherStep>;
  close(): Promise<void>;
}
