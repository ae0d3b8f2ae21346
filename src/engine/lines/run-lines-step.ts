import { closeSync, fstatSync, openSync } from 'node:fs';
import { collectStep } from '../collect-outputs.js';
import type { SpawnResult, StepFiles } from '../executor.js';
import type { TaskPlan } from '../plan.js';
import type { Slot } from '../work-slots.js';
import { encodeRequest, requestFromEnv } from './codec.js';
import type { LinesPool } from './lines-pool.js';
import type { Exchange } from './lines-process.js';

export interface LinesStepContext {
  lines: LinesPool;
  echo: ((line: string) => void) | null;
  scripts?: (taskId: number, delta: 1 | -1) => void;
}

export interface LinesStepResult {
  /** In the executor's terms, so the step is finished as a one-shot one is. */
  spawned: SpawnResult;
  logSize: number;
  /** Why the step failed, in the user's words; null when the process answered {"ok": true}. */
  failure: string | null;
}

/**
 * A step of a protocol = "lines" task: its request to a process of the pool, the process's
 * stderr into the slot's log. The outputs it leaves in OUTPUT_DIR are stored by the one collector
 * contract, exactly as a one-shot script's (collect-outputs.ts).
 */
export async function runLinesStep(
  ctx: LinesStepContext,
  step: { id: number; task: number; plan: TaskPlan },
  slot: Slot,
  env: Record<string, string>,
  signal: AbortSignal,
  files: StepFiles,
): Promise<LinesStepResult> {
  // An empty log left by the step before is written from its start.
  const logFd = slot.logFd ?? openSync(slot.log, 'w');
  slot.logFd = null;
  let keepLog = false;
  let started = false;
  try {
    const echo = ctx.echo;
    const prefix = `[${step.plan.spec.name}#${step.id}] `;
    const ex = await ctx.lines.run(
      step.plan,
      encodeRequest(requestFromEnv(env)),
      {
        logFd,
        echo: echo && ((line) => echo(prefix + line)),
      },
      signal,
      ctx.scripts &&
        (() => {
          started = true;
          ctx.scripts!(step.task, 1);
        }),
    );
    if (started) ctx.scripts!(step.task, -1);
    const logSize = fstatSync(logFd).size;
    keepLog = logSize === 0;
    const failure = failureOf(ex, step.plan.spec.timeout);
    const spawned: SpawnResult = {
      exitCode: ex.kind === 'ok' ? 0 : ex.kind === 'failed' ? ex.exitCode : null,
      signal: null,
      timedOut: ex.kind === 'timeout',
      aborted: ex.kind === 'aborted',
      spawnError: null,
      // The process outlives the step: the kernel reports its usage only when it exits.
      rusage: null,
      // Stored by the one collector contract, as a one-shot step's (collect-outputs.ts).
      stored: await collectStep(files, failure === null),
    };
    return { spawned, logSize, failure };
  } finally {
    if (keepLog) slot.logFd = logFd;
    else closeSync(logFd);
  }
}

/** Why an exchange failed, in the user's words; `restarts`: a run's pool starts a new process for the next step. */
export function failureOf(ex: Exchange, timeout: number | null, restarts = true): string | null {
  const next = restarts ? '; a new process starts for the next step' : '';
  switch (ex.kind) {
    case 'ok':
      return null;
    case 'reported':
      return `the script reported: ${ex.error}`;
    case 'failed':
      return `${ex.error}${next}`;
    case 'timeout':
      return `timed out after ${timeout}s (its process group was stopped${next})`;
    case 'aborted':
      return 'interrupted';
  }
}
