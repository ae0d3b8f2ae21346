// A run on PostgreSQL with what a local run has (issue 19): the stat cache of -input (an unchanged file
// is not read again; any change a stat can show, or a clock tick can hide, is) and -rehash, -force and
// -dry-run, each against the same runs on SQLite where the meaning is shared (-report: pg-report.test.js).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { cli, objectPath, sha256, workspace } from './helpers.js';
import { HAS_STRACE, RACY_MARGIN_MS, settle as settleFiles, tracedRun } from './input-trace.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const pg = missing ? null : await startPostgres(after);
const skip = missing ?? false;
// A whole second in the past: utimes can put it back exactly.
const OLD = Math.floor(Date.now() / 1000) - 3600;

const M = `
[[task]]
name = "count"
inputs = []
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

/** A workspace with in/ holding `files`, and a fresh PostgreSQL db with its store. */
async function setup(t, files, manifest = M) {
  const ws = workspace(t);
  ws.write('m.toml', manifest);
  for (const [name, text] of Object.entries(files)) ws.write(`in/${name}`, text);
  const url = await pg.newDb();
  return { ws, url, db: ['-db', url, '-store', ws.path('store')] };
}

const runArgs = (c, extra = []) => ['-manifest', c.ws.path('m.toml'), ...c.db, '-input', c.ws.path('in'), ...extra];

function run(c, extra = []) {
  const r = cli(runArgs(c, extra));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

const settle = (ws, names) => settleFiles(names.map((n) => ws.path('in', n)));
const traced = (c, extra = []) => tracedRun(runArgs(c, extra), c.ws.path('openat.trace'));

/** One file, a.txt, last changed an hour ago, run once and trusted by its cache entry. */
async function settledOne(t) {
  const c = await setup(t, { 'a.txt': 'alpha\n' });
  const a = c.ws.path('in', 'a.txt');
  utimesSync(a, OLD, OLD);
  await settle(c.ws, ['a.txt']);
  run(c);
  return { c, a };
}

function currentHash(c, name) {
  const r = cli(['inputs', '-db', c.url, '-json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).find((i) => i.name === name)?.hash;
}

async function cacheRow(c, path) {
  const rows = await pg.query(c.url, `SELECT *, encode(object_hash, 'hex') AS hex FROM input_stat WHERE path = $1`, [
    path,
  ]);
  return rows[0];
}

/** Make the cache row of `path` describe the file as it is now (a change no stat could see), recorded at `recordedAt`. */
async function doctor(c, path, recordedAt) {
  const st = statSync(path, { bigint: true });
  await pg.query(
    c.url,
    `UPDATE input_stat SET size = $1, mtime_ns = $2, ctime_ns = $3, ino = $4, dev = $5,
            recorded_at = coalesce($6, recorded_at) WHERE path = $7`,
    [
      String(st.size),
      String(st.mtimeNs),
      String(st.ctimeNs),
      String(BigInt.asIntN(64, st.ino)),
      String(BigInt.asIntN(64, st.dev)),
      recordedAt,
      path,
    ],
  );
}

test(
  'an unchanged file is not read again: a re-run opens only the file that changed, then none',
  { skip: skip || (!HAS_STRACE && 'strace is missing') },
  async (t) => {
    const c = await setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'sub/c.txt': 'gamma\n' });
    await settle(c.ws, ['a.txt', 'b.txt', 'sub/c.txt']);
    assert.match(run(c), /^count +3 +/m);
    writeFileSync(c.ws.path('in', 'b.txt'), 'beta, longer\n');
    let r = traced(c);
    assert.match(r.stdout, /^count +1 +/m);
    assert.ok(r.opened.has(c.ws.path('in', 'b.txt')), 'the changed file is read');
    for (const n of ['a.txt', 'sub/c.txt'])
      assert.ok(!r.opened.has(c.ws.path('in', n)), `${n} was opened:\n${[...r.opened].join('\n')}`);
    assert.equal(currentHash(c, 'b.txt'), sha256('beta, longer\n'));
    // Settled, the directory is as its summary says: skipped whole, not a file opened.
    await settle(c.ws, ['b.txt']);
    run(c);
    r = traced(c);
    assert.match(r.stdout, /done: 0 steps run/);
    for (const n of ['a.txt', 'b.txt', 'sub/c.txt'])
      assert.ok(!r.opened.has(c.ws.path('in', n)), `${n} was opened:\n${[...r.opened].join('\n')}`);
  },
);

test('an edit that keeps the size and puts the mtime back is noticed: its ctime moved', { skip }, async (t) => {
  const { c, a } = await settledOne(t);
  const before = statSync(a, { bigint: true });
  // Trusted by the racy rule: recorded well after the file's last change. Only the stat can tell.
  const row = await cacheRow(c, a);
  assert.ok(BigInt(row.recorded_at) * 1_000_000n - BigInt(row.ctime_ns) > BigInt(RACY_MARGIN_MS) * 1_000_000n);
  assert.equal(row.hex, sha256('alpha\n'));
  writeFileSync(a, 'ALPHA\n');
  utimesSync(a, OLD, OLD);
  const after = statSync(a, { bigint: true });
  assert.deepEqual([after.size, after.mtimeNs, after.ino], [before.size, before.mtimeNs, before.ino]);
  assert.notEqual(after.ctimeNs, before.ctimeNs);
  assert.match(run(c), /^count +1 +/m);
  assert.equal(currentHash(c, 'a.txt'), sha256('ALPHA\n'));
});

test('a file replaced by another under the same name (renamed over it) is noticed', { skip }, async (t) => {
  const { c, a } = await settledOne(t);
  const other = c.ws.write('elsewhere/a.txt', 'omega\n');
  utimesSync(other, OLD, OLD);
  renameSync(other, a);
  assert.match(run(c), /^count +1 +/m);
  assert.equal(currentHash(c, 'a.txt'), sha256('omega\n'));
});

test('-rehash reads every file: a cache entry is believed without it, and set right with it', { skip }, async (t) => {
  const c = await setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
  await settle(c.ws, ['a.txt', 'b.txt']);
  run(c);
  if (HAS_STRACE) {
    const r = traced(c, ['-rehash']);
    assert.match(r.stdout, /done: 0 steps run/);
    for (const n of ['a.txt', 'b.txt']) assert.ok(r.opened.has(c.ws.path('in', n)), `${n} not read`);
  }
  // A lie in the cache (a.txt's row naming b.txt's bytes, of the same size) shows what a stat-only
  // re-run trusts; without the directory's summary, which would skip the directory whole.
  await pg.query(c.url, `UPDATE input_stat SET object_hash = decode($1, 'hex') WHERE path = $2`, [
    sha256('bravo\n'),
    c.ws.path('in', 'a.txt'),
  ]);
  const gone = await pg.query(c.url, `DELETE FROM input_dir_summary WHERE dir = $1 RETURNING dir`, [c.ws.path('in')]);
  assert.equal(gone.length, 1);
  run(c);
  assert.equal(currentHash(c, 'a.txt'), sha256('bravo\n'));
  run(c, ['-rehash']);
  assert.equal(currentHash(c, 'a.txt'), sha256('alpha\n'));
  assert.equal((await cacheRow(c, c.ws.path('in', 'a.txt'))).hex, sha256('alpha\n'));
});

test(
  'racy: a change in the clock tick of the cached stat is read again, because it was recorded too soon after',
  { skip },
  async (t) => {
    const c = await setup(t, { 'a.txt': 'alpha\n' });
    const a = c.ws.path('in', 'a.txt');
    utimesSync(a, OLD, OLD);
    run(c);
    writeFileSync(a, 'ALPHA\n');
    utimesSync(a, OLD, OLD);
    // The row made to match the file as it is now: only the margin between change and recording can tell.
    await doctor(c, a, null);
    assert.match(run(c), /^count +1 +/m);
    assert.equal(currentHash(c, 'a.txt'), sha256('ALPHA\n'));
    // The control: the same invisible change, in a row recorded well after it, is believed.
    writeFileSync(a, 'alpHA\n');
    utimesSync(a, OLD, OLD);
    const ctimeMs = Number(statSync(a, { bigint: true }).ctimeNs / 1_000_000n);
    await doctor(c, a, ctimeMs + RACY_MARGIN_MS + 1);
    assert.match(run(c), /done: 0 steps run/);
    assert.equal(currentHash(c, 'a.txt'), sha256('ALPHA\n'));
  },
);

test(
  'the entries of files gone from a directory given again are dropped; the inputs stay current and are named',
  { skip },
  async (t) => {
    const c = await setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'c.txt': 'gamma\n' });
    run(c);
    unlinkSync(c.ws.path('in', 'b.txt'));
    const out = run(c);
    assert.match(out, /1 current input is no longer in the directories given \("b\.txt"\)/);
    const rows = await pg.query(c.url, `SELECT path FROM input_stat ORDER BY path`);
    assert.deepEqual(
      rows.map((r) => r.path),
      [c.ws.path('in', 'a.txt'), c.ws.path('in', 'c.txt')],
    );
    assert.equal(currentHash(c, 'b.txt'), sha256('beta\n'));
  },
);

test(
  'an entry whose object gc deleted goes with it: giving the file again restores the object',
  { skip },
  async (t) => {
    const c = await setup(t, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
    await settle(c.ws, ['a.txt', 'b.txt']);
    run(c);
    assert.equal(cli(['inputs', 'rm', '-db', c.url, 'a.txt']).code, 0);
    const gc = cli(['gc', ...c.db, '-history']);
    assert.equal(gc.code, 0, gc.stdout + gc.stderr);
    const obj = objectPath(c.ws.path('store'), sha256('alpha\n'));
    assert.equal(existsSync(obj), false, 'gc took the object');
    assert.equal(await cacheRow(c, c.ws.path('in', 'a.txt')), undefined, 'its entry went with its object row');
    assert.match(run(c), /^count +1 +/m);
    assert.equal(readFileSync(obj, 'utf8'), 'alpha\n');
    const fsck = cli(['fsck', ...c.db]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  },
);

/** A run's output with what differs between two dbs taken out: the db's name, the objects counted, the time. */
function norm(text, name) {
  return text
    .replaceAll(name, 'DB')
    .replace(/; \d+ objects? added \([^)]*\)/, '; N objects added')
    .replace(/; [\d.]+ ?m?s$/m, '; TIME');
}

/** The same commands on a local db and on PostgreSQL: each side's args and the name its messages use. */
async function bothDbs(t, manifest, files) {
  const c = await setup(t, files, manifest);
  const local = { db: ['-db', c.ws.db], name: c.ws.db };
  const remote = { db: c.db, name: c.url };
  const both = (extra, code = 0) =>
    [local, remote].map((side) => {
      const r = cli(['-manifest', c.ws.path('m.toml'), ...side.db, ...extra]);
      assert.equal(r.code, code, `${side.db[1]}: ${r.stdout}${r.stderr}`);
      return { out: norm(r.stdout, side.name), err: norm(r.stderr, side.name) };
    });
  return { ...c, both };
}

test('the same runs on SQLite and PostgreSQL say the same: new, replaced, missing and -rehash', { skip }, async (t) => {
  const c = await bothDbs(t, M, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'c.txt': 'gamma\n' });
  const input = ['-input', c.ws.path('in')];
  const steps = [
    () => undefined,
    () => writeFileSync(c.ws.path('in', 'b.txt'), 'beta, longer\n'),
    () => unlinkSync(c.ws.path('in', 'c.txt')),
    () => writeFileSync(c.ws.path('in', 'd.txt'), 'delta\n'),
  ];
  for (const [i, change] of steps.entries()) {
    change();
    const [sqlite, postgres] = c.both(input);
    assert.equal(postgres.out, sqlite.out, `run ${i + 1}`);
  }
  const [sqlite, postgres] = c.both([...input, '-rehash']);
  assert.equal(postgres.out, sqlite.out);
  assert.match(postgres.out, /done: 0 steps run/);
});

// A chain: upper over every input, size over each of its outputs.
const CHAIN = `
[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME"'

[[task]]
name = "size"
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

test('-force runs the current done steps again, as on SQLite; an unknown task is refused', { skip }, async (t) => {
  const c = await bothDbs(t, CHAIN, {
    'web1.log': 'web1\n',
    'web2.log': 'web2\n',
  });
  const input = ['-input', c.ws.path('in')];
  let [sqlite, postgres] = c.both(input);
  assert.equal(postgres.out, sqlite.out);
  [sqlite, postgres] = c.both([...input, '-force', 'upper']);
  assert.equal(postgres.out, sqlite.out);
  assert.match(postgres.out, /^upper +2 +0 +0$/m);
  assert.match(postgres.out, /-force upper: 2 done steps ran again; outputs that came out the same/);
  // The same outputs: nothing new downstream.
  assert.match(postgres.out, /^size +0 +/m);
  const steps = await pg.query(
    c.url,
    `SELECT count(*)::int AS n FROM attempt a JOIN step s ON s.id = a.step_id JOIN task t ON t.id = s.task
      WHERE t.name = 'upper'`,
  );
  assert.equal(steps[0].n, 4, 'each upper step has two attempts');
  const r = cli(['-manifest', c.ws.path('m.toml'), ...c.db, ...input, '-force', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^task-pipeline: -force nope: no task of that name in .*m\.toml\n$/);
});

test('-dry-run says what a run would do, as on SQLite, and writes nothing', { skip }, async (t) => {
  const c = await bothDbs(t, CHAIN, { 'web1.log': 'web1\n' });
  const input = ['-input', c.ws.path('in')];
  const tables = async () =>
    pg.query(c.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
  let [sqlite, postgres] = c.both([...input, '-n']);
  assert.equal(postgres.out, sqlite.out);
  assert.match(postgres.out, /^dry run: nothing was written$/m);
  assert.match(postgres.out, /^upper +1 +new task; 1 new and 0 replaced inputs$/m);
  assert.deepEqual(await tables(), [], 'not even the schema');
  assert.equal(existsSync(c.ws.path('store')), false);

  c.both([...input, '-quiet']);
  c.ws.write('in/web2.log', 'web2\n');
  c.ws.write('m.toml', CHAIN.replace('wc -c', 'wc -m'));
  const dump = async () =>
    JSON.stringify(
      await Promise.all(
        ['task', 'step', 'run', 'run_input', 'object', 'step_output', 'current_task', 'meta', 'lease'].map((table) =>
          pg.query(c.url, `SELECT * FROM ${table} ORDER BY 1, 2`),
        ),
      ),
    );
  const before = await dump();
  [sqlite, postgres] = c.both([...input, '-dry-run', '-force', 'upper']);
  assert.equal(postgres.out, sqlite.out);
  assert.match(postgres.out, /^upper +2 +1 new and 0 replaced inputs; -force: 1 done steps$/m);
  assert.match(postgres.out, /^size +1\+ +new version \(script\); then what upper produces$/m);
  assert.equal(await dump(), before);
  const r = cli(['-manifest', c.ws.path('m.toml'), ...c.db, ...input, '-n', '-force', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /-force nope: no task of that name in /);
});
