// serve on PostgreSQL against SQLite: the same pipeline served by both, the JSON behind every page
// compared once ids, times and what each run measured are set aside; and the errors a user meets there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './helpers.js';
import { getJson, request, startServe } from './serve-fixture.js';
import { oneRunEach, TREE } from './pg-compare.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const skip = missing ?? false;

// What differs between two servers of the same pipeline: ids (as labels), times, what each run measured.
const VOLATILE = new Set([
  ...['cpuMs', 'cpuUserMs', 'cpuSysMs', 'maxRssKb', 'startedAt', 'finishedAt'],
  ...['createdAt', 'asOf', 'tookMs', 'computing', 'durationMs', 'endedAt', 'wallMs', 'pid', 'runs', 'db'],
  ...['cpu_user_ms', 'cpu_sys_ms', 'max_rss_kb'],
]);
const IDS = new Set(['id', 'stepId', 'next', 'prev']);
// Lists in step id order, and ids are given in another order on each engine: compared as sets.
const BY_ID = new Set(['steps', 'outputs']);

function normalApi(side, v, key) {
  if (Array.isArray(v) && BY_ID.has(key))
    return v.map((x) => normalApi(side, x)).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  if (Array.isArray(v)) return v.map((x) => normalApi(side, x));
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VOLATILE.has(k) && k !== 'taskId' && k !== 'currentTaskId')
        .map(([k, x]) => [k, normalApi(side, x, k)]),
    );
  if (IDS.has(key) && typeof v === 'number') return side.labels.get(v) ?? `unknown ${v}`;
  if (typeof v === 'string') return v.split(side.dir).join('DIR');
  return v;
}

test('serve answers the same JSON on PostgreSQL as on SQLite', { skip }, async (t) => {
  const d = await oneRunEach(t, pg, TREE, 4);
  const servers = [];
  for (const side of [d.local, d.remote]) {
    const srv = await startServe(side.args[1], side.args.slice(2));
    t.after(() => srv.stop());
    side.port = srv.port;
    servers.push(srv);
  }
  assert.match(servers[1].out(), /^serving postgres:\/\/\S+ at http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl-C to stop\)\n$/);
  const get = async (path) => {
    const out = [];
    for (const side of [d.local, d.remote]) out.push(normalApi(side, await getJson(side.port, path(side))));
    assert.deepEqual(out[1], out[0], path(d.local));
    return out[0];
  };
  // The overview, once its counts are in (computed aside on both).
  for (const side of [d.local, d.remote]) {
    for (let n = 0; !(await getJson(side.port, '/api/overview')).status.status; n++) {
      assert.ok(n < 200, 'the counts never came');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const ov = await get(() => '/api/overview');
  assert.deepEqual(
    ov.tasks.map((x) => x.name),
    ['split', 'count', 'total'],
  );
  assert.equal(ov.status.status.tasks[1].done, 8);
  await get(() => '/api/task/count');
  const steps = await get(() => '/api/task/count/steps?status=done');
  assert.equal(steps.steps.length, 8);
  const idOf = (side, label) => [...side.labels].find(([, l]) => l === label)[0];
  const detail = await get((side) => `/api/step/${idOf(side, steps.steps[0].id)}`);
  assert.equal(detail.upstream[0].task, 'split');
  const total = JSON.parse(d.local.run(['ls', '-task', 'total', '-json']).stdout)[0].hash;
  await get(() => `/api/object/${total}`);
  const tree = await get(() => `/api/lineage/${total}?width=20`);
  assert.equal(tree.root.producers[0].task, 'total');
  const found = await get(() => `/api/search?q=f001.txt`);
  assert.ok(found.outputs.length > 0);
  await get(() => `/api/search?q=${total.slice(0, 6)}`);
  const raw = await request(d.remote.port, `/raw/${total}`);
  assert.equal(raw.status, 200);
  assert.deepEqual(raw.body, (await request(d.local.port, `/raw/${total}`)).body);
  const missing = await request(d.remote.port, '/api/task/nosuch');
  assert.equal(missing.status, 404);
  assert.match(missing.text, /no task \\"nosuch\\" in postgres:\/\/\S+; its tasks: count, split, total/);
});

test('serve on PostgreSQL needs -store, and says so in one line', { skip }, async () => {
  const r = cli(['serve', '-db', await pg.newDb()]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'task-pipeline: serve: -db postgres://... needs -store DIR, where its objects are\n');
  const empty = cli(['serve', '-db', await pg.newDb(), '-store', '/nonexistent']);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no pipeline db here; run a manifest with -db postgres:\/\/\S+ -store DIR first\n$/);
});
