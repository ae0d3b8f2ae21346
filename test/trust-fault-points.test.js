// The test hook TASK_PIPELINE_FAULT=POINT:N kills the engine with SIGKILL exactly in one of the narrow windows of
// a step's life; the next run must complete as if nothing had happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, linesOf, listObjects, openDb, sha256, workspace } from './helpers.js';

const ITEMS = 6;
const TASKS = ['up', 'len', 'all'];

// Each script appends "TASK ITEM" to $RUNS (outside the db): how many times each step ran.
const MANIFEST = `
[[task]]
name = "up"
inputs = []
script = '''
echo "$TASK_NAME $INPUT_NAME" >> "$RUNS"
tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME.up"
'''

[[task]]
name = "len"
inputs = ["up"]
script = '''
echo "$TASK_NAME $INPUT_NAME" >> "$RUNS"
wc -c < "$INPUT_FILE" | tr -d ' ' > "$OUTPUT_DIR/$INPUT_NAME.len"
'''

[[task]]
name = "all"
inputs = ["len"]
gather = true
script = '''
echo "$TASK_NAME $INPUT_NAME" >> "$RUNS"
cat "$INPUT_DIR"/* > "$OUTPUT_DIR/all.txt"
'''
`;

const itemText = (i) => `item ${i} ${'abc'.repeat(i + 1)}\n`;

function setup(t) {
  const ws = workspace(t, 'tp-fault-');
  ws.write('m.toml', MANIFEST);
  for (let i = 0; i < ITEMS; i++) ws.write(`in/i${i}.txt`, itemText(i));
  return ws;
}

function run(ws, db, runs, env = {}) {
  return cli(
    ['-manifest', ws.path('m.toml'), '-db', ws.path(db), '-input', ws.path('in'), '-parallel', '2', '-quiet'],
    { env: { RUNS: ws.path(runs), ...env } },
  );
}

/** "TASK ITEM" of every step the db holds as done: those committed. */
async function committed(db) {
  const d = await openDb(db);
  const rows = d
    .prepare(
      `SELECT t.name || ' ' || s.input_name AS k FROM step s JOIN task t ON t.id = s.task WHERE s.status = 'done'`,
    )
    .pluck()
    .all();
  d.close();
  return new Set(rows);
}

/** Every task's current outputs, as `ls -json` prints them, and the gather's file itself. */
function outputs(ws, db) {
  const all = {};
  for (const task of TASKS) {
    const r = cli(['ls', '-db', ws.path(db), '-task', task, '-json']);
    assert.equal(r.code, 0, r.stderr);
    // Step ids may differ (they number steps as the runs created them): names, bytes and items may not.
    all[task] = JSON.parse(r.stdout).map(({ name, hash, size, from }) => ({ name, hash, size, from }));
  }
  const out = ws.path(`${db}-export`);
  const e = cli(['export', '-db', ws.path(db), '-task', 'all', '-out', out]);
  assert.equal(e.code, 0, e.stderr);
  all.bytes = readFileSync(join(out, 'all.txt'), 'utf8');
  return all;
}

const tmpEntries = (db) => {
  try {
    return readdirSync(join(db, 'tmp'));
  } catch {
    return [];
  }
};

/**
 * Run with the fault (it must die of SIGKILL), look at what it left with `inspect`, run again without it, and
 * check the result against an uninterrupted run: same outputs, fsck clean, no committed step run again.
 */
async function crashAndResume(t, fault, inspect, env = {}) {
  const ws = setup(t);
  const ref = run(ws, 'ref', 'ref-runs', env);
  assert.equal(ref.code, 0, ref.stderr);
  assert.equal(linesOf(ws.path('ref-runs')).length, ITEMS * 2 + 1);

  const crashed = run(ws, 'db', 'runs1', { ...env, TASK_PIPELINE_FAULT: fault });
  assert.equal(
    crashed.signal,
    'SIGKILL',
    `${fault}: expected the engine to be killed; exit ${crashed.code}: ${crashed.stderr}`,
  );
  const before = await committed(ws.path('db'));
  await inspect({ ws, before, ran: linesOf(ws.path('runs1')) });

  const resumed = run(ws, 'db', 'runs2', env);
  assert.equal(resumed.code, 0, resumed.stderr);
  const again = linesOf(ws.path('runs2')).filter((k) => before.has(k));
  assert.deepEqual(again, [], `steps committed before the crash ran again: ${again.join(', ')}`);
  // Every step ran: in the crashed run, or in this one.
  const ran = new Set([...linesOf(ws.path('runs1')), ...linesOf(ws.path('runs2'))]);
  for (const k of linesOf(ws.path('ref-runs'))) assert.ok(ran.has(k), `${k} never ran`);
  assert.deepEqual(await committed(ws.path('db')), await committed(ws.path('ref')));
  assert.deepEqual(outputs(ws, 'db'), outputs(ws, 'ref'));
  const fsck = cli(['fsck', '-db', ws.path('db')]);
  assert.equal(fsck.code, 0, `fsck: ${fsck.stdout}${fsck.stderr}`);
  assert.deepEqual(tmpEntries(ws.path('db')), [], 'tmp/ is left empty');
  return ws;
}

