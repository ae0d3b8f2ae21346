// The inspection commands that came to PostgreSQL last (status -all, ls -all, audit, and lineage
// batched per level of the tree; serve: pg-serve.test.js), each compared with SQLite's answer on the same pipeline, and the
// errors a user can meet there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, openDb, snapshot } from './helpers.js';
import { both, ENV, MANIFEST, normalJson, oneRunEach, relabel, TREE, twoDbs } from './pg-compare.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const skip = missing ?? false;

/** twoDbs, then a third run on both with `count` edited: its first version becomes history. */
async function withHistory(t) {
  const d = await twoDbs(t, pg);
  d.w.write('m.toml', MANIFEST.replace('wc -c < "$INPUT_FILE"', 'wc -l < "$INPUT_FILE"'));
  for (const side of [d.local, d.remote]) {
    const r = cli(['-manifest', d.w.path('m.toml'), ...side.args, '-quiet'], { env: ENV });
    assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
  }
  await relabel(d, pg);
  return d;
}

/**
 * status as text, what both engines must agree on: the task rows without the cpu and peak RSS
 * columns (measured anew by every run), the "new version" lines, the run line without its time.
 * The disk line and PostgreSQL's leases are the engine's own.
 */
function statusText(text) {
  const lines = text.split('\n');
  // Columns are aligned: the cpu column starts where its header does, in every row.
  const cut = / cpu /.test(lines[0]) ? lines[0].indexOf(' cpu ') : Infinity;
  const out = [];
  for (const line of lines) {
    if (line.startsWith('disk: ') || line.startsWith('lease ') || line === 'no workers yet') break;
    if (line.startsWith('  new version') || line === '') out.push(line);
    else if (line.startsWith('latest run ')) out.push(line.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, 'T'));
    else out.push(line.slice(0, cut).trim().replace(/\s+/g, ' '));
  }
  return out.join('\n');
}

const MEASURED = new Set(['cpuMs', 'cpuUserMs', 'cpuSysMs', 'maxRssKb', 'startedAt', 'finishedAt']);

/** status -json without what each run measures anew, the disk (the engine's own) and the leases. */
function statusJson(text) {
  const { disk: _disk, leases: _leases, ...s } = JSON.parse(text);
  // Task ids too: PostgreSQL's sequence moves on when two processes register the same version.
  const drop = (o) => Object.fromEntries(Object.entries(o).filter(([k]) => !MEASURED.has(k) && k !== 'taskId'));
  return { ...s, latestRun: drop(s.latestRun), tasks: s.tasks.map(drop) };
}

