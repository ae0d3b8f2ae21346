// status, ls and log: counts per task version, current outputs against history, a failed step's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI, cli, cliSpawn, exited, openDb, sha256, waitFor, workspace } from './helpers.js';

const manifest = (upperScript) => `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
script = '${upperScript}'
`;
const V1 = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up.txt"';
const V2 = 'tr a-z A-Z < "$INPUT_FILE" | rev > "$OUTPUT_DIR/up.txt"';

function run(ws, ...extra) {
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet', ...extra]);
  assert.equal(r.code, 0, r.stderr);
}

function twoVersionDb(t) {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', manifest(V1));
  ws.write('in.txt', 'ab\ncd\n');
  run(ws, '-input', ws.path('in.txt'));
  ws.write('m.toml', manifest(V2));
  run(ws);
  return ws;
}

test('ls prints NAME<TAB>HASH<TAB>SIZE<TAB>FROM per current output, sorted; -json gives the same with step ids', async (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write('m.toml', manifest(V1));
  ws.write('in.txt', 'ab\ncd\nab\n');
  run(ws, '-input', ws.path('in.txt'));
  const r = cli(['ls', '-db', ws.db, '-task', 'split']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `line-aa\t${sha256('ab\n')}\t3\tin.txt`,
      `line-ab\t${sha256('cd\n')}\t3\tin.txt`,
      `line-ac\t${sha256('ab\n')}\t3\tin.txt`,
      '',
    ].join('\n'),
  );
  const up = cli(['ls', '-db', ws.db, '-task', 'upper'])
    .stdout.trimEnd()
    .split('\n')
    .map((l) => l.split('\t'));
  // One line per step: line-aa and line-ac are two items with equal bytes, each its own step.
  assert.deepEqual(up, [
    ['up.txt', sha256('AB\n'), '3', 'line-aa'],
    ['up.txt', sha256('CD\n'), '3', 'line-ab'],
    ['up.txt', sha256('AB\n'), '3', 'line-ac'],
  ]);
  const j = JSON.parse(cli(['ls', '-db', ws.db, '-task', 'upper', '-json']).stdout);
  const d = await openDb(ws.db);
  const stepOf = (h) =>
    d
      .prepare(`SELECT s.id FROM step s JOIN step_output o ON o.step_id = s.id WHERE o.object_hash = unhex(?)`)
      .pluck()
      .get(h);
  assert.deepEqual(
    j.map((o) => Object.keys(o)),
    Array(3).fill(['name', 'hash', 'size', 'from', 'step']),
  );
  const stepsOf = (h) =>
    d
      .prepare(
        `SELECT s.id FROM step s JOIN step_output o ON o.step_id = s.id WHERE o.object_hash = unhex(?) ORDER BY s.id`,
      )
      .pluck()
      .all(h);
  assert.deepEqual(
    j.map((o) => o.step),
    [stepsOf(sha256('AB\n'))[0], stepOf(sha256('CD\n')), stepsOf(sha256('AB\n'))[1]],
  );
  d.close();
});

test('after an edit, ls and status show only the current version; -all adds the old one, marked', (t) => {
  const ws = twoVersionDb(t);
  const cur = cli(['ls', '-db', ws.db, '-task', 'upper']).stdout;
  assert.ok(cur.includes(sha256('BA\n')) && cur.includes(sha256('DC\n')), cur);
  assert.ok(!cur.includes(sha256('AB\n')), cur);
  const all = cli(['ls', '-db', ws.db, '-task', 'upper', '-all']).stdout;
  for (const s of ['AB\n', 'CD\n', 'BA\n', 'DC\n'])
    assert.ok(all.includes(sha256(s)), `${JSON.stringify(s)} in\n${all}`);

  const status = cli(['status', '-db', ws.db]);
  assert.equal(status.code, 0, status.stderr);
  const rows = status.stdout.split('\n').filter((l) => /^(split|upper) /.test(l));
  assert.equal(rows.length, 2, status.stdout);
  assert.doesNotMatch(status.stdout, / old /);
  assert.match(status.stdout, /history hidden \(-all shows it\)/);
  const statusAll = cli(['status', '-db', ws.db, '-all']).stdout;
  const upperRows = statusAll.split('\n').filter((l) => l.startsWith('upper '));
  assert.equal(upperRows.length, 2, statusAll);
  assert.match(upperRows[1], /^upper +[0-9a-f]{8} old /);

  const j = JSON.parse(cli(['status', '-db', ws.db, '-all', '-json']).stdout);
  const versions = j.tasks.filter((x) => x.name === 'upper');
  assert.deepEqual(
    versions.map((v) => [v.current, v.done]),
    [
      [true, 2],
      [false, 2],
    ],
  );
  assert.deepEqual(Object.keys(j.tasks[0]), [
    'name',
    'taskId',
    'version',
    'current',
    'pending',
    'running',
    'done',
    'failed',
    'reused',
    'merged',
    'objects',
    'bytes',
    'cpuMs',
    'cpuUserMs',
    'cpuSysMs',
    'maxRssKb',
    'changed',
  ]);
});

