import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TaskSpec } from '../../manifest/index.js';
import type { TaskPlan } from '../plan.js';

/** The shipped Python helper's directory (python/ at the package root), put on PYTHONPATH. */
export const PYTHON_HELPER_DIR = fileURLToPath(new URL('../../../python', import.meta.url));

/** As for a one-shot step: the shell runs the script as one argument; a shebang script runs as its own file. */
export function processArgv(spec: Pick<TaskSpec, 'shell' | 'script'>, dir: string): string[] {
  const text = spec.script.trimStart();
  if (text.startsWith('#!')) {
    const file = `${dir}/script`;
    writeFileSync(file, text, { mode: 0o755 });
    return [file];
  }
  return [...spec.shell, spec.script];
}

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