test('status -all and ls -all answer the same on PostgreSQL as on SQLite, history included', { skip }, async (t) => {
  const d = await withHistory(t);
  for (const args of [['status'], ['status', '-all']]) {
    const [local, remote] = [d.local, d.remote].map((side) => {
      const r = side.run(args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    });
    assert.equal(statusText(remote), statusText(local), args.join(' '));
    const json = [d.local, d.remote].map((side) => statusJson(side.run([...args, '-json']).stdout));
    assert.deepEqual(json[1], json[0], `${args.join(' ')} -json`);
    // PostgreSQL adds its processes: the run's coordinator, and the two workers of the first runs.
    assert.match(remote, /^ +\d+ +worker +\S+ +\d+ +ended +2 /m);
    assert.match(remote, /^disk: .*shard directories/m);
    assert.doesNotMatch(remote, /SQLite/);
  }
  const all = statusText(d.remote.run(['status', '-all']).stdout);
  // count's first version is listed, marked old, with its steps; the current one says what changed.
  assert.match(all, /^count \S+ old 0 0 [1-9]\d* 0 0 0 [1-9]/m);
  assert.match(all, /^ {2}new version \(was \S+\): script$/m);
  assert.match(statusText(d.remote.run(['status']).stdout), /history hidden/);
  // ls -all: the outputs of both versions of count, as text and as JSON (step ids as labels).
  const listed = both(d, ['ls', '-task', 'count', '-all']);
  assert.equal(listed.split('\n').filter((l) => l.startsWith('a.txt.n ')).length, 2);
  const json = [d.local, d.remote].map((side) =>
    normalJson(side, side.run(['ls', '-task', 'count', '-all', '-json']).stdout).map((o) => ({
      ...o,
      step: side.labels.get(o.step),
    })),
  );
  assert.deepEqual(json[1], json[0]);
  // Without -store, status on PostgreSQL has no disk line (its metadata's disk is the server's).
  const noStore = cli(['status', '-all', '-db', d.url]);
  assert.equal(noStore.code, 0, noStore.stderr);
  assert.doesNotMatch(noStore.stdout, /^disk:/m);
  assert.equal(JSON.parse(cli(['status', '-json', '-db', d.url]).stdout).disk, null);
  const unknown = cli(['ls', '-all', '-task', 'cont', '-db', d.url]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^task-pipeline: no task "cont" in postgres:\/\/\S+ \(did you mean "count"\?\)\n$/);
});

test('status -all and ls -all on an empty PostgreSQL db say to run a manifest first', { skip }, async () => {
  const empty = await pg.newDb();
  for (const args of [
    ['status', '-all'],
    ['ls', '-all', '-task', 'count'],
  ]) {
    const r = cli([...args, '-db', empty]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(
      r.stderr,
      /^task-pipeline: .*no pipeline db here; run a manifest with -db postgres:\/\/\S+ -store DIR first\n$/,
    );
  }
});

test('lineage reads a level of the tree at a time and draws the same tree on both engines', { skip }, async (t) => {
  const d = await oneRunEach(t, pg, TREE, 20);
  const total = JSON.parse(d.local.run(['ls', '-task', 'total', '-json']).stdout)[0].hash;
  // An object made by one step: where equal bytes have several producers, they come in step id order,
  // and the engines number steps in another order.
  const part = JSON.parse(d.local.run(['ls', '-task', 'split', '-json']).stdout).find(
    (o) => o.name === 'f001.txt.2',
  ).hash;
  for (const flags of [['-width', '100'], [], ['-width', '100', '-limit', '25'], ['-depth', '2'], ['-width', '3']]) {
    const tree = both(d, ['lineage', total, ...flags]);
    both(d, ['lineage', total, ...flags, '-json'], { json: true });
    if (flags.length === 2 && flags[1] === '100') {
      // Every split step is drawn in full once, and "shown above" under its other part.
      assert.equal((tree.match(/<- split step [^\n]*shown above/g) ?? []).length, 20);
      assert.match(tree, /run input "f000\.txt"/);
    }
  }
  both(d, ['lineage', part]);
});

test('lineage: statements per level of the tree, not per step', { skip }, async (t) => {
  // SQLite through a Query that counts what it is asked: the same code that runs on PostgreSQL.
  const d = await oneRunEach(t, pg, TREE, 40);
  const { lineage } = await import('../dist/store/inspect/lineage.js');
  const { sqliteQuery } = await import('../dist/store/inspect/sqlite-query.js');
  const { findObject } = await import('../dist/store/inspect/find-object.js');
  const raw = await openDb(d.w.db);
  t.after(() => raw.close());
  const real = sqliteQuery(raw);
  let statements = 0;
  const counted = {
    ...real,
    all: (...a) => (statements++, real.all(...a)),
    get: (...a) => (statements++, real.get(...a)),
  };
  const db = { q: counted, store: d.w.db, name: d.w.db, dbArgs: '' };
  const total = JSON.parse(d.local.run(['ls', '-task', 'total', '-json']).stdout)[0].hash;
  const tree = await lineage(db, await findObject(db, total), { depth: 30, width: 200, maxSteps: 1000 });
  // 121 steps in three levels (total, 80 counts, 40 splits, each drawn once): a few statements per level.
  assert.equal(tree.steps, 121);
  assert.ok(statements < 30, `${statements} statements for ${tree.steps} steps`);
});

const NOISY = `
[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME"'

[[task]]
name = "noisy"
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/same"; head -c 16 /dev/urandom > "$OUTPUT_DIR/random"'
`;

test('audit re-runs done steps aside on PostgreSQL as on SQLite, and writes nothing there', { skip }, async (t) => {
  const d = await oneRunEach(t, pg, NOISY, 3);
  const rows = () =>
    pg.query(
      d.url,
      `SELECT (SELECT count(*) FROM step) AS steps, (SELECT count(*) FROM attempt) AS attempts,
              (SELECT count(*) FROM object) AS objects, (SELECT max(id) FROM run) AS runs`,
    );
  const before = { rows: await rows(), store: snapshot(d.store) };
  const out = [d.local, d.remote].map((side) => {
    const r = side.run(['audit', '-manifest', d.w.path('m.toml'), '-sample', 'all', '-seed', '7']);
    assert.equal(r.code, 1, r.stderr);
    return r.stdout.replace(/step \d+/g, 'step N');
  });
  assert.equal(out[1], out[0]);
  assert.match(out[0], /^audit: seed 7 \(again with -seed 7\)$/m);
  assert.match(out[0], /^upper: deterministic on 3\/3 \(of 3 done\)$/m);
  assert.match(out[0], /^noisy: NOT deterministic: 3 of 3 re-run steps differ$/m);
  assert.match(out[0], /^ {2}step N: outputs differ: random$/m);
  // One task, a sample of one: deterministic, exit 0.
  const one = d.remote.run(['audit', '-manifest', d.w.path('m.toml'), '-task', 'upper', '-sample', '1']);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^upper: deterministic on 1\/1 \(of 3 done\)$/m);
  assert.deepEqual(await rows(), before.rows);
  assert.deepEqual(snapshot(d.store), before.store);
  // The errors a user meets: no -store, a task the manifest does not have.
  const noStore = cli(['audit', '-manifest', d.w.path('m.toml'), '-db', d.url]);
  assert.equal(noStore.code, 2);
  assert.equal(noStore.stderr, 'task-pipeline: audit: -db postgres://... needs -store DIR, where its objects are\n');
  const unknown = d.remote.run(['audit', '-manifest', d.w.path('m.toml'), '-task', 'nosuch']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^task-pipeline: audit: -task nosuch: no task of that name in \S+m\.toml\n$/);
});
test('the dialect shim turns a JSON list parameter into PostgreSQL rows', async () => {
  const { toPostgres } = await import('../dist/store/postgres/pg-dialect.js');
  assert.equal(
    toPostgres(
      `SELECT s.id FROM json_each(:ids) j CROSS JOIN step s ON s.id = CAST(j.value AS INTEGER) JOIN json_each(:names) n ON n.key = j.key`,
      { ids: '[1]', names: '["a"]' },
    ).text,
    `SELECT s.id FROM json_array_elements_text($1::json) WITH ORDINALITY AS j(value, key) JOIN step s ON s.id = CAST(j.value AS bigint) JOIN json_array_elements_text($2::json) WITH ORDINALITY AS n(value, key) ON n.key = j.key`,
  );
});
