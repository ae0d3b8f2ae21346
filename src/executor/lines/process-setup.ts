import { mkdirSync } from 'node:fs';
import { PYTHON_HELPER_DIR } from '../shipped.js';
import type { TaskPlan } from '../../engine/plan.js';

/**
 * A long-lived process's environment: the task's, TASK_NAME, TMPDIR in its own directory under
 * the db's tmp/ (how a crash's leftovers are found, running-scripts.ts), and the helper on
 * PYTHONPATH. The per-step values (INPUT_FILE...) come in each request instead.
 */
export function processEnv(plan: Pick<TaskPlan, 'env' | 'spec'>, dir: string): Record<string, string> {
  const tmp = `${dir}/tmp`;
  mkdirSync(tmp, { recursive: true });
  const env = withHelper(plan.env);
  env.TASK_NAME = plan.spec.name;
  env.TMPDIR = tmp;
  env.TASK_PIPELINE_PROTOCOL = 'lines';
  return env;
}

export function withHelper(env: Record<string, string>): Record<string, string> {
  const path = env.PYTHONPATH;
  return { ...env, PYTHONPATH: path ? `${PYTHON_HELPER_DIR}:${path}` : PYTHON_HELPER_DIR };
}
