// protocol = "lines": long-lived task processes fed one JSON line per step, through the real CLI
// (real python3 and sh processes, a real db). The wire format's rules: lines-codec.test.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cli, cliSpawn, exited, isAlive, isEmptyDir, linesOf, openDb, waitFor, workspace } from './helpers.js';

// One tool, run one-shot (`oneshot`: reads the environment once) or long-lived (`lines`: the
// shipped helper). Each process start appends its pid to $STARTS. What a step does is chosen by
// its input's text, so that one run shows every kind of failure.
const TOOL = `
import os, subprocess, sys, time
with open(os.environ["STARTS"], "a") as f:
    f.write("%d\\n" % os.getpid())
seen = []

def work(input_file, input_name, output_dir):
    text = open(input_file).read().strip()
    print("working on " + text, file=sys.stderr)
    print("a stray print, kept out of the replies")
    if text.startswith("began"):
        open(os.environ["BEGAN"], "a").write(text + "\\n")
        if os.environ.get("CHILD"):
            subprocess.Popen(["sh", "-c", "sleep 300; :", os.environ["CHILD"]])
        time.sleep(float(os.environ.get("SLEEP", "0")))
    if text == "crash":
        os._exit(3)
    if text == "garbage":
        sys.__stdout__.write("hello\\n")
        sys.__stdout__.flush()
        time.sleep(300)
    if text == "hang":
        time.sleep(300)
    if text == "raise":
        raise ValueError("bad input " + text)
    seen.append(text)
    name = os.path.join(output_dir, "up", os.path.basename(input_name) or "seed")
    os.makedirs(os.path.dirname(name), exist_ok=True)
    with open(name, "w") as out:
        out.write(text.upper() + "\\n")
    if os.environ.get("STATEFUL"):
        with open(os.path.join(output_dir, "nth"), "w") as out:
            out.write("%d\\n" % len(seen))

if sys.argv[1] == "oneshot":
    work(os.environ["INPUT_FILE"], os.environ["INPUT_NAME"], os.environ["OUTPUT_DIR"])
else:
    import task_pipeline_lines
    task_pipeline_lines.run(lambda s: work(s.input_file, s.input_name, s.output_dir))
`;

const manifest = (protocol, extra = '') => `
[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
${protocol === null ? '' : `protocol = "${protocol}"`}
${extra}
script = 'exec python3 "$TOOL" ${protocol === 'lines' ? 'lines' : 'oneshot'} "$MARK"'

[[task]]
name = "count"
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'
`;

