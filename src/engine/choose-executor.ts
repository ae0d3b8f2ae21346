import { ExecaExecutor } from './execa-executor.js';
import type { Executor } from './executor.js';
import type { ProcessGroups } from './process-groups.js';
import { SpawnerExecutor } from './spawner-executor.js';

/**
 * The spawner (a small helper process that forks the scripts) is the default: forking the
 * engine itself costs ~1.4 ms of its event loop per step (bench/RESULTS.md). execa stays as
 * the fallback (piped -verbose output, no python3/perl, no /proc) and can be forced with
 * TASK_PIPELINE_EXECUTOR=execa.
 */
export function chooseExecutor(groups: ProcessGroups): Executor {
  const execa = new ExecaExecutor(groups);
  if (process.env.TASK_PIPELINE_EXECUTOR === 'execa') return execa;
  return new SpawnerExecutor(groups, { fallback: execa });
}
