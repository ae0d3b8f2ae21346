// The inspection commands on PostgreSQL against SQLite: one small pipeline (a chain, a gather, a failing
// step, a replaced input) run on both, then every command on both, the outputs compared once step ids,
// times and the object directory are normalised; and the errors that only PostgreSQL has.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync } from 'node:fs';
import { cli, objectPath, workspace } from './helpers.js';
import { both, ENV, hashOf, MANIFEST, normalJson, stop, twoDbs as twoDbsOn, worker } from './pg-compare.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const skip = missing ?? false;
const twoDbs = (t) => twoDbsOn(t, pg);

test('every inspection command answers the same on PostgreSQL as on SQLite', { skip }, async (t) => {
  const d = await twoDbs(t);
  // inputs: current and history (b.txt replaced), as text and JSON.
  both(d, ['inputs']);
  const all = both(d, ['inputs', '-all']);
  assert.match(all, /^Zed\.txt .*\na\.txt /m);
  assert.match(all, /b\.txt \S+ \S+ B run 1 replaced/);
  both(d, ['inputs', '-all', '-json'], { json: true });
  // cat: a full hash and a prefix; the bytes are the same.
  const total = hashOf(d, 'total', 'total');
  assert.equal(both(d, ['cat', total]), '34\n');
  both(d, ['cat', hashOf(d, 'upper', 'a.txt').slice(0, 8)]);
  // show: an output, a run input's old bytes (history), the empty object (every silent step's log).
  const oldB = JSON.parse(d.local.run(['inputs', '-all', '-json']).stdout).find(
    (i) => i.name === 'b.txt' && !i.current,
  ).hash;
  for (const h of [total, hashOf(d, 'upper', 'a.txt'), oldB]) {
    both(d, ['show', h]);
    both(d, ['show', h, '-json'], { json: true });
  }
  const aCount = hashOf(d, 'count', 'a.txt.n');
  both(d, ['show', aCount, '-limit', '1']);
  // lineage: through the gather back to the run inputs.
  const tree = both(d, ['lineage', total]);
  assert.match(tree, /a\.txt/);
  both(d, ['lineage', total, '-json'], { json: true });
  both(d, ['lineage', total, '-depth', '1']);
  // log: the failing step (its stderr, two attempts) and a done one.
  const failed = (side) => [...side.labels].find(([, l]) => l.startsWith('check:bad.txt:'))[0];
  const done = (side) => [...side.labels].find(([, l]) => l.startsWith('upper:a.txt:'))[0];
  for (const pick of [failed, done]) {
    const out = [d.local, d.remote].map((side) => {
      const r = side.run(['log', String(pick(side))]);
      assert.equal(r.code, 0, r.stderr);
      // Durations, times and peak RSS differ run to run; the attempt table's rows start with attempt numbers.
      return r.stdout
        .replace(/^(---\D*|step: +)\d+/gm, (_m, head) => `${head}ID`)
        .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T')
        .replace(/\d[\d.]* ?(ms|s|µs|B|KiB|MiB|GiB)\b/g, 'N')
        .replace(/ +/g, ' ');
    });
    assert.deepEqual(out[1], out[0]);
    const json = [d.local, d.remote].map((side) =>
      normalJson(side, side.run(['log', String(pick(side)), '-json']).stdout),
    );
    assert.deepEqual(json[1], json[0]);
  }
  assert.match(d.local.run(['log', String(failed(d.local))]).stdout, /cannot read bad\.txt/);
  // No worker may be writing an object while gc deletes: they are stopped first.
  const live = worker(t, d.url, d.store);
  for (
    let n = 0;
    (await pg.query(d.url, `SELECT 1 FROM lease WHERE kind = 'worker' AND state = 'live'`)).length === 0;
    n++
  ) {
    assert.ok(n < 400, 'the worker never took a lease');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(
    d.remote.run(['gc']).stderr,
    /^task-pipeline: gc: 1 worker is live on postgres:\/\/\S+ \(pid \d+ on [^)]+\): stop it \(Ctrl-C\) and run gc again\n$/,
  );
  await stop([live]);
  // fsck finds nothing; then the same object corrupted on both, and repaired.
  both(d, ['fsck']);
  for (const side of [d.local, d.remote]) {
    const p = objectPath(side.dir, aCount);
    chmodSync(p, 0o644);
    appendFileSync(p, 'x');
    chmodSync(p, 0o444);
  }
  both(d, ['fsck'], { code: 1 });
  const fixed = both(d, ['fsck', '-repair']);
  assert.match(fixed, /1 corrupt object moved to DIR\/damaged; 1 step that produced damaged objects is pending again/);
  // gc: nothing referenced goes; -history rehearsed, then done.
  const gcLines = (text) => text.split('\n').filter((l) => !l.startsWith('disk:'));
  const dryRuns = [d.local, d.remote].map((side) => side.run(['gc', '-dry-run']).stdout);
  assert.deepEqual(gcLines(dryRuns[1]), gcLines(dryRuns[0]));
  // The disk PostgreSQL's metadata takes is the server's: not counted under the store.
  assert.match(dryRuns[0], /^disk: .*, SQLite /m);
  assert.match(dryRuns[1], /^disk: \S+ \S+: objects [^,]+, \d+ shard directories [^,;]+; gc -history would free/m);
  const rehearsed = [d.local, d.remote].map((side) => gcLines(side.run(['gc', '-history', '-dry-run']).stdout));
  assert.deepEqual(rehearsed[1], rehearsed[0]);
  assert.match(
    rehearsed[0].join('\n'),
    /gc: would drop the history: [1-9]\d* steps, 0 old task versions, 1 replaced or retired input/,
  );
  const gone = [d.local, d.remote].map((side) => gcLines(side.run(['gc', '-history']).stdout));
  assert.deepEqual(gone[1], gone[0]);
  assert.match(gone[0].join('\n'), /gc: deleted [1-9]\d* object files?/);
  both(d, ['inputs', '-all']);
  both(d, ['fsck']);
  // inputs rm: retired on both, and the next run drops a.txt's results alike.
  assert.equal(
    both(d, ['inputs', 'rm', 'a.*']),
    'retired a.txt\ninputs rm: 1 input retired; the next run drops their results from the current graph\n',
  );
  both(d, ['inputs', '-all']);
  for (const side of [d.local, d.remote])
    assert.equal(cli(['-manifest', d.w.path('m.toml'), ...side.args, '-quiet'], { env: ENV }).code, 1);
  const counts = both(d, ['ls', '-task', 'count']);
  assert.doesNotMatch(counts, /a\.txt/);
  assert.match(counts, /b\.txt\.n/);
  both(d, ['cat', hashOf(d, 'total', 'total')]);
});

