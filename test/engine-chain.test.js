import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cli, isEmptyDir, listObjects, objectPath, openDb, sha256, workspace } from './helpers.js';
import { linesOf } from './helpers.js';

// Every script appends "task input" to $RUNS, so a test can count what really ran.
const CHAIN = `
[[task]]
name = "split"
script = '''
echo "split $INPUT_NAME" >> "$RUNS"
split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"
'''

[[task]]
name = "upper"
script = '''
echo "upper $INPUT_NAME" >> "$RUNS"
tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"
'''

[[task]]
name = "count"
script = '''
echo "count $INPUT_NAME" >> "$RUNS"
wc -c < "$INPUT_FILE" | tr -d ' ' > "$OUTPUT_DIR/n"
'''
`;

function runsOf(ws) {
  return linesOf(ws.path('runs'));
}

async function outputsOf(db, task) {
  const d = await openDb(db);
  try {
    return d
      .prepare(
        `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM step_output o JOIN step s ON s.id = o.step_id
                      JOIN task t ON t.id = s.task WHERE t.name = ? ORDER BY o.object_hash`,
      )
      .all(task);
  } finally {
    d.close();
  }
}

test('a three-task chain runs each script once per distinct object, stores by SHA-256, and a re-run runs nothing', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', CHAIN);
  ws.write('in.txt', 'alpha\nbeta\nalpha\ngamma\n');
  const env = { RUNS: ws.path('runs') };
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  assert.equal(r.code, 0, r.stderr);

  const runs = runsOf(ws);
  assert.equal(runs.filter((l) => l.startsWith('split')).length, 1);
  // A step is (task version, bytes, name): the two "alpha" lines are line-aa and line-ac, two
  // items, so upper runs 4 times; both write `up` = ALPHA, one item for count, which runs 3 times.
  assert.equal(runs.filter((l) => l.startsWith('upper')).length, 4);
  assert.equal(runs.filter((l) => l.startsWith('count')).length, 3);

  const ups = await outputsOf(ws.db, 'upper');
  const upBytes = ups.map((o) => readFileSync(objectPath(ws.db, o.hash), 'utf8')).sort();
  assert.deepEqual(upBytes, ['ALPHA\n', 'ALPHA\n', 'BETA\n', 'GAMMA\n']);
  const counts = await outputsOf(ws.db, 'count');
  assert.deepEqual(counts.map((o) => readFileSync(objectPath(ws.db, o.hash), 'utf8')).sort(), ['5\n', '6\n', '6\n']);

  // Every object file is named by the SHA-256 of its bytes, and is read-only.
  const objects = listObjects(ws.db);
  assert.ok(objects.length >= 8);
  for (const o of objects) {
    assert.equal(sha256(readFileSync(o.path)), o.hash);
    assert.equal(statSync(o.path).mode & 0o222, 0, `${o.hash} is writable`);
  }
  assert.ok(isEmptyDir(ws.path('db', 'tmp')), 'tmp/ is empty after the run');

  const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(runsOf(ws).length, runs.length, 'the re-run ran no script');
  assert.match(again.stdout, /0 steps run/);
});

test('editing a task so it writes the same bytes re-runs that task only (early cutoff)', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', CHAIN);
  ws.write('in.txt', 'alpha\nbeta\n');
  const env = { RUNS: ws.path('runs') };
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env }).code, 0);
  const before = runsOf(ws).length;

  // Same output bytes, different script text: a new version of "upper".
  ws.write('m.toml', CHAIN.replace('tr a-z A-Z < "$INPUT_FILE"', "cat \"$INPUT_FILE\" | tr '[:lower:]' '[:upper:]'"));
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
  assert.equal(r.code, 0, r.stderr);
  const newRuns = runsOf(ws).slice(before);
  assert.deepEqual(newRuns.map((l) => l.split(' ')[0]).sort(), ['upper', 'upper']);
});

test('adding an input file processes only what is new', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', CHAIN);
  ws.write('a.txt', 'alpha\nbeta\n');
  ws.write('b.txt', 'beta\ndelta\n');
  const env = { RUNS: ws.path('runs') };
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('a.txt')], { env }).code, 0);
  const before = runsOf(ws).length;
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('b.txt')], { env });
  assert.equal(r.code, 0, r.stderr);
  const newRuns = runsOf(ws).slice(before);
  // b.txt is split once. Its parts are new items (line-aa now holds "beta", line-ab "delta"),
  // but `up` = BETA was counted for a.txt already: only DELTA is new to count.
  assert.deepEqual(newRuns.sort(), ['count up', 'split b.txt', 'upper line-aa', 'upper line-ab']);
});

