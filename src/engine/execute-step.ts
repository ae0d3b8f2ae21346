import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Observable } from 'rxjs';
import { errnoCode } from '../errors.js';
import type { LeafStep, ObjectRow, StepOutcome } from '../store/metadata-store.js';
import type { InputLink, InputVerdict } from '../store/input-links.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { CollectError, collectOutputs, storeFailureText } from './collect-outputs.js';
import type { Executor, SpawnResult, SpawnSpec, StepFiles, StoredOutput } from './executor.js';
import type { LinesPool } from './lines/lines-pool.js';
import { runLinesStep } from './lines/run-lines-step.js';
import { tailOf } from './log-text.js';
import { passes, type TaskPlan } from './plan.js';
import { fillInputDir, inputFileName, scriptArgv, stepEnv } from './step-input.js';
import type { Slot, WorkSlots } from './work-slots.js';

/**
 * A directory never shrinks on ext4: an OUTPUT_DIR that held this many files is replaced, or
 * every later step in its slot would list (and create in) a directory of thousands of empty entries.
 */
const MANY_OUTPUTS = 256;

export interface StepContext {
  store: LocalObjectStore;
  executor: Executor;
  slots: WorkSlots;
  manifestDir: string;
  /** Receives script output lines, already prefixed, when -verbose. */
  echo: ((line: string) => void) | null;
  /** The run is being interrupted: every running script is stopped. */
  stop: AbortSignal;
  /** Told when a step's script starts (+1) and when it ends (-1): what is running, as opposed to queued. */
  scripts?: (taskId: number, delta: 1 | -1) => void;
  /** The long-lived processes of protocol = "lines" tasks (lines/lines-pool.ts). */
  lines?: LinesPool;
}

export interface RunnableStep extends LeafStep {
  plan: TaskPlan;
}

export type StepResult =
  | { kind: 'finished'; step: RunnableStep; outcome: StepOutcome; added: StoredOutput[]; logTail: string }
  | { kind: 'interrupted'; step: RunnableStep };

/**
 * What a running step emits: `exited` once its script is done (or could not start), so that
 * its slot can start the next script while this step's outputs are stored, then its result.
 */
export type StepEvent = { kind: 'exited'; step: RunnableStep } | StepResult;

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

interface Prepared {
  inputFile: string;
  gathered: string | null;
  env: Record<string, string>;
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
    let prepared: Prepared;
    try {
      prepared = await prepare(ctx, step, slot, links);
    } catch (err) {
      // A full disk or a missing object while setting up fails this step, not the run.
      return finished(step, startedAt, null, storeFailure(err, "preparing the step's input"), [], null, '');
    }
    const files = { store: ctx.store, outDir: slot.outDir, log: slot.log, input: ctx.store.inputs.expected(links[0]!) };
    const { spawned, failure } = await runScript(ctx, step, slot, prepared.env, files, signal);
    onExited();
    // Checked whatever became of the script (killed, failed, interrupted): a damaged object must leave the store.
    const c = spawned.stored;
    let inputs: InputVerdict = { modified: null, known: new Map() };
    let unchecked: string | null = null;
    try {
      inputs = await ctx.store.inputs.settle(links, c.inputIntact);
      if (inputs.modified !== null || inputs.known.size > 0) emptyDir(slot.inDir);
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
      if (prepared.gathered) rmSync(prepared.gathered, { recursive: true, force: true });
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

const MODIFIED_INPUT = 'the script modified its INPUT_FILE (inputs are read-only; write to OUTPUT_DIR instead)';

function modifiedText(ctx: StepContext, m: NonNullable<InputVerdict['modified']>): string {
  const lead =
    m.index === 0
      ? MODIFIED_INPUT
      : `the script modified INPUT_DIR/${basename(m.link.path)} (inputs are read-only; write to OUTPUT_DIR instead)`;
  return lead + ctx.store.inputs.aftermath(m.link);
}

/** A script may leave other names in in/ (a renamed INPUT_FILE): the next step finds it empty. */
function emptyDir(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

/**
 * The step's input, and INPUT_DIR for a gather step, in its slot: hard links of the objects
 * (input-links.ts), pushed onto `links` as they are made.
 */
async function prepare(ctx: StepContext, step: RunnableStep, slot: Slot, links: InputLink[]): Promise<Prepared> {
  const spec = step.plan.spec;
  const inputFile = `${slot.inDir}/${inputFileName(spec, step.input_name)}`;
  links.push(await ctx.store.inputs.link(step.object_hash, inputFile, step));
  const env = stepEnv(step, spec.name, { inputFile, outDir: slot.outDir, tmpDir: slot.scratch });
  const place = async (hash: string, path: string) => links.push(await ctx.store.inputs.link(hash, path, step));
  const gathered = spec.gather ? await fillInputDir(inputFile, join(slot.dir, 'gathered'), place) : null;
  if (gathered) env.INPUT_DIR = gathered;
  return { inputFile, gathered, env };
}

/**
 * The script's run (protocol = "lines": a request to a long-lived process instead), its output
 * to the slot's log; `failure`, where given, is the protocol's own word on it.
 */
async function runScript(
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
  const fanOut = done
    ? step.plan.downstream.flatMap((d) =>
        kept
          .filter((o) => passes(d.match, o.name))
          .map((o) => ({ taskId: d.taskId, name: o.name, hash: o.hash, round: d.cycle ? step.round + 1 : 0 })),
      )
    : [];
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
