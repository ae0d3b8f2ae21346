import { closeSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SpawnResult, SpawnSpec, StepFiles } from '../executor/executor.js';
import type { RunnableStep, StepContext } from './step-context.js';
import { runLinesStep } from '../executor/lines/run-lines-step.js';
import { scriptArgv } from './step-input.js';
import type { Slot } from './work-slots.js';

/**
 * The script's run (protocol = "lines": a request to a long-lived process instead), its output
 * to the slot's log; `failure`, where given, is the protocol's own word on it.
 */
export async function runScript(
  ctx: StepContext,
  step: RunnableStep,
  slot: Slot,
  env: Record<string, string>,
  files: StepFiles,
  signal: AbortSignal,
): Promise<{ spawned: SpawnResult; failure?: string | null }> {
  const spec = step.plan.spec;
  const echo = ctx.echo;
  // An empty log from the step before is reused as it is (the helper opens it again, from 0).
  const logFd = slot.logFd ?? openSync(slot.log, 'w');
  slot.logFd = null;
  let keepLog = false;
  let started = false;
  let stdoutFd: number | null = null;
  try {
    if (spec.stdout !== null) {
      const target = join(slot.outDir, spec.stdout);
      mkdirSync(dirname(target), { recursive: true });
      stdoutFd = openSync(target, 'w');
    }
    const run: SpawnSpec = {
      argv: [],
      cwd: ctx.manifestDir,
      env,
      baseEnv: step.plan.env,
      stdout: stdoutFd ?? logFd,
      stderr: logFd,
      onLine: echo ? (line) => echo(`[${spec.name}#${step.id}] ${line}`) : undefined,
      timeoutMs: spec.timeout === null ? null : spec.timeout * 1000,
      signal,
      files,
      onStart:
        ctx.scripts &&
        (() => {
          started = true;
          ctx.scripts!(step.task, 1);
        }),
    };
    const ran =
      spec.protocol === 'lines'
        ? await runLinesStep(ctx.lines!, step.plan, run)
        : { spawned: await ctx.executor.run({ ...run, argv: scriptArgv(spec, slot.dir) }) };
    if (started) ctx.scripts!(step.task, -1);
    // Stored or not, an empty log stays in place.
    keepLog = fstatSync(logFd).size === 0;
    return ran;
  } finally {
    if (keepLog) slot.logFd = logFd;
    else closeSync(logFd);
    if (stdoutFd !== null) closeSync(stdoutFd);
  }
}
