// TaskLanes (src/engine/task-lanes.ts) on its own: pure bookkeeping over a page reader (here an array standing for the db).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskLanes } from '../dist/engine/task-lanes.js';

function pendingTable() {
  const rows = [];
  const reads = [];
  const readPage = async (taskId, after, limit, maxRound) => {
    reads.push([taskId, after]);
    return rows.filter((r) => r.task === taskId && r.id > after && r.round <= maxRound).slice(0, limit);
  };
  const add = (task, n, round = 0) => {
    const made = [];
    for (let i = 0; i < n; i++) {
      made.push({ id: rows.length + 1, task, object_hash: 'h', input_name: `n${rows.length}`, attempts: 0, round });
      rows.push(made.at(-1));
    }
    return made;
  };
  return { rows, reads, readPage, add };
}

test('lanes: read a page at a time, take in turn, respect each limit, and count what is in flight', async () => {
  const db = pendingTable();
  db.add(1, 5);
  db.add(2, 5);
  const lanes = new TaskLanes(
    [
      { taskId: 1, limit: 2, maxRounds: 1000, selected: true },
      { taskId: 2, limit: Infinity, maxRounds: 1000, selected: true },
    ],
    db.readPage,
    3,
  );
  const taken = [];
  for (let i = 0; i < 5; i++) taken.push((await lanes.take()).leaf.task);
  assert.deepEqual(taken, [1, 2, 1, 2, 2], 'task 1 stops at its limit of 2');
  assert.deepEqual(
    db.reads,
    [
      [1, 0],
      [2, 0],
    ],
    'a page of 3 per lane',
  );
  assert.equal(lanes.get(1).active, 2);
  lanes.exited(1);
  assert.equal((await lanes.take()).leaf.task, 1, 'a slot of task 1 freed');
  assert.equal(lanes.idle([1]), false);
  lanes.settled(1, true);
  assert.equal(lanes.doneIn([1, 2]), 1);
});

test('lanes: steps a commit creates are queued without a read once the lane caught up, else paged; cut rounds are left out', async () => {
  const db = pendingTable();
  const lanes = new TaskLanes([{ taskId: 1, limit: Infinity, maxRounds: 2, selected: true }], db.readPage, 4);
  assert.equal(await lanes.take(), null);
  assert.equal(lanes.hasLeaves(), false, 'exhausted');
  lanes.created(1, [...db.add(1, 2), ...db.add(1, 1, 3)]);
  assert.equal(db.reads.length, 1, 'no read');
  assert.deepEqual((await lanes.take()).leaf.id, 1);
  assert.deepEqual((await lanes.take()).leaf.id, 2);
  assert.equal(await lanes.take(), null, 'round 3 is beyond max_rounds 2');
  lanes.created(1, null);
  assert.equal(lanes.hasLeaves(), true, 'too many to list: the lane reads again');
  db.add(1, 1);
  assert.equal((await lanes.take()).leaf.id, 4);
});

test('lanes: a page read that crosses a commit creating steps does not mark the lane exhausted', async () => {
  const db = pendingTable();
  let lanes;
  const racing = async (...args) => {
    const page = await db.readPage(...args);
    lanes.created(1, db.add(1, 1)); // committed while the (empty) page was on its way
    return page;
  };
  lanes = new TaskLanes([{ taskId: 1, limit: Infinity, maxRounds: 1000, selected: true }], racing, 4);
  assert.equal(await lanes.take(), null);
  assert.equal(lanes.hasLeaves(), true);
});

test('lanes: a retried step goes first; an unselected lane (-task) is never taken and holds no gather back', async () => {
  const db = pendingTable();
  db.add(1, 2);
  db.add(2, 2);
  const lanes = new TaskLanes(
    [
      { taskId: 1, limit: Infinity, maxRounds: 1000, selected: true },
      { taskId: 2, limit: Infinity, maxRounds: 1000, selected: false },
    ],
    db.readPage,
    10,
  );
  const first = (await lanes.take()).leaf;
  lanes.retry({ ...first, attempts: 1 });
  assert.deepEqual((await lanes.take()).leaf, { ...first, attempts: 1 });
  assert.equal((await lanes.take()).leaf.id, 2);
  assert.equal(await lanes.take(), null);
  assert.equal(lanes.idle([2]), true);
});
