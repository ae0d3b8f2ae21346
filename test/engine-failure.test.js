import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, isEmptyDir, openDb, workspace } from './helpers.js';
import { linesOf } from './helpers.js';

const PIPE = (bad) => `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/n-"'

[[task]]
name = "check"
script = '''
echo "check $(cat "$INPUT_FILE")" >> "$RUNS"
if [ "$(cat "$INPUT_FILE")" = "${bad}" ]; then echo "cannot handle ${bad}" >&2; exit 3; fi
cp "$INPUT_FILE" "$OUTPUT_DIR/ok"
'''

[[task]]
name = "after"
script = '''
echo "after $(cat "$INPUT_FILE")" >> "$RUNS"
cat "$INPUT_FILE" "$INPUT_FILE" > "$OUTPUT_DIR/twice"
'''
`;

const runs = (ws) => linesOf(ws.path('runs'));

test('one failing step: exit 1, siblings and their descendants complete; the fixed re-run runs only what failed and what follows', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', PIPE('2'));
  ws.write('in.txt', '1\n2\n3\n');
  const env = { RUNS: ws.path('runs') };
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /1 step failed/);
  assert.match(r.stderr, /check step \d+: exit code 3/);
  assert.match(r.stderr, /\| cannot handle 2/);
  assert.match(r.stderr, /see: task-pipeline log -db .* \d+/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  assert.deepEqual(runs(ws).sort(), ['after 1', 'after 3', 'check 1', 'check 2', 'check 3']);
  assert.ok(isEmptyDir(ws.path('db', 'tmp')), 'tmp/ is empty after a failure');

  const d = await openDb(ws.db);
  const failed = d
    .prepare(
      `SELECT s.exit_code, s.error, a.log_hash FROM step s JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts WHERE s.status = 'failed'`,
    )
    .all();
  d.close();
  assert.equal(failed.length, 1);
  assert.equal(failed[0].exit_code, 3);
  assert.ok(failed[0].log_hash, 'the failed step keeps its log');

  // Fixed: only the failed step and its descendant run.
  ws.write('m.toml', PIPE('never'));
  const before = runs(ws).length;
  const fixed = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  assert.equal(fixed.code, 0, fixed.stderr);
  // The edited "check" is a new version: it re-runs on all three lines, but "after" sees the
  // same bytes for 1 and 3 (early cutoff) and runs only for 2.
  assert.deepEqual(runs(ws).slice(before).sort(), ['after 2', 'check 1', 'check 2', 'check 3']);
});

test('a failed step is retried by the next run, without editing anything', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "flaky"
script = '''
echo run >> "$RUNS"
[ -e "$FLAG" ] || { echo "not yet" >&2; exit 1; }
echo fine > "$OUTPUT_DIR/out"
'''
`,
  );
  const env = { RUNS: ws.path('runs'), FLAG: ws.path('flag') };
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env }).code, 1);
  ws.write('flag', '');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(runs(ws).length, 2);
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env }).code, 0);
  assert.equal(runs(ws).length, 2, 'done now: never again');
});

test('a step that leaves a symlink in OUTPUT_DIR fails with a message and stores nothing of it', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "links"
script = 'echo data > "$OUTPUT_DIR/real"; ln -s /etc/passwd "$OUTPUT_DIR/sneaky"'
`,
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /OUTPUT_DIR holds a symlink "sneaky"/);
});

test('a script that writes to its INPUT_FILE fails; the damaged object leaves the store, and the same input brings it back', async (t) => {
  const ws = workspace(t);
  // INPUT_FILE is the object itself (a hard link): a root script can overwrite it. The bytes are
  // then moved to damaged/, never left in the store under a name they do not hash to.
  ws.write(
    'm.toml',
    `
[[task]]
name = "vandal"
script = '[ -n "\${FIXED:-}" ] || { chmod u+w "$INPUT_FILE"; echo overwritten > "$INPUT_FILE"; }; echo x > "$OUTPUT_DIR/x"'
`,
  );
  ws.write('in.txt', 'precious\n');
  const run = (env = {}) => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  const r = run();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /modified its INPUT_FILE/);
  const fs = await import('node:fs');
  const { objectPath, sha256 } = await import('./helpers.js');
  const h = sha256('precious\n');
  assert.equal(fs.existsSync(objectPath(ws.db, h)), false);
  assert.equal(fs.readFileSync(ws.path('db', 'damaged', h), 'utf8'), 'overwritten\n');
  assert.equal(run({ FIXED: '1' }).code, 0);
  assert.equal(fs.readFileSync(objectPath(ws.db, h), 'utf8'), 'precious\n');
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
});

test("a hard link a script keeps to its INPUT_FILE keeps that step's bytes", (t) => {
  // The link the script keeps is the object itself; the slot's own link is removed after the
  // step, never written through (a later step in the slot must not change what it kept).
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `[[task]]\nname = "keep"\nscript = 'ln "$INPUT_FILE" "$KEEP/$INPUT_NAME"; echo ok > "$OUTPUT_DIR/o"'\n`,
  );
  const inputs = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const n of inputs) ws.write(`in/${n}.txt`, `input number ${n}\n`);
  ws.write('kept/.keep', '');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '1'], {
    env: { KEEP: ws.path('kept') },
  });
  assert.equal(r.code, 0, r.stderr);
  for (const n of inputs) assert.equal(ws.read(`kept/${n}.txt`), `input number ${n}\n`);
});
