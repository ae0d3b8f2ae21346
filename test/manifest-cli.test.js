import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, utimesSync } from 'node:fs';
import { cli, countLines, openDb, sha256, workspace } from './helpers.js';

// Every manifest mistake through the real CLI: exit 2, one line per problem naming
// the file, line, task and field, no stack trace, and no db written.
const CASES = [
  [
    'a typo in a key',
    `[[task]]\nname = "a"\nscirpt = "true"\n`,
    [/m\.toml:3: task "a": field "scirpt": unknown key \(did you mean "script"\?\)/, /field "script": missing/],
  ],
  ['a missing name', `[[task]]\nscript = "true"\n`, [/m\.toml:1: .*field "name": missing/]],
  ['a missing script', `[[task]]\nname = "a"\n`, [/m\.toml:1: task "a": field "script": missing/]],
  ['a bad name', `[[task]]\nname = "-bad name"\nscript = "true"\n`, [/m\.toml:2: .*field "name"/]],
  [
    'duplicate names',
    `[[task]]\nname = "a"\nscript = "true"\n\n[[task]]\nname = "a"\nscript = "true"\n`,
    [/m\.toml:6: task "a": field "name": duplicate name: already used by the task on line 2/],
  ],
  [
    'an unknown input',
    `[[task]]\nname = "split"\nscript = "true"\n[[task]]\nname = "b"\ninputs = ["splt"]\nscript = "true"\n`,
    [/m\.toml:6: task "b": field "inputs": unknown task "splt" \(did you mean "split"\?\)/],
  ],
  [
    'a wrong type',
    `[[task]]\nname = "a"\nscript = "true"\nparallel = "4"\n`,
    [/m\.toml:4: task "a": field "parallel": must be a positive integer/],
  ],
  [
    'a bad glob',
    `[[task]]\nname = "a"\nscript = "true"\n[[task]]\nname = "b"\nmatch = ["[oops"]\nscript = "true"\n`,
    [/m\.toml:6: task "b": field "match"/],
  ],
  ['a TOML syntax error', `[[task]]\nname = "a\nscript = "true"\n`, [/m\.toml:2: invalid TOML/]],
  [
    'max_rounds = 0',
    `[[task]]\nname = "a"\nscript = "true"\nmax_rounds = 0\n`,
    [/m\.toml:4: task "a": field "max_rounds": must be a positive integer, got integer 0/],
  ],
  [
    'max_rounds = "x"',
    `[[task]]\nname = "a"\nscript = "true"\nmax_rounds = "x"\n`,
    [/m\.toml:4: task "a": field "max_rounds": must be a positive integer, got string "x"/],
  ],
  [
    'files matching no file',
    `[[task]]\nname = "a"\nscript = "true"\n\n[[task]]\nname = "b"\nfiles = ["tools/*.py"]\nscript = "true"\n`,
    [/m\.toml:7: task "b": field "files": "tools\/\*\.py" matches no file \(relative to \/.*\)\n/],
  ],
  [
    'files not an array of relative globs',
    `[[task]]\nname = "a"\nscript = "true"\nfiles = ["/etc/passwd", 3]\n`,
    [
      /m\.toml:4: task "a": field "files": "\/etc\/passwd" must be relative to the manifest's directory, not an absolute path/,
      /m\.toml:4: task "a": field "files": item 2 must be a string, got integer 3/,
    ],
  ],
  [
    'several errors at once',
    `[[task]]\nname = "a"\nscirpt = "x"\n[[task]]\nname = "b"\nscript = "true"\ntimeout = -1\n`,
    [/m\.toml:3: task "a": field "scirpt"/, /m\.toml:7: task "b": field "timeout"/],
  ],
];

for (const [what, text, patterns] of CASES) {
  test(`manifest error: ${what}`, (t) => {
    const ws = workspace(t);
    ws.write('m.toml', text);
    const r = cli(['-manifest', 'm.toml', '-db', 'db'], { cwd: ws.dir });
    assert.equal(r.code, 2, r.stderr);
    for (const p of patterns) assert.match(r.stderr, p);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(ws.path('db')), false, 'nothing is written');
  });
}

