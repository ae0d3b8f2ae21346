// The leaf stream (src/engine/scheduler.ts, task-lanes.ts, gather-trigger.ts) over a real SQLite db and
// object store, with an in-memory executor: no script runs, each step "exits" a turn after it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Observable } from 'rxjs';
import { sha256, waitFor, workspace } from './helpers.js';
import { loadManifest } from '../dist/manifest/index.js';
import { openDatabase } from '../dist/store/database.js';
import { SqliteMetadata } from '../dist/store/sqlite-metadata.js';
import { LocalObjectStore } from '../dist/store/object-store.js';
import { buildPlan, currentGraph, taskVersionInputs } from '../dist/engine/plan.js';
import { newSummary } from '../dist/engine/run-summary.js';
import { streamLeaves } from '../dist/engine/stream-leaves.js';
import { backoffMs } from '../dist/engine/tuning.js';

/** A db as a run leaves it just before streaming: tasks registered, current graph set, root steps over `inputs`. */
async function setup(t, toml, inputs) {
  const ws = workspace(t);
  const manifest = loadManifest(ws.write('m.toml', toml));
  mkdirSync(join(ws.db, 'tmp'), { recursive: true });
  const db = openDatabase(ws.db, { create: true });
  t.after(() => db.open && db.close());
  const meta = new SqliteMetadata(db);
  const store = new LocalObjectStore(ws.db);
  const runId = await meta.beginRun(manifest.path, process.pid);
  const plans = buildPlan(manifest, await meta.registerTasks(taskVersionInputs(manifest)));
  const graph = currentGraph(plans);
  await meta.setCurrentGraph(graph.tasks, graph.edges);
  await meta.addRunInputs(
    inputs.map((name) => ({ name, hash: sha256(name), size: name.length, source: null })),
    runId,
  );
  await meta.ensureRootSteps(
    plans.filter((p) => p.isRoot).map((p) => p.taskId),
    null,
  );
  const summary = newSummary(
    runId,
    manifest.tasks.map((x) => x.name),
  );
  const idOf = (name) => plans.find((p) => p.spec.name === name).taskId;
  const counts = (name) => meta.taskCounts(idOf(name));
  const run = (execute, { parallel = 2, tuning = {}, stop = new AbortController().signal } = {}) =>
    streamLeaves({
      meta,
      store,
      ctx: { stop },
      plans,
      edges: graph.edges,
      runId,
      parallel,
      only: null,
      stop,
      summary,
      execute,
      tuning,
    });
  return { db, meta, summary, run, counts, idOf };
}

/**
 * Runs no script. `behave(step, attempt)` says what a step does: { fail, outputs: [name...], hold }.
 * A held step never finishes by itself (only an interrupt ends it). Records what was in flight at once.
 */
function memoryExecutor(behave = () => ({})) {
  const rec = {
    launched: [],
    running: 0,
    maxRunning: 0,
    perTask: new Map(),
    maxPerTask: new Map(),
    interrupted: [],
    attempts: new Map(),
    exits: 0,
    /** Per launch: [scripts exited before it, steps in flight with it]. */
    inFlight: [],
  };
  const add = (name, d) => {
    rec.running += d;
    rec.perTask.set(name, (rec.perTask.get(name) ?? 0) + d);
    rec.maxRunning = Math.max(rec.maxRunning, rec.running);
    rec.maxPerTask.set(name, Math.max(rec.maxPerTask.get(name) ?? 0, rec.perTask.get(name)));
  };
  const execute = (ctx, step) =>
    new Observable((sub) => {
      const name = step.plan.spec.name;
      const attempt = (rec.attempts.get(step.id) ?? 0) + 1;
      rec.attempts.set(step.id, attempt);
      rec.launched.push({ task: name, id: step.id, round: step.round });
      add(name, 1);
      rec.inFlight.push([rec.exits, rec.running]);
      const b = behave(step, attempt);
      let over = false;
      const exit = () => {
        over = true;
        ctx.stop.removeEventListener('abort', onAbort);
        add(name, -1);
        rec.exits++;
        sub.next({ kind: 'exited', step });
      };
      const onAbort = () => {
        if (over) return;
        exit();
        rec.interrupted.push(step.id);
        sub.next({ kind: 'interrupted', step });
        sub.complete();
      };
      const finish = () => {
        if (over) return;
        exit();
        sub.next({ kind: 'finished', step, outcome: outcomeOf(step, b), added: [], logTail: b.fail ? 'boom' : '' });
        sub.complete();
      };
      ctx.stop.addEventListener('abort', onAbort);
      const timer = ctx.stop.aborted ? setImmediate(onAbort) : b.hold ? null : setImmediate(finish);
      return () => {
        clearImmediate(timer);
        ctx.stop.removeEventListener('abort', onAbort);
      };
    });
  return { execute, rec };
}

