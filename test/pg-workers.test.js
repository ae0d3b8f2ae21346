// Many machines on one: a real PostgreSQL cluster (pg-cluster.js), a shared store directory, a
// coordinating run and `task-pipeline worker` processes, with real kill -9, SIGSTOP and a
// server restart in the middle of the work.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliSpawn, exited, snapshot, workspace } from './helpers.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
// One cluster for the file, a fresh database per test.
const pg = missing ? null : await startPostgres(after);

// Short leases and polls, so that a dead worker's steps come back within the test.
const ENV = { TASK_PIPELINE_LEASE_MS: '1500', TASK_PIPELINE_POLL_MS: '50' };

/** A chain with a tool from `files`, and a gather; every script run appends its item to a side file. */
function pipeline(w, { sleep = '0', n = 24 } = {}) {
  chmodSync(w.write('tools/tag.sh', '#!/bin/sh\nprintf "tagged:%s\\n" "$1"\n'), 0o755);
  w.write(
    'm.toml',
    `
[[task]]
name = "upper"
files = ["tools/tag.sh"]
script = '''
echo "upper $INPUT_NAME" >> ${JSON.stringify(w.path('runs'))}
sleep ${sleep}
tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME"
./tools/tag.sh "$INPUT_NAME" >> "$OUTPUT_DIR/$INPUT_NAME"
'''

[[task]]
name = "count"
script = '''
echo "count $INPUT_NAME" >> ${JSON.stringify(w.path('runs'))}
wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.n"
'''

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* | awk "{s+=\\$1} END {print s}" > "$OUTPUT_DIR/total"'
`,
  );
  for (let i = 0; i < n; i++) w.write(`in/f${String(i).padStart(3, '0')}.txt`, `line ${i} ${'x'.repeat(i)}\n`);
}

/** A CLI process in the background, killed when the test ends whatever happened. */
function background(t, args, env = ENV) {
  const child = cliSpawn(args, { env });
  t.after(() => child.kill('SIGKILL'));
  return { child, done: exited(child) };
}

function worker(t, url, store, parallel = 2, env = ENV) {
  return background(t, ['worker', '-db', url, '-store', store, '-parallel', String(parallel)], env);
}

async function until(fn, what, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    // Before the run has made the schema, a query fails: not yet.
    const v = await fn().catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Lines of the side file per "task item": how many times each script ran. */
function runs(w) {
  const counts = new Map();
  if (!existsSync(w.path('runs'))) return counts;
  for (const line of readFileSync(w.path('runs'), 'utf8').split('\n').filter(Boolean))
    counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

async function doneSteps(url) {
  const rows = await pg.query(
    url,
    `SELECT t.name || ' ' || s.input_name AS k FROM step s JOIN task t ON t.id = s.task WHERE s.status = 'done'`,
  );
  return rows.map((r) => r.k);
}

/** Every step done exactly once: one done attempt each, none refused, no failures. */
async function assertExactlyOnce(url) {
  const rows = await pg.query(
    url,
    `SELECT s.id, s.status, (SELECT count(*) FROM attempt a WHERE a.step_id = s.id AND a.status = 'done') AS n FROM step s`,
  );
  for (const r of rows) {
    assert.equal(r.status, 'done', `step ${r.id} is ${r.status}`);
    assert.equal(Number(r.n), 1, `step ${r.id} committed ${r.n} times`);
  }
}

test('SQLite and PostgreSQL with 3 workers give byte-identical exports', { skip: missing ?? false }, async (t) => {
  const w = workspace(t);
  pipeline(w);
  const local = cli(['-manifest', w.path('m.toml'), '-db', w.db, '-input', w.path('in'), '-quiet']);
  assert.equal(local.code, 0, local.stderr);
  const url = await pg.newDb();
  const store = w.path('store');
  const workers = [1, 2, 3].map(() => worker(t, url, store));
  const run = cli(
    ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-parallel', '1'],
    {
      env: ENV,
    },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /done: 49 steps run, 0 reused, 0 failed/);
  for (const task of ['upper', 'count', 'total']) {
    const a = cli(['export', '-db', w.db, '-task', task, '-out', w.path(`sqlite-${task}`)]);
    const b = cli(['export', '-db', url, '-store', store, '-task', task, '-out', w.path(`pg-${task}`)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const strip = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.replace(/ \S+ /, ' ')]));
    assert.deepEqual(strip(snapshot(w.path(`pg-${task}`))), strip(snapshot(w.path(`sqlite-${task}`))), task);
  }
  assert.equal(readFileSync(w.path('pg-total/total'), 'utf8'), readFileSync(w.path('sqlite-total/total'), 'utf8'));
  // The workers did steps, with the task's file copied beside them; status shows them.
  const st = cli(['status', '-db', url]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /^upper +\S+ +0 +0 +24 +0 /m);
  assert.match(st.stdout, /^ +\d+ +worker +\S+ +\d+ +live +2 +0 +\d+ +[\d.]+s ago +[\d.]+s$/m);
  const byWorker = await pg.query(url, `SELECT steps_done FROM lease WHERE kind = 'worker'`);
  assert.ok(
    byWorker.some((r) => Number(r.steps_done) > 0),
    'no worker ran a step',
  );
  // A re-run finds everything done: nothing runs again.
  const again = cli(['-manifest', w.path('m.toml'), '-db', url, '-store', store], { env: ENV });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /done: 0 steps run/);
  await assertExactlyOnce(url);
  for (const x of workers) x.child.kill('SIGTERM');
  for (const x of workers) {
    const r = await x.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /worker stopped: \d+ steps done, 0 failed, 0 refused/);
  }
  assert.deepEqual(readdirSync(join(store, 'tmp')), []);
});

