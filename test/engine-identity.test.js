// Names are part of identity: the four everyday cases that used to give wrong answers, through
// the real CLI, and the rules that fix them (run inputs keyed by name, gathers that keep
// multiplicity, merged items reported, cycles cut at max_rounds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cli, linesOf, sha256, workspace } from './helpers.js';

const run = (ws, ...extra) =>
  cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-parallel', '2', ...extra], { env: { RUNS: ws.path('runs') } });
const ls = (ws, task) => JSON.parse(cli(['ls', '-db', ws.db, '-task', task, '-json']).stdout);
const cat = (ws, hash) => cli(['cat', '-db', ws.db, hash]).stdout;
const only = (ws, task, name) => {
  const rows = ls(ws, task).filter((o) => o.name === name);
  assert.equal(rows.length, 1, `${task} has one output ${name}: ${JSON.stringify(rows)}`);
  return cat(ws, rows[0].hash);
};

const COUNT_SUM = `
[[task]]
name = "count"
script = 'echo "count $INPUT_NAME" >> "$RUNS"; wc -l < "$INPUT_FILE" > "$OUTPUT_DIR/n"'

[[task]]
name = "sum"
gather = true
script = '''
cat "$INPUT_DIR"/* | awk '{s+=$1} END {print s+0}' > "$OUTPUT_DIR/total"
cp "$INPUT_FILE" "$OUTPUT_DIR/listing"
ls "$INPUT_DIR" > "$OUTPUT_DIR/names"
'''
`;

