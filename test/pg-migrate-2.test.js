// PostgreSQL schema 2: the stat cache's tables, and the indexes that gc's deletes of object rows need for
// their foreign-key checks (a step found by its input object, a log by its hash). Migrated from a db of
// schema 1 that holds a run's rows.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, sha256, workspace } from './helpers.js';
import { postgresMissing, startPostgres } from './pg-cluster.js';
import { PgDb } from '../dist/store/postgres/pg-db.js';
import { migratePg, PG_SCHEMA_VERSION } from '../dist/store/postgres/pg-schema.js';
import pg from 'pg';

const missing = postgresMissing();
if (missing) console.log(`# skipped: ${missing}`);
const cluster = missing ? null : await startPostgres(after);
const skip = missing ?? false;

const M = `
[[task]]
name = "count"
inputs = []
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

/**
 * The plan PostgreSQL makes for the check a foreign key runs when an object row is deleted (a probe of
 * the column naming it), sequential scans made as dear as they go: what an index can serve, it does.
 */
async function fkCheckPlan(url, table, column) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('SET enable_seqscan = off');
    const r = await c.query(`EXPLAIN SELECT 1 FROM ${table} WHERE ${column} = $1`, [Buffer.alloc(32)]);
    return r.rows.map((x) => x['QUERY PLAN']).join('\n');
  } finally {
    await c.end();
  }
}

test('a schema 1 db with a run in it migrates to 2: its rows kept, the new indexes serve gc', { skip }, async (t) => {
  assert.equal(PG_SCHEMA_VERSION, 2);
  const ws = workspace(t);
  ws.write('m.toml', M);
  ws.write('in/a.txt', 'alpha\n');
  const url = await cluster.newDb();
  const store = ws.path('store');
  const db = new PgDb(url);
  try {
    assert.equal(await migratePg(db, 1), true);
  } finally {
    await db.close();
  }
  // A run's rows as schema 1 holds them: a task version, an input, its step done; and an object nothing names.
  const a = sha256('alpha\n');
  const orphan = sha256('orphan\n');
  await cluster.query(
    url,
    `INSERT INTO task(name, script, version, definition, created_at) VALUES ('old', 'true', 'v0', '{}', 1);
     INSERT INTO object(hash, size, created_at) VALUES (decode('${a}', 'hex'), 6, 1), (decode('${orphan}', 'hex'), 7, 1);
     INSERT INTO run(manifest, host, pid, started_at, finished_at, exit_code) VALUES ('m.toml', 'h', 1, 1, 2, 0);
     INSERT INTO run_input(name, object_hash, run_id) VALUES ('a.txt', decode('${a}', 'hex'), 1);
     INSERT INTO step(task, object_hash, input_name, status, created_at) VALUES (1, decode('${a}', 'hex'), 'a.txt', 'done', 1);`,
  );
  assert.doesNotMatch(await fkCheckPlan(url, 'step', 'object_hash'), /step_object/);
  const st = cli(['status', '-db', url]);
  assert.equal(st.code, 2);
  assert.match(st.stderr, /schema version 1 is older than this engine's 2: run a manifest once/);

  const r = cli(['-manifest', ws.path('m.toml'), '-db', url, '-store', store, '-input', ws.path('in')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^count +1 +0 +0$/m);
  const meta = await cluster.query(url, `SELECT value FROM meta WHERE key = 'schema'`);
  assert.equal(meta[0].value, '2');
  const kept = await cluster.query(url, `SELECT input_name, status FROM step WHERE task = 1`);
  assert.deepEqual(kept, [{ input_name: 'a.txt', status: 'done' }]);
  for (const [table, column, index] of [
    ['step', 'object_hash', 'step_object'],
    ['step', 'log_hash', 'step_log'],
    ['attempt', 'log_hash', 'attempt_log'],
    ['run_input', 'object_hash', 'run_input_object'],
    ['input_stat', 'object_hash', 'input_stat_object'],
  ])
    assert.match(await fkCheckPlan(url, table, column), new RegExp(`Index (Only )?Scan (using|on) ${index}\\b`));
  const rows = await cluster.query(url, `SELECT path FROM input_stat`);
  assert.deepEqual(
    rows.map((x) => x.path),
    [ws.path('in', 'a.txt')],
  );
  // gc deletes the object row nothing names, the foreign keys checked through the indexes.
  const gc = cli(['gc', '-db', url, '-store', store]);
  assert.equal(gc.code, 0, gc.stdout + gc.stderr);
  const left = await cluster.query(url, `SELECT 1 FROM object WHERE hash = decode($1, 'hex')`, [orphan]);
  assert.deepEqual(left, []);
});
