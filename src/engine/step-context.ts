import type { LeafStep, StepOutcome } from '../store/metadata-store.js';
import type { LocalObjectStore } from '../store/object-store.js';
import type { Executor, StoredOutput } from '../executor/executor.js';
import type { LinesPool } from '../executor/lines/lines-pool.js';
import type { TaskPlan } from './plan.js';
import type { WorkSlots } from './work-slots.js';

/** What a step runs with (execute-step.ts), and what it emits. */
export interface StepContext {
  store: LocalObjectStore;
  executor: Executor;
  slots: WorkSlots;
  manifestDir: string;
  /** Receives script output lines, already prefixed, when -verbose. */
  echo: ((line: string) => void) | null;
  /** The run is being interrupted: every running script is stopped. */
  stop: AbortSignal;
  /** Told when a step's script starts (+1) and when it ends (-1): what is running, as opposed to queued. */
  scripts?: (taskId: number, delta: 1 | -1) => void;
  /** The long-lived processes of protocol = "lines" tasks (lines/lines-pool.ts). */
  lines?: LinesPool;
}

export interface RunnableStep extends LeafStep {
  plan: TaskPlan;
}

export type StepResult =
  | { kind: 'finished'; step: RunnableStep; outcome: StepOutcome; added: StoredOutput[]; logTail: string }
  | { kind: 'interrupted'; step: RunnableStep };

/**
 * What a running step emits: `exited` once its script is done (or could not start), so that
 * its slot can start the next script while this step's outputs are stored, then its result.
 */
export type StepEvent = { kind: 'exited'; step: RunnableStep } | StepResult;