test('a sum over three inputs counts all three, though two of them give the same bytes under the same name', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', COUNT_SUM);
  ws.write('in/a.txt', '1\n2\n3\n');
  ws.write('in/b.txt', '4\n5\n6\n');
  ws.write('in/c.txt', '7\n8\n');
  const r = run(ws, '-input', ws.path('in'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(only(ws, 'sum', 'total'), '8\n');
  // The listing keeps one line per output of each step, with the item it came from.
  const three = sha256('3\n');
  const two = sha256('2\n');
  const listing = only(ws, 'sum', 'listing');
  assert.equal(listing, [`${two}\tn\tc.txt`, `${three}\tn\ta.txt`, `${three}\tn\tb.txt`].sort().join('\n') + '\n');
  // INPUT_DIR: flat, one file per line, named FROM__NAME.
  assert.equal(only(ws, 'sum', 'names'), 'a.txt__n\nb.txt__n\nc.txt__n\n');
  // ls shows one line per step, with FROM.
  const text = cli(['ls', '-db', ws.db, '-task', 'count']).stdout;
  assert.equal(text, `n\t${three}\t2\ta.txt\nn\t${three}\t2\tb.txt\nn\t${two}\t2\tc.txt\n`);
});

test('equal bytes under two names are two steps: each input gets its own output', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "errors"
script = 'echo "errors $INPUT_NAME" >> "$RUNS"; base=$(basename "$INPUT_NAME" .err); wc -l < "$INPUT_FILE" > "$OUTPUT_DIR/$base.count"'
`,
  );
  ws.write('logs/web1-2024-05-06.err', '');
  ws.write('logs/web2-2024-05-06.err', '');
  const r = run(ws, '-input', ws.path('logs'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(linesOf(ws.path('runs')).sort(), ['errors web1-2024-05-06.err', 'errors web2-2024-05-06.err']);
  assert.deepEqual(
    ls(ws, 'errors').map((o) => [o.name, o.from]),
    [
      ['web1-2024-05-06.count', 'web1-2024-05-06.err'],
      ['web2-2024-05-06.count', 'web2-2024-05-06.err'],
    ],
  );
  // The bytes themselves are stored once.
  assert.equal(new Set(ls(ws, 'errors').map((o) => o.hash)).size, 1);
});

test('an edited input replaces its old bytes: the report counts the new file once, and undo re-runs nothing', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', COUNT_SUM);
  ws.write('logs/access-2024-05-03.log', 'a\nb\n');
  ws.write('logs/access-2024-05-04.log', 'c\n');
  assert.equal(run(ws, '-input', ws.path('logs')).code, 0);
  assert.equal(only(ws, 'sum', 'total'), '3\n');

  ws.write('logs/access-2024-05-03.log', 'a\nb\nnew\n');
  const r = run(ws, '-input', ws.path('logs'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 input replaced/);
  assert.equal(only(ws, 'sum', 'total'), '4\n');
  assert.deepEqual(
    ls(ws, 'count').map((o) => o.from),
    ['access-2024-05-03.log', 'access-2024-05-04.log'],
  );
  const inputs = JSON.parse(cli(['inputs', '-db', ws.db, '-json']).stdout);
  assert.deepEqual(
    inputs.map((i) => [i.name, i.hash]),
    [
      ['access-2024-05-03.log', sha256('a\nb\nnew\n')],
      ['access-2024-05-04.log', sha256('c\n')],
    ],
  );
  const history = JSON.parse(cli(['inputs', '-db', ws.db, '-all', '-json']).stdout);
  assert.deepEqual(
    history.filter((i) => !i.current).map((i) => [i.name, i.retired, i.hash]),
    [['access-2024-05-03.log', 'replaced', sha256('a\nb\n')]],
  );

  // Undo: the old bytes again. Their steps are history, found again without running.
  ws.write('logs/access-2024-05-03.log', 'a\nb\n');
  const before = linesOf(ws.path('runs')).length;
  assert.equal(run(ws, '-input', ws.path('logs')).code, 0);
  assert.deepEqual(linesOf(ws.path('runs')).slice(before), []);
  assert.equal(only(ws, 'sum', 'total'), '3\n');
});

test('a file missing from a directory given again stays current until `inputs rm` retires it', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', COUNT_SUM);
  ws.write('in/a.txt', '1\n');
  ws.write('in/b.txt', '1\n2\n');
  ws.write('in/sub/c.txt', '1\n2\n3\n');
  assert.equal(run(ws, '-input', ws.path('in')).code, 0);
  assert.equal(only(ws, 'sum', 'total'), '6\n');

  rmSync(ws.path('in/b.txt'));
  let r = run(ws, '-input', ws.path('in'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /1 current input is no longer in the directories given \("b\.txt"\): they stay current; retire them with: task-pipeline inputs rm -db .* NAME\.\.\./,
  );
  assert.equal(only(ws, 'sum', 'total'), '6\n');

  r = cli(['inputs', 'rm', '-db', ws.db, 'b.txt', 'sub/*.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'retired b.txt\nretired sub/c.txt\ninputs rm: 2 inputs retired; the next run drops their results from the current graph\n',
  );
  assert.equal(run(ws).code, 0);
  assert.equal(only(ws, 'sum', 'total'), '1\n');
  assert.deepEqual(
    ls(ws, 'count').map((o) => o.from),
    ['a.txt'],
  );
  assert.deepEqual(
    JSON.parse(cli(['inputs', '-db', ws.db, '-json']).stdout).map((i) => i.name),
    ['a.txt'],
  );

  // A name or glob that matches nothing retires nothing, with one line and exit 2.
  r = cli(['inputs', 'rm', '-db', ws.db, 'a.txt', 'nope*']);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'task-pipeline: inputs rm: no current run input is named or matches "nope*" (see: task-pipeline inputs)\n',
  );
  assert.deepEqual(
    JSON.parse(cli(['inputs', '-db', ws.db, '-json']).stdout).map((i) => i.name),
    ['a.txt'],
  );
  r = cli(['inputs', 'rm', '-db', ws.db]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /inputs rm: name the inputs to retire/);
});

test('equal items from different inputs are merged once per task, and the run and status say so', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `${COUNT_SUM}
[[task]]
name = "double"
inputs = ["count"]
script = 'echo "double $INPUT_NAME" >> "$RUNS"; echo $(( $(cat "$INPUT_FILE") * 2 )) > "$OUTPUT_DIR/d"'
`,
  );
  ws.write('in/a.txt', '1\n2\n3\n');
  ws.write('in/b.txt', '4\n5\n6\n');
  ws.write('in/c.txt', '7\n');
  const r = run(ws, '-input', ws.path('in'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(linesOf(ws.path('runs')).filter((l) => l.startsWith('double')).length, 2);
  assert.match(
    r.stdout,
    /note: double: 1 item came from more than one upstream step with the same name and bytes, and ran once; to keep the outputs of different inputs apart, name them after \$INPUT_NAME/,
  );
  const status = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout);
  assert.deepEqual(
    status.tasks.map((x) => [x.name, x.merged]),
    [
      ['count', 0],
      ['sum', 0],
      ['double', 1],
    ],
  );
  assert.match(cli(['status', '-db', ws.db]).stdout, /merged/);
  // A no-op re-run does not repeat the note.
  assert.doesNotMatch(run(ws).stdout, /note:/);
});

test('export never drops an output because two steps share its name: each goes under the item it came from', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', COUNT_SUM);
  ws.write('in/a.txt', '1\n2\n3\n');
  ws.write('in/b.txt', '4\n5\n6\n');
  ws.write('in/sub/c.txt', '7\n');
  assert.equal(run(ws, '-input', ws.path('in')).code, 0);
  const r = cli(['export', '-db', ws.db, '-task', 'count', '-out', ws.path('out')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /3 outputs share a name with outputs of other steps: each written under the item it came from, as FROM\/NAME \(e\.g\. a\.txt\/n\)/,
  );
  assert.equal(readFileSync(ws.path('out/a.txt/n'), 'utf8'), '3\n');
  assert.equal(readFileSync(ws.path('out/b.txt/n'), 'utf8'), '3\n');
  assert.equal(readFileSync(ws.path('out/sub/c.txt/n'), 'utf8'), '1\n');
  assert.equal(existsSync(ws.path('out/n')), false);
  // A name only one step left keeps its plain path.
  assert.equal(cli(['export', '-db', ws.db, '-task', 'sum', '-out', ws.path('sum')]).code, 0);
  assert.equal(readFileSync(ws.path('sum/total'), 'utf8'), '7\n');
});

test('-input when no task takes run inputs, and two files claiming one name, are usage errors that write nothing', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "a"
inputs = ["b"]
script = 'true'

[[task]]
name = "b"
inputs = ["a"]
script = 'true'
`,
  );
  ws.write('x.txt', 'x\n');
  let r = run(ws, '-input', ws.path('x.txt'));
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^task-pipeline: -input: no task in .*m\.toml takes run inputs \(every task lists its inputs; give one inputs = \[\]\)\n$/,
  );
  assert.equal(existsSync(ws.db), false);

  ws.write('m.toml', COUNT_SUM);
  ws.write('one/x.txt', '1\n');
  ws.write('two/x.txt', '2\n');
  r = run(ws, '-input', ws.path('one'), '-input', ws.path('two'));
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /-input: two files would both be the input named "x\.txt": .*one\/x\.txt and .*two\/x\.txt; give them in separate runs \(the later replaces the earlier\) or rename one/,
  );
  assert.equal(existsSync(ws.db), false);
});

