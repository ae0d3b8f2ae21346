import { ExecaExecutor } from './execa-executor.js';
import type { Executor } from './executor.js';
import { limited } from './permits.js';
import type { ProcessGroups } from './process-groups.js';
import { SpawnerExecutor } from './spawner-executor.js';

/**
 * The C helper (spawner-executor.ts) starts the scripts and stores their outputs; execa is the
 * fallback where it was not built (no C compiler), and can be forced with
 * TASK_PIPELINE_EXECUTOR=execa. Both run at most `limit` scripts at once, however many steps
 * the engine has asked them to run.
 */
export function chooseExecutor(groups: ProcessGroups, limit: number, onHelperDeath?: (why: string) => void): Executor {
  const execa = limited(new ExecaExecutor(groups), limit);
  if (process.env.TASK_PIPELINE_EXECUTOR === 'execa') return execa;
  return new SpawnerExecutor(groups, { limit, fallback: execa, onHelperDeath });
}