test('a missing manifest file', (t) => {
  const ws = workspace(t);
  const r = cli(['-manifest', 'nope.toml', '-db', 'db'], { cwd: ws.dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nope\.toml: cannot read manifest: no such file/);
  assert.equal(existsSync(ws.path('db')), false);
});

test('usage errors: no -manifest, unknown flag with a hint, unknown command, bad -parallel, missing -input path, unknown -task', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', `[[task]]\nname = "a"\nscript = "true"\n`);
  const cases = [
    [['-db', 'db'], /-manifest FILE is required/],
    [['-manifest', 'm.toml', '-paralel', '2'], /unknown flag -paralel \(did you mean -parallel\?\)/],
    [['stauts'], /unknown command "stauts" \(did you mean "status"\?\)/],
    [['-manifest', 'm.toml', '-parallel', 'zero'], /-parallel must be a positive integer/],
    [['-manifest', 'm.toml', '-input', 'missing.txt'], /-input missing\.txt: no such file or directory/],
    [['-manifest', 'm.toml', '-task', 'b'], /-task b: no task of that name/],
  ];
  for (const [args, pattern] of cases) {
    const r = cli(args, { cwd: ws.dir });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
  assert.equal(existsSync(ws.path('db')), false, 'nothing is written');
});

test('flags Go-style and GNU-style alike', (t) => {
  const ws = workspace(t);
  ws.write('m.toml', `[[task]]\nname = "a"\nscript = 'echo hi > "$OUTPUT_DIR/x"'\n`);
  for (const args of [
    ['-manifest', 'm.toml', '-db', 'db1'],
    ['--manifest=m.toml', '--db', 'db2'],
    ['-manifest=m.toml', '-db=db3', '-quiet'],
  ]) {
    const r = cli(args, { cwd: ws.dir });
    assert.equal(r.code, 0, r.stderr);
  }
  for (const d of ['db1', 'db2', 'db3']) assert.ok(existsSync(ws.path(d, 'pipeline.sqlite')));
  assert.equal(cli(['--version']).code, 0);
  assert.match(cli(['run', '--help']).stdout, /usage: task-pipeline/);
});

// `files`: the bytes of the files a script uses are part of its version.
const FILES_MANIFEST = (ws) => `
[[task]]
name = "clean"
files = ["tools/*.sh"]
script = '''
echo clean >> "${ws.path('clean.runs')}"
sh tools/clean.sh < "$INPUT_FILE" > "$OUTPUT_DIR/clean.txt"
'''

[[task]]
name = "plain"
inputs = []
script = '''
echo plain >> "${ws.path('plain.runs')}"
tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up.txt"
'''
`;

test('files: editing a listed file makes a new version that re-runs its steps, and status names the file', async (t) => {
  const ws = workspace(t);
  ws.write('m.toml', FILES_MANIFEST(ws));
  ws.write('tools/clean.sh', "tr -d ' '\n");
  ws.write('in.txt', 'a b c\n');
  const run = (...extra) => {
    const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-quiet', ...extra]);
    assert.equal(r.code, 0, r.stderr);
  };
  const runs = () => [countLines(ws.path('clean.runs')), countLines(ws.path('plain.runs'))];
  const json = () =>
    Object.fromEntries(JSON.parse(cli(['status', '-db', ws.db, '-json']).stdout).tasks.map((x) => [x.name, x]));
  run('-input', ws.path('in.txt'));
  assert.deepEqual(runs(), [1, 1]);
  assert.deepEqual([json().clean.changed, json().plain.changed], [null, null]);
  assert.doesNotMatch(cli(['status', '-db', ws.db]).stdout, /new version/);
  const v1 = json().clean.version;

  // Only the mtime changes: same version, nothing runs.
  utimesSync(ws.path('tools/clean.sh'), new Date(2001, 0, 1), new Date(2001, 0, 1));
  run();
  assert.deepEqual(runs(), [1, 1]);

  ws.write('tools/clean.sh', "tr -d ' c'\n");
  run();
  assert.deepEqual(runs(), [2, 1], 'clean re-ran, plain did not');
  const s = cli(['status', '-db', ws.db]);
  assert.equal(s.code, 0, s.stderr);
  const lines = s.stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith('clean '));
  assert.equal(lines[at + 1], `  new version (was ${v1.slice(0, 8)}): files: tools/clean.sh`, s.stdout);
  assert.match(lines[at + 2], /^plain /, 'no line under a task without a new version');
  assert.deepEqual([json().clean.changed, json().plain.changed], [['files: tools/clean.sh'], null]);

  // A new file matching the pattern; then the script edited and that file no longer listed.
  ws.write('tools/extra.sh', 'true\n');
  run();
  assert.deepEqual(json().clean.changed, ['files: +tools/extra.sh']);
  ws.write(
    'm.toml',
    FILES_MANIFEST(ws).replace('"tools/*.sh"', '"tools/clean.sh"').replace('sh tools/clean.sh', 'sh ./tools/clean.sh'),
  );
  run();
  assert.deepEqual(runs(), [4, 1]);
  assert.deepEqual(json().clean.changed, ['script', 'files: -tools/extra.sh']);
  assert.match(
    cli(['status', '-db', ws.db]).stdout,
    /\n {2}new version \(was [0-9a-f]{8}\): script, files: -tools\/extra\.sh\n/,
  );
  const all = JSON.parse(cli(['status', '-db', ws.db, '-all', '-json']).stdout).tasks.filter((x) => x.name === 'clean');
  assert.deepEqual(
    all.map((x) => x.changed),
    [['script', 'files: -tools/extra.sh'], ['files: +tools/extra.sh'], ['files: tools/clean.sh'], null],
  );

  // The db records which bytes each version had; a task without files has no `files` key.
  const d = await openDb(ws.db);
  const defs = d
    .prepare(`SELECT name, definition FROM task ORDER BY id`)
    .all()
    .map((r) => [r.name, JSON.parse(r.definition)]);
  d.close();
  assert.deepEqual(
    defs.filter(([n]) => n === 'clean').map(([, x]) => x.files),
    [
      { 'tools/clean.sh': sha256("tr -d ' '\n") },
      { 'tools/clean.sh': sha256("tr -d ' c'\n") },
      { 'tools/clean.sh': sha256("tr -d ' c'\n"), 'tools/extra.sh': sha256('true\n') },
      { 'tools/clean.sh': sha256("tr -d ' c'\n") },
    ],
  );
  assert.deepEqual(
    defs.filter(([n]) => n === 'plain').map(([, x]) => Object.keys(x).sort()),
    [['env', 'script', 'shell', 'stdout']],
  );
});