test('a root with no input runs once on an empty INPUT_FILE, and never again while unchanged', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "gen"
script = '''
echo "gen size=$(wc -c < "$INPUT_FILE") name=[$INPUT_NAME] hash=$INPUT_HASH" >> "$RUNS"
seq 1 3 > "$OUTPUT_DIR/nums"
'''
`,
  );
  const env = { RUNS: ws.path('runs') };
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env }).code, 0);
  assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env }).code, 0);
  const runs = runsOf(ws);
  assert.deepEqual(runs, ['gen size=0 name=[] hash=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']);
});

test('the script environment: names, ids, TMPDIR, cwd, nested outputs, env, shell', async (t) => {
  const ws = workspace(t);
  ws.write('tools/hello.sh', 'echo hello-from-tool\n');
  ws.write(
    'm.toml',
    `
[[task]]
name = "env"
env = { GREETING = "hi there" }
shell = ["bash", "-euo", "pipefail", "-c"]
script = '''
out_empty=$(ls -A "$OUTPUT_DIR" | wc -l)
mkdir -p "$OUTPUT_DIR/deep/er"
{
  echo "name=$INPUT_NAME"
  echo "hash=$INPUT_HASH"
  echo "task=$TASK_NAME"
  echo "step=$STEP_ID"
  echo "greeting=$GREETING"
  echo "input_base=$(basename "$INPUT_FILE")"
  echo "tmpdir_empty=$(ls -A "$TMPDIR" | wc -l)"
  echo "out_empty=$out_empty"
  echo "tool=$(sh ./tools/hello.sh)"
  echo "writable_input=$( [ -w "$INPUT_FILE" ] && [ "$(id -u)" != 0 ] && echo yes || echo no)"
} > "$OUTPUT_DIR/deep/er/report.txt"
touch "$TMPDIR/scratch"
'''
`,
  );
  ws.write('inputs/sub/data.csv', 'x,y\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('inputs')]);
  assert.equal(r.code, 0, r.stderr);
  const [out] = await outputsOf(ws.db, 'env');
  assert.equal(out.name, 'deep/er/report.txt');
  const report = Object.fromEntries(
    readFileSync(objectPath(ws.db, out.hash), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=')),
  );
  assert.equal(report.name, 'sub/data.csv');
  assert.equal(report.hash, sha256('x,y\n'));
  assert.equal(report.task, 'env');
  assert.match(report.step, /^\d+$/);
  assert.equal(report.greeting, 'hi there');
  assert.equal(report.input_base, 'data.csv');
  assert.equal(report.tmpdir_empty, '0');
  assert.equal(report.out_empty, '0');
  assert.equal(report.tool, 'hello-from-tool');
  assert.equal(report.writable_input, 'no');
});

test('outputs and input copies of every size around the read boundaries keep their exact bytes', async (t) => {
  const ws = workspace(t);
  // 64 KiB is read in one call without a stat, 1 MiB through one read after a stat, bigger streamed.
  const sizes = [0, 1, 65535, 65536, 65537, 1048576, 1048577];
  ws.write(
    'm.toml',
    `
[[task]]
name = "make"
script = 'for n in ${sizes.join(' ')}; do head -c $n /dev/urandom > "$OUTPUT_DIR/f$n"; done'
[[task]]
name = "copy"
script = 'cp "$INPUT_FILE" "$OUTPUT_DIR/copy"'
`,
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 0, r.stderr);
  const made = await outputsOf(ws.db, 'make');
  assert.equal(made.length, sizes.length);
  for (const o of made) {
    const bytes = readFileSync(objectPath(ws.db, o.hash));
    assert.equal(bytes.length, Number(o.name.slice(1)), o.name);
    assert.equal(sha256(bytes), o.hash, o.name);
  }
  const copies = await outputsOf(ws.db, 'copy');
  assert.deepEqual(copies.map((c) => c.hash).sort(), made.map((m) => m.hash).sort());
});

test('TMPDIR is empty for every step, also in a working directory reused after its scratch settled', async (t) => {
  const ws = workspace(t);
  // Slow steps, one at a time. Each working directory (known by its scratch dir's inode) is
  // left alone by the first step there (after which the engine trusts its unchanged mtime
  // instead of listing it), written to by the second, checked by the third, and so on.
  ws.write(
    'm.toml',
    `
[[task]]
name = "scratch"
parallel = 1
script = """
uses="$STATE/$(stat -c %i "$TMPDIR")"
n=$(cat "$uses" 2>/dev/null || echo 0)
echo $((n + 1)) > "$uses"
ls -A "$TMPDIR" | wc -l | tr -d ' ' > "$OUTPUT_DIR/seen"
if [ $((n % 2)) = 1 ]; then mkdir "$TMPDIR/d"; touch "$TMPDIR/d/f" "$TMPDIR/left-$INPUT_NAME"; fi
sleep 0.3
"""
`,
  );
  const names = 'abcdefghijkl'.split('');
  for (const n of names) ws.write(`inputs/${n}`, n);
  mkdirSync(ws.path('state'));
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('inputs'), '-parallel', '1'], {
    env: { STATE: ws.path('state') },
  });
  assert.equal(r.code, 0, r.stderr);
  const outs = await outputsOf(ws.db, 'scratch');
  assert.equal(outs.length, names.length);
  for (const o of outs) assert.equal(readFileSync(objectPath(ws.db, o.hash), 'utf8'), '0\n');
  // The test means something only if some directory was used three times or more.
  const uses = readdirSync(ws.path('state')).map((f) => Number(readFileSync(ws.path(`state/${f}`), 'utf8')));
  assert.ok(Math.max(...uses) >= 3, `uses per working directory: ${uses}`);
});