test('status counts steps by state, reuse by the latest run, and the objects and bytes of the outputs', (t) => {
  const ws = twoVersionDb(t);
  const j = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout);
  assert.equal(j.latestRun.id, 2);
  assert.equal(j.latestRun.exitCode, 0);
  const [split, upper] = j.tasks;
  // Run 2 executed only the edited upper: split's step is reused, upper's two are new.
  assert.deepEqual([split.name, split.done, split.reused, split.objects, split.bytes], ['split', 1, 1, 2, 6]);
  assert.deepEqual([upper.name, upper.done, upper.reused, upper.objects, upper.bytes], ['upper', 2, 0, 2, 6]);
  assert.equal(upper.pending + upper.running + upper.failed, 0);
  // Nothing changes on a third run: everything is reuse.
  run(ws);
  const again = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout);
  assert.deepEqual(
    again.tasks.map((x) => x.reused),
    [1, 2],
  );
  const help = cli(['status', '--help']).stdout;
  assert.match(help, /reused: done steps that the latest run did not execute/);
});

test('status shows the disk the db takes by part, and what gc -history would free: the objects gc -history -dry-run lists', (t) => {
  const ws = twoVersionDb(t);
  const text = cli(['status', '-db', ws.db]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /\ndisk: \S+ \S+: objects \S+ \S+ \(estimated from their sizes\), \d+ shard directories \S+ \S+, SQLite \S+ \S+; gc -history would free \d+ objects \(\d+ B, \S+ \S+ on disk\)\n$/,
  );
  const { disk } = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout);
  assert.equal(disk.total, disk.objects + disk.shardDirs + disk.sqlite);
  for (const k of ['objects', 'shardDirs', 'shardDirCount', 'sqlite']) assert.ok(disk[k] > 0, k);
  // The old version of upper left outputs only history names.
  const gc = cli(['gc', '-db', ws.db, '-history', '-dry-run']);
  assert.equal(gc.code, 0, gc.stderr);
  const would = gc.stdout
    .match(/^would delete [0-9a-f]{64}  (\d+) B$/gm)
    .map((l) => Number(l.split('  ')[1].split(' ')[0]));
  assert.ok(would.length > 0);
  assert.deepEqual(
    { objects: disk.historyFrees.objects, bytes: disk.historyFrees.bytes },
    { objects: would.length, bytes: would.reduce((a, b) => a + b, 0) },
  );
  const dry = cli(['gc', '-db', ws.db, '-dry-run']);
  assert.match(dry.stdout, new RegExp(`; gc -history would free ${would.length} objects \\(`));
});

// A db with 100,000 pending steps took minutes: "merged" asked `f.id IN (SELECT id FROM
// status_step)`, which SQLite ran as a loop over the whole set for every step. Checked on the plan,
// not a clock: every statement reaches step, step_link and step_output through a key.
test('status: every statement of the current graph reaches step, step_link and step_output by a key, never a scan or an IN loop', async (t) => {
  const ws = twoVersionDb(t);
  const { TASK_STATUS_SQL } = await import('../dist/store/inspect/task-status.js');
  const { registerFunctions } = await import('../dist/store/database.js');
  const d = await openDb(ws.db);
  t.after(() => d.close());
  registerFunctions(d);
  d.exec(TASK_STATUS_SQL.setup);
  const scan = /^SCAN (step|step_output|step_link|s|o|l|t|f)( |$)/;
  for (const key of [
    'fillCurrent',
    'currentCounts',
    'currentObjects',
    'currentMerged',
    'currentResources',
    'allMerged',
  ]) {
    const plan = d
      .prepare(`EXPLAIN QUERY PLAN ${TASK_STATUS_SQL[key]}`)
      .all(...(key.endsWith('Counts') ? [{ latest: 1 }] : []))
      .map((r) => r.detail);
    const text = `${key}:\n${plan.join('\n')}`;
    if (key !== 'allMerged') assert.ok(!plan.some((l) => scan.test(l)), text);
    assert.ok(!plan.some((l) => /FOR IN-OPERATOR/.test(l)), text);
    if (key.endsWith('Merged'))
      assert.ok(
        plan.some((l) => /SEARCH l USING COVERING INDEX idx_step_link_to \(to_step_id=\?\)$/.test(l)),
        text,
      );
  }
});

