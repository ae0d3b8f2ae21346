import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { dirname, join } from 'node:path';
import { Observable } from 'rxjs';
import { errnoCode } from '../errors.js';
import { EMPTY_HASH } from '../store/object-path.js';
import type { LeafStep, ObjectRow, StepOutcome } from '../store/metadata-store.js';
import type { InputLink, InputVerdict } from '../store/input-links.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { BAD_OUTPUT_KINDS, BadOutputError, collectOutputs, type StoredOutput } from './collect-outputs.js';
import type { Collected, Executor, SpawnResult } from './executor.js';
import { echoTo, tailOf } from './log-text.js';
import { passes, type TaskPlan } from './plan.js';
import { fillInputDir, safeBasename } from './step-input.js';
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
    stop.addEventListener('abort', () => {
      for (const a of steps) a.abort();
    }, { once: true });
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

async function runStep(ctx: StepContext, step: RunnableStep, signal: AbortSignal, onExited: () => void): Promise<StepResult> {
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
    const { spawned, logSize } = await spawn(ctx, step, slot, prepared, links, signal);
    onExited();
    // Checked whatever became of the script (killed, failed, interrupted): a damaged object must leave the store.
    const c = spawned.collected;
    let inputs: InputVerdict = { modified: null, known: new Map() };
    let unchecked: string | null = null;
    try {
      inputs = await ctx.store.inputs.settle(links, c !== undefined && c.result !== 'changed');
      if (inputs.modified !== null || inputs.known.size > 0) emptyDir(slot.inDir);
    } catch (err) {
      unchecked = storeFailure(err, "checking the step's inputs");
    }
    if (spawned.aborted && !spawned.timedOut) return { kind: 'interrupted', step };

    let error = failureOf(spawned, step.plan.spec.timeout) ?? unchecked;
    // A Ctrl-C reaches the whole terminal process group: a script caught between fork and
    // setsid dies of it, possibly before the engine's own handler has run. A failure during an
    // interrupt is not the script's: the step goes back to pending.
    if (spawned.signal === 'SIGINT' && !ctx.stop.aborted) await new Promise((r) => setTimeout(r, 50));
    if (error !== null && ctx.stop.aborted) return { kind: 'interrupted', step };
    if (inputs.modified !== null) {
      const what = modifiedText(ctx, inputs.modified);
      error = error === null ? what : `${error}; and ${what}`;
    }
    const stored = c !== undefined && c.result !== 'changed'
      ? fromExecutor(c, error)
      : await storeHere(ctx, slot, logSize, error, inputs, c?.log);
    ({ error } = stored);
    const { outputs, log } = stored;
    const logTail = error !== null && log !== null && log.size > 0 ? tailOf(ctx.store.pathOf(log.hash), log.size) : '';
    if (error === null) {
      if (prepared.gathered) rmSync(prepared.gathered, { recursive: true, force: true });
      if (outputs.length > MANY_OUTPUTS) ctx.slots.renewOutDir(slot);
      clean = true;
    }
    return finished(step, startedAt, spawned.exitCode, error, outputs, log, logTail);
  } finally {
    ctx.store.inputs.drop(links);
    if (clean) ctx.slots.release(slot);
    else ctx.slots.discard(slot);
  }
}

const MODIFIED_INPUT = 'the script modified its INPUT_FILE (inputs are read-only; write to OUTPUT_DIR instead)';

function modifiedText(ctx: StepContext, m: NonNullable<InputVerdict['modified']>): string {
  const lead = m.index === 0 ? MODIFIED_INPUT
    : `the script modified INPUT_DIR/${basename(m.link.path)} (inputs are read-only; write to OUTPUT_DIR instead)`;
  return lead + ctx.store.inputs.aftermath(m.link);
}

