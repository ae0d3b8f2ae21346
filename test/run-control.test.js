// A run that cannot be mistyped silently: -db checks, the new-db notice, -task's leftovers, a task with no outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cli, snapshot, workspace } from './helpers.js';

const CHAIN = `
[[task]]
name = "byhost"
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/$(basename "$INPUT_NAME")"'

[[task]]
name = "report"
script = 'wc -l < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

test('-db naming a file or a directory of other things is refused, writing nothing; a new db says so', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', CHAIN);
  ws.write('in.txt', 'x\n');
  let r = cli(['-manifest', ws.path('m.toml'), '-db', ws.path('in.txt'), '-input', ws.path('in.txt')]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `task-pipeline: -db ${ws.path('in.txt')}: is a file, not a db directory; give a directory (it is created if missing)\n`,
  );

  ws.write('mydata/notes.txt', 'mine\n');
  r = cli(['-manifest', ws.path('m.toml'), '-db', ws.path('mydata'), '-input', ws.path('in.txt')]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `task-pipeline: -db ${ws.path('mydata')}: this directory holds other files and no pipeline db (pipeline.sqlite); give a new or empty directory\n`,
  );
  assert.deepEqual(readdirSync(ws.path('mydata')), ['notes.txt']);

  const db = ws.path('no/such/parent/db');
  r = cli(['-manifest', ws.path('m.toml'), '-db', db, '-input', ws.path('in.txt')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `task-pipeline: new db at ${db}\n`);
  r = cli(['-manifest', ws.path('m.toml'), '-db', db]);
  assert.equal(r.stderr, '');
  // -quiet: nothing but errors.
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.path('other'), '-quiet']).stderr, '');

  // Inspection never creates a db.
  r = cli(['status', '-db', ws.path('nothing-here')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no pipeline db here/);
  assert.equal(existsSync(ws.path('nothing-here')), false);
});

test('-task says what it left pending elsewhere; a consumed task that left no output is named', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', CHAIN);
  for (const h of ['web1', 'web2']) ws.write(`logs/${h}.log`, `${h}\n`);
  let r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('logs'), '-task', 'byhost']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^-task: steps left pending in other tasks: report \(2\); run without -task to do them$/m);

  const broken = workspace(t);
  broken.write(
    'm.toml',
    CHAIN.replace('"$OUTPUT_DIR/$(basename "$INPUT_NAME")"', '"$TMPDIR/$(basename "$INPUT_NAME")"'),
  );
  broken.write('logs/web1.log', 'web1\n');
  r = cli(['-manifest', broken.path('m.toml'), '-db', broken.db, '-input', broken.path('logs')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^warning: byhost left no output in any of its steps, and report consumes it: does its script write into \$OUTPUT_DIR\?$/m,
  );
});

test('-force re-runs a task whose script did not change: equal outputs change nothing downstream, different ones flow on', (t) => {
  const ws = workspace(t);
  // "flaky" reads a file the version does not cover: forcing it is how a user says it changed.
  ws.write(
    'm.toml',
    `
[[task]]
name = "flaky"
script = 'echo "flaky $INPUT_NAME" >> "$RUNS"; cat "$INPUT_FILE" "$SUFFIX" > "$OUTPUT_DIR/out"'

[[task]]
name = "down"
script = 'echo "down $INPUT_NAME" >> "$RUNS"; tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"'
`,
  );
  ws.write('in/a.txt', 'a\n');
  ws.write('in/b.txt', 'b\n');
  ws.write('suffix', 'x\n');
  const env = { RUNS: ws.path('runs'), SUFFIX: ws.path('suffix') };
  const run = (...extra) => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, ...extra], { env });
  assert.equal(run('-input', ws.path('in')).code, 0);
  const runs = () => readFileSync(ws.path('runs'), 'utf8').trim().split('\n');
  let before = runs().length;

  let r = run('-force', 'flaky');
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^-force flaky: 2 done steps ran again; outputs that came out the same changed nothing downstream$/m,
  );
  assert.deepEqual(runs().slice(before).sort(), ['flaky a.txt', 'flaky b.txt']);

  ws.write('suffix', 'y\n');
  before = runs().length;
  r = run('-force', 'flaky');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(runs().slice(before).sort(), ['down out', 'down out', 'flaky a.txt', 'flaky b.txt']);
  const up = JSON.parse(cli(['ls', '-db', ws.db, '-task', 'down', '-json']).stdout);
  assert.deepEqual(up.map((o) => cli(['cat', '-db', ws.db, o.hash]).stdout).sort(), ['A\nY\n', 'B\nY\n']);
  // Without -force nothing runs.
  before = runs().length;
  assert.match(run().stdout, /done: 0 steps run/);
  assert.equal(runs().length, before);
  r = run('-force', 'nope');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /-force nope: no task of that name in /);
});

test('-dry-run (-n) says per task what would run and why, and writes nothing', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', CHAIN);
  ws.write('logs/web1.log', 'web1\n');
  let r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('logs'), '-n']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(ws.db), false, 'a dry run on a new db creates nothing');
  assert.match(r.stdout, /^dry run: nothing was written$/m);
  assert.match(r.stdout, /^byhost +1 +new task; 1 new and 0 replaced inputs$/m);
  assert.match(r.stdout, /^report +0\+ +new task; then what byhost produces$/m);

  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('logs'), '-quiet']).code, 0);
  ws.write('logs/web2.log', 'web2\n');
  ws.write('m.toml', CHAIN.replace('wc -l', 'wc -c'));
  const before = snapshot(ws.db);
  r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('logs'), '-dry-run', '-force', 'byhost']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^byhost +2 +1 new and 0 replaced inputs; -force: 1 done steps$/m);
  assert.match(r.stdout, /^report +1\+ +new version \(script\); then what byhost produces$/m);
  assert.deepEqual(snapshot(ws.db), before);
});
