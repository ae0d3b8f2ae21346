import { rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Observable } from './rx.js';
import { errnoCode } from '../errors.js';
import type { ObjectRow, StepOutcome } from '../store/metadata-store.js';
import type { InputLink, InputVerdict } from '../store/input-links.js';
import { CollectError, collectOutputs, storeFailureText } from '../executor/collect-outputs.js';
import type { SpawnResult, StoredOutput } from '../executor/executor.js';
import { tailOf } from './log-text.js';
import { fanOutOf } from './plan.js';
import { runScript } from './run-script.js';
import { fillInputDir, inputFileName, stepEnv } from './step-input.js';
import type { RunnableStep, StepContext, StepEvent, StepResult } from './step-context.js';
import { emptyDir, type Slot } from './work-slots.js';

/**
 * A directory never shrinks on ext4: an OUTPUT_DIR that held this many files is replaced, or
 * every later step in its slot would list (and create in) a directory of thousands of empty entries.
 */
const MANY_OUTPUTS = 256;

/** A step as an Observable: subscribing runs it; unsubscribing (teardown) stops its script. */
export function executeStep$(ctx: StepContext, step: RunnableStep): Observable<StepEvent> {
  return new Observable<StepEvent>((subscriber) => {
    const abort = new AbortController();
    const live = stoppable(ctx.stop);
    if (ctx.stop.aborted) abort.abort();
    live.add(abort);
    let settled = false;
    let exited = false;
    const onExited = () => {
      if (exited) return;
      exited = true;
      subscriber.next({ kind: 'exited', step });
    };
    runStep(ctx, step, abort.signal, onExited).then(
      (result) => {
        settled = true;
        live.delete(abort);
        onExited();
        subscriber.next(result);
        subscriber.complete();
      },
      (err: unknown) => {
        settled = true;
        live.delete(abort);
        subscriber.error(err);
      },
    );
    // Teardown also runs after completion: only an unfinished step has a script to stop.
    return () => {
      if (!settled) abort.abort();
    };
  });
}

