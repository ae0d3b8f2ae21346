// A db of schema 5 (hashes as 64-character hex text), made by that engine and kept as a fixture
// with what its inspection commands printed then (expected/), is migrated by the next run to 32-byte
// BLOBs: every command prints what it printed before, and the run finds nothing to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, openDb, workspace, ROOT } from './helpers.js';
import { SCHEMA_VERSION } from '../dist/store/schema.js';

// The fixture: split -> upper -> total (a gather) over in/a.txt and in/b.txt. Run 1 failed upper
// on the line "bad" (step 5, exit 3); run 2 edited upper (its old version is history); run 3 gave
// a.txt with other bytes (the old run input retired, the old gather step superseded, one merged
// item); run 4 ran nothing. expected/ holds the commands' output after run 4.
const COMMANDS = {
  'status-all.json': ['status', '-all', '-json'],
  'ls-split.txt': ['ls', '-task', 'split'],
  'ls-upper.txt': ['ls', '-task', 'upper'],
  'ls-total.txt': ['ls', '-task', 'total'],
  'ls-split-all.json': ['ls', '-task', 'split', '-all', '-json'],
  'ls-upper-all.json': ['ls', '-task', 'upper', '-all', '-json'],
  'ls-total-all.json': ['ls', '-task', 'total', '-all', '-json'],
  'lineage-all.txt': ['lineage', 'bcb55af890f0741a76de9c5b3dc3e0fb7e96b353d1613bfaf826c6ef9b0ede6b'],
  'show-all.txt': ['show', 'bcb55a'],
  'cat-all.txt': ['cat', 'bcb55'],
  'show-empty.txt': ['show', 'e3b0c4'],
  'show-log-5.txt': ['show', '7dd8c50e'],
  'log-5.txt': ['log', '5'],
  'log-14.txt': ['log', '14'],
  'inputs-all.txt': ['inputs', '-all'],
};

test('a schema-5 db: the next run stores every hash as 32 bytes, and every command prints what it printed before', async (t) => {
  const ws = workspace(t, 'tp-migrate6-');
  execFileSync('tar', ['-xzf', join(ROOT, 'test/fixtures/schema5-db.tar.gz'), '-C', ws.dir]);
  const inspect = (args) => cli([...args.slice(0, 1), '-db', 'db', ...args.slice(1)], { cwd: ws.dir });
  const before = await openDb(ws.db);
  assert.equal(before.pragma('user_version', { simple: true }), 5);
  assert.equal(before.prepare('SELECT typeof(object_hash) FROM step LIMIT 1').pluck().get(), 'text');
  before.close();

  // Inspection reads, never migrates: one line asking for a run, and the file is left as it was.
  const file = ws.path('db', 'pipeline.sqlite');
  const bytes = readFileSync(file);
  const early = inspect(['status']);
  assert.equal(early.code, 2);
  assert.match(
    early.stderr,
    /^task-pipeline: .*schema version 5 is older than this engine's \d+: run the manifest once/,
  );
  assert.ok(readFileSync(file).equals(bytes), 'status left the db file as it was');

  const r = cli(['-manifest', 'm.toml', '-db', 'db'], { cwd: ws.dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /done: 0 steps run, 0 reused, 0 failed; 0 objects added/);

  const after = await openDb(ws.db);
  assert.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  for (const [table, column] of [
    ['object', 'hash'],
    ['step', 'object_hash'],
    ['step_output', 'object_hash'],
    ['run_input', 'object_hash'],
    ['input_stat', 'object_hash'],
    ['attempt', 'log_hash'],
  ]) {
    const kinds = after.prepare(`SELECT DISTINCT typeof(${column}), length(${column}) FROM ${table}`).raw().all();
    assert.deepEqual(kinds, [['blob', 32]], `${table}.${column}`);
  }
  assert.deepEqual(
    after
      .prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'idx_%' ORDER BY name`)
      .pluck()
      .all(),
    [
      'idx_attempt_log',
      'idx_run_input_current',
      'idx_run_input_object',
      'idx_run_input_source',
      'idx_step_done',
      'idx_step_link_to',
      'idx_step_output_object',
      'idx_step_task',
    ],
  );
  after.close();

  for (const [name, args] of Object.entries(COMMANDS)) {
    const got = inspect(args);
    assert.equal(got.code, 0, `${args.join(' ')}: ${got.stderr}`);
    const want = readFileSync(ws.path('expected', name), 'utf8');
    if (name === 'status-all.json') {
      // The latest run is the migrating one now; everything else is as it was.
      const strip = (text) => ({ ...JSON.parse(text), latestRun: null, disk: null });
      assert.deepEqual(strip(got.stdout), strip(want), name);
      assert.equal(JSON.parse(got.stdout).latestRun.id, 5);
    } else {
      assert.equal(got.stdout, want, name);
    }
  }
  assert.match(inspect(['fsck']).stdout, /0 corrupt, 0 missing, 0 stray; ok/);
  assert.match(cli(['-manifest', 'm.toml', '-db', 'db'], { cwd: ws.dir }).stdout, /done: 0 steps run/);
});