function outcomeOf(step, b) {
  const outputs = b.fail
    ? []
    : (b.outputs ?? [])
        .map((o) => (typeof o === 'string' ? { name: o, text: `${step.input_name}/${o}` } : o))
        .map((o) => ({ name: o.name, hash: sha256(o.text), size: o.text.length }));
  const fanOut = step.plan.downstream.flatMap((d) =>
    outputs.map((o) => ({ taskId: d.taskId, name: o.name, hash: o.hash, round: d.cycle ? step.round + 1 : 0 })),
  );
  return {
    stepId: step.id,
    taskId: step.task,
    status: b.fail ? 'failed' : 'done',
    exitCode: b.fail ? 1 : 0,
    error: b.fail ? 'exit status 1' : null,
    log: { hash: sha256(''), size: 0 },
    startedAt: 1,
    finishedAt: 2,
    outputs,
    fanOut,
  };
}

/** Polls an async condition (helpers' waitFor takes a synchronous one). */
async function until(fn) {
  for (let i = 0; i < 2000; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition never met');
}

const names = (n, prefix = 'in') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);

test('the global limit: -parallel running plus launchAhead ready, reached and never passed', async (t) => {
  const s = await setup(t, '[[task]]\nname = "a"\nscript = "true"\n', names(40));
  const { execute, rec } = memoryExecutor();
  await s.run(execute, { parallel: 3, tuning: { launchAhead: 5 } });
  assert.equal(rec.maxRunning, 8);
  assert.equal(rec.launched.length, 40);
  assert.equal(s.summary.tasks.get('a').ran, 40);
  assert.deepEqual(await s.counts('a'), { pending: 0, running: 0, done: 40, failed: 0 });
});

test('launch-ahead is at least -parallel', async (t) => {
  const s = await setup(t, '[[task]]\nname = "a"\nscript = "true"\n', names(20));
  const { execute, rec } = memoryExecutor();
  await s.run(execute, { parallel: 4, tuning: { launchAhead: 1 } });
  assert.equal(rec.maxRunning, 8);
});

test('the launch-ahead starts at launchAheadFirst and grows by one per four scripts exited, up to launchAhead', async (t) => {
  const s = await setup(t, '[[task]]\nname = "a"\nscript = "true"\n', names(300));
  const { execute, rec } = memoryExecutor();
  await s.run(execute, { parallel: 2, tuning: { launchAhead: 32, launchAheadFirst: 3 } });
  assert.equal(rec.launched.length, 300);
  assert.equal(Math.max(...rec.inFlight.filter(([exits]) => exits < 4).map(([, n]) => n)), 2 + 3);
  for (const [exits, n] of rec.inFlight)
    assert.ok(n <= 2 + Math.min(32, Math.max(3, exits >> 2)), `${n} in flight after ${exits} exits`);
  assert.equal(rec.maxRunning, 2 + 32);
});

test("a task's parallel limits its steps in flight; the other tasks use the rest", async (t) => {
  const toml =
    '[[task]]\nname = "a"\ninputs = []\nparallel = 2\nscript = "true"\n\n[[task]]\nname = "b"\ninputs = []\nscript = "true"\n';
  const s = await setup(t, toml, names(30));
  const { execute, rec } = memoryExecutor();
  await s.run(execute, { parallel: 4, tuning: { launchAhead: 4 } });
  assert.equal(rec.maxPerTask.get('a'), 2);
  assert.equal(rec.maxRunning, 8);
  assert.equal(s.summary.tasks.get('a').ran, 30);
  assert.equal(s.summary.tasks.get('b').ran, 30);
});

