// Every attempt of a step is recorded (a failure, each retry, a later run's) and `log` shows them
// all: exit code or error, duration, CPU and peak RSS ("not measured" when the executor did not
// say), the output of the latest or of -attempt N; -json carries them; status sums the cost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli, objectPath, openDb, sha256, workspace } from './helpers.js';

// Fails with exit code 10 + n on its n-th try until the third: a state file outside the db counts.
const FLAKY = `
[[task]]
name = "flaky"
retries = 2
script = 'n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$COUNTER"; echo "try $n"; [ $n -ge 3 ] || exit $((10 + n)); echo ok > "$OUTPUT_DIR/out"'
`;

async function flakyDb(t) {
  const ws = workspace(t, 'tp-attempts-');
  ws.write('m.toml', FLAKY);
  ws.write('in.txt', 'x\n');
  const env = { COUNTER: ws.path('counter') };
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-quiet'], { env });
  assert.equal(r.code, 0, r.stderr);
  const d = await openDb(ws.db);
  const id = d.prepare(`SELECT id FROM step`).pluck().get();
  d.close();
  return { ws, id };
}

test('a step that fails twice, then succeeds with retries = 2: log shows 3 attempts with their exit codes', async (t) => {
  const { ws, id } = await flakyDb(t);
  const log = cli(['log', '-db', ws.db, String(id)]);
  assert.equal(log.code, 0, log.stderr);
  const [out, details] = log.stdout.split(`--- step ${id} ---\n`);
  assert.equal(out, 'try 3\n');
  assert.match(details, /^status: +done$/m);
  assert.match(details, /^attempts: +3$/m);
  // The duration is said to be the latest attempt's, not the step's.
  assert.match(details, /^duration: +\d+(?:\.\d+)? m?s \(attempt 3 of 3; each attempt is listed below\)$/m);
  assert.match(details, /^output: +attempt 3's, above \(the latest\); -attempt N prints another$/m);
  const table = details
    .slice(details.indexOf('\nattempt ') + 1)
    .split('\n')
    .filter((l) => l !== '');
  assert.match(table[0], /^attempt +run +started +duration +CPU user \+ sys +peak RSS +result$/);
  const rows = table.slice(1);
  assert.equal(rows.length, 3, details);
  const results = ['exit code 11', 'exit code 12', 'ok'];
  rows.forEach((row, i) => {
    // CPU and peak RSS: measured by the C helper, "not measured" by the execa fallback.
    const cost =
      '(?:\\d+(?:\\.\\d+)? m?s \\+ \\d+(?:\\.\\d+)? m?s +\\d+(?:\\.\\d+)? (?:B|KiB|MiB|GiB)|not measured +not measured)';
    assert.match(
      row,
      new RegExp(`^ *${i + 1} +1 +\\d{4}-\\d\\d-\\d\\dT\\S+ +\\d+(?:\\.\\d+)? m?s +${cost} +${results[i]}$`),
      row,
    );
  });
});

test("log -attempt N prints that attempt's output and says which; an attempt that is not there is a one-line error", async (t) => {
  const { ws, id } = await flakyDb(t);
  const first = cli(['log', '-db', ws.db, String(id), '-attempt', '1']);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(first.stdout.startsWith(`try 1\n--- step ${id} ---\n`), first.stdout);
  assert.match(first.stdout, /^output: +attempt 1's, above; -attempt N prints another$/m);
  assert.match(first.stdout, new RegExp(`^log: +${sha256('try 1\n')} \\(6 B\\)$`, 'm'));

  const none = cli(['log', '-db', ws.db, String(id), '-attempt', '4']);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, '');
  assert.equal(none.stderr, `task-pipeline: log: step ${id} has no attempt 4: it has had 3 (recorded: 1, 2, 3)\n`);
  const zero = cli(['log', '-db', ws.db, String(id), '-attempt', '0']);
  assert.equal(zero.code, 2);
  assert.equal(zero.stderr, 'task-pipeline: log: -attempt must be a positive integer, not "0"\n');
  const both = cli(['log', '-db', ws.db, String(id), '-attempt', '1', '-json']);
  assert.equal(both.code, 2);
  assert.equal(
    both.stderr,
    'task-pipeline: log: -json prints no output, so -attempt has nothing to choose (every attempt is in the JSON)\n',
  );
});

test('log -json carries every attempt: exit code, signal, error, times, log, CPU and peak RSS', async (t) => {
  const { ws, id } = await flakyDb(t);
  const r = cli(['log', '-db', ws.db, String(id), '-json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.stepId, id);
  assert.equal(j.task, 'flaky');
  assert.equal(j.status, 'done');
  assert.equal(j.attemptCount, 3);
  assert.deepEqual(j.log, { hash: sha256('try 3\n'), size: 6 });
  assert.deepEqual(
    j.attempts.map((a) => [a.attempt, a.status, a.exitCode, a.error, a.signal, a.timedOut, a.runId]),
    [
      [1, 'failed', 11, 'exit code 11', null, false, 1],
      [2, 'failed', 12, 'exit code 12', null, false, 1],
      [3, 'done', 0, null, null, false, 1],
    ],
  );
  assert.deepEqual(
    j.attempts.map((a) => a.log.hash),
    ['try 1\n', 'try 2\n', 'try 3\n'].map(sha256),
  );
  for (const a of j.attempts) {
    assert.equal(a.durationMs, a.endedAt - a.startedAt);
    assert.ok(a.durationMs >= 0);
    // Numbers where the C helper measured them, null (never 0) where the executor does not.
    for (const v of [a.cpuUserMs, a.cpuSysMs, a.maxRssKb])
      assert.ok(v === null || (Number.isInteger(v) && v >= 0), String(v));
  }
  // The retries waited their backoff between attempts.
  assert.ok(j.attempts[1].startedAt >= j.attempts[0].endedAt && j.attempts[2].startedAt >= j.attempts[1].endedAt);
});

test("a failed step run again by a later run: both runs' attempts, each with its run", async (t) => {
  const ws = workspace(t, 'tp-attempts-');
  ws.write(
    'm.toml',
    `
[[task]]
name = "wait"
script = '[ -e "$READY" ] || { echo "not ready" >&2; exit 4; }; echo go > "$OUTPUT_DIR/go"'
`,
  );
  ws.write('in.txt', 'x\n');
  const env = { READY: ws.path('ready') };
  const args = ['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet'];
  assert.equal(cli([...args, '-input', ws.path('in.txt')], { env }).code, 1);
  ws.write('ready', '');
  assert.equal(cli(args, { env }).code, 0);
  const j = JSON.parse(cli(['log', '-db', ws.db, '1', '-json']).stdout);
  assert.deepEqual(
    j.attempts.map((a) => [a.attempt, a.runId, a.status, a.exitCode]),
    [
      [1, 1, 'failed', 4],
      [2, 2, 'done', 0],
    ],
  );
  const again = cli(['log', '-db', ws.db, '1', '-attempt', '1']);
  assert.ok(again.stdout.startsWith('not ready\n--- step 1 ---\n'), again.stdout);
  // The earlier attempt's log is referenced: gc keeps it.
  assert.equal(cli(['gc', '-db', ws.db]).code, 0);
  assert.equal(cli(['log', '-db', ws.db, '1', '-attempt', '1']).stdout, again.stdout);
});

test("fsck names a missing earlier attempt's log; -repair drops it, and log says none is stored", async (t) => {
  const { ws, id } = await flakyDb(t);
  const first = sha256('try 1\n');
  rmSync(objectPath(ws.db, first));
  const check = cli(['fsck', '-db', ws.db]);
  assert.equal(check.code, 1);
  assert.match(
    check.stdout,
    new RegExp(`^missing   ${first}: no file at \\S+; named by earlier attempt log, object row$`, 'm'),
  );
  assert.equal(cli(['fsck', '-db', ws.db, '-repair']).code, 0);
  const log = cli(['log', '-db', ws.db, String(id), '-attempt', '1']);
  assert.equal(log.code, 0, log.stderr);
  assert.ok(log.stdout.startsWith(`--- step ${id} ---\n`), log.stdout);
  assert.match(log.stdout, /^log: +\(none stored\)$/m);
  assert.equal(JSON.parse(cli(['log', '-db', ws.db, String(id), '-json']).stdout).attempts[0].log, null);
});

test('log of an unknown step id is one line on stderr, exit 2', async (t) => {
  const { ws } = await flakyDb(t);
  const r = cli(['log', '-db', ws.db, '999']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `task-pipeline: no step 999 in ${ws.db} (step ids go from 1 to 1)\n`);
});

test('status sums CPU and takes the highest peak RSS over current done steps; log shows them per attempt', async (t) => {
  const ws = workspace(t, 'tp-attempts-');
  ws.write(
    'm.toml',
    `
[[task]]
name = "copy"
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/c"'
`,
  );
  ws.write('in/a.txt', 'a\n');
  ws.write('in/b.txt', 'b\n');
  // The execa fallback measures nothing: the columns stay away until something is measured.
  const env = { TASK_PIPELINE_EXECUTOR: 'execa' };
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-quiet'], { env }).code, 0);
  const plain = cli(['status', '-db', ws.db]);
  assert.doesNotMatch(plain.stdout, /cpu|peak RSS/, 'no resource columns while nothing was measured');
  assert.deepEqual(pick(JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout).tasks[0]), [null, null, null, null]);

  // What an executor that measures would have recorded.
  const { default: Database } = await import('better-sqlite3');
  const w = new Database(ws.path('db', 'pipeline.sqlite'));
  const set = w.prepare('UPDATE attempt SET cpu_user_ms = ?, cpu_sys_ms = ?, max_rss_kb = ? WHERE step_id = ?');
  set.run(1200, 300, 2048, 1);
  set.run(40, 10, 5120, 2);
  w.close();
  const s = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout).tasks[0];
  assert.deepEqual(pick(s), [1550, 1240, 310, 5120]);
  const text = cli(['status', '-db', ws.db]).stdout;
  assert.match(text, /^task +version +pending +running +done +failed +reused +merged +objects +bytes +cpu +peak RSS$/m);
  assert.match(text, /^copy +[0-9a-f]{8} +0 +0 +2 +0 +0 +0 +2 +4 B +1\.55 s +5\.0 MiB$/m);
  const log = cli(['log', '-db', ws.db, '1']).stdout;
  assert.match(log, /^ +1 +1 +\S+ +\d+(?:\.\d+)? m?s +1\.20 s \+ 300 ms +2\.0 MiB +ok$/m);
});

function pick(t) {
  return [t.cpuMs, t.cpuUserMs, t.cpuSysMs, t.maxRssKb];
}

test("a step's attempts, and status's cost per task, are read by key: no scan of attempt", async (t) => {
  const { ws } = await flakyDb(t);
  const { STEP_ATTEMPTS_SQL } = await import('../dist/store/inspect/step-attempts.js');
  const { TASK_STATUS_SQL } = await import('../dist/store/inspect/task-status.js');
  const { default: Database } = await import('better-sqlite3');
  const d = new Database(ws.path('db', 'pipeline.sqlite'));
  t.after(() => d.close());
  d.exec(TASK_STATUS_SQL.setup);
  for (const [name, sql, args] of [
    ['attempts', STEP_ATTEMPTS_SQL, [1]],
    ['current', TASK_STATUS_SQL.currentResources, []],
    ['all', TASK_STATUS_SQL.allResources, []],
  ]) {
    const plan = d
      .prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .all(...args)
      .map((r) => r.detail);
    assert.ok(!plan.some((l) => /^SCAN (a|attempt)( |$)/.test(l)), `${name} scans attempt:\n${plan.join('\n')}`);
    assert.ok(
      plan.some((l) => /SEARCH a USING PRIMARY KEY \(step_id=\?/.test(l)),
      `${name}:\n${plan.join('\n')}`,
    );
  }
});

const HELPER = join(import.meta.dirname, '..', 'dist', 'executor', 'native', 'task-pipeline-spawner');

test('the C helper measures each attempt: CPU time and peak RSS of the script, in log, log -json and status -json', async (t) => {
  if (!existsSync(HELPER)) return t.skip('the C helper was not built here: nothing measures CPU and RSS');
  const ws = workspace(t, 'tp-attempts-');
  // About 0.3 s of CPU and 60 MB held at once, whatever the machine's load (CPU time, not wall time).
  ws.write(
    'm.toml',
    `
[[task]]
name = "burn"
script = '''python3 -c "b = bytearray(60 * 2**20)
s = 0
for i in range(3 * 10**6): s += i" > "$OUTPUT_DIR/done"'''
`,
  );
  ws.write('in.txt', 'x\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-quiet']);
  assert.equal(r.code, 0, r.stderr);
  const [a] = JSON.parse(cli(['log', '-db', ws.db, '1', '-json']).stdout).attempts;
  assert.ok(a.cpuUserMs + a.cpuSysMs >= 150, `CPU ${a.cpuUserMs} + ${a.cpuSysMs} ms`);
  assert.ok(a.maxRssKb >= 60 * 1024, `peak RSS ${a.maxRssKb} kB`);
  const s = JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout).tasks[0];
  assert.deepEqual(pick(s), [a.cpuUserMs + a.cpuSysMs, a.cpuUserMs, a.cpuSysMs, a.maxRssKb]);
  const text = cli(['log', '-db', ws.db, '1']).stdout;
  assert.doesNotMatch(text, /not measured/);
  assert.match(cli(['status', '-db', ws.db]).stdout, /cpu +peak RSS$/m);
});
