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
  objectsAdded: number;
  bytesAdded: number;
  failures: StepFailure[];
  interrupted: boolean;
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
    objectsAdded: 0,
    bytesAdded: 0,
    failures: [],
    interrupted: false,
    heldBack: [],
    wallMs: 0,
    maxRssKb: 0,
  };
}

export function summaryJson(s: RunSummary): unknown {
  return { ...s, tasks: Object.fromEntries(s.tasks) };
}
