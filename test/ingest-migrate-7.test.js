// Schema 7 adds one index, idx_run_input_source (a directory's current run inputs, counted at each
// run that gives it again). A db of schema 6 (made here by dropping that index, as the engine before
// it left every db) is migrated by the next run, which finds the directory as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { cli, workspace } from './helpers.js';
import { SCHEMA_VERSION } from '../dist/store/schema.js';

const M = `
[[task]]
name = "count"
inputs = []
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

function run(ws) {
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

const plan = (d) =>
  d
    .prepare(`EXPLAIN QUERY PLAN SELECT count(*), sum(id) FROM run_input WHERE source = ? AND retired_at IS NULL`)
    .all('x')
    .map((r) => r.detail)
    .join('; ');

test('schema 6 -> 7: the next run adds the index of run inputs by directory, and the queries use it', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < 5; i++) ws.write(`in/f${i}.txt`, `file ${i}\n`);
  assert.match(run(ws), /5 new inputs/);
  const file = ws.path('db', 'pipeline.sqlite');
  let d = new Database(file);
  assert.equal(SCHEMA_VERSION, 7);
  assert.match(plan(d), /USING INDEX idx_run_input_source/);
  d.exec('DROP INDEX idx_run_input_source');
  d.pragma('user_version = 6');
  d.close();

  // An inspection command does not migrate: it names the schema it found.
  const status = cli(['status', '-db', ws.db]);
  assert.notEqual(status.code, 0);

  ws.write('in/f5.txt', 'file 5\n');
  const out = run(ws);
  assert.match(out, /1 new input/);
  d = new Database(file, { readonly: true });
  assert.equal(d.pragma('user_version', { simple: true }), 7);
  assert.match(plan(d), /USING INDEX idx_run_input_source/);
  d.close();
  assert.equal(cli(['status', '-db', ws.db]).code, 0);
  assert.match(run(ws), /0 steps run/);
});
