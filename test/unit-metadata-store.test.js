// The SQLite metadata store (src/store/sqlite-metadata.ts) through its interface, on a real temp db file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256, workspace } from './helpers.js';
import { openDatabase } from '../dist/store/database.js';
import { SqliteMetadata } from '../dist/store/sqlite-metadata.js';
import { CURRENT_STEPS_CTE } from '../dist/store/schema.js';

const version = (name, script) => ({
  name,
  script,
  version: sha256(`${name}:${script}`),
  definition: JSON.stringify({ script }),
});
const obj = (text) => ({ hash: sha256(text), size: Buffer.byteLength(text) });

/** A fresh db with tasks a (root) -> b (per item) -> g (gather over b), as the engine registers them. */
async function fixture(t) {
  const ws = workspace(t);
  const db = openDatabase(ws.db, { create: true });
  const meta = new SqliteMetadata(db);
  t.after(() => db.open && db.close());
  const runId = await meta.beginRun('/m.toml', process.pid);
  const ids = await meta.registerTasks([version('a', 'split'), version('b', 'upper'), version('g', 'total')]);
  const a = ids.get('a');
  const b = ids.get('b');
  const g = ids.get('g');
  const edges = [
    { fromTaskId: a, toTaskId: b, match: null, toGather: false, fromGather: false, cycle: false },
    { fromTaskId: b, toTaskId: g, match: null, toGather: true, fromGather: false, cycle: false },
  ];
  await meta.setCurrentGraph(
    [
      { name: 'a', taskId: a, position: 0, isRoot: true, gather: false, spec: {} },
      { name: 'b', taskId: b, position: 1, isRoot: false, gather: false, spec: {} },
      { name: 'g', taskId: g, position: 2, isRoot: false, gather: true, spec: {} },
    ],
    edges,
  );
  return { ws, db, meta, runId, a, b, g, edges };
}

function outcome(step, outputs, fanOut, status = 'done') {
  return {
    stepId: step.id,
    taskId: step.task,
    status,
    exitCode: status === 'done' ? 0 : 1,
    error: status === 'done' ? null : 'exit 1',
    log: obj(''),
    startedAt: 1,
    finishedAt: 2,
    outputs,
    fanOut,
  };
}

const currentStepIds = (db) => db.prepare(`${CURRENT_STEPS_CTE} SELECT id FROM cur ORDER BY id`).pluck().all();

test('a task version is registered once: the same definition keeps its id, an edited one gets a new id', async (t) => {
  const { meta, a } = await fixture(t);
  const again = await meta.registerTasks([version('a', 'split')]);
  assert.equal(again.get('a'), a);
  const edited = await meta.registerTasks([version('a', 'split -l 2')]);
  assert.notEqual(edited.get('a'), a);
});

test('run inputs are keyed by name: new, unchanged, replaced, and missing from a directory given again', async (t) => {
  const { meta, runId } = await fixture(t);
  const x = { name: 'x.txt', ...obj('x'), source: '/in' };
  const y = { name: 'y.txt', ...obj('y'), source: '/in' };
  assert.deepEqual(await meta.addRunInputs([x, y], runId), { added: 2, replaced: 0, missing: [] });
  assert.equal(await meta.hasRunInputs(), true);
  assert.deepEqual(await meta.addRunInputs([x, { ...y, ...obj('y2') }], runId), { added: 0, replaced: 1, missing: [] });
  assert.deepEqual(await meta.addRunInputs([x], runId), { added: 0, replaced: 0, missing: ['y.txt'] });
});

