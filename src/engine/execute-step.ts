import {
  chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Observable } from 'rxjs';
import { errnoCode } from '../errors.js';
import type { LeafStep, ObjectRow, StepOutcome } from '../store/metadata-store.js';
import type { LocalObjectStore } from '../store/object-store.js';
import { BadOutputError, collectOutputs, type StoredOutput } from './collect-outputs.js';
import type { Executor, SpawnResult } from './executor.js';
import { passes, type TaskPlan } from './plan.js';

export interface StepContext {
  store: LocalObjectStore;
  executor: Executor;
  manifestDir: string;
  /** Receives script output lines, already prefixed, when -verbose. */
  echo: ((line: string) => void) | null;
  /** The run is being interrupted: every running script is stopped. */
  stop: AbortSignal;
}

export interface RunnableStep extends LeafStep {
  plan: TaskPlan;
}

export type StepResult =
  | { kind: 'finished'; step: RunnableStep; outcome: StepOutcome; added: StoredOutput[]; logTail: string }
  | { kind: 'interrupted'; step: RunnableStep };

/** A step as an Observable: subscribing runs it; unsubscribing (teardown) stops its script. */
export function executeStep$(ctx: StepContext, step: RunnableStep): Observable<StepResult> {
  return new Observable<StepResult>((subscriber) => {
    const abort = new AbortController();
    runStep(ctx, step, AbortSignal.any([abort.signal, ctx.stop])).then(
      (result) => {
        subscriber.next(result);
        subscriber.complete();
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => abort.abort();
  });
}

async function runStep(ctx: StepContext, step: RunnableStep, signal: AbortSignal): Promise<StepResult> {
  const work = mkdtempSync(join(ctx.store.tmpDir, `step-${step.id}-`));
  try {
    let prepared: Prepared;
    const startedAt = Date.now();
    try {
      prepared = prepare(ctx, step, work);
    } catch (err) {
      // A full disk or a missing object while setting up fails this step, not the run.
      return finished(step, startedAt, null, storeFailure(err, "preparing the step's input"), [], null, '');
    }
    const spawned = await spawn(ctx, step, work, prepared, signal);
    if (spawned.aborted && !spawned.timedOut) return { kind: 'interrupted', step };

    let error = failureOf(spawned, step.plan.spec.timeout);
    if (error === null) {
      const after = statSync(prepared.inputFile, { throwIfNoEntry: false });
      if (!after || after.size !== prepared.before.size || after.mtimeMs !== prepared.before.mtimeMs) {
        error = 'the script modified its INPUT_FILE (inputs are read-only; write to OUTPUT_DIR instead)';
      }
    }
    let outputs: StoredOutput[] = [];
    if (error === null) {
      try {
        outputs = await collectOutputs(prepared.outDir, ctx.store);
      } catch (err) {
        error = storeFailure(err, 'storing the outputs');
      }
    }
    let log: ObjectRow | null = null;
    let logTail = '';
    try {
      const put = await ctx.store.adopt(prepared.logPath);
      log = { hash: put.hash, size: put.size };
      if (error !== null) logTail = tailOf(ctx.store.pathOf(put.hash), put.size);
    } catch (err) {
      error ??= storeFailure(err, 'storing the log');
    }
    return finished(step, startedAt, spawned.exitCode, error, outputs, log, logTail);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

interface Prepared {
  inputFile: string;
  before: Stats;
  outDir: string;
  logPath: string;
  env: Record<string, string>;
}

/** The step's private directory: its input (a copy), an empty OUTPUT_DIR, a scratch TMPDIR. */
function prepare(ctx: StepContext, step: RunnableStep, work: string): Prepared {
  const spec = step.plan.spec;
  const inDir = join(work, 'in');
  const outDir = join(work, 'out');
  const scratch = join(work, 'scratch');
  mkdirSync(inDir);
  mkdirSync(outDir);
  mkdirSync(scratch);
  const isSeed = step.input_name === '';
  const inputFile = join(inDir, spec.gather ? 'listing' : isSeed ? 'seed' : safeBasename(step.input_name));
  // A private copy: whatever the script does to it, the stored object is untouched.
  ctx.store.copyTo(step.object_hash, inputFile);
  chmodSync(inputFile, 0o444);
  const env: Record<string, string> = {
    ...step.plan.env,
    INPUT_FILE: inputFile,
    INPUT_NAME: step.input_name,
    INPUT_HASH: step.object_hash,
    OUTPUT_DIR: outDir,
    TASK_NAME: spec.name,
    STEP_ID: String(step.id),
    TMPDIR: scratch,
  };
  if (spec.gather) env.INPUT_DIR = fillInputDir(ctx.store, inputFile, join(work, 'gathered'));
  return { inputFile, before: statSync(inputFile), outDir, logPath: join(work, 'log'), env };
}

async function spawn(ctx: StepContext, step: RunnableStep, work: string, p: Prepared, signal: AbortSignal): Promise<SpawnResult> {
  const spec = step.plan.spec;
  const logFd = openSync(p.logPath, 'w');
  let stdoutFd: number | null = null;
  try {
    if (spec.stdout !== null) {
      const target = join(p.outDir, spec.stdout);
      mkdirSync(dirname(target), { recursive: true });
      stdoutFd = openSync(target, 'w');
    }
    return await ctx.executor.run({
      argv: scriptArgv(spec.shell, spec.script, work),
      cwd: ctx.manifestDir,
      env: p.env,
      stdout: ctx.echo && stdoutFd === null ? 'pipe' : stdoutFd ?? logFd,
      stderr: ctx.echo ? 'pipe' : logFd,
      onOutput: ctx.echo ? echoTo(ctx.echo, `[${spec.name}#${step.id}] `, logFd) : undefined,
      // Left in the work dir so that the next run can kill the group if this engine is killed.
      onSpawn: (pid) => writeQuiet(join(work, 'pgid'), String(pid)),
      timeoutMs: spec.timeout === null ? null : spec.timeout * 1000,
      signal,
    });
  } finally {
    closeSync(logFd);
    if (stdoutFd !== null) closeSync(stdoutFd);
  }
}

function writeQuiet(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch {
    // Best effort: without it, only a kill -9 of the engine could leave this script running.
  }
}

function finished(
  step: RunnableStep, startedAt: number, exitCode: number | null, error: string | null,
  outputs: StoredOutput[], log: ObjectRow | null, logTail: string,
): StepResult {
  const done = error === null;
  const kept = done ? outputs : [];
  const fanOut = done ? step.plan.downstream.flatMap((d) =>
    kept.filter((o) => passes(d.match, o.name)).map((o) => ({ taskId: d.taskId, name: o.name, hash: o.hash }))) : [];
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
function scriptArgv(shell: string[], script: string, work: string): string[] {
  const text = script.trimStart();
  if (text.startsWith('#!')) {
    const file = join(work, 'script');
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
  const code = errnoCode(err);
  if (code === 'ENOSPC') return `no space left on device while ${what}`;
  if (code === 'EDQUOT') return `disk quota exceeded while ${what}`;
  return `${what} failed: ${(err as Error).message}`;
}

/** An input name can hold directories (`a/b.txt`): the file keeps only its basename. */
function safeBasename(name: string): string {
  const b = basename(name);
  return b === '' || b === '.' || b === '..' ? 'input' : b;
}

/** INPUT_DIR for a gather step: every listed object, read-only, under a unique name ending with its basename. */
function fillInputDir(store: LocalObjectStore, listingFile: string, dir: string): string {
  mkdirSync(dir);
  const entries = readFileSync(listingFile, 'utf8').split('\n').filter((l) => l !== '').map((line) => {
    const tab = line.indexOf('\t');
    return { hash: line.slice(0, tab), name: line.slice(tab + 1) };
  });
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(safeBasename(e.name), (counts.get(safeBasename(e.name)) ?? 0) + 1);
  const width = String(entries.length).length;
  entries.forEach((e, i) => {
    const base = safeBasename(e.name);
    const unique = counts.get(base) === 1 ? base : `${String(i + 1).padStart(width, '0')}-${base}`;
    const dest = join(dir, unique);
    store.copyTo(e.hash, dest);
    chmodSync(dest, 0o444);
  });
  return dir;
}

function echoTo(echo: (line: string) => void, prefix: string, logFd: number) {
  const partial = { stdout: '', stderr: '' };
  return (stream: 'stdout' | 'stderr', chunk: Buffer) => {
    writeSync(logFd, chunk);
    const text = partial[stream] + chunk.toString('utf8');
    const lines = text.split('\n');
    partial[stream] = lines.pop()!;
    for (const line of lines) echo(prefix + line);
  };
}

function tailOf(path: string, size: number, maxLines = 5): string {
  const from = Math.max(0, size - 4096);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    readSyncAll(fd, buf, from);
    return buf.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
  } finally {
    closeSync(fd);
  }
}

function readSyncAll(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) break;
    off += n;
  }
}