/** A script may leave other names in in/ (a renamed INPUT_FILE): the next step finds it empty. */
function emptyDir(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

interface Stored {
  error: string | null;
  outputs: StoredOutput[];
  log: ObjectRow | null;
}

/**
 * Store the outputs, then the log: the engine's own path (collect-outputs.ts, LocalObjectStore).
 * `helperLog`: the log as the C helper already stored it (it found the input changed and left the rest here).
 */
async function storeHere(
  ctx: StepContext, slot: Slot, logSize: number, failed: string | null, inputs: InputVerdict, helperLog?: ObjectRow | null,
): Promise<Stored> {
  let error = failed;
  let outputs: StoredOutput[] = [];
  if (error === null) {
    try {
      outputs = await collectOutputs(slot.outDir, ctx.store, inputs.known);
    } catch (err) {
      error = storeFailure(err, 'storing the outputs');
    }
  }
  let log: ObjectRow | null = null;
  if (helperLog !== undefined) {
    log = helperLog;
    if (log === null) error ??= 'storing the log failed';
  } else {
    try {
      if (logSize === 0) {
        // Most scripts print nothing: the empty log stays in the slot for the next step.
        log = { hash: EMPTY_HASH, size: 0 };
      } else {
        const put = await ctx.store.adopt(slot.log);
        log = { hash: put.hash, size: put.size };
      }
    } catch (err) {
      error ??= storeFailure(err, 'storing the log');
    }
  }
  return { error, outputs, log };
}

/** What the C helper did with the same rules (native/collect.c), in the engine's words. */
function fromExecutor(c: Collected, failed: string | null): Stored {
  let error = failed;
  if (error === null) {
    if (c.result === 'bad') error = new BadOutputError(c.detail[1]!, BAD_OUTPUT_KINDS[c.detail[0]!] ?? 'a special file').message;
    else if (c.result === 'err') error = failureText(c.detail[1], `${c.detail[1]}: ${c.detail[2]}`, c.detail[0] === 'log' ? 'storing the log' : 'storing the outputs');
  }
  const outputs = error === null ? c.outputs : [];
  return { error, outputs, log: c.log };
}

/**
 * The step's input, and INPUT_DIR for a gather step, in its slot: hard links of the objects
 * (input-links.ts), pushed onto `links` as they are made.
 */
async function prepare(ctx: StepContext, step: RunnableStep, slot: Slot, links: InputLink[]): Promise<Prepared> {
  const spec = step.plan.spec;
  const isSeed = step.input_name === '';
  const inputFile = `${slot.inDir}/${spec.gather ? 'listing' : isSeed ? 'seed' : safeBasename(step.input_name)}`;
  links.push(await ctx.store.inputs.link(step.object_hash, inputFile, step));
  const env: Record<string, string> = {
    INPUT_FILE: inputFile,
    INPUT_NAME: step.input_name,
    INPUT_HASH: step.object_hash,
    OUTPUT_DIR: slot.outDir,
    TASK_NAME: spec.name,
    STEP_ID: String(step.id),
    TMPDIR: slot.scratch,
  };
  const gathered = spec.gather ? await fillInputDir(ctx.store.inputs, inputFile, join(slot.dir, 'gathered'), step, links) : null;
  if (gathered) env.INPUT_DIR = gathered;
  return { inputFile, gathered, env };
}

async function spawn(
  ctx: StepContext, step: RunnableStep, slot: Slot, p: Prepared, links: InputLink[], signal: AbortSignal,
): Promise<{ spawned: SpawnResult; logSize: number }> {
  const spec = step.plan.spec;
  const input = ctx.store.inputs.expected(links[0]!);
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
    const spawned = await ctx.executor.run({
      argv: scriptArgv(spec.shell, spec.script, slot.dir),
      cwd: ctx.manifestDir,
      env: p.env,
      baseEnv: step.plan.env,
      stdout: ctx.echo && stdoutFd === null ? 'pipe' : stdoutFd ?? logFd,
      stderr: ctx.echo ? 'pipe' : logFd,
      onOutput: ctx.echo ? echoTo(ctx.echo, `[${spec.name}#${step.id}] `, logFd) : undefined,
      timeoutMs: spec.timeout === null ? null : spec.timeout * 1000,
      signal,
      collect: {
        objects: ctx.store.objectsDir, outDir: slot.outDir, input: input.path, inputState: input.state, log: slot.log, durable: ctx.store.durable,
      },
      onStart: ctx.scripts && (() => {
        started = true;
        ctx.scripts!(step.task, 1);
      }),
    });
    if (started) ctx.scripts!(step.task, -1);
    const logSize = fstatSync(logFd).size;
    keepLog = logSize === 0;
    return { spawned, logSize };
  } finally {
    if (keepLog) slot.logFd = logFd;
    else closeSync(logFd);
    if (stdoutFd !== null) closeSync(stdoutFd);
  }
}

function finished(
  step: RunnableStep, startedAt: number, exitCode: number | null, error: string | null,
  outputs: StoredOutput[], log: ObjectRow | null, logTail: string,
): StepResult {
  const done = error === null;
  const kept = done ? outputs : [];
  const fanOut = done ? step.plan.downstream.flatMap((d) =>
    kept.filter((o) => passes(d.match, o.name))
      .map((o) => ({ taskId: d.taskId, name: o.name, hash: o.hash, round: d.cycle ? step.round + 1 : 0 }))) : [];
  const outcome: StepOutcome = {
    stepId: step.id,
    taskId: step.task,
    status: done ? 'done' : 'failed',
    exitCode,
    error,
    log,
    startedAt,
    finishedAt: Date.now(),
    outputs: kept.map(({ name, hash, size }) => ({ name, hash, size })),
    fanOut,
  };
  return { kind: 'finished', step, outcome, added: kept.filter((o) => o.added), logTail };
}

/** The shell runs the script as one argument; a shebang script is run as its own file. */
function scriptArgv(shell: string[], script: string, dir: string): string[] {
  const text = script.trimStart();
  if (text.startsWith('#!')) {
    const file = join(dir, 'script');
    writeFileSync(file, text, { mode: 0o755 });
    return [file];
  }
  return [...shell, script];
}

function failureOf(r: SpawnResult, timeout: number | null): string | null {
  if (r.spawnError !== null) return `could not start the script: ${r.spawnError}`;
  if (r.timedOut) return `timed out after ${timeout}s (its process group was killed)`;
  if (r.signal !== null) return `killed by ${r.signal}`;
  if (r.exitCode !== 0) return `exit code ${r.exitCode}`;
  return null;
}

function storeFailure(err: unknown, what: string): string {
  if (err instanceof BadOutputError) return err.message;
  return failureText(errnoCode(err), (err as Error).message, what);
}

function failureText(code: string | undefined, message: string, what: string): string {
  if (code === 'ENOSPC') return `no space left on device while ${what}`;
  if (code === 'EDQUOT') return `disk quota exceeded while ${what}`;
  return `${what} failed: ${message}`;
}
