// Ingest in bounded memory (issue 23): -input directories are walked a few entries at a time and
// ingested a batch at a time. Tiny batches (TASK_PIPELINE_INGEST_BATCH) must give exactly what one
// batch gives: the same run inputs, the same outputs, the same summary lines, whatever changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { cli, workspace } from './helpers.js';

const M = `
[[task]]
name = "count"
inputs = []
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;
const TINY = { TASK_PIPELINE_INGEST_BATCH: '3' };
const BIG = { TASK_PIPELINE_INGEST_BATCH: '100000' };

function run(ws, db, inputs, env) {
  const args = ['-manifest', ws.path('m.toml'), '-db', ws.path(db), '-parallel', '2'];
  for (const i of inputs) args.push('-input', ws.path(i));
  return cli(args, { env });
}

/** What a db holds as results: every run input (current and history) and the task's current outputs. */
function state(ws, db) {
  const inputs = JSON.parse(cli(['inputs', '-db', ws.path(db), '-all', '-json']).stdout).map((i) => [
    i.name,
    i.hash,
    i.current ?? i.retired ?? null,
  ]);
  const ls = cli(['ls', '-db', ws.path(db), '-task', 'count'])
    .stdout.split('\n')
    .sort();
  return { inputs: inputs.sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1)), ls };
}

/** The lines of a run's summary about inputs and steps (not its timings). */
const summaryLines = (out) =>
  out
    .split('\n')
    .filter((l) => /input|^count /.test(l))
    .map((l) => l.replace(/[\d.]+ ?(ms|s|KiB|MiB|B)\b/g, '#').replace(/-db \S+/, '-db DB'));

function both(ws, inputs) {
  const tiny = run(ws, 'db-tiny', inputs, TINY);
  const big = run(ws, 'db-big', inputs, BIG);
  assert.equal(tiny.code, 0, tiny.stdout + tiny.stderr);
  assert.equal(big.code, 0, big.stdout + big.stderr);
  assert.deepEqual(summaryLines(tiny.stdout), summaryLines(big.stdout));
  assert.deepEqual(state(ws, 'db-tiny'), state(ws, 'db-big'));
  return tiny.stdout;
}

test('batches of 3 give exactly what one batch gives: first run, an edit in the middle, files added and removed', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < 20; i++)
    ws.write(`in/${i < 10 ? 'a' : 'b/deep'}/f${String(i).padStart(2, '0')}.txt`, `file ${i}\n`);
  ws.write('one.txt', 'a file given alone\n');
  assert.match(both(ws, ['in', 'one.txt']), /21 new inputs/);
  assert.match(both(ws, ['in', 'one.txt']), /0 objects added/);

  // An edit in the middle of the walk (a middle batch), a file added, one removed, one renamed.
  writeFileSync(ws.path('in/a/f05.txt'), 'FILE 5, edited\n');
  ws.write('in/a/f05b.txt', 'new in the middle\n');
  unlinkSync(ws.path('in/b/deep/f13.txt'));
  renameSync(ws.path('in/b/deep/f17.txt'), ws.path('in/b/deep/f17-renamed.txt'));
  const out = both(ws, ['in', 'one.txt']);
  assert.match(out, /2 new inputs/);
  assert.match(out, /1 input replaced/);
  assert.match(
    out,
    /2 current inputs are no longer in the directories given \("b\/deep\/f13\.txt", "b\/deep\/f17\.txt"\)/,
  );
  // Given again unchanged: the same, including the names still missing.
  assert.match(both(ws, ['in', 'one.txt']), /2 current inputs are no longer in the directories given/);
});

test('a name two -input arguments claim is refused before anything is written, however late in the walk', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < 12; i++) ws.write(`one/f${String(i).padStart(2, '0')}.txt`, `one ${i}\n`);
  for (let i = 0; i < 12; i++) ws.write(`two/g${String(i).padStart(2, '0')}.txt`, `two ${i}\n`);
  ws.write('two/f11.txt', 'a clash at the very end\n');
  for (const env of [TINY, BIG]) {
    const r = run(ws, 'db', ['one', 'two'], env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(
      r.stderr,
      `task-pipeline: -input: two files would both be the input named "f11.txt": ${ws.path('one/f11.txt')} and ${ws.path('two/f11.txt')}; give them in separate runs (the later replaces the earlier) or rename one\n`,
    );
    assert.equal(existsSync(ws.path('db')), false);
  }
});

test('on an existing db the check runs under its lock: a clash found late writes nothing and leaves no lock', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < 12; i++) ws.write(`one/f${String(i).padStart(2, '0')}.txt`, `one ${i}\n`);
  for (let i = 0; i < 12; i++) ws.write(`two/g${String(i).padStart(2, '0')}.txt`, `two ${i}\n`);
  const first = run(ws, 'db', ['one'], TINY);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const before = state(ws, 'db');
  const sqlite = () => new Database(ws.path('db', 'pipeline.sqlite'), { readonly: true });
  const rows = () => {
    const d = sqlite();
    try {
      return d.prepare('SELECT (SELECT count(*) FROM input_stat), (SELECT count(*) FROM run)').raw().get();
    } finally {
      d.close();
    }
  };
  const had = rows();
  ws.write('one/new.txt', 'vouched for by nothing\n');
  ws.write('two/f11.txt', 'a clash at the very end\n');
  for (const env of [TINY, BIG]) {
    const r = run(ws, 'db', ['one', 'two'], env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /two files would both be the input named "f11\.txt"/);
    assert.equal(existsSync(ws.path('db', 'lock')), false, 'the lock is released');
    assert.deepEqual(rows(), had, 'no run, no cache entry written');
    assert.deepEqual(state(ws, 'db'), before);
  }
  // Without the clash, the new file is the one new input, and the rest stay as they were.
  unlinkSync(ws.path('two/f11.txt'));
  const again = run(ws, 'db', ['one', 'two'], TINY);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /13 new inputs/);
});

test('the same file given twice (alone and in its directory, or the directory twice) is one input', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (let i = 0; i < 7; i++) ws.write(`in/f${i}.txt`, `file ${i}\n`);
  const out = both(ws, ['in/f3.txt', 'in', 'in']);
  assert.match(out, /7 new inputs/);
  const d = new Database(ws.path('db-tiny', 'pipeline.sqlite'), { readonly: true });
  // The first argument that gave it names it: a file argument has no directory.
  assert.equal(d.prepare(`SELECT source FROM run_input WHERE name = 'f3.txt'`).pluck().get(), null);
  d.close();
  assert.match(both(ws, ['in/f3.txt', 'in']), /0 objects added/);
});