function setup(t, extraEnv = {}) {
  const ws = workspace(t, 'tp-lines-');
  ws.write('tool.py', TOOL);
  const mark = `tp-lines-mark-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const env = { TOOL: ws.path('tool.py'), STARTS: ws.path('starts'), BEGAN: ws.path('began'), MARK: mark, ...extraEnv };
  return { ws, env, mark };
}

async function outputsOf(db, task) {
  const d = await openDb(db);
  try {
    return d
      .prepare(
        `SELECT o.name, lower(hex(o.object_hash)) AS hash FROM step_output o JOIN step s ON s.id = o.step_id
                      JOIN task t ON t.id = s.task WHERE t.name = ? AND s.status = 'done' ORDER BY o.name, o.object_hash`,
      )
      .all(task);
  } finally {
    d.close();
  }
}

async function statusCounts(db) {
  const d = await openDb(db);
  try {
    return Object.fromEntries(
      d
        .prepare('SELECT status, count(*) AS n FROM step GROUP BY status')
        .all()
        .map((r) => [r.status, r.n]),
    );
  } finally {
    d.close();
  }
}

const pidsOf = (ws) => linesOf(ws.path('starts')).map(Number);
const marked = (mark) => {
  try {
    return execFileSync('pgrep', ['-f', mark], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};

test('lines: the same outputs as one-shot, from one process per slot; a re-run runs nothing; versions', async (t) => {
  const { ws, env } = setup(t);
  const words = Array.from({ length: 12 }, (_, i) => `word ${i} of ${i % 5}`);
  ws.write('in.txt', `${words.join('\n')}\n`);
  ws.write('oneshot.toml', manifest(null));
  ws.write('lines.toml', manifest('lines'));
  const one = cli(
    ['-manifest', ws.path('oneshot.toml'), '-db', ws.path('db1'), '-input', ws.path('in.txt'), '-parallel', '2'],
    { env },
  );
  assert.equal(one.code, 0, one.stderr);
  const oneShotStarts = pidsOf(ws).length;
  assert.equal(oneShotStarts, 12, 'one-shot: a process per step');

  const r = cli(['-manifest', ws.path('lines.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-parallel', '2'], {
    env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /upper\s+12\s+0\s+0/);
  const starts = pidsOf(ws).slice(oneShotStarts);
  assert.ok(starts.length >= 1 && starts.length <= 2, `lines: one process per slot, ${starts.length} started`);
  assert.deepEqual(await outputsOf(ws.db, 'upper'), await outputsOf(ws.path('db1'), 'upper'));
  assert.deepEqual(await outputsOf(ws.db, 'count'), await outputsOf(ws.path('db1'), 'count'));
  assert.ok(isEmptyDir(ws.path('db', 'tmp')), 'tmp/ is empty after the run');
  for (const pid of starts) assert.ok(!isAlive(pid), `process ${pid} ended with the run`);

  const again = cli(['-manifest', ws.path('lines.toml'), '-db', ws.db], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\b0 steps run\b/);
  assert.equal(pidsOf(ws).length, oneShotStarts + starts.length, 'nothing to do: no process started');

  // The default protocol leaves the version as it was; "lines" makes a new one, whose outputs
  // are the same bytes, so nothing downstream runs (early cutoff).
  ws.write('explicit.toml', manifest('oneshot'));
  const same = cli(['-manifest', ws.path('explicit.toml'), '-db', ws.path('db1')], { env });
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /\b0 steps run\b/);
  const switched = cli(['-manifest', ws.path('lines.toml'), '-db', ws.path('db1'), '-parallel', '1'], { env });
  assert.equal(switched.code, 0, switched.stderr);
  assert.match(switched.stdout, /upper\s+12\s+0\s+0/);
  assert.match(switched.stdout, /count\s+0\s/);
});

test('lines: a crash, a garbage reply, a hang past timeout and a raised error fail their steps with why; the rest is done', async (t) => {
  const { ws, env } = setup(t);
  // Failures first, good inputs after: each killed process is replaced for the next step.
  ws.write('in.txt', 'crash\ngarbage\nhang\nraise\nfine one\nfine two\n');
  ws.write('m.toml', manifest('lines', 'timeout = 8'));
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-parallel', '1'], { env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /4 steps failed/);
  assert.match(
    r.stderr,
    /upper step \d+: the process exited with exit code 3 before answering; a new process starts for the next step/,
  );
  assert.match(
    r.stderr,
    /upper step \d+: the process answered "hello", not a reply \(\{"ok": true\} or \{"error": "\.\.\."\}; print anything else to stderr\); a new process starts for the next step/,
  );
  assert.match(
    r.stderr,
    /upper step \d+: timed out after 8s \(its process group was stopped; a new process starts for the next step\)/,
  );
  assert.match(r.stderr, /upper step \d+: the script reported: ValueError: bad input raise\n/);
  assert.match(r.stderr, /\| ValueError: bad input raise/, "the traceback is in the step's log");
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  const ups = await outputsOf(ws.db, 'upper');
  assert.deepEqual(
    ups.map((o) => o.name),
    ['up/line-ae', 'up/line-af'],
  );
  assert.ok(pidsOf(ws).length >= 2, 'a new process replaced a dead one');
  for (const pid of pidsOf(ws)) await waitFor(() => !isAlive(pid), 10_000, `process ${pid} to end`);
  assert.ok(isEmptyDir(ws.path('db', 'tmp')), 'tmp/ is empty after the run');

  // The step's log holds what the process wrote to stderr during that step, and the stray print.
  const d = await openDb(ws.db);
  const id = d
    .prepare(`SELECT id FROM step WHERE status = 'failed' AND error LIKE 'the script reported%'`)
    .pluck()
    .get();
  d.close();
  const log = cli(['log', '-db', ws.db, String(id)]);
  assert.match(log.stdout, /working on raise\na stray print, kept out of the replies\nTraceback/);
});

test('lines: a process that cannot start, and one that answers an endless line, fail their steps with why', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `[[task]]
name = "nostart"
inputs = []
protocol = "lines"
shell = ["${ws.path('no-such-shell')}", "-c"]
script = 'true'

[[task]]
name = "endless"
inputs = []
protocol = "lines"
shell = ["sh", "-c"]
script = 'read -r request; head -c 2000000 /dev/zero | tr "\\0" x; sleep 300'
`,
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /nostart step \d+: the process exited with exit code 127 before answering; a new process starts for the next step\n\s+\| .*no-such-shell/,
  );
  assert.match(
    r.stderr,
    /endless step \d+: the process answered a line of over 1 MiB, not a reply; a new process starts for the next step/,
  );
});

test('lines: SIGINT stops every process (exit 130), the steps go back to pending and the next run finishes them', async (t) => {
  const { ws, env, mark } = setup(t, { SLEEP: '300' });
  ws.write('in.txt', 'began 1\nbegan 2\nbegan 3\nbegan 4\n');
  ws.write('m.toml', manifest('lines'));
  const child = cliSpawn(
    ['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-parallel', '2'],
    { env },
  );
  const done = exited(child);
  await waitFor(() => linesOf(ws.path('began')).length === 2, 30_000, 'two steps to begin');
  assert.equal(marked(mark).length, 2, 'two processes, one per slot');
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.deepEqual(marked(mark), [], 'no process is left running');
  for (const pid of pidsOf(ws)) assert.ok(!isAlive(pid), `process ${pid} was stopped`);
  assert.equal((await statusCounts(ws.db)).running ?? 0, 0);

  const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-parallel', '2'], { env: { ...env, SLEEP: '0' } });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    (await outputsOf(ws.db, 'upper')).map((o) => o.name),
    ['up/line-aa', 'up/line-ab', 'up/line-ac', 'up/line-ad'],
  );
});

test('lines: after kill -9 of the engine no process of the run is left, nor what it started', async (t) => {
  const { ws, env, mark } = setup(t, { SLEEP: '300' });
  env.CHILD = mark;
  ws.write('in.txt', 'began 1\nbegan 2\nbegan 3\n');
  ws.write('m.toml', manifest('lines'));
  const child = cliSpawn(
    ['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt'), '-parallel', '2'],
    { env },
  );
  const done = exited(child);
  await waitFor(() => linesOf(ws.path('began')).length === 2, 30_000, 'two steps to begin');
  // The two task processes and the child each started.
  await waitFor(() => marked(mark).length >= 4, 10_000, 'the processes and their children');
  child.kill('SIGKILL');
  await done;
  await waitFor(() => marked(mark).length === 0, 10_000, `every process marked ${mark} to be gone`);
  for (const pid of pidsOf(ws)) assert.ok(!isAlive(pid), `process ${pid} died with the engine`);

  // The next run recovers the steps and finishes them.
  const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { ...env, SLEEP: '0', CHILD: '' } });
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await outputsOf(ws.db, 'upper')).length, 3);
});

test('lines: a gather task in shell (while read -r), fed its listing and INPUT_DIR', async (t) => {
  const { ws, env } = setup(t);
  ws.write('in.txt', 'a\nbb\nccc\n');
  ws.write(
    'm.toml',
    `${manifest('lines')}
[[task]]
name = "total"
gather = true
protocol = "lines"
shell = ["sh", "-c"]
script = '''
field() { printf '%s' "$1" | sed -n "s/.*\\"$2\\":\\"\\([^\\"]*\\)\\".*/\\1/p"; }
echo "started" >&2
while read -r request; do
  dir=$(field "$request" input_dir)
  out=$(field "$request" output_dir)
  if cat "$dir"/* | awk '{ s += $1 } END { print s }' > "$out/total"; then
    echo '{"ok": true}'
  else
    echo '{"error": "could not add up"}'
  fi
done
'''
`,
  );
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  assert.equal(r.code, 0, r.stderr);
  const [total] = await outputsOf(ws.db, 'total');
  assert.equal(total.name, 'total');
  // "A\n" "BB\n" "CCC\n": 2 + 3 + 4 bytes.
  assert.equal(cli(['cat', '-db', ws.db, total.hash]).stdout, '9\n');
});

test('lines: audit re-runs steps each in a fresh process, and finds one that kept state between steps', async (t) => {
  const { ws, env } = setup(t, { STATEFUL: '1' });
  ws.write('in.txt', 'a\nb\nc\nd\n');
  ws.write('m.toml', manifest('lines', 'parallel = 1'));
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  assert.equal(r.code, 0, r.stderr);
  const a = cli(['audit', '-manifest', ws.path('m.toml'), '-db', ws.db, '-task', 'upper', '-sample', 'all'], { env });
  assert.equal(a.code, 1, a.stdout + a.stderr);
  assert.match(a.stdout, /upper: NOT deterministic: 3 of 4 re-run steps differ/);
  assert.match(a.stdout, /outputs differ: nth/);
  const fine = cli(['audit', '-manifest', ws.path('m.toml'), '-db', ws.db, '-task', 'count', '-sample', 'all'], {
    env,
  });
  assert.equal(fine.code, 0, fine.stdout + fine.stderr);
  // Stateless, the same task reproduces.
  const ws2 = setup(t);
  ws2.ws.write('in.txt', 'a\nb\nc\n');
  ws2.ws.write('m.toml', manifest('lines', 'parallel = 1'));
  assert.equal(
    cli(['-manifest', ws2.ws.path('m.toml'), '-db', ws2.ws.db, '-input', ws2.ws.path('in.txt')], { env: ws2.env }).code,
    0,
  );
  const ok = cli(['audit', '-manifest', ws2.ws.path('m.toml'), '-db', ws2.ws.db, '-task', 'upper', '-sample', 'all'], {
    env: ws2.env,
  });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /upper: deterministic on 3\/3/);
});
