// The CLI with the executor TASK_PIPELINE_EXECUTOR names. The engine selects it itself since
// choose-executor.ts (spawner by default, execa on request); for an engine built before that,
// ExecaExecutor's run() is redirected to the prototype here, so older commits can be measured.
// BENCH_EXPERIMENTS applies proposed engine changes (experiments.js) for measurement.
import { existsSync } from 'node:fs';
import { applyExperiments } from './experiments.js';

const which = process.env.TASK_PIPELINE_EXECUTOR ?? 'execa';
const selectsItself = existsSync(new URL('../../dist/executor/choose-executor.js', import.meta.url));
if (which === 'spawner' && !selectsItself) {
  const { ExecaExecutor } = await import('../../dist/executor/execa-executor.js');
  const { SpawnerExecutor } = await import('../../dist/executor/spawner-executor.js');
  const { ProcessGroups } = await import('../../dist/executor/process-groups.js');
  const execaRun = ExecaExecutor.prototype.run;
  // Made now, as run-pipeline would when it builds its executor, so the helper starts early;
  // bound to the run's process-group registry and execa fallback at the first step.
  const spawner = new SpawnerExecutor(new ProcessGroups(), {});
  ExecaExecutor.prototype.run = function run(spec) {
    if (spawner.groups !== this.groups) {
      spawner.groups = this.groups;
      spawner.options.fallback = { run: (s) => execaRun.call(this, s) };
    }
    return spawner.run(spec);
  };
} else if (which !== 'execa' && which !== 'spawner') {
  console.error(`TASK_PIPELINE_EXECUTOR=${which}: unknown executor (execa, spawner)`);
  process.exit(2);
}
await applyExperiments((process.env.BENCH_EXPERIMENTS ?? '').split(',').filter(Boolean));
await import('../../dist/cli/main.js');