const stoppables = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * The steps running under a stop signal: one listener on it aborts them all (an
 * AbortSignal.any per step costs more than the rest of the step's bookkeeping).
 */
function stoppable(stop: AbortSignal): Set<AbortController> {
  let live = stoppables.get(stop);
  if (!live) {
    const steps = new Set<AbortController>();
    stop.addEventListener(
      'abort',
      () => {
        for (const a of steps) a.abort();
      },
      { once: true },
    );
    stoppables.set(stop, steps);
    live = steps;
  }
  return live;
}

async function runStep(
  ctx: StepContext,
  step: RunnableStep,
  signal: AbortSignal,
  onExited: () => void,
): Promise<StepResult> {
  const slot = ctx.slots.acquire();
  let clean = false;
  // INPUT_FILE, then INPUT_DIR's files: hard links of the objects, each removed whatever happens.
  const links: InputLink[] = [];
  try {
    const startedAt = Date.now();
    let env: Record<string, string>;
    try {
      env = await prepare(ctx, step, slot, links);
    } catch (err) {
      // A full disk or a missing object while setting up fails this step, not the run.
      return finished(step, startedAt, null, storeFailure(err, "preparing the step's input"), [], null, '');
    }
    const files = { store: ctx.store, outDir: slot.outDir, log: slot.log, input: ctx.store.inputs.expected(links[0]!) };
    const { spawned, failure } = await runScript(ctx, step, slot, env, files, signal);
    onExited();
    // Checked whatever became of the script (killed, failed, interrupted): a damaged object must leave the store.
    const c = spawned.stored;
    let inputs: InputVerdict = { modified: null, known: new Map() };
    let unchecked: string | null = null;
    try {
      inputs = await ctx.store.inputs.settle(links, c.inputIntact);
      if (inputs.modified !== null || inputs.known.size > 0) emptyDir(slot.inDir); // a renamed INPUT_FILE, say
    } catch (err) {
      unchecked = storeFailure(err, "checking the step's inputs");
    }
    if (spawned.aborted && !spawned.timedOut) return { kind: 'interrupted', step };

    let error = (failure === undefined ? failureOf(spawned, step.plan.spec.timeout) : failure) ?? unchecked;
    // A Ctrl-C reaches the whole terminal process group: a script caught between fork and
    // setsid dies of it, possibly before the engine's own handler has run. A failure during an
    // interrupt is not the script's: the step goes back to pending.
    if (spawned.signal === 'SIGINT' && !ctx.stop.aborted) await new Promise((r) => setTimeout(r, 50));
    if (error !== null && ctx.stop.aborted) return { kind: 'interrupted', step };
    if (inputs.modified !== null) {
      const what = modifiedText(ctx, inputs.modified);
      error = error === null ? what : `${error}; and ${what}`;
    }
    error ??= c.error;
    let outputs = c.outputs;
    // The input was not as the engine left it (linked or moved into OUTPUT_DIR, say): now checked, its outputs are stored here.
    if (error === null && !c.inputIntact) {
      try {
        outputs = await collectOutputs(slot.outDir, ctx.store, inputs.known);
      } catch (err) {
        error = storeFailure(err, 'storing the outputs');
      }
    }
    const { log } = c;
    const logTail = error !== null && log !== null && log.size > 0 ? tailOf(ctx.store.pathOf(log.hash), log.size) : '';
    if (error === null) {
      if (env.INPUT_DIR) rmSync(env.INPUT_DIR, { recursive: true, force: true });
      if (outputs.length > MANY_OUTPUTS) ctx.slots.renewOutDir(slot);
      clean = true;
    }
    return finished(step, startedAt, spawned, error, outputs, log, logTail);
  } finally {
    ctx.store.inputs.drop(links);
    if (clean) ctx.slots.release(slot);
    else ctx.slots.discard(slot);
  }
}

function modifiedText(ctx: StepContext, m: NonNullable<InputVerdict['modified']>): string {
  const what = m.index === 0 ? 'its INPUT_FILE' : `INPUT_DIR/${basename(m.link.path)}`;
  return `the script modified ${what} (inputs are read-only; write to OUTPUT_DIR instead)${ctx.store.inputs.aftermath(m.link)}`;
}

/**
 * The step's input, and INPUT_DIR for a gather step, in its slot: hard links of the objects
 * (input-links.ts), pushed onto `links` as they are made.
 */
async function prepare(
  ctx: StepContext,
  step: RunnableStep,
  slot: Slot,
  links: InputLink[],
): Promise<Record<string, string>> {
  const spec = step.plan.spec;
  const inputFile = `${slot.inDir}/${inputFileName(spec, step.input_name)}`;
  links.push(await ctx.store.inputs.link(step.object_hash, inputFile, step));
  const env = stepEnv(step, spec.name, { inputFile, outDir: slot.outDir, tmpDir: slot.scratch });
  const place = async (hash: string, path: string) => links.push(await ctx.store.inputs.link(hash, path, step));
  if (spec.gather) env.INPUT_DIR = await fillInputDir(inputFile, join(slot.dir, 'gathered'), place);
  return env;
}

function finished(
  step: RunnableStep,
  startedAt: number,
  spawned: SpawnResult | null,
  error: string | null,
  outputs: StoredOutput[],
  log: ObjectRow | null,
  logTail: string,
): StepResult {
  const done = error === null;
  const kept = done ? outputs : [];
  const fanOut = done ? fanOutOf(step.plan, kept, step.round) : [];
  const outcome: StepOutcome = {
    stepId: step.id,
    taskId: step.task,
    status: done ? 'done' : 'failed',
    exitCode: spawned?.exitCode ?? null,
    signal: spawned?.signal ?? null,
    timedOut: spawned?.timedOut ?? false,
    error,
    log,
    startedAt,
    finishedAt: Date.now(),
    rusage: spawned?.rusage ?? null,
    outputs: kept.map(({ name, hash, size }) => ({ name, hash, size })),
    fanOut,
  };
  return { kind: 'finished', step, outcome, added: kept.filter((o) => o.added), logTail };
}

function failureOf(r: SpawnResult, timeout: number | null): string | null {
  if (r.spawnError !== null) return `could not start the script: ${r.spawnError}`;
  if (r.timedOut) return `timed out after ${timeout}s (its process group was killed)`;
  if (r.signal !== null) return `killed by ${r.signal}`;
  if (r.exitCode !== 0) return `exit code ${r.exitCode}`;
  return null;
}

function storeFailure(err: unknown, what: string): string {
  if (err instanceof CollectError) return err.message;
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return storeFailureText(what, code, '');
  return `${what} failed: ${(err as Error).message}`;
}