test('the errors PostgreSQL adds: no -store, a run holding the db, an unknown step', { skip }, async (t) => {
  const w = workspace(t);
  w.write('m.toml', MANIFEST);
  w.write('in/a.txt', 'alpha\n');
  const url = await pg.newDb();
  const store = w.path('store');
  const first = cli(['-manifest', w.path('m.toml'), '-db', url, '-store', store, '-input', w.path('in'), '-quiet'], {
    env: ENV,
  });
  assert.equal(first.code, 0, first.stderr);
  const hash = 'ab'.repeat(32);
  for (const args of [['cat', hash], ['show', hash], ['lineage', hash], ['log', '1'], ['fsck'], ['gc']]) {
    const r = cli([...args, '-db', url]);
    assert.equal(r.code, 2, args[0]);
    assert.equal(r.stderr, `task-pipeline: ${args[0]}: -db postgres://... needs -store DIR, where its objects are\n`);
  }
  const where = url.replace(/\?.*/, '');
  const noStep = cli(['log', '99', '-db', url, '-store', store]);
  assert.equal(noStep.code, 2);
  assert.match(noStep.stderr, /^task-pipeline: no step 99 in postgres:\/\/\S+ \(step ids go from 1 to \d+\)\n$/);
  assert.ok(noStep.stderr.includes(where));
  const noObject = cli(['cat', hash, '-db', url, '-store', store]);
  assert.equal(noObject.code, 2);
  assert.match(noObject.stderr, /^task-pipeline: no object (ab)+ in postgres:\/\/\S+\n$/);
  // A run holds the db (its advisory lock, taken here by hand): the writers refuse, the readers answer.
  const pgmod = (await import('pg')).default;
  const holder = new pgmod.Client({ connectionString: url });
  await holder.connect();
  t.after(() => holder.end());
  await holder.query('SELECT pg_advisory_lock($1)', [0x74700002]);
  for (const args of [
    ['inputs', 'rm', 'a.txt'],
    ['gc', '-store', store],
    ['fsck', '-repair', '-store', store],
  ]) {
    const r = cli([...args, '-db', url]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^task-pipeline: postgres:\/\/\S+: another run is using this db \(another process\); workers may join it: task-pipeline worker\n$/,
    );
  }
  assert.equal(cli(['inputs', '-db', url]).code, 0);
  const empty = cli(['inputs', '-db', await pg.newDb()]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no pipeline db here; run a manifest with -db postgres:\/\/\S+ -store DIR first\n$/);
});

test('the dialect shim: what the shared SQL becomes on PostgreSQL', async () => {
  const { toPostgres } = await import('../dist/store/postgres/pg-dialect.js');
  assert.deepEqual(
    toPostgres(
      `SELECT lower(hex(o.hash)) AS hash, s.id AS stepId FROM a o CROSS JOIN step s ON s.id = o.id WHERE o.hash = unhex(?) AND s.id > ? AND o.x <> x'00ff'`,
      ['ab', 3],
    ),
    {
      text: `SELECT encode(o.hash, 'hex') AS hash, s.id AS "stepId" FROM a o JOIN step s ON s.id = o.id WHERE o.hash = decode($1, 'hex') AND s.id > $2 AND o.x <> decode('00ff', 'hex')`,
      values: ['ab', 3],
    },
  );
  // Names sort bytewise on both, whatever the PostgreSQL db's collation.
  assert.equal(
    toPostgres('SELECT name FROM task ORDER BY name COLLATE BINARY').text,
    'SELECT name FROM task ORDER BY name COLLATE "C"',
  );
  // Named parameters keep one number each, in order of first use; a '?' or ':x' inside a literal stays.
  assert.deepEqual(toPostgres(`SELECT ':a?' WHERE x = :b AND y = :a AND z = :b`, { a: 1, b: 2 }), {
    text: `SELECT ':a?' WHERE x = $1 AND y = $2 AND z = $1`,
    values: [2, 1],
  });
  assert.equal(
    toPostgres(`CREATE TEMP TABLE IF NOT EXISTS t (hash BLOB PRIMARY KEY, n INTEGER) WITHOUT ROWID; DELETE FROM temp.t;
      INSERT OR IGNORE INTO temp.t(hash) SELECT hash FROM object`).text,
    `CREATE TEMP TABLE IF NOT EXISTS t (hash bytea PRIMARY KEY, n bigint) ; DELETE FROM pg_temp.t;
      INSERT INTO pg_temp.t(hash) SELECT hash FROM object ON CONFLICT DO NOTHING`,
  );
});