test(
  'kill -9 a worker mid-steps: its steps finish elsewhere, nothing committed runs twice',
  { skip: missing ?? false },
  async (t) => {
    const w = workspace(t);
    pipeline(w, { sleep: '0.4', n: 16 });
    const url = await pg.newDb();
    const store = w.path('store');
    const { done: coordDone } = background(
      t,
      ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-coordinate'],
      ENV,
    );
    const a = worker(t, url, store, 4);
    await until(async () => (await doneSteps(url)).length >= 4, 'worker A to finish some steps');
    const doneAtKill = await doneSteps(url);
    a.child.kill('SIGKILL');
    await a.done;
    const b = worker(t, url, store, 4);
    const r = await coordDone;
    assert.equal(r.code, 0, r.stderr);
    await assertExactlyOnce(url);
    const counts = runs(w);
    for (const k of doneAtKill) assert.equal(counts.get(k), 1, `${k} was committed, and ran again`);
    for (let i = 0; i < 16; i++) assert.ok(counts.get(`upper f${String(i).padStart(3, '0')}.txt`) >= 1);
    b.child.kill('SIGTERM');
    await b.done;
  },
);

test(
  'a worker paused past its lease cannot commit what another has done (fenced)',
  { skip: missing ?? false },
  async (t) => {
    const w = workspace(t);
    pipeline(w, { sleep: '1', n: 8 });
    const url = await pg.newDb();
    const store = w.path('store');
    const { child: coord, done: coordDone } = background(
      t,
      ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-coordinate'],
      ENV,
    );
    const a = worker(t, url, store, 4);
    // Any claim will do: A is paused holding it (how many it holds at once depends on the machine's pace).
    await until(
      async () => (await pg.query(url, `SELECT 1 FROM step WHERE status = 'running'`)).length >= 1,
      'claims',
    ).catch(async (e) => {
      a.child.kill('SIGTERM');
      coord.kill('SIGTERM');
      console.error('coordinator:', (await coordDone).stderr);
      console.error(
        'activity:',
        JSON.stringify(
          await pg
            .query(
              url,
              `SELECT pid, state, wait_event_type, wait_event, left(query, 200) q FROM pg_stat_activity WHERE datname IS NOT NULL`,
            )
            .catch(String),
        ),
      );
      const [ra, rs] = [
        await a.done,
        await pg.query(url, `SELECT status, count(*) FROM step GROUP BY 1`).catch(String),
      ];
      throw new Error(`${e.message}; steps ${JSON.stringify(rs)}; worker: ${ra.stderr}`);
    });
    a.child.kill('SIGSTOP');
    // Its scripts finish meanwhile; its lease expires; B reaps it and does everything.
    const b = worker(t, url, store, 4);
    const r = await coordDone;
    assert.equal(r.code, 0, r.stderr);
    a.child.kill('SIGCONT');
    const reaped = `SELECT 1 FROM lease WHERE pid = $1 AND state = 'expired'`;
    await until(async () => (await pg.query(url, reaped, [a.child.pid])).length === 1, 'A reaped');
    await new Promise((res) => setTimeout(res, 1000));
    a.child.kill('SIGTERM');
    const ra = await a.done;
    // A commits nothing: its commits are refused, or it learns from its heartbeat first that its lease
    // is gone and gives its steps up (which comes first after SIGCONT is the event loop's choice).
    assert.match(ra.stderr, /worker stopped: 0 steps done, 0 failed, \d+ refused \(lease lost\)/);
    await assertExactlyOnce(url);
    b.child.kill('SIGTERM');
    await b.done;
  },
);