test('a cycle that never settles is cut at max_rounds; raising it goes on from where it stopped', (t) => {
  const ws = workspace(t);
  const manifest = (rounds) => `
[[task]]
name = "start"
script = 'echo 0 > "$OUTPUT_DIR/n"'

[[task]]
name = "inc"
inputs = ["start", "inc"]
max_rounds = ${rounds}
script = 'echo "inc $(cat "$INPUT_FILE")" >> "$RUNS"; echo $(( $(cat "$INPUT_FILE") + 1 )) > "$OUTPUT_DIR/n"'
`;
  ws.write('m.toml', manifest(5));
  let r = run(ws);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.deepEqual(linesOf(ws.path('runs')), ['inc 0', 'inc 1', 'inc 2', 'inc 3', 'inc 4', 'inc 5']);
  assert.match(r.stdout, /^incomplete: /m);
  assert.match(
    r.stdout,
    /cycle cut: inc: 1 step beyond max_rounds = 5 generations were not run; raise max_rounds on task "inc" if the cycle should go on/,
  );
  // A re-run does not run the cut step either.
  r = run(ws);
  assert.equal(r.code, 1);
  assert.equal(linesOf(ws.path('runs')).length, 6);
  // max_rounds is not part of the version: raising it runs only the rounds it allows.
  ws.write('m.toml', manifest(8));
  r = run(ws);
  assert.equal(r.code, 1);
  assert.deepEqual(linesOf(ws.path('runs')).slice(6), ['inc 6', 'inc 7', 'inc 8']);
});