test('ls of an unknown task exits 2 and suggests the nearest name; a task gone from the manifest says so', (t) => {
  const ws = twoVersionDb(t);
  const r = cli(['ls', '-db', ws.db, '-task', 'uper']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no task "uper" in .* \(did you mean "upper"\?\)/);
  const far = cli(['export', '-db', ws.db, '-task', 'zzzzzz', '-out', ws.path('o')]);
  assert.equal(far.code, 2);
  assert.match(far.stderr, /its tasks: split, upper/);
  ws.write('m.toml', manifest(V2).replace('name = "upper"', 'name = "shout"'));
  run(ws);
  const gone = cli(['ls', '-db', ws.db, '-task', 'upper']);
  assert.equal(gone.code, 0);
  assert.equal(gone.stdout, '');
  assert.match(gone.stderr, /not in the latest manifest/);
  assert.notEqual(cli(['ls', '-db', ws.db, '-task', 'upper', '-all']).stdout, '');
});

test('log of a failed step prints its output, then exit code, error, status, attempts, timings, task and input', async (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write(
    'm.toml',
    `
[[task]]
name = "boom"
script = 'echo "reading $INPUT_NAME"; echo "it went wrong" >&2; exit 3'
`,
  );
  ws.write('in.txt', 'x\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-quiet']);
  assert.equal(r.code, 1);
  const d = await openDb(ws.db);
  const id = d.prepare(`SELECT id FROM step WHERE status = 'failed'`).pluck().get();
  d.close();
  const log = cli(['log', '-db', ws.db, String(id)]);
  assert.equal(log.code, 0, log.stderr);
  const [out, details] = log.stdout.split(`--- step ${id} ---\n`);
  assert.equal(out, 'reading in.txt\nit went wrong\n');
  assert.match(details, /^step: +\d+$/m);
  assert.match(details, /^task: +boom \(version [0-9a-f]{8}\)$/m);
  assert.match(details, new RegExp(`^input: +in\\.txt ${sha256('x\n')}$`, 'm'));
  assert.match(details, /^status: +failed$/m);
  assert.match(details, /^exit code: 3$/m);
  assert.match(details, /^error: +exit code 3$/m);
  assert.match(details, /^attempts: +1$/m);
  assert.match(details, /^started: +\d{4}-\d\d-\d\dT/m);
  assert.match(details, /^finished: +\d{4}-\d\d-\d\dT/m);
  assert.match(details, /^duration: +\d/m);
  assert.match(details, /^log: +[0-9a-f]{64} \(29 B\)$/m);
});

test('log of an unknown step or a non-number exits 2', (t) => {
  const ws = twoVersionDb(t);
  const unknown = cli(['log', '-db', ws.db, '999']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no step 999 in .* \(step ids go from 1 to \d+\)/);
  const bad = cli(['log', '-db', ws.db, 'abc']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"abc" is not a step id/);
});

test('log and status of a step while it runs: its output so far, and the running count', async (t) => {
  const ws = workspace(t, 'tp-inspect-');
  ws.write(
    'm.toml',
    `
[[task]]
name = "slow"
script = 'echo "halfway there"; touch "$MARK"; sleep 30; echo never > "$OUTPUT_DIR/x"'
`,
  );
  ws.write('in.txt', 'x\n');
  const engine = cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-quiet'], {
    env: { MARK: ws.path('mark') },
  });
  const done = exited(engine);
  t.after(() => engine.kill('SIGKILL'));
  const { existsSync } = await import('node:fs');
  await waitFor(() => existsSync(ws.path('mark')), 20_000, 'the script to start');
  const log = cli(['log', '-db', ws.db, '1']);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /^halfway there\n--- step 1 ---\n/);
  assert.match(log.stdout, /^status: +running$/m);
  assert.match(log.stdout, /^log: +\(running: the output above so far, from .*tmp\/slot-\d+\/log\)$/m);
  const status = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout);
  assert.equal(status.tasks[0].running, 1);
  assert.equal(status.latestRun.finishedAt, null);
  engine.kill('SIGINT');
  assert.equal((await done).code, 130);
});

test('a listing piped into a reader that stops early (`| head`) ends quietly with exit 0, no stack trace', (t) => {
  const ws = workspace(t);
  const m = ws.write('m.toml', '[[task]]\nname = "split"\nscript = \'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"\'\n');
  // 3,000 lines: ~600 KB of `ls -json`, far more than a pipe holds.
  ws.write('in/many.txt', Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n') + '\n');
  assert.equal(cli(['-manifest', m, '-db', ws.db, '-input', ws.path('in'), '-quiet']).code, 0);
  const line = `"${process.execPath}" "${CLI}" ls -db "${ws.db}" -task split -json | head -c 100 >/dev/null`;
  const r = spawnSync('bash', ['-c', `${line}; echo "exit \${PIPESTATUS[0]}" >&2`], {
    encoding: 'utf8',
  });
  assert.equal(r.stderr, 'exit 0\n');
});
