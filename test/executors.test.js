import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, cliSpawn, exited, isAlive, isEmptyDir, listObjects, objectPath, openDb, sha256, waitFor, workspace } from './helpers.js';

// Every spawn path keeps the same contract: the spawner with its C helper (the default, built
// by `npm run build`), with its python3 helper (no C compiler), with its perl helper (no
// python3 either), and execa (the fallback, forced with TASK_PIPELINE_EXECUTOR=execa).
const variants = {
  spawner: { TASK_PIPELINE_EXECUTOR: 'spawner', TASK_PIPELINE_SPAWNER_HELPER: 'c' },
  'spawner-python': { TASK_PIPELINE_EXECUTOR: 'spawner', TASK_PIPELINE_SPAWNER_HELPER: 'python' },
  'spawner-perl': { TASK_PIPELINE_EXECUTOR: 'spawner', TASK_PIPELINE_SPAWNER_HELPER: 'perl' },
  execa: { TASK_PIPELINE_EXECUTOR: 'execa' },
};
// Built without a C compiler (`CC=false npm run build`, a step of .ci/run): the rest keep the contract.
if (!existsSync(join(ROOT, 'dist/engine/native/task-pipeline-spawner'))) {
  delete variants.spawner;
  test('spawner with its C helper', { skip: 'the C helper was not built here (no C compiler?): python3, perl and execa are checked' }, () => {});
}
for (const [executor, env] of Object.entries(variants)) {

  test(`${executor}: environment, exit codes, signals, timeouts, missing interpreters`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', `
[[task]]
name = "env"
env = { EXTRA = "x y" }
script = 'printf "%s|%s|%s|%s\\n" "$EXTRA" "$TASK_NAME" "$(pwd)" "$(basename "$INPUT_FILE")" > "$OUTPUT_DIR/e"; echo to-log; echo err >&2'

[[task]]
name = "exit3"
inputs = []
script = 'exit 3'

[[task]]
name = "selfkill"
inputs = []
script = 'kill -TERM $$'

[[task]]
name = "slow"
inputs = []
timeout = 0.3
script = 'sleep 30'

[[task]]
name = "nosuchshell"
inputs = []
shell = ["/nonexistent/shell", "-c"]
script = 'true'
`);
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /exit3 step \d+: exit code 3/);
    assert.match(r.stderr, /selfkill step \d+: killed by SIGTERM/);
    assert.match(r.stderr, /slow step \d+: timed out after 0\.3s/);
    assert.match(r.stderr, /nosuchshell step \d+: could not start the script/);
    const d = await openDb(ws.db);
    const row = d.prepare(`SELECT o.object_hash AS hash, s.log_hash AS log FROM step_output o JOIN step s ON s.id = o.step_id`).get();
    d.close();
    const { objectPath } = await import('./helpers.js');
    assert.equal(readFileSync(objectPath(ws.db, row.hash), 'utf8'), `x y|env|${ws.dir}|seed\n`);
    assert.equal(readFileSync(objectPath(ws.db, row.log), 'utf8'), 'to-log\nerr\n');
  });

  test(`${executor}: SIGINT stops the scripts and the next run finishes`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', `[[task]]\nname = "s"\nscript = 'echo $$ > "$PIDS/$INPUT_NAME"; sleep "\${SLEEP:-30}"; echo > "$OUTPUT_DIR/x"'\n`);
    // Four inputs, two at a time: two scripts run, and the engine has the next two ready.
    for (const n of [1, 2, 3, 4]) ws.write(`in/${n}`, `${n}\n`);
    ws.write('pids/.keep', '');
    const pids = () => readdirSync(ws.path('pids')).filter((f) => f !== '.keep').map((f) => Number(ws.read(`pids/${f}`)));
    const child = cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '2'], { env: { ...env, PIDS: ws.path('pids') } });
    const done = exited(child);
    await waitFor(() => pids().length === 2, 20_000, 'two scripts to start');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    assert.equal((await done).code, 130);
    assert.equal(pids().length, 2, 'the steps waiting their turn never started');
    for (const pid of pids()) assert.equal(isAlive(pid), false);
    const d = await openDb(ws.db);
    assert.deepEqual(d.prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`).all(), [{ status: 'pending', n: 4 }]);
    d.close();
    const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env: { ...env, PIDS: ws.path('pids'), SLEEP: '0' } });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(pids().length, 4);
  });

  test(`${executor}: -parallel bounds the scripts running at once; a timeout counts from the script's start`, (t) => {
    const ws = workspace(t);
    // Each script logs its start and end; replaying the log gives how many ran at once.
    ws.write('m.toml', `[[task]]
name = "w"
timeout = 1
script = 'echo "+ $INPUT_NAME" >> "$LOG"; sleep 0.6; echo "- $INPUT_NAME" >> "$LOG"; cp "$INPUT_FILE" "$OUTPUT_DIR/o"'
`);
    for (let n = 1; n <= 4; n++) ws.write(`in/${n}`, `${n}\n`);
    const most = (parallel) => {
      ws.write(`log-${parallel}`, '');
      const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.path(`db-${parallel}`), '-input', ws.path('in'), '-parallel', String(parallel)],
        { env: { ...env, LOG: ws.path(`log-${parallel}`) } });
      // Steps of 0.6 s: one handed over while another runs waits its turn for longer than the
      // 1 s timeout would allow if it counted from the moment the step was handed over.
      assert.equal(r.code, 0, r.stderr);
      let now = 0;
      let max = 0;
      for (const line of ws.read(`log-${parallel}`).split('\n').filter(Boolean)) {
        now += line.startsWith('+') ? 1 : -1;
        max = Math.max(max, now);
      }
      return max;
    };
    assert.equal(most(1), 1);
    assert.equal(most(2), 2);
  });

  // The C helper stores a successful step's outputs and log itself (native/collect.c); the
  // others leave that to the engine (collect-outputs.ts). Both keep the same rules.
  test(`${executor}: what a step leaves is stored by the same rules: names, sizes, logs, bad entries`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', `
[[task]]
name = "nested"
inputs = []
script = 'mkdir -p "$OUTPUT_DIR/a/b"; echo deep > "$OUTPUT_DIR/a/b/c"; : > "$OUTPUT_DIR/empty"; echo spaced > "$OUTPUT_DIR/sp ace"; echo hello'

[[task]]
name = "big"
inputs = []
script = 'head -c 1500000 /dev/zero > "$OUTPUT_DIR/big"; echo small > "$OUTPUT_DIR/small"'

[[task]]
name = "loud"
inputs = []
script = 'echo quiet > "$OUTPUT_DIR/q"; head -c 1200000 /dev/zero | tr "\\\\0" x'

[[task]]
name = "symlink"
inputs = []
script = 'echo data > "$OUTPUT_DIR/real"; ln -s /etc/passwd "$OUTPUT_DIR/l"'

[[task]]
name = "fifo"
inputs = []
script = 'echo data > "$OUTPUT_DIR/real2"; mkfifo "$OUTPUT_DIR/f"'

[[task]]
name = "tabbed"
inputs = []
script = 'echo data > "$OUTPUT_DIR/real3"; echo x > "$OUTPUT_DIR/a$(printf "\\\\t")b"'
`);
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-durable'], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /symlink step \d+: OUTPUT_DIR holds a symlink "l": only regular files can be outputs/);
    assert.match(r.stderr, /fifo step \d+: OUTPUT_DIR holds a FIFO "f": only regular files can be outputs/);
    assert.match(r.stderr, /tabbed step \d+: OUTPUT_DIR holds a name with a tab or newline, "a\tb"/);
    const d = await openDb(ws.db);
    const rows = d.prepare(`SELECT t.name AS task, o.name, o.object_hash AS hash FROM step_output o JOIN step s ON s.id = o.step_id
      JOIN task t ON t.id = s.task ORDER BY 1, 2`).all().map((x) => `${x.task} ${x.name} ${x.hash}`);
    const logs = Object.fromEntries(d.prepare(`SELECT t.name AS task, s.log_hash AS log FROM step s JOIN task t ON t.id = s.task`).all().map((x) => [x.task, x.log]));
    d.close();
    const EMPTY = sha256('');
    const zeros = sha256(Buffer.alloc(1500000));
    const xs = sha256('x'.repeat(1200000));
    assert.deepEqual(rows, [
      `big big ${zeros}`, `big small ${sha256('small\n')}`, `loud q ${sha256('quiet\n')}`,
      `nested a/b/c ${sha256('deep\n')}`, `nested empty ${EMPTY}`, `nested sp ace ${sha256('spaced\n')}`,
    ]);
    assert.equal(logs.nested, sha256('hello\n'));
    assert.equal(logs.loud, xs);
    assert.equal(logs.big, EMPTY);
    // Nothing of a failed step is stored: every object is one of these.
    const expected = [EMPTY, zeros, xs, sha256('small\n'), sha256('quiet\n'), sha256('deep\n'), sha256('spaced\n'), sha256('hello\n')];
    assert.deepEqual(listObjects(ws.db).map((o) => o.hash).sort(), expected.sort());
    for (const o of listObjects(ws.db)) assert.equal((await import('node:fs')).statSync(o.path).mode & 0o777, 0o444);
    assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
    assert.ok(isEmptyDir(ws.path('db', 'tmp')));
  });

  // INPUT_FILE is a hard link of the object itself: whatever a script does to it, the step fails
  // (a damaged object leaving the store) or the object is as it was. Each case has its own
  // object, so that no other step holds it while it is changed (see inputs-linked.test.js).
  test(`${executor}: a script that changes its INPUT_FILE fails, and the store is left intact`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', `[[task]]
name = "use"
script = '''
if [ -n "\${FIXED:-}" ]; then cp "$INPUT_FILE" "$OUTPUT_DIR/copy"; exit 0; fi
case "$INPUT_NAME" in
  append) echo more >> "$INPUT_FILE" ;;
  truncate) : > "$INPUT_FILE" ;;
  rewrite) chmod u+w "$INPUT_FILE"; echo other bytes > "$INPUT_FILE" ;;
  sneaky) m=$(stat -c %y "$INPUT_FILE"); printf SNEAKY | dd of="$INPUT_FILE" conv=notrunc status=none; touch -d "$m" "$INPUT_FILE" ;;
  chmod) chmod u+w "$INPUT_FILE" ;;
  touch) touch "$INPUT_FILE" ;;
  replace) sed -i s/e/E/ "$INPUT_FILE" ;;
  rm) rm "$INPUT_FILE" ;;
  moved) mv "$INPUT_FILE" "$OUTPUT_DIR/moved" ;;
  linked|big) ln "$INPUT_FILE" "$OUTPUT_DIR/linked" ;;
  reader) stat -c "%i %h" "$INPUT_FILE" > "$OUTPUT_DIR/inode" ;;
esac
echo "$INPUT_NAME done" > "$OUTPUT_DIR/note"
'''
`);
    const fails = ['append', 'truncate', 'rewrite', 'sneaky', 'chmod', 'touch', 'replace'];
    const passes = ['rm', 'moved', 'linked', 'reader'];
    const bytes = {};
    for (const name of [...fails, ...passes]) bytes[name] = Buffer.from(`the input named ${name}, its own bytes\n`);
    // Over 1 MiB: the C helper leaves such an output to the engine, which must not hash it again.
    bytes.big = Buffer.alloc(1536 * 1024, 'big ');
    for (const [name, b] of Object.entries(bytes)) ws.write(`in/${name}`, b);
    const run = (extra = {}) => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env: { ...env, ...extra } });
    const r = run();
    assert.equal(r.code, 1, r.stderr);
    for (const name of fails) assert.match(r.stderr, new RegExp(`use step \\d+: the script modified its INPUT_FILE`), name);
    assert.equal((r.stderr.match(/modified its INPUT_FILE/g) ?? []).length, fails.length, r.stderr);
    const d = await openDb(ws.db);
    const done = d.prepare(`SELECT s.input_name AS input, o.name, o.object_hash AS hash FROM step s JOIN step_output o ON o.step_id = s.id
      WHERE s.status = 'done'`).all();
    d.close();
    const out = (input, name) => done.find((x) => x.input === input && x.name === name)?.hash;
    assert.deepEqual([...new Set(done.map((x) => x.input))].sort(), [...passes, 'big'].sort());
    // Moved or linked into OUTPUT_DIR, the input is the output: the object, still in place.
    assert.equal(out('moved', 'moved'), sha256(bytes.moved));
    assert.equal(out('linked', 'linked'), sha256(bytes.linked));
    assert.equal(out('big', 'linked'), sha256(bytes.big));
    const [ino, links] = readFileSync(objectPath(ws.db, out('reader', 'inode')), 'utf8').trim().split(' ').map(Number);
    assert.equal(ino, statSync(objectPath(ws.db, sha256(bytes.reader))).ino, 'INPUT_FILE is the object, not a copy');
    assert.equal(links, 2);
    // Bytes that survived (an append cut back; a chmod, touch or a file put in INPUT_FILE's place) are
    // as they were, read-only; the others were moved to damaged/.
    const damaged = ['truncate', 'rewrite', 'sneaky'];
    for (const [name, b] of Object.entries(bytes)) {
      const h = sha256(b);
      if (damaged.includes(name)) {
        assert.equal(existsSync(objectPath(ws.db, h)), false, name);
        assert.ok(existsSync(join(ws.db, 'damaged', h)), name);
      } else {
        assert.deepEqual(readFileSync(objectPath(ws.db, h)), b, name);
        assert.equal(statSync(objectPath(ws.db, h)).mode & 0o777, 0o444, name);
      }
    }
    const fsck = cli(['fsck', '-db', ws.db]);
    assert.equal(fsck.code, 1);
    assert.equal((fsck.stdout.match(/^missing /gm) ?? []).length, damaged.length, fsck.stdout);
    assert.ok(isEmptyDir(ws.path('db', 'tmp')));
    // The same inputs again rebuild what was moved aside; the failed steps, fixed, now pass.
    const again = run({ FIXED: '1' });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
    for (const [name, b] of Object.entries(bytes)) assert.deepEqual(readFileSync(objectPath(ws.db, sha256(b))), b, name);
  });

  // The engine hands over up to 64 steps beyond -parallel and writes them to the helper in
  // batches as its queue runs low: far more steps than that must all run, in any order.
  test(`${executor}: many more steps than are handed over at once all run`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', `[[task]]\nname = "n"\nscript = 'cp "$INPUT_FILE" "$OUTPUT_DIR/copy"'\n`);
    for (let n = 0; n < 300; n++) ws.write(`in/${n}`, `${n}\n`);
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '1', '-quiet'], { env, timeout: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const d = await openDb(ws.db);
    assert.deepEqual(d.prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`).all(), [{ status: 'done', n: 300 }]);
    d.close();
  });
}

