// The write batcher (src/engine/write-batcher.ts) over the real SQLite metadata store; its clock is node:test's mock timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256, workspace } from './helpers.js';
import { openDatabase } from '../dist/store/database.js';
import { SqliteMetadata } from '../dist/store/sqlite-metadata.js';
import { WriteBatcher } from '../dist/engine/write-batcher.js';

const turn = () => new Promise((r) => setImmediate(r));
async function settle() {
  for (let i = 0; i < 3; i++) await turn();
}

/** A db with one root task and `n` pending steps; `batches` records every transaction the batcher asks for. */
async function fixture(t, n, timing) {
  const ws = workspace(t);
  const db = openDatabase(ws.db, { create: true });
  const store = new SqliteMetadata(db);
  t.after(() => db.open && db.close());
  const runId = await store.beginRun('/m.toml', process.pid);
  const ids = await store.registerTasks([{ name: 'a', script: 's', version: sha256('s'), definition: '{}' }]);
  const a = ids.get('a');
  const inputs = Array.from({ length: n }, (_, i) => ({ name: `i${i}`, hash: sha256(`i${i}`), size: 2, source: null }));
  await store.addRunInputs(inputs, runId);
  await store.ensureRootSteps([a], null);
  const steps = await store.pendingPage(a, 0, n, 1000);
  const batches = [];
  // The real store, its commits recorded on the way.
  const meta = { commit: (batch, run) => (batches.push(batch), store.commit(batch, run)) };
  const committed = [];
  const errors = [];
  const writer = new WriteBatcher(
    meta,
    runId,
    (outs) => committed.push(outs.map((o) => o.stepId)),
    (err) => errors.push(err),
    timing,
  );
  const status = (id) => db.prepare('SELECT status FROM step WHERE id = ?').pluck().get(id);
  return { db, steps, batches, committed, errors, writer, status };
}

const done = (step) => ({
  stepId: step.id,
  taskId: step.task,
  status: 'done',
  exitCode: 0,
  error: null,
  log: null,
  startedAt: 1,
  finishedAt: 2,
  outputs: [],
  fanOut: [],
});

test('after a quiet spell the first writes go at once, in one batch; later ones wait for the batch time', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const { steps, batches, writer, status, committed } = await fixture(t, 4, { batchMs: 100, batchMax: 512 });
  writer.claim(steps[0].id);
  writer.claim(steps[1].id);
  await settle();
  assert.deepEqual(
    batches.map((b) => b.claims),
    [[steps[0].id, steps[1].id]],
  );
  assert.equal(status(steps[0].id), 'running');

  writer.claim(steps[2].id);
  writer.commit(done(steps[0]));
  await settle();
  assert.equal(batches.length, 1, 'within the batch time: waiting');
  t.mock.timers.tick(99);
  await settle();
  assert.equal(batches.length, 1);
  t.mock.timers.tick(1);
  await settle();
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[1].claims, [steps[2].id]);
  assert.deepEqual(committed, [[steps[0].id]], 'told of the finished steps once committed');
  assert.equal(status(steps[0].id), 'done');
  assert.equal(status(steps[2].id), 'running');
});

test('a batch that reaches batchMax writes on the next turn, without waiting for the batch time', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const { steps, batches, writer } = await fixture(t, 5, { batchMs: 100, batchMax: 3 });
  writer.claim(steps[0].id);
  await settle();
  assert.equal(batches.length, 1);
  writer.claim(steps[1].id);
  writer.claim(steps[2].id);
  await settle();
  assert.equal(batches.length, 1, 'two writes: below the count, waiting for the time');
  writer.claim(steps[3].id);
  await settle();
  assert.equal(batches.length, 2, 'the third write fills the batch');
  assert.deepEqual(batches[1].claims, [steps[1].id, steps[2].id, steps[3].id]);
});

test('drain writes what waits and resolves once it is committed; a step claimed and finished in one batch is written once', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const { steps, batches, writer, status } = await fixture(t, 3, { batchMs: 100, batchMax: 512 });
  writer.claim(steps[0].id);
  await settle();
  writer.claim(steps[1].id);
  writer.claim(steps[2].id);
  writer.commit(done(steps[1]));
  await writer.drain();
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[1].claims, [steps[2].id], 'the finished step is not claimed as well');
  assert.deepEqual(
    batches[1].outcomes.map((o) => o.stepId),
    [steps[1].id],
  );
  assert.equal(status(steps[1].id), 'done');
  assert.equal(status(steps[2].id), 'running');
  await writer.drain();
  assert.equal(batches.length, 2, 'nothing waiting: no empty transaction');
});

test('a commit that fails is reported to onError, and later batches are still written', async (t) => {
  const { db, steps, writer, errors, batches } = await fixture(t, 2, { batchMs: 100, batchMax: 512 });
  // An outcome naming a log object whose row cannot be written (NOT NULL size): the transaction fails.
  writer.commit({ ...done(steps[0]), log: { hash: sha256('log'), size: null } });
  await writer.drain();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0].message), /NOT NULL constraint failed: object\.size/);
  assert.equal(db.prepare('SELECT status FROM step WHERE id = ?').pluck().get(steps[0].id), 'pending', 'rolled back');
  writer.commit(done(steps[1]));
  await writer.drain();
  assert.equal(batches.length, 2);
  assert.equal(errors.length, 1);
  assert.equal(db.prepare('SELECT status FROM step WHERE id = ?').pluck().get(steps[1].id), 'done');
});
