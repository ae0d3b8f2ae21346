// show and lineage: names, producers and consumers of an object, and its provenance back to the run inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, openDb, sha256, workspace } from './helpers.js';

const PIPELINE = `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.up"; echo "upper did $INPUT_NAME" >&2'

[[task]]
name = "total"
gather = true
script = 'cat "$INPUT_DIR"/* > "$OUTPUT_DIR/all"'
`;

function pipelineDb(t) {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', PIPELINE);
  ws.write('data/words.txt', 'alpha\nbeta\nalpha\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('data'), '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  return ws;
}

async function stepsByTask(db) {
  const d = await openDb(db);
  try {
    const rows = d
      .prepare(
        `SELECT s.id, t.name AS task, lower(hex(s.object_hash)) AS hash, lower(hex(a.log_hash)) AS log FROM step s JOIN task t ON t.id = s.task
        LEFT JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts ORDER BY s.id`,
      )
      .all();
    return (task) => rows.filter((r) => r.task === task);
  } finally {
    d.close();
  }
}

test('show lists every name of an object and the steps that produced and consumed it', async (t) => {
  const ws = pipelineDb(t);
  const steps = await stepsByTask(ws.db);
  const [split] = steps('split');
  const alpha = sha256('alpha\n');
  // Two items (line-aa, line-ac) with these bytes: two upper steps consume the one object.
  const [upperOfAa, upperOfAc] = steps('upper').filter((s) => s.hash === alpha);

  const r = cli(['show', '-db', ws.db, alpha.slice(0, 8)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^object  ${alpha}\\n`));
  assert.match(r.stdout, /\nsize    6 B\n/);
  assert.match(
    r.stdout,
    new RegExp(`\\npath    .*objects/${alpha.slice(0, 2)}/${alpha.slice(2, 4)}/${alpha.slice(4)}\\n`),
  );
  // Equal lines: one object under two output names of the same split step.
  assert.match(r.stdout, /line-aa {2}\(output\)/);
  assert.match(r.stdout, /line-ac {2}\(output\)/);
  assert.match(r.stdout, /produced by: 2 steps/);
  assert.match(r.stdout, new RegExp(`\\n +${split.id} +split +[0-9a-f]{8} +done +as line-aa\\n`));
  assert.match(r.stdout, new RegExp(`\\n +${upperOfAa.id} +upper +[0-9a-f]{8} +done +input line-aa\\n`));
  assert.match(r.stdout, new RegExp(`\\n +${upperOfAc.id} +upper +[0-9a-f]{8} +done +input line-ac\\n`));
  assert.match(r.stdout, /log of: no step/);

  const j = JSON.parse(cli(['show', '-db', ws.db, alpha, '-json']).stdout);
  assert.equal(j.hash, alpha);
  assert.equal(j.size, 6);
  assert.equal(j.file, 'ok');
  assert.deepEqual(
    j.producedBy.map((p) => [p.stepId, p.task, p.name, p.status, p.current]),
    [
      [split.id, 'split', 'line-aa', 'done', true],
      [split.id, 'split', 'line-ac', 'done', true],
    ],
  );
  assert.deepEqual(
    j.consumedBy.map((c) => [c.stepId, c.task, c.inputName]),
    [
      [upperOfAa.id, 'upper', 'line-aa'],
      [upperOfAc.id, 'upper', 'line-ac'],
    ],
  );
  assert.deepEqual(j.runInputs, []);
  assert.deepEqual(j.logOf, []);
});

test('show names a run input by its -input name, and a log by its step', async (t) => {
  const ws = pipelineDb(t);
  const steps = await stepsByTask(ws.db);
  const input = JSON.parse(cli(['show', '-db', ws.db, sha256('alpha\nbeta\nalpha\n'), '-json']).stdout);
  assert.deepEqual(
    input.runInputs.map((r) => r.name),
    ['words.txt'],
  );
  assert.deepEqual(
    input.consumedBy.map((c) => c.task),
    ['split'],
  );

  const upper = steps('upper')[0];
  const log = cli(['show', '-db', ws.db, upper.log]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /log of: 1 step/);
  assert.match(log.stdout, new RegExp(`\\n +${upper.id} +upper `));
  assert.match(log.stdout, /names   \(none: not a run input nor an output\)/);
});

test('lineage walks from a gathered object through two tasks back to the input file by name (text)', async (t) => {
  const ws = pipelineDb(t);
  const steps = await stepsByTask(ws.db);
  // INPUT_DIR holds one file per listing line, in listing order (line-aa__line-aa.up, ...).
  const all = sha256('ALPHA\nBETA\nALPHA\n');
  const r = cli(['lineage', '-db', ws.db, all.slice(0, 8)]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const [total] = steps('total');
  const [split] = steps('split');
  assert.match(
    lines[0],
    new RegExp(
      `^${all.slice(0, 12)}  all  17 B  <- total step ${total.id} gather over listing [0-9a-f]{12} \\(3 objects\\)$`,
    ),
  );
  const text = r.stdout;
  assert.match(text, new RegExp(`[├└]─ ${sha256('ALPHA\n').slice(0, 12)}  line-aa\\.up  6 B  <- upper step \\d+\\n`));
  assert.match(
    text,
    new RegExp(
      `[├└]─ ${sha256('alpha\n').slice(0, 12)}  line-aa  6 B  <- split step ${split.id} as line-aa, line-ac\\n`,
    ),
  );
  assert.match(
    text,
    new RegExp(`└─ ${sha256('alpha\nbeta\nalpha\n').slice(0, 12)}  words\\.txt  17 B  run input "words\\.txt"`),
  );
  // The second branch meets split again: drawn once, then named.
  assert.match(text, new RegExp(`line-ab  5 B  <- split step ${split.id} \\(shown above\\)`));
});

test('lineage -json: a tree of objects and steps with stable keys, down to the run input', async (t) => {
  const ws = pipelineDb(t);
  const beta = sha256('BETA\n');
  const r = cli(['lineage', '-db', ws.db, beta, '-json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['root', 'options', 'steps', 'truncated']);
  assert.equal(j.truncated, false);
  assert.equal(j.steps, 2);
  const upper = j.root.producers[0];
  assert.equal(j.root.hash, beta);
  // The root goes by the name its producer gave it, as in the text.
  assert.equal(j.root.name, 'line-ab.up');
  assert.equal(upper.task, 'upper');
  assert.deepEqual(upper.outputNames, ['line-ab.up']);
  const lineAb = upper.inputs[0];
  assert.equal(lineAb.hash, sha256('beta\n'));
  assert.equal(lineAb.name, 'line-ab');
  const split = lineAb.producers[0];
  assert.equal(split.task, 'split');
  const input = split.inputs[0];
  assert.equal(input.name, 'words.txt');
  assert.deepEqual(input.runInputs, ['words.txt']);
  assert.deepEqual(input.producers, []);
  assert.equal(input.seed, false);
});

test('lineage of a seed-rooted output ends at the seed; -depth cuts a long chain with a note', (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write(
    'm.toml',
    `
[[task]]
name = "gen"
script = 'echo 1 > "$OUTPUT_DIR/n"'

[[task]]
name = "grow"
inputs = ["gen", "grow"]
script = 'n=$(cat "$INPUT_FILE"); if [ "$n" -lt 6 ]; then echo $((n + 1)) > "$OUTPUT_DIR/n"; fi'
`,
  );
  const run = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']);
  assert.equal(run.code, 0, run.stderr);
  const six = sha256('6\n');
  const full = cli(['lineage', '-db', ws.db, six]);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, /\(seed\)  0 B  seed: the empty input of a root task/);
  assert.equal((full.stdout.match(/<- grow step/g) ?? []).length, 5);
  const cut = cli(['lineage', '-db', ws.db, six, '-depth', '2']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /\(depth limit: not followed\)/);
  assert.match(cut.stdout, /cut short: at most 2 steps deep/);
  assert.doesNotMatch(cut.stdout, /seed/);
});

test('show and lineage are index lookups: no scan of step, step_output or step_link', async (t) => {
  const ws = pipelineDb(t);
  const { OBJECT_USAGE_SQL } = await import('../dist/store/inspect/object-usage.js');
  const { LINEAGE_SQL } = await import('../dist/store/inspect/lineage.js');
  const { FIND_OBJECT_SQL } = await import('../dist/store/inspect/find-object.js');
  const { STEP_DETAIL_SQL } = await import('../dist/store/inspect/step-detail.js');
  const { default: Database } = await import('better-sqlite3');
  const d = new Database(ws.path('db', 'pipeline.sqlite'));
  t.after(() => d.close());
  const planOf = (sql) => {
    const names = [...new Set([...sql.matchAll(/:(\w+)/g)].map((m) => m[1]))];
    const params =
      names.length > 0
        ? [Object.fromEntries(names.map((n) => [n, 'x']))]
        : Array((sql.match(/\?/g) ?? []).length).fill('x');
    return d
      .prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .all(...params)
      .map((r) => r.detail);
  };
  // Aliases in these queries: s = step, o = step_output, l = step_link.
  const scan = /^SCAN (step|step_output|step_link|s|o|l)( |$)/;
  // The empty log (nearly every step's) is not in idx_step_log: its steps are walked in id order up to the limit.
  const emptyLog = new Set(['OBJECT_USAGE_SQL.emptyLogOf', 'OBJECT_USAGE_SQL.countEmptyLogOf']);
  for (const [group, sqls] of Object.entries({ OBJECT_USAGE_SQL, LINEAGE_SQL, FIND_OBJECT_SQL, STEP_DETAIL_SQL })) {
    for (const [key, sql] of Object.entries(sqls)) {
      if (emptyLog.has(`${group}.${key}`) || key === 'maxId') continue;
      const plan = planOf(sql);
      assert.ok(!plan.some((l) => scan.test(l)), `${group}.${key} scans:\n${plan.join('\n')}`);
    }
  }
  // "Whose log is this?" goes through the partial index of non-empty logs (attempt: a step's log is its latest attempt's).
  for (const key of ['logOf', 'countLogOf']) {
    const plan = planOf(OBJECT_USAGE_SQL[key]);
    assert.ok(
      plan.some((l) => /USING (COVERING )?INDEX idx_attempt_log /.test(l)),
      `${key}:\n${plan.join('\n')}`,
    );
  }
});

test('lineage of an iterative task that cycles back to its own input stays finite', (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write(
    'm.toml',
    `
[[task]]
name = "gen"
script = 'echo 1 > "$OUTPUT_DIR/n"'

[[task]]
name = "flip"
inputs = ["gen", "flip"]
script = 'if [ "$(cat "$INPUT_FILE")" = 1 ]; then echo 2; else echo 1; fi > "$OUTPUT_DIR/n"'
`,
  );
  const run = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet']);
  assert.equal(run.code, 0, run.stderr);
  const r = cli(['lineage', '-db', ws.db, sha256('1\n')], { timeout: 10_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /<- gen step \d+/);
  assert.match(r.stdout, /flip step \d+ \(shown above\)/);
  assert.ok(r.stdout.split('\n').length < 20, r.stdout);
  const j = JSON.parse(cli(['lineage', '-db', ws.db, sha256('2\n'), '-json']).stdout);
  assert.equal(j.truncated, false);
});