test('kill -9 the coordinator: the worker goes on, the next run completes', { skip: missing ?? false }, async (t) => {
  const w = workspace(t);
  pipeline(w, { sleep: '0.3', n: 16 });
  const url = await pg.newDb();
  const store = w.path('store');
  const args = ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-parallel', '2'];
  const a = worker(t, url, store, 2);
  const { child: coord, done: coordDone } = background(t, [...args, '-input', w.path('in')], ENV);
  await until(async () => (await doneSteps(url)).length >= 4, 'some steps done');
  coord.kill('SIGKILL');
  await coordDone;
  const doneAtKill = await doneSteps(url);
  const again = cli(args, { env: ENV });
  assert.equal(again.code, 0, again.stderr);
  await assertExactlyOnce(url);
  const counts = runs(w);
  for (const k of doneAtKill) assert.equal(counts.get(k), 1, `${k} was committed, and ran again`);
  const total = cli(['ls', '-db', url, '-task', 'total']);
  assert.match(total.stdout, /^total\t[0-9a-f]{64}\t\d+\tlisting\n$/);
  a.child.kill('SIGTERM');
  await a.done;
});

test(
  'PostgreSQL restarted mid-run: the run completes, nothing committed twice',
  { skip: missing ?? false },
  async (t) => {
    const w = workspace(t);
    pipeline(w, { sleep: '0.2', n: 24 });
    const url = await pg.newDb();
    const store = w.path('store');
    const env = { ...ENV, TASK_PIPELINE_LEASE_MS: '8000' };
    const workers = [worker(t, url, store, 2, env), worker(t, url, store, 2, env)];
    const { done: coordDone } = background(
      t,
      ['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-parallel', '2'],
      env,
    );
    await until(async () => (await doneSteps(url)).length >= 6, 'some steps done');
    await pg.restart(800);
    const r = await coordDone;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /0 failed/);
    await assertExactlyOnce(url);
    const st = cli(['status', '-db', url]);
    assert.match(st.stdout, /^total +\S+ +0 +0 +1 +0 /m);
    for (const x of workers) x.child.kill('SIGTERM');
    for (const x of workers) {
      const d = await x.done;
      assert.equal(d.code, 0, d.stderr);
    }
  },
);

test('PostgreSQL usage errors are one clear line', { skip: missing ?? false }, async (t) => {
  const w = workspace(t);
  pipeline(w, { n: 2 });
  const url = await pg.newDb();
  const cases = [
    [['-manifest', w.path('m.toml'), '-db', url], /-db postgres:\/\/\.\.\. needs -store DIR/],
    [
      ['-manifest', w.path('m.toml'), '-db', w.db, '-store', w.path('s')],
      /-store and -coordinate go with -db postgres/,
    ],
    [['worker', '-db', w.db, '-store', w.path('s')], /worker: -db postgres:\/\/\.\.\. is required/],
    [['worker', '-db', url], /worker: -store DIR is required/],
    [['audit', '-db', url, '-manifest', w.path('m.toml')], /audit: -db postgres:\/\/\.\.\. needs -store DIR/],
    [['status', '-db', url], /no pipeline db here; run a manifest with -db/],
    [['status', '-db', pg.url('nosuchdb')], /cannot connect: .*nosuchdb/],
    [['export', '-db', url, '-task', 'upper', '-out', w.path('o')], /export: -db postgres:\/\/\.\.\. needs -store DIR/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args, { env: ENV });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // One coordinator per db: a second run is refused, naming the first.
  const { child: first, done: firstDone } = background(
    t,
    ['-manifest', w.path('m.toml'), '-db', url, '-store', w.path('s'), '-input', w.path('in'), '-coordinate'],
    ENV,
  );
  await until(
    async () => (await pg.query(url, `SELECT 1 FROM lease WHERE kind = 'coordinator'`).catch(() => [])).length > 0,
    'first run',
  );
  const second = cli(['-manifest', w.path('m.toml'), '-db', url, '-store', w.path('s')], { env: ENV });
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, new RegExp(`another run is using this db \\(pid ${first.pid} on `));
  first.kill('SIGINT');
  assert.equal((await firstDone).code, 130);
});
