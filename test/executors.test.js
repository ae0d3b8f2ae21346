import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { directExecutor } from './direct-executor.js';
import {
  ROOT,
  cli,
  cliSpawn,
  exited,
  isAlive,
  isEmptyDir,
  listObjects,
  objectPath,
  openDb,
  sha256,
  waitFor,
  workspace,
} from './helpers.js';

// Both ways to start a script keep the same contract: the C helper (the default, built by
// `npm run build`) and execa (the fallback where it was not built, forced with TASK_PIPELINE_EXECUTOR=execa).
const variants = {
  spawner: { TASK_PIPELINE_EXECUTOR: 'spawner' },
  execa: { TASK_PIPELINE_EXECUTOR: 'execa' },
};
// Built without a C compiler (`CC=false npm run build`, a step of .ci/run): execa keeps the contract.
const HELPER_BUILT = existsSync(join(ROOT, 'dist/executor/native/task-pipeline-spawner'));
if (!HELPER_BUILT) {
  delete variants.spawner;
  test(
    'spawner with its C helper',
    { skip: 'the C helper was not built here (no C compiler?): execa is checked' },
    () => {},
  );
}
for (const [executor, env] of Object.entries(variants)) {
  test(`${executor}: environment, exit codes, signals, timeouts, missing interpreters`, async (t) => {
    const ws = workspace(t);
    ws.write(
      'm.toml',
      `
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
`,
    );
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /exit3 step \d+: exit code 3/);
    assert.match(r.stderr, /selfkill step \d+: killed by SIGTERM/);
    assert.match(r.stderr, /slow step \d+: timed out after 0\.3s/);
    assert.match(r.stderr, /nosuchshell step \d+: could not start the script/);
    const d = await openDb(ws.db);
    const row = d
      .prepare(
        `SELECT lower(hex(o.object_hash)) AS hash, lower(hex(a.log_hash)) AS log FROM step_output o JOIN step s ON s.id = o.step_id
        JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts`,
      )
      .get();
    d.close();
    const { objectPath } = await import('./helpers.js');
    assert.equal(readFileSync(objectPath(ws.db, row.hash), 'utf8'), `x y|env|${ws.dir}|seed\n`);
    assert.equal(readFileSync(objectPath(ws.db, row.log), 'utf8'), 'to-log\nerr\n');
  });

  test(`${executor}: SIGINT stops the scripts and the next run finishes`, async (t) => {
    const ws = workspace(t);
    ws.write(
      'm.toml',
      `[[task]]\nname = "s"\nscript = 'echo $$ > "$PIDS/$INPUT_NAME"; sleep "\${SLEEP:-30}"; echo > "$OUTPUT_DIR/x"'\n`,
    );
    // Four inputs, two at a time: two scripts run, and the engine has the next two ready.
    for (const n of [1, 2, 3, 4]) ws.write(`in/${n}`, `${n}\n`);
    ws.write('pids/.keep', '');
    const pids = () =>
      readdirSync(ws.path('pids'))
        .filter((f) => f !== '.keep')
        .map((f) => Number(ws.read(`pids/${f}`)));
    const child = cliSpawn(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '2'], {
      env: { ...env, PIDS: ws.path('pids') },
    });
    const done = exited(child);
    await waitFor(() => pids().length === 2, 20_000, 'two scripts to start');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    assert.equal((await done).code, 130);
    assert.equal(pids().length, 2, 'the steps waiting their turn never started');
    for (const pid of pids()) assert.equal(isAlive(pid), false);
    const d = await openDb(ws.db);
    assert.deepEqual(d.prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`).all(), [
      { status: 'pending', n: 4 },
    ]);
    d.close();
    const again = cli(['-manifest', ws.path('m.toml'), '-db', ws.db], {
      env: { ...env, PIDS: ws.path('pids'), SLEEP: '0' },
    });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(pids().length, 4);
  });

  test(`${executor}: -parallel bounds the scripts running at once; a timeout counts from the script's start`, (t) => {
    const ws = workspace(t);
    // Each script logs its start and end; replaying the log gives how many ran at once.
    ws.write(
      'm.toml',
      `[[task]]
name = "w"
timeout = 1
script = 'echo "+ $INPUT_NAME" >> "$LOG"; sleep 0.6; echo "- $INPUT_NAME" >> "$LOG"; cp "$INPUT_FILE" "$OUTPUT_DIR/o"'
`,
    );
    for (let n = 1; n <= 4; n++) ws.write(`in/${n}`, `${n}\n`);
    const most = (parallel) => {
      ws.write(`log-${parallel}`, '');
      const r = cli(
        [
          '-manifest',
          ws.path('m.toml'),
          '-db',
          ws.path(`db-${parallel}`),
          '-input',
          ws.path('in'),
          '-parallel',
          String(parallel),
        ],
        { env: { ...env, LOG: ws.path(`log-${parallel}`) } },
      );
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
    ws.write(
      'm.toml',
      `
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

[[task]]
name = "newlined"
inputs = []
script = 'mkdir "$OUTPUT_DIR/sub"; echo x > "$OUTPUT_DIR/sub/a$(printf "\\\\nb")"'
`,
    );
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-durable'], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /symlink step \d+: OUTPUT_DIR holds a symlink "l": only regular files can be outputs/);
    assert.match(r.stderr, /fifo step \d+: OUTPUT_DIR holds a FIFO "f": only regular files can be outputs/);
    assert.match(
      r.stderr,
      /tabbed step \d+: OUTPUT_DIR holds the name "a\\tb": output names cannot hold tabs or newlines \(gather listings are tab-separated lines\)/,
    );
    assert.match(
      r.stderr,
      /newlined step \d+: OUTPUT_DIR holds the name "sub\/a\\nb": output names cannot hold tabs or newlines/,
    );
    assert.doesNotMatch(r.stderr, /a\tb/, 'the raw tab is not printed');
    const d = await openDb(ws.db);
    const rows = d
      .prepare(
        `SELECT t.name AS task, o.name, lower(hex(o.object_hash)) AS hash FROM step_output o JOIN step s ON s.id = o.step_id
      JOIN task t ON t.id = s.task ORDER BY 1, 2`,
      )
      .all()
      .map((x) => `${x.task} ${x.name} ${x.hash}`);
    const logs = Object.fromEntries(
      d
        .prepare(
          `SELECT t.name AS task, lower(hex(a.log_hash)) AS log FROM step s JOIN task t ON t.id = s.task JOIN attempt a ON a.step_id = s.id AND a.attempt = s.attempts`,
        )
        .all()
        .map((x) => [x.task, x.log]),
    );
    d.close();
    const EMPTY = sha256('');
    const zeros = sha256(Buffer.alloc(1500000));
    const xs = sha256('x'.repeat(1200000));
    assert.deepEqual(rows, [
      `big big ${zeros}`,
      `big small ${sha256('small\n')}`,
      `loud q ${sha256('quiet\n')}`,
      `nested a/b/c ${sha256('deep\n')}`,
      `nested empty ${EMPTY}`,
      `nested sp ace ${sha256('spaced\n')}`,
    ]);
    assert.equal(logs.nested, sha256('hello\n'));
    assert.equal(logs.loud, xs);
    assert.equal(logs.big, EMPTY);
    // Nothing of a failed step is stored: every object is one of these.
    const expected = [
      EMPTY,
      zeros,
      xs,
      sha256('small\n'),
      sha256('quiet\n'),
      sha256('deep\n'),
      sha256('spaced\n'),
      sha256('hello\n'),
    ];
    assert.deepEqual(
      listObjects(ws.db)
        .map((o) => o.hash)
        .sort(),
      expected.sort(),
    );
    for (const o of listObjects(ws.db)) assert.equal((await import('node:fs')).statSync(o.path).mode & 0o777, 0o444);
    assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
    assert.ok(isEmptyDir(ws.path('db', 'tmp')));
  });

  // INPUT_FILE is a hard link of the object itself: whatever a script does to it, the step fails
  // (a damaged object leaving the store) or the object is as it was. Each case has its own
  // object, so that no other step holds it while it is changed (see inputs-linked.test.js).
  test(`${executor}: a script that changes its INPUT_FILE fails, and the store is left intact`, async (t) => {
    const ws = workspace(t);
    ws.write(
      'm.toml',
      `[[task]]
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
`,
    );
    const fails = ['append', 'truncate', 'rewrite', 'sneaky', 'chmod', 'touch', 'replace'];
    const passes = ['rm', 'moved', 'linked', 'reader'];
    const bytes = {};
    for (const name of [...fails, ...passes]) bytes[name] = Buffer.from(`the input named ${name}, its own bytes\n`);
    // Over 1 MiB: the C helper leaves such an output to the engine, which must not hash it again.
    bytes.big = Buffer.alloc(1536 * 1024, 'big ');
    for (const [name, b] of Object.entries(bytes)) ws.write(`in/${name}`, b);
    const run = (extra = {}) =>
      cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env: { ...env, ...extra } });
    const r = run();
    assert.equal(r.code, 1, r.stderr);
    for (const name of fails)
      assert.match(r.stderr, new RegExp(`use step \\d+: the script modified its INPUT_FILE`), name);
    assert.equal((r.stderr.match(/modified its INPUT_FILE/g) ?? []).length, fails.length, r.stderr);
    const d = await openDb(ws.db);
    const done = d
      .prepare(
        `SELECT s.input_name AS input, o.name, lower(hex(o.object_hash)) AS hash FROM step s JOIN step_output o ON o.step_id = s.id
      WHERE s.status = 'done'`,
      )
      .all();
    d.close();
    const out = (input, name) => done.find((x) => x.input === input && x.name === name)?.hash;
    assert.deepEqual([...new Set(done.map((x) => x.input))].sort(), [...passes, 'big'].sort());
    // Moved or linked into OUTPUT_DIR, the input is the output: the object, still in place.
    assert.equal(out('moved', 'moved'), sha256(bytes.moved));
    assert.equal(out('linked', 'linked'), sha256(bytes.linked));
    assert.equal(out('big', 'linked'), sha256(bytes.big));
    const [ino, links] = readFileSync(objectPath(ws.db, out('reader', 'inode')), 'utf8')
      .trim()
      .split(' ')
      .map(Number);
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
    for (const [name, b] of Object.entries(bytes))
      assert.deepEqual(readFileSync(objectPath(ws.db, sha256(b))), b, name);
  });

  // The engine hands over up to 64 steps beyond -parallel and writes them to the helper in
  // batches as its queue runs low: far more steps than that must all run, in any order.
  test(`${executor}: many more steps than are handed over at once all run`, async (t) => {
    const ws = workspace(t);
    ws.write('m.toml', `[[task]]\nname = "n"\nscript = 'cp "$INPUT_FILE" "$OUTPUT_DIR/copy"'\n`);
    for (let n = 0; n < 300; n++) ws.write(`in/${n}`, `${n}\n`);
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '1', '-quiet'], {
      env,
      timeout: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const d = await openDb(ws.db);
    assert.deepEqual(d.prepare(`SELECT status, count(*) AS n FROM step GROUP BY status`).all(), [
      { status: 'done', n: 300 },
    ]);
    d.close();
  });

  // -verbose runs through the same helper as a normal run: the script's parent is the helper, not the engine.
  test(`${executor}: -verbose streams each line prefixed with [task#step] and keeps the log`, async (t) => {
    const ws = workspace(t);
    ws.write(
      'm.toml',
      `[[task]]
name = "v"
inputs = []
script = 'echo "parent=$(cat /proc/$PPID/comm)"; echo to-stderr >&2; printf "no newline"; echo x > "$OUTPUT_DIR/o"'
`,
    );
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-verbose'], { env });
    assert.equal(r.code, 0, r.stderr);
    const parent = executor === 'spawner' ? 'task-pipeline-s' : 'node';
    assert.match(r.stderr, new RegExp(`^\\[v#\\d+\\] parent=${parent}$`, 'm'));
    assert.match(r.stderr, /^\[v#\d+\] to-stderr$/m);
    assert.match(r.stderr, /^\[v#\d+\] no newline$/m);
    const d = await openDb(ws.db);
    const log = d.prepare('SELECT lower(hex(log_hash)) FROM attempt').pluck().get();
    d.close();
    // execa reads stdout and stderr through two pipes: their bytes may interleave otherwise in the log.
    const text = readFileSync(objectPath(ws.db, log), 'utf8');
    for (const part of [`parent=${parent}\n`, 'to-stderr\n', 'no newline']) assert.ok(text.includes(part), text);
    assert.equal(text.length, `parent=${parent}\nto-stderr\nno newline`.length);
  });
}

// The executors on their own, with a real store, real scripts and real files: each returns what it
// stored by the same contract (collect-outputs.ts; native/collect.c for the C helper).
async function direct(t, kind, ws = workspace(t)) {
  const ex = await directExecutor(ws.dir, kind);
  t.after(() => ex.close());
  return { ws, run: ex.run };
}

const KINDS = HELPER_BUILT ? ['spawner', 'execa'] : ['execa'];
const EMPTY_LOG = { hash: sha256(''), size: 0 };
const CASES = [
  [
    'outputs and a log',
    'mkdir -p "$OUTPUT_DIR/a"; echo deep > "$OUTPUT_DIR/a/b"; echo top > "$OUTPUT_DIR/t"; echo said',
    {
      inputIntact: true,
      error: null,
      log: { hash: sha256('said\n'), size: 5 },
      outputs: [
        { name: 'a/b', hash: sha256('deep\n'), size: 5, added: true },
        { name: 't', hash: sha256('top\n'), size: 4, added: true },
      ],
    },
  ],
  [
    'a failed script: its log, no outputs',
    'echo x > "$OUTPUT_DIR/o"; echo why; exit 3',
    {
      inputIntact: true,
      error: null,
      log: { hash: sha256('why\n'), size: 4 },
      outputs: [],
    },
  ],
  [
    'a big output (left to the engine by the helper)',
    'head -c 1500000 /dev/zero > "$OUTPUT_DIR/big"',
    {
      inputIntact: true,
      error: null,
      log: EMPTY_LOG,
      outputs: [{ name: 'big', hash: sha256(Buffer.alloc(1500000)), size: 1500000, added: true }],
    },
  ],
  [
    'a symlink',
    'echo x > "$OUTPUT_DIR/real"; ln -s /etc/passwd "$OUTPUT_DIR/l"',
    {
      inputIntact: true,
      log: EMPTY_LOG,
      outputs: [],
      error: 'OUTPUT_DIR holds a symlink "l": only regular files can be outputs',
    },
  ],
  [
    'a FIFO',
    'mkfifo "$OUTPUT_DIR/f"',
    {
      inputIntact: true,
      log: EMPTY_LOG,
      outputs: [],
      error: 'OUTPUT_DIR holds a FIFO "f": only regular files can be outputs',
    },
  ],
  [
    'a name with a tab',
    'echo x > "$OUTPUT_DIR/a$(printf "\\t")b"',
    {
      inputIntact: true,
      log: EMPTY_LOG,
      outputs: [],
      error:
        'OUTPUT_DIR holds the name "a\\tb": output names cannot hold tabs or newlines (gather listings are tab-separated lines)',
    },
  ],
  [
    'a name with a newline and a backslash',
    'mkdir "$OUTPUT_DIR/d"; echo x > "$OUTPUT_DIR/d/a\\\\$(printf "\\nb")"',
    {
      inputIntact: true,
      log: EMPTY_LOG,
      outputs: [],
      error:
        'OUTPUT_DIR holds the name "d/a\\\\\\nb": output names cannot hold tabs or newlines (gather listings are tab-separated lines)',
    },
  ],
  [
    'a touched input: only the log is stored',
    'echo x > "$OUTPUT_DIR/o"; touch -d @0 "$INPUT_FILE"; echo touched',
    {
      inputIntact: false,
      error: null,
      log: { hash: sha256('touched\n'), size: 8 },
      outputs: [],
    },
  ],
];

for (const [what, script, expected] of CASES) {
  test(`one collector contract, both executors: ${what}`, async (t) => {
    for (const kind of KINDS) {
      const ex = await direct(t, kind);
      const r = await ex.run(script);
      assert.equal(r.spawnError, null, kind);
      assert.deepEqual(
        { ...r.stored, outputs: [...r.stored.outputs].sort((a, b) => a.name.localeCompare(b.name)) },
        expected,
        kind,
      );
      for (const o of r.stored.outputs)
        assert.deepEqual(readFileSync(objectPath(ex.ws.db, o.hash)).length, o.size, kind);
      // Stored outputs leave OUTPUT_DIR empty; outputs left alone stay where the script put them.
      assert.equal(isEmptyDir(ex.ws.path('step1', 'out')), r.stored.outputs.length > 0, kind);
    }
  });
}

// Root reads any directory: then the executor runs as nobody, in a process of its own.
test('one collector contract, both executors: a directory it cannot read fails with the error and the name', async (t) => {
  const script = 'mkdir "$OUTPUT_DIR/locked"; echo x > "$OUTPUT_DIR/locked/f"; chmod 0 "$OUTPUT_DIR/locked"';
  for (const kind of KINDS) {
    const ws = workspace(t);
    chmodSync(ws.dir, 0o777);
    const r =
      process.getuid() === 0
        ? JSON.parse(
            execFileSync(process.execPath, [join(ROOT, 'test/direct-executor.js'), kind, ws.dir, script], {
              uid: 65534,
              gid: 65534,
              encoding: 'utf8',
            }),
          )
        : await direct(t, kind, ws).then((ex) => ex.run(script));
    chmodSync(ws.path('step1', 'out', 'locked'), 0o755);
    assert.equal(r.stored.error, 'storing the outputs failed: EACCES (permission denied) at "locked"', kind);
    assert.deepEqual(r.stored.outputs, [], kind);
  }
});

test('both executors: -verbose lines reach the engine and the log', async (t) => {
  for (const kind of KINDS) {
    const ex = await direct(t, kind);
    const r = await ex.run('echo one; echo two >&2; printf three', { verbose: true });
    assert.deepEqual(r.lines.sort(), ['one', 'three', 'two'], kind);
    assert.equal(r.stored.log.size, 'one\ntwo\nthree'.length, kind);
    const text = readFileSync(objectPath(ex.ws.db, r.stored.log.hash), 'utf8');
    for (const part of ['one\n', 'two\n', 'three']) assert.ok(text.includes(part), `${kind}: ${text}`);
  }
});

// The helper reaps each script with wait4: CPU time and peak RSS of its process tree (children included).
test(
  'spawner: CPU time and peak RSS of each script; execa does not measure them',
  { skip: !HELPER_BUILT && 'the C helper was not built here' },
  async (t) => {
    const ex = await direct(t, 'spawner');
    const burn = await ex.run(`python3 -c 'import time
t = time.process_time()
while time.process_time() - t < 0.3: pass'`);
    assert.equal(burn.exitCode, 0);
    assert.ok(burn.rusage.userMs + burn.rusage.sysMs >= 150, JSON.stringify(burn.rusage));
    const big = await ex.run(`python3 -c 'b = b"x" * (100 * 2**20)'`);
    assert.equal(big.exitCode, 0);
    assert.ok(big.rusage.maxRssKb >= 80000, JSON.stringify(big.rusage));
    const idle = await ex.run('true');
    assert.ok(
      idle.rusage.maxRssKb < 80000 && idle.rusage.userMs + idle.rusage.sysMs < 150,
      JSON.stringify(idle.rusage),
    );
    const plain = await (await direct(t, 'execa')).run('true');
    assert.equal(plain.rusage, null);
  },
);