// Renames on a new db: the empty object, then each input, then the outputs.
const FIRST_OUTPUT_RENAME = 1 + ITEMS + 1;

/** An output of `up` or `len` (whose bytes the test knows) that is in objects/ but that no committed row names. */
async function assertUnnamedOutput(ws) {
  const known = new Set(
    Array.from({ length: ITEMS }, (_, i) => [
      sha256(itemText(i).toUpperCase()),
      sha256(`${itemText(i).length}\n`),
    ]).flat(),
  );
  const stored = listObjects(ws.path('db'))
    .map((o) => o.hash)
    .filter((h) => known.has(h));
  const d = await openDb(ws.path('db'));
  const named = new Set(d.prepare('SELECT lower(hex(object_hash)) FROM step_output').pluck().all());
  d.close();
  assert.ok(
    stored.some((h) => !named.has(h)),
    `an output renamed into objects/ and not committed (stored ${stored.length}, named ${named.size})`,
  );
}

for (const [executor, env] of [
  ['the C helper (or its fallback)', {}],
  ['execa (the engine stores outputs)', { TASK_PIPELINE_EXECUTOR: 'execa' }],
]) {
  test(`after-rename, through ${executor}: killed between an output's rename and its commit, the next run completes`, async (t) => {
    await crashAndResume(t, `after-rename:${FIRST_OUTPUT_RENAME + 2}`, ({ ws }) => assertUnnamedOutput(ws), env);
  });
}

test('in-commit: killed before the first COMMIT, that commit is rolled back and its steps run again', async (t) => {
  await crashAndResume(t, 'in-commit:1', ({ before, ran }) => {
    assert.equal(before.size, 0, 'nothing committed');
    assert.ok(ran.length > 0, 'scripts had run');
  });
});

test('in-commit: killed inside a later commit, the earlier ones hold', async (t) => {
  await crashAndResume(t, 'in-commit:2', ({ before }) => {
    assert.ok(before.size > 0 && before.size < ITEMS * 2 + 1, `${before.size} steps committed`);
  });
});

test('after-commit: killed with working directories left in tmp/, the next run empties them and runs no committed step again', async (t) => {
  await crashAndResume(t, 'after-commit:1', ({ ws, before }) => {
    assert.ok(before.size > 0, 'the commit held');
    assert.ok(
      tmpEntries(ws.path('db')).some((n) => n.startsWith('slot-')),
      `tmp/ holds ${tmpEntries(ws.path('db')).join(', ')}`,
    );
  });
});

test('in-listing: killed with a gather listing half written, the next run writes it whole and gathers once', async (t) => {
  const ws = await crashAndResume(t, 'in-listing:1', async ({ ws, before }) => {
    assert.equal([...before].filter((k) => k.startsWith('all ')).length, 0, 'the gather did not run');
    assert.equal(before.size, ITEMS * 2, 'every step upstream of the gather was committed');
    const partial = tmpEntries(ws.path('db')).filter((n) => n.startsWith('put.'));
    assert.equal(partial.length, 1, `tmp/ holds ${tmpEntries(ws.path('db')).join(', ')}`);
    ws.partial = readFileSync(join(ws.path('db'), 'tmp', partial[0]));
  });
  // What was left was the first half of the listing the gather then ran on.
  const d = await openDb(ws.path('db'));
  const listing = d
    .prepare(`SELECT lower(hex(s.object_hash)) FROM step s JOIN task t ON t.id = s.task WHERE t.name = 'all'`)
    .pluck()
    .get();
  d.close();
  const whole = readFileSync(listObjects(ws.path('db')).find((o) => o.hash === listing).path);
  assert.ok(whole.length > 0);
  assert.deepEqual(ws.partial, whole.subarray(0, whole.length >> 1));
});

test('TASK_PIPELINE_FAULT: a malformed value is refused in one line; scripts never inherit it', async (t) => {
  const ws = setup(t);
  for (const bad of ['after-rename', 'nowhere:1', 'in-commit:0', 'in-commit:x']) {
    const r = run(ws, 'db', 'runs', { TASK_PIPELINE_FAULT: bad });
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `TASK_PIPELINE_FAULT=${bad}: expected POINT:N \\(N from 1\\), POINT one of after-rename, in-commit, after-commit, in-listing`,
      ),
    );
  }
  assert.deepEqual(linesOf(ws.path('runs')), [], 'nothing ran');
  // Armed at a count never reached: the run completes, and its scripts do not see the variable.
  ws.write(
    'm2.toml',
    `[[task]]\nname = "env"\nscript = 'echo "\${TASK_PIPELINE_FAULT:-unset}" > "$OUTPUT_DIR/seen"'\n`,
  );
  const r = cli(['-manifest', ws.path('m2.toml'), '-db', ws.path('db2')], {
    env: { TASK_PIPELINE_FAULT: 'after-commit:1000' },
  });
  assert.equal(r.code, 0, r.stderr);
  const ls = JSON.parse(cli(['ls', '-db', ws.path('db2'), '-task', 'env', '-json']).stdout);
  const seen = cli(['cat', '-db', ws.path('db2'), ls[0].hash]);
  assert.equal(seen.stdout, 'unset\n');
});
