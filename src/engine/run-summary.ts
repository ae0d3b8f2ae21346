/** What a run did, for the closing summary and the `run` row. */
export interface TaskCounts {
  ran: number;
  failed: number;
  reused: number;
}

export interface StepFailure {
  task: string;
  stepId: number;
  exitCode: number | null;
  error: string;
  logTail: string;
}

export interface RunSummary {
  runId: number;
  tasks: Map<string, TaskCounts>;
  inputsAdded: number;
  /** Run inputs whose name was given again with other bytes (the old items are history). */
  inputsReplaced: number;
  /**
   * Files of the -input directories compared one by one with the stat cache (those their summaries
   * did not vouch for), and files read and hashed: what a re-run with -input cost beyond the walk.
   */
  inputsLookedUp: number;
  inputsRead: number;
  /** Current inputs missing from a directory given again: not retired, named so the user can. */
  inputsMissing: string[];
  /** Per task, items that reached it from more than one producing step (same name, same bytes). */
  merged: Map<string, number>;
  /** -force: per task, the done steps made to run again. */
  forced: Map<string, number>;
  /** With -task: tasks not selected that still have pending steps, and how many. */
  leftPending: { task: string; pending: number }[];
  /** Tasks that ran steps and have none with an output, though other tasks consume them. */
  noOutputs: { task: string; consumers: string[] }[];
  /** Per task, pending steps beyond its max_rounds generations of a cycle: not run. */
  cut: Map<string, { steps: number; maxRounds: number }>;
  objectsAdded: number;
  bytesAdded: number;
  failures: StepFailure[];
  interrupted: boolean;
  /** Why the run stopped by itself (the spawner helper died), its running steps back to pending; null if it did not. */
  halted: string | null;
  /** Gather tasks that could not fire: something upstream failed or was not run (-task). */
  heldBack: string[];
  wallMs: number;
  /** The engine's own peak resident memory, in KiB (scripts not included). */
  maxRssKb: number;
}

export function newSummary(runId: number, taskNames: string[]): RunSummary {
  return {
    runId,
    tasks: new Map(taskNames.map((n) => [n, { ran: 0, failed: 0, reused: 0 }])),
    inputsAdded: 0,
    inputsReplaced: 0,
    inputsLookedUp: 0,
    inputsRead: 0,
    inputsMissing: [],
    merged: new Map(),
    cut: new Map(),
    leftPending: [],
    forced: new Map(),
    noOutputs: [],
    objectsAdded: 0,
    bytesAdded: 0,
    failures: [],
    interrupted: false,
    halted: null,
    heldBack: [],
    wallMs: 0,
    maxRssKb: 0,
  };
}

export function summaryJson(s: RunSummary): unknown {
  return {
    ...s,
    tasks: Object.fromEntries(s.tasks),
    merged: Object.fromEntries(s.merged),
    cut: Object.fromEntries(s.cut),
    forced: Object.fromEntries(s.forced),
    inputsMissing: s.inputsMissing.length,
  };
}

/** 130 interrupted; 1 when a step failed, a cycle was cut or the run stopped by itself (the results are incomplete); else 0. */
export function runExitCode(s: RunSummary): number {
  return s.interrupted ? 130 : s.failures.length > 0 || s.cut.size > 0 || s.halted !== null ? 1 : 0;
}
