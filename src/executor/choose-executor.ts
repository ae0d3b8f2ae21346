import { ExecaExecutor } from './execa-executor.js';
import type { Executor } from './executor.js';
import { limited } from '../engine/permits.js';
import type { ProcessGroups } from './process-groups.js';
import { SpawnerExecutor } from './spawner-executor.js';
import { helperUsable } from './spawner-protocol.js';

/**
 * The C helper (spawner-executor.ts) starts the scripts and stores their outputs; execa is the
 * fallback where it was not built (no C compiler) or has no /proc, and can be forced with
 * TASK_PIPELINE_EXECUTOR=execa. Both run at most `limit` scripts at once, however many steps
 * the engine has asked them to run.
 */
export function chooseExecutor(groups: ProcessGroups, limit: number, onHelperDeath?: (why: string) => void): Executor {
  if (process.env.TASK_PIPELINE_EXECUTOR !== 'execa' && helperUsable()) {
    return new SpawnerExecutor(groups, { limit, onHelperDeath });
  }
  return limited(new ExecaExecutor(groups), limit);
}