test('root steps per run input; claim and commit a step with outputs: the steps it feeds are created and linked', async (t) => {
  const { db, meta, runId, a, b } = await fixture(t);
  await meta.addRunInputs(
    [
      { name: 'x.txt', ...obj('x'), source: null },
      { name: 'y.txt', ...obj('y'), source: null },
    ],
    runId,
  );
  assert.equal(await meta.ensureRootSteps([a], null), 2);
  assert.equal(await meta.ensureRootSteps([a], null), 0, 'no input added since: nothing to create');
  const leaves = await meta.pendingPage(a, 0, 10, 1000);
  assert.deepEqual(
    leaves.map((l) => l.input_name),
    ['x.txt', 'y.txt'],
  );
  assert.deepEqual(await meta.pendingPage(a, leaves[0].id, 10, 1000), [leaves[1]], 'paged after an id');

  await meta.commit({ claims: leaves.map((l) => l.id), outcomes: [], now: 5 }, runId);
  assert.deepEqual(await meta.taskCounts(a), { pending: 0, running: 2, done: 0, failed: 0 });
  assert.deepEqual(await meta.pendingPage(a, 0, 10, 1000), [], 'claimed steps are not leaves');

  const up = obj('X');
  const effect = await meta.commit(
    {
      claims: [],
      now: 6,
      outcomes: [outcome(leaves[0], [{ name: 'up', ...up }], [{ taskId: b, name: 'up', hash: up.hash, round: 0 }])],
    },
    runId,
  );
  const created = effect.created.get(b);
  assert.equal(created.length, 1);
  assert.deepEqual(
    { ...created[0], id: 0 },
    { id: 0, task: b, object_hash: up.hash, input_name: 'up', attempts: 0, round: 0 },
  );
  assert.deepEqual(await meta.pendingPage(b, 0, 10, 1000), created, 'the created step is a leaf of b');
  assert.deepEqual(db.prepare('SELECT from_step_id, to_step_id FROM step_link').raw().all(), [
    [leaves[0].id, created[0].id],
  ]);
  assert.deepEqual(
    db.prepare('SELECT name, lower(hex(object_hash)) FROM step_output WHERE step_id = ?').raw().all(leaves[0].id),
    [['up', up.hash]],
  );
  assert.deepEqual(await meta.taskCounts(a), { pending: 0, running: 1, done: 1, failed: 0 });

  // The second input yields the same item (same name, same bytes): no new step, a second link, a merge.
  const again = await meta.commit(
    {
      claims: [],
      now: 7,
      outcomes: [outcome(leaves[1], [{ name: 'up', ...up }], [{ taskId: b, name: 'up', hash: up.hash, round: 0 }])],
    },
    runId,
  );
  assert.equal(again.created.size, 0);
  assert.equal(again.merged.get(b), 1);
  assert.equal(await meta.mergedCount(b), 1);
  assert.equal(await meta.unfinishedCount(a), 0);
  assert.equal(await meta.unfinishedCount(b), 1);
  assert.equal(await meta.hasOutputs(a), true);
});

test('a failed step keeps no outputs; release and recover make steps pending again', async (t) => {
  const { meta, runId, a } = await fixture(t);
  await meta.addRunInputs(
    [
      { name: 'x.txt', ...obj('x'), source: null },
      { name: 'y.txt', ...obj('y'), source: null },
    ],
    runId,
  );
  await meta.ensureRootSteps([a], null);
  const [x, y] = await meta.pendingPage(a, 0, 10, 1000);
  await meta.commit({ claims: [x.id, y.id], outcomes: [outcome(x, [], [], 'failed')], now: 1 }, runId);
  assert.deepEqual(await meta.taskCounts(a), { pending: 0, running: 1, done: 0, failed: 1 });
  assert.equal(await meta.hasOutputs(a), false);
  await meta.release([x.id]);
  assert.deepEqual(
    (await meta.pendingPage(a, 0, 10, 1000)).map((l) => l.id),
    [x.id],
  );
  assert.equal((await meta.pendingPage(a, 0, 10, 1000))[0].attempts, 1, 'the failed attempt is counted');
  // As after a crash: the running step goes back to pending.
  assert.deepEqual(await meta.recover([a]), { running: 1, failed: 0 });
  assert.deepEqual(await meta.taskCounts(a), { pending: 2, running: 0, done: 0, failed: 0 });
});

