// audit: re-run done steps aside, compare outputs, write nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, snapshot, workspace } from './helpers.js';

const M = `
[[task]]
name = "stable"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"'

[[task]]
name = "clock"
inputs = ["stable"]
script = 'cat "$INPUT_FILE" > "$OUTPUT_DIR/copy"; date +%s%N > "$OUTPUT_DIR/when"'

[[task]]
name = "sum"
gather = true
inputs = ["stable"]
script = 'cat "$INPUT_DIR"/* | wc -l > "$OUTPUT_DIR/lines"'
`;

test('audit says which tasks reproduce their outputs and which do not, with a seed to reproduce, writing nothing', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', M);
  for (const n of [1, 2, 3, 4]) ws.write(`in/${n}.txt`, `line ${n}\n`);
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet']).code, 0);
  const before = snapshot(ws.db);
  let r = cli(['audit', '-manifest', ws.path('m.toml'), '-db', ws.db, '-sample', '2', '-seed', '7']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^audit: seed 7 \(again with -seed 7\)$/m);
  assert.match(r.stdout, /^stable: deterministic on 2\/2 \(of 4 done\)$/m);
  assert.match(r.stdout, /^clock: NOT deterministic: 2 of 2 re-run steps differ$/m);
  assert.match(r.stdout, /^ {2}step \d+: outputs differ: when$/m);
  assert.match(r.stdout, /^sum: deterministic on 1\/1 \(of 1 done\)$/m);
  const steps = r.stdout.match(/step (\d+)/g);
  // The same seed picks the same steps.
  const again = cli([
    'audit',
    '-manifest',
    ws.path('m.toml'),
    '-db',
    ws.db,
    '-sample',
    '2',
    '-seed',
    '7',
    '-task',
    'clock',
  ]);
  assert.deepEqual(again.stdout.match(/step (\d+)/g), steps);
  assert.deepEqual(snapshot(ws.db), before);

  r = cli(['audit', '-manifest', ws.path('m.toml'), '-db', ws.db, '-task', 'stable', '-sample', 'all']);
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /^stable: deterministic on 4\/4 \(of 4 done\)$/m);
  r = cli(['audit', '-manifest', ws.path('m.toml'), '-db', ws.db, '-sample', 'some']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'task-pipeline: audit: -sample takes a positive integer or all, not "some"\n');
});