test('fairness: tasks with leaves take turns, one step each', async (t) => {
  const toml =
    '[[task]]\nname = "one"\ninputs = []\nscript = "true"\n\n[[task]]\nname = "two"\ninputs = []\nscript = "true"\n';
  const s = await setup(t, toml, names(12));
  const { execute, rec } = memoryExecutor();
  await s.run(execute, { parallel: 1, tuning: { launchAhead: 1 } });
  const order = rec.launched.map((l) => l.task);
  assert.deepEqual(
    order,
    Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 'one' : 'two')),
  );
});

test('end detection: outputs make new leaves downstream, the gather fires once everything upstream is done, then the stream ends', async (t) => {
  const toml = [
    '[[task]]\nname = "split"\nscript = "true"\n',
    '[[task]]\nname = "upper"\nscript = "true"\n',
    '[[task]]\nname = "total"\ngather = true\nscript = "true"\n',
  ].join('\n');
  const s = await setup(t, toml, names(3));
  let upperDoneAtGather = -1;
  const { execute, rec } = memoryExecutor((step) => {
    if (step.plan.spec.name === 'split') return { outputs: ['line-aa', 'line-ab'] };
    if (step.plan.spec.name === 'upper') return { outputs: ['up'] };
    upperDoneAtGather = rec.launched.filter((l) => l.task === 'upper').length;
    return { outputs: ['lines'] };
  });
  await s.run(execute, { parallel: 2 });
  assert.deepEqual(
    ['split', 'upper', 'total'].map((n) => s.summary.tasks.get(n).ran),
    [3, 6, 1],
  );
  assert.equal(upperDoneAtGather, 6, 'the gather ran after every upper step');
  assert.deepEqual(await s.counts('upper'), { pending: 0, running: 0, done: 6, failed: 0 });
  assert.deepEqual(await s.counts('total'), { pending: 0, running: 0, done: 1, failed: 0 });
  assert.deepEqual(s.summary.heldBack, []);
});

test('a failed upstream step holds the gather back, and the summary names it', async (t) => {
  const toml =
    '[[task]]\nname = "count"\nscript = "true"\n\n[[task]]\nname = "total"\ngather = true\nscript = "true"\n';
  const s = await setup(t, toml, names(3));
  const { execute, rec } = memoryExecutor((step) => ({ fail: step.input_name === 'in001', outputs: ['n'] }));
  await s.run(execute);
  assert.equal(rec.launched.filter((l) => l.task === 'total').length, 0);
  assert.deepEqual(s.summary.heldBack, ['total']);
  assert.deepEqual(
    s.summary.failures.map((f) => [f.task, f.error, f.logTail]),
    [['count', 'exit status 1', 'boom']],
  );
});

test('a cycle ends when no new item appears, or is cut after max_rounds: the step beyond is left pending', async (t) => {
  const toml =
    '[[task]]\nname = "seed"\nscript = "true"\n\n[[task]]\nname = "loop"\ninputs = ["seed", "loop"]\nmax_rounds = 3\nscript = "true"\n';
  const s = await setup(t, toml, names(1));
  const { execute, rec } = memoryExecutor((step) => ({
    outputs: [{ name: 'n', text: `${step.plan.spec.name} ${step.round}` }],
  }));
  await s.run(execute);
  assert.deepEqual(
    rec.launched.filter((l) => l.task === 'loop').map((l) => l.round),
    [0, 1, 2, 3],
  );
  assert.deepEqual(await s.counts('loop'), { pending: 1, running: 0, done: 4, failed: 0 });
  assert.equal(await s.meta.cutCount(s.idOf('loop'), 3), 1);
});