// A PATH with node, sh and the few tools the scripts use, but no bash.
function pathWithoutBash(ws) {
  const bin = ws.path('bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, `${bin}/node`);
  for (const tool of ['sh', 'cat', 'tr']) {
    symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), `${bin}/${tool}`);
  }
  return { PATH: bin };
}

test('without bash on PATH, a task with the default shell is a manifest error; sh and shebang tasks run', (t) => {
  const ws = workspace(t);
  const env = pathWithoutBash(ws);
  ws.write('in.txt', 'hello\n');
  ws.write(
    'm.toml',
    `[[task]]\nname = "a"\nscript = 'cat "$INPUT_FILE" > "$OUTPUT_DIR/x"'\n\n[[task]]\nname = "b"\nscript = "true"\n`,
  );
  const r = cli(['-manifest', 'm.toml', '-db', 'db', '-input', 'in.txt'], { cwd: ws.dir, env });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.match(/bash is not installed/g)?.length, 2, r.stderr);
  assert.match(
    r.stderr,
    /m\.toml:1: task "a": field "shell": bash is not installed \(not on PATH\); set shell = \["sh", "-e", "-c"\] or install bash/,
  );
  assert.match(r.stderr, /m\.toml:5: task "b": field "shell": bash is not installed/);
  assert.equal(existsSync(ws.path('db')), false, 'nothing is written');

  ws.write(
    'm.toml',
    `[[task]]
name = "a"
shell = ["sh", "-e", "-c"]
script = 'cat "$INPUT_FILE" > "$OUTPUT_DIR/x"'

[[task]]
name = "b"
script = '''
#!/bin/sh
tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/y"
'''
`,
  );
  const ok = cli(['-manifest', 'm.toml', '-db', 'db', '-input', 'in.txt', '-quiet'], { cwd: ws.dir, env });
  assert.equal(ok.code, 0, ok.stderr);
  const y = cli(['ls', '-db', 'db', '-task', 'b'], { cwd: ws.dir, env }).stdout.trimEnd().split('\t');
  assert.deepEqual(y.slice(0, 3), ['y', sha256('HELLO\n'), '6']);
});

test('the default shell is strict bash: an unset variable or a failing pipe stage fails the step', (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `[[task]]
name = "unset"
inputs = []
script = 'echo "$NO_SUCH_VARIABLE" > "$OUTPUT_DIR/x"'

[[task]]
name = "pipe"
inputs = []
script = 'false | cat > "$OUTPUT_DIR/x"'

[[task]]
name = "fine"
inputs = []
script = 'echo "\${NO_SUCH_VARIABLE:-}" | cat > "$OUTPUT_DIR/x"'
`,
  );
  ws.write('in.txt', 'x\n');
  const r = cli(['-manifest', 'm.toml', '-db', 'db', '-input', 'in.txt', '-quiet'], {
    cwd: ws.dir,
    env: { NO_SUCH_VARIABLE: undefined },
  });
  assert.equal(r.code, 1, r.stderr);
  const tasks = Object.fromEntries(
    JSON.parse(cli(['status', '-db', 'db', '-json'], { cwd: ws.dir }).stdout).tasks.map((x) => [x.name, x]),
  );
  assert.deepEqual([tasks.unset.failed, tasks.pipe.failed, tasks.fine.done], [1, 1, 1]);
});