test('the current graph: gather listing and step, an edited task re-reconciled, old steps become history', async (t) => {
  const { db, meta, runId, a, b, g, edges } = await fixture(t);
  await meta.addRunInputs([{ name: 'x.txt', ...obj('x'), source: null }], runId);
  await meta.ensureRootSteps([a], null);
  const [x] = await meta.pendingPage(a, 0, 10, 1000);
  const line = obj('x-line');
  const e1 = await meta.commit(
    {
      claims: [],
      now: 1,
      outcomes: [outcome(x, [{ name: 'line', ...line }], [{ taskId: b, name: 'line', hash: line.hash, round: 0 }])],
    },
    runId,
  );
  const [bStep] = e1.created.get(b);
  const up = obj('X-LINE');
  await meta.commit({ claims: [], now: 2, outcomes: [outcome(bStep, [{ name: 'up', ...up }], [])] }, runId);

  const listing = await meta.gatherListing(g);
  assert.deepEqual(listing, [{ hash: up.hash, name: 'up', fromName: 'line', stepId: bStep.id }]);
  const listObj = { ...obj(`${up.hash}\tup\tline\n`), name: 'listing' };
  const first = await meta.ensureGatherStep(g, listObj, [bStep.id]);
  assert.deepEqual({ ...first, stepId: 0 }, { stepId: 0, status: 'pending', created: true, wasCurrent: false });
  const second = await meta.ensureGatherStep(g, listObj, [bStep.id]);
  assert.deepEqual(second, { ...first, created: false, wasCurrent: true });
  assert.deepEqual(
    currentStepIds(db),
    [x.id, bStep.id, first.stepId].sort((p, q) => p - q),
  );

  // b edited: a new version; reconciling a -> b makes its step over the same item; b's old step is history.
  const b2 = (await meta.registerTasks([version('b', 'upper --edited')])).get('b');
  const edges2 = edges.map((e) => ({
    ...e,
    fromTaskId: e.fromTaskId === b ? b2 : e.fromTaskId,
    toTaskId: e.toTaskId === b ? b2 : e.toTaskId,
  }));
  await meta.setCurrentGraph(
    [
      { name: 'a', taskId: a, position: 0, isRoot: true, gather: false, spec: {} },
      { name: 'b', taskId: b2, position: 1, isRoot: false, gather: false, spec: {} },
      { name: 'g', taskId: g, position: 2, isRoot: false, gather: true, spec: {} },
    ],
    edges2,
  );
  assert.deepEqual(await meta.reconcileEdge(edges2[0]), { created: 1, reused: 0, linked: 1 });
  assert.deepEqual(
    await meta.reconcileEdge(edges2[0]),
    { created: 0, reused: 0, linked: 0 },
    'marked: nothing to look at again',
  );
  const [b2Step] = await meta.pendingPage(b2, 0, 10, 1000);
  assert.equal(b2Step.input_name, 'line');
  assert.equal(await meta.unfinishedCount(b2), 1, 'holds the gather back');
  assert.deepEqual(await meta.gatherListing(g), [], 'nothing of b2 is done yet');
  assert.deepEqual(
    currentStepIds(db),
    [x.id, b2Step.id, first.stepId].sort((p, q) => p - q),
  );
});

test('-force: the done steps of a task in the current graph are pending again, their outputs dropped', async (t) => {
  const { db, meta, runId, a } = await fixture(t);
  await meta.addRunInputs([{ name: 'x.txt', ...obj('x'), source: null }], runId);
  await meta.ensureRootSteps([a], null);
  const [x] = await meta.pendingPage(a, 0, 10, 1000);
  await meta.commit({ claims: [], now: 1, outcomes: [outcome(x, [{ name: 'o', ...obj('o') }], [])] }, runId);
  assert.equal(await meta.force(a), 1);
  assert.deepEqual(await meta.taskCounts(a), { pending: 1, running: 0, done: 0, failed: 0 });
  assert.equal(db.prepare('SELECT count(*) FROM step_output').pluck().get(), 0);
});

test('steps beyond max_rounds of a cycle are not leaves, and are counted as cut', async (t) => {
  const { meta, runId, a, b } = await fixture(t);
  await meta.addRunInputs([{ name: 'x.txt', ...obj('x'), source: null }], runId);
  await meta.ensureRootSteps([a], null);
  const [x] = await meta.pendingPage(a, 0, 10, 1000);
  const fan = [1, 2, 3].map((round) => ({ taskId: b, name: `r${round}`, hash: obj(`r${round}`).hash, round }));
  const outs = fan.map((f) => ({ name: f.name, ...obj(f.name) }));
  await meta.commit({ claims: [], now: 1, outcomes: [outcome(x, outs, fan)] }, runId);
  assert.deepEqual(
    (await meta.pendingPage(b, 0, 10, 2)).map((l) => l.round),
    [1, 2],
  );
  assert.equal(await meta.cutCount(b, 2), 1);
});
