import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cli, workspace } from './helpers.js';

// Every manifest mistake of SPEC 2 through the real CLI: exit 2, one line per problem naming
// the file, line, task and field, no stack trace, and no db written.
const CASES = [
  ['a typo in a key', `[[task]]\nname = "a"\nscirpt = "true"\n`, [/m\.toml:3: task "a": field "scirpt": unknown key \(did you mean "script"\?\)/, /field "script": missing/]],
  ['a missing name', `[[task]]\nscript = "true"\n`, [/m\.toml:1: .*field "name": missing/]],
  ['a missing script', `[[task]]\nname = "a"\n`, [/m\.toml:1: task "a": field "script": missing/]],
  ['a bad name', `[[task]]\nname = "-bad name"\nscript = "true"\n`, [/m\.toml:2: .*field "name"/]],
  ['duplicate names', `[[task]]\nname = "a"\nscript = "true"\n\n[[task]]\nname = "a"\nscript = "true"\n`, [/m\.toml:6: task "a": field "name": duplicate name: already used by the task on line 2/]],
  ['an unknown input', `[[task]]\nname = "split"\nscript = "true"\n[[task]]\nname = "b"\ninputs = ["splt"]\nscript = "true"\n`, [/m\.toml:6: task "b": field "inputs": unknown task "splt" \(did you mean "split"\?\)/]],
  ['a wrong type', `[[task]]\nname = "a"\nscript = "true"\nparallel = "4"\n`, [/m\.toml:4: task "a": field "parallel": must be a positive integer/]],
  ['a bad glob', `[[task]]\nname = "a"\nscript = "true"\n[[task]]\nname = "b"\nmatch = ["[oops"]\nscript = "true"\n`, [/m\.toml:6: task "b": field "match"/]],
  ['a TOML syntax error', `[[task]]\nname = "a\nscript = "true"\n`, [/m\.toml:2: invalid TOML/]],
  ['several errors at once', `[[task]]\nname = "a"\nscirpt = "x"\n[[task]]\nname = "b"\nscript = "true"\ntimeout = -1\n`, [/m\.toml:3: task "a": field "scirpt"/, /m\.toml:7: task "b": field "timeout"/]],
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
  for (const args of [['-manifest', 'm.toml', '-db', 'db1'], ['--manifest=m.toml', '--db', 'db2'], ['-manifest=m.toml', '-db=db3', '-quiet']]) {
    const r = cli(args, { cwd: ws.dir });
    assert.equal(r.code, 0, r.stderr);
  }
  for (const d of ['db1', 'db2', 'db3']) assert.ok(existsSync(ws.path(d, 'pipeline.sqlite')));
  assert.equal(cli(['--version']).code, 0);
  assert.match(cli(['run', '--help']).stdout, /usage: task-pipeline/);
});
