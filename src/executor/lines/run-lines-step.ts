import { collectStep } from '../collect-outputs.js';
import type { SpawnResult, SpawnSpec } from '../executor.js';
import type { TaskPlan } from '../../engine/plan.js';
import { encodeRequest, requestFromEnv } from './codec.js';
import type { LinesPool } from './lines-pool.js';
import type { Exchange } from './lines-process.js';

/**
 * A step of a protocol = "lines" task: its request to a process of the pool, the process's
 * stderr into the step's log, in the executor's terms so the step is finished as a one-shot one
 * is. `failure`: why it failed in the user's words, null when the process answered {"ok": true}.
 */
export async function runLinesStep(
  pool: LinesPool,
  plan: TaskPlan,
  spec: SpawnSpec,
): Promise<{ spawned: SpawnResult; failure: string | null }> {
  const io = { logFd: spec.stderr, echo: spec.onLine };
  const ex = await pool.run(plan, encodeRequest(requestFromEnv(spec.env)), io, spec.signal, spec.onStart);
  const failure = failureOf(ex, plan.spec.timeout);
  const spawned: SpawnResult = {
    exitCode: ex.kind === 'ok' ? 0 : ex.kind === 'failed' ? ex.exitCode : null,
    signal: null,
    timedOut: ex.kind === 'timeout',
    aborted: ex.kind === 'aborted',
    spawnError: null,
    // The process outlives the step: the kernel reports its usage only when it exits.
    rusage: null,
    // Stored by the one collector contract, as a one-shot step's.
    stored: await collectStep(spec.files, failure === null),
  };
  return { spawned, failure };
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