test('retries: a failed step runs again after its backoff, up to `retries` times, and only the last failure counts', async (t) => {
  const toml =
    '[[task]]\nname = "flaky"\ninputs = []\nretries = 2\nscript = "true"\n\n[[task]]\nname = "broken"\ninputs = []\nretries = 1\nscript = "true"\n';
  const s = await setup(t, toml, names(5));
  const { execute, rec } = memoryExecutor((step, attempt) => ({
    fail: step.plan.spec.name === 'broken' || attempt < 3,
  }));
  await s.run(execute, { tuning: { retryBaseMs: 1, retryMaxMs: 2 } });
  const launches = (task) => rec.launched.filter((l) => l.task === task).length;
  assert.equal(launches('flaky'), 15, 'three attempts each');
  assert.equal(launches('broken'), 10, 'two attempts each');
  assert.deepEqual([s.summary.tasks.get('flaky').ran, s.summary.tasks.get('flaky').failed], [5, 0]);
  assert.deepEqual([s.summary.tasks.get('broken').ran, s.summary.tasks.get('broken').failed], [0, 5]);
  assert.equal(s.summary.failures.length, 5);
  assert.deepEqual(await s.counts('flaky'), { pending: 0, running: 0, done: 5, failed: 0 });
  assert.deepEqual(await s.counts('broken'), { pending: 0, running: 0, done: 0, failed: 5 });
  assert.deepEqual(s.db.prepare('SELECT DISTINCT attempts FROM step WHERE task = ?').pluck().all(s.idOf('flaky')), [3]);
});

test('the retry backoff doubles from 0.25 s up to 10 s', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n)),
    [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000],
  );
  assert.equal(backoffMs(3, { retryBaseMs: 1, retryMaxMs: 3 }), 3);
});

test('an interrupt: nothing more is launched, the steps in flight are stopped and pending again, and the stream ends', async (t) => {
  const s = await setup(t, '[[task]]\nname = "a"\nscript = "true"\n', names(20));
  const { execute, rec } = memoryExecutor(() => ({ hold: true }));
  const stop = new AbortController();
  const ended = s.run(execute, { parallel: 2, tuning: { launchAhead: 2 }, stop: stop.signal });
  await waitFor(() => rec.launched.length === 4, 20_000, 'four steps in flight');
  await until(async () => (await s.counts('a')).running === 4);
  stop.abort();
  await ended;
  assert.equal(rec.launched.length, 4, 'nothing launched after the interrupt');
  assert.equal(rec.interrupted.length, 4);
  assert.deepEqual(await s.counts('a'), { pending: 20, running: 0, done: 0, failed: 0 });
  assert.equal(s.summary.tasks.get('a').ran, 0);
});

test('an interrupt cancels a retry waiting for its backoff', async (t) => {
  const s = await setup(t, '[[task]]\nname = "a"\nretries = 3\nscript = "true"\n', names(1));
  const { execute, rec } = memoryExecutor(() => ({ fail: true }));
  const stop = new AbortController();
  const ended = s.run(execute, { stop: stop.signal, tuning: { retryBaseMs: 600_000, retryMaxMs: 600_000 } });
  await waitFor(() => rec.launched.length === 1, 20_000, 'the first attempt');
  await until(async () => (await s.counts('a')).failed === 1);
  stop.abort();
  await ended;
  assert.equal(rec.launched.length, 1);
});

test('a commit that fails ends the stream with its error', async (t) => {
  const s = await setup(t, '[[task]]\nname = "a"\nscript = "true"\n', names(3));
  // An output whose object row cannot be written (NOT NULL size): the batch's transaction fails.
  const { execute } = memoryExecutor(() => ({ outputs: [{ name: 'o', text: 'x' }] }));
  const broken = (ctx, step) =>
    new Observable((sub) =>
      execute(ctx, step).subscribe({
        next: (e) =>
          sub.next(
            e.kind === 'finished'
              ? { ...e, outcome: { ...e.outcome, outputs: e.outcome.outputs.map((o) => ({ ...o, size: null })) } }
              : e,
          ),
        complete: () => sub.complete(),
      }),
    );
  await assert.rejects(s.run(broken), /NOT NULL constraint failed: object\.size/);
});
