import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  loadManifest,
  ManifestError,
  formatProblem,
  compileGlob,
  globError,
  matchesAny,
  taskVersion,
  canonicalJson,
  DEFAULT_SHELL,
} from '../dist/manifest/index.js';
import { versionChange, previousVersionChange } from '../dist/store/inspect/version-change.js';
import { sqliteQuery } from '../dist/store/inspect/sqlite-query.js';

// Each call gets its own temp dir, removed when the test ends.
function withManifest(t, text, name = 'm.toml') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-manifest-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return { dir, file };
}

function load(t, text) {
  const { file } = withManifest(t, text);
  return loadManifest(file);
}

/** The problems of a manifest that must fail, as formatted lines with the temp path replaced by m.toml. */
function problemsOf(t, text) {
  const { file } = withManifest(t, text);
  try {
    loadManifest(file);
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected ManifestError, got ${err}`);
    assert.equal(err.code, 'EMANIFEST');
    for (const p of err.problems) assert.equal(p.file, file);
    return err.problems.map((p) => formatProblem({ ...p, file: 'm.toml' }));
  }
  assert.fail('manifest was accepted');
}

function one(t, text) {
  const lines = problemsOf(t, text);
  assert.equal(lines.length, 1, lines.join('\n'));
  return lines[0];
}

const task = (name, extra = '') => `[[task]]\nname = "${name}"\nscript = "true"\n${extra}`;

describe('valid manifests', () => {
  test('a 3-task chain with defaults resolved', (t) => {
    const { file, dir } = withManifest(
      t,
      [
        '# a comment',
        '[[task]]',
        'name = "split"',
        "script = '''",
        'split -l 1000 "$INPUT_FILE" "$OUTPUT_DIR/part-"',
        "'''",
        '',
        '[[task]]',
        'name = "count"',
        'script = \'wc -l < "$INPUT_FILE"\'',
        '',
        '[[task]]',
        'name = "total"',
        'script = "cat"',
        '',
      ].join('\n'),
    );
    const m = loadManifest(file);
    assert.equal(m.path, path.resolve(file));
    assert.equal(m.dir, dir);
    assert.deepEqual(
      m.tasks.map((x) => x.name),
      ['split', 'count', 'total'],
    );
    assert.deepEqual(
      m.tasks.map((x) => x.inputs),
      [[], ['split'], ['count']],
    );
    assert.deepEqual(
      m.tasks.map((x) => x.line),
      [2, 8, 12],
    );
    assert.deepEqual(
      m.tasks.map((x) => x.index),
      [0, 1, 2],
    );
    const [split] = m.tasks;
    assert.equal(split.script, 'split -l 1000 "$INPUT_FILE" "$OUTPUT_DIR/part-"\n');
    assert.deepEqual(split.shell, ['bash', '-euo', 'pipefail', '-c']);
    assert.deepEqual(split.env, {});
    assert.equal(split.match, null);
    assert.equal(split.parallel, null);
    assert.equal(split.timeout, null);
    assert.equal(split.retries, 0);
    assert.equal(split.stdout, null);
    assert.equal(split.gather, false);
    assert.deepEqual(split.files, []);
    assert.equal(split.maxRounds, 1000);
  });

  test('explicit fields are kept', (t) => {
    const m = load(
      t,
      `
[[task]]
name = "split"
script = "split"

[[task]]
name = "count"
inputs = ["split", "count"]
match = ["part-*", "dir/**/*.txt"]
parallel = 4
timeout = 1.5
retries = 2
env = { LC_ALL = "C" }
shell = ["sh", "-e", "-c"]
stdout = "out/count.txt"
max_rounds = 25
script = 'wc -l < "$INPUT_FILE"'

[[task]]
name = "root.2"
inputs = []
script = "x"

[[task]]
name = "total"
gather = true
inputs = ["count"]
script = "cat"
[task.env]
A_B = "1"
`,
    );
    const [, count, root2, total] = m.tasks;
    assert.deepEqual(count.inputs, ['split', 'count']);
    assert.deepEqual(count.match, ['part-*', 'dir/**/*.txt']);
    assert.equal(count.parallel, 4);
    assert.equal(count.timeout, 1.5);
    assert.equal(count.retries, 2);
    assert.deepEqual(count.env, { LC_ALL: 'C' });
    assert.deepEqual(count.shell, ['sh', '-e', '-c']);
    assert.equal(count.stdout, 'out/count.txt');
    assert.equal(count.maxRounds, 25);
    assert.deepEqual(root2.inputs, []);
    assert.equal(total.gather, true);
    assert.deepEqual(total.env, { A_B: '1' });
  });

  test('an inline array of tasks loads with null lines', (t) => {
    const m = load(t, 'task = [{ name = "a", script = "x" }, { name = "b", script = "y" }]\n');
    assert.deepEqual(
      m.tasks.map((x) => [x.name, x.inputs, x.line]),
      [
        ['a', [], null],
        ['b', ['a'], null],
      ],
    );
  });

  test('a [[task]] inside a multi-line script is not a header', (t) => {
    const m = load(
      t,
      `[[task]]
name = "a"
script = """
[[task]]
scirpt = 1
"""

[[task]]
name = "b"
script = "y"
`,
    );
    assert.deepEqual(
      m.tasks.map((x) => x.line),
      [1, 8],
    );
    assert.equal(m.tasks[0].script, '[[task]]\nscirpt = 1\n');
  });
});

describe('manifest errors', () => {
  test('a typo key, with a suggestion and its line', (t) => {
    assert.equal(
      one(t, '[[task]]\nname = "count"\nscript = "x"\n\n\n\nscirpt = "y"\n'),
      'm.toml:7: task "count": field "scirpt": unknown key (did you mean "script"?)',
    );
  });

  test('an unknown key far from any known one gets no suggestion', (t) => {
    assert.equal(one(t, task('a', 'zzzzzz = 1\n')), 'm.toml:4: task "a": field "zzzzzz": unknown key');
  });

  test('missing name and missing script point at the header', (t) => {
    assert.equal(
      one(t, '\n[[task]]\nscript = "x"\n'),
      'm.toml:2: field "name": missing: every task needs a name (task 1 in the file)',
    );
    assert.equal(
      one(t, '[[task]]\nname = "a"\n'),
      'm.toml:1: task "a": field "script": missing: every task needs a script',
    );
  });

  test('a bad name', (t) => {
    for (const bad of ['bad name', '-x', '.x', 'a/b', '']) {
      assert.match(one(t, task(bad)), /^m\.toml:2: task ".*": field "name": ".*" is not a valid task name/);
    }
  });

  test('a duplicate name reports the second, with the line of the first', (t) => {
    assert.equal(
      one(t, `${task('a')}${task('b')}${task('a')}`),
      'm.toml:8: task "a": field "name": duplicate name: already used by the task on line 2',
    );
  });

  test('inputs naming an unknown task', (t) => {
    assert.equal(
      one(t, `${task('split')}${task('count', 'inputs = ["splt", "count"]\n')}`),
      'm.toml:7: task "count": field "inputs": unknown task "splt" (did you mean "split"?)',
    );
  });

  const wrongTypes = [
    ['name = 3', 'name', 'must be a string, got integer 3'],
    ['script = ["a"]', 'script', 'must be a string, got an array'],
    ['script = ""', 'script', 'must not be empty'],
    ['inputs = "a"', 'inputs', 'must be an array of task names, got string "a" (write ["a"])'],
    ['inputs = [1]', 'inputs', 'item 1 must be a string, got integer 1'],
    ['inputs = ["a", "a"]', 'inputs', 'lists "a" twice'],
    ['match = "*.txt"', 'match', 'must be an array of glob patterns, got string "*.txt" (write ["*.txt"])'],
    ['match = []', 'match', 'is empty, so no output could ever flow in (omit match to accept every output)'],
    ['parallel = 0', 'parallel', 'must be a positive integer, got integer 0'],
    ['parallel = 1.5', 'parallel', 'must be a positive integer, got float 1.5'],
    ['parallel = 99999999999999999999', 'parallel', 'must be a positive integer, got an integer out of range'],
    ['parallel = "4"', 'parallel', 'must be a positive integer, got string "4"'],
    ['timeout = 0', 'timeout', 'must be a positive number of seconds, got integer 0'],
    ['timeout = inf', 'timeout', 'must be a positive number of seconds, got float inf'],
    ['timeout = nan', 'timeout', 'must be a positive number of seconds, got float nan'],
    ['timeout = "60s"', 'timeout', 'must be a positive number of seconds, got string "60s"'],
    ['retries = -1', 'retries', 'must be a non-negative integer, got integer -1'],
    ['retries = true', 'retries', 'must be a non-negative integer, got boolean true'],
    ['retries = 1979-05-27', 'retries', 'must be a non-negative integer, got a datetime'],
    ['env = "A=1"', 'env', 'must be a table of strings, like { LC_ALL = "C" }, got string "A=1"'],
    ['env = { N = 4 }', 'env', '"N" must be a string, got integer 4 (quote it: N = "4")'],
    [
      'env = { "1X" = "y" }',
      'env',
      '"1X" is not a valid variable name: use letters, digits and "_", not starting with a digit',
    ],
    ['env = { OUTPUT_DIR = "/x" }', 'env', 'OUTPUT_DIR is set by the engine for every step and cannot be overridden'],
    ['shell = "bash"', 'shell', 'must be an array of strings, got string "bash" (write ["bash"])'],
    ['shell = []', 'shell', 'must not be empty: it needs at least the program to run'],
    ['shell = ["bash", 1]', 'shell', 'item 2 must be a string, got integer 1'],
    ['stdout = 1', 'stdout', 'must be a string, got integer 1'],
    ['stdout = ""', 'stdout', 'must not be empty'],
    ['stdout = "/etc/x"', 'stdout', 'must be a relative path, got "/etc/x"'],
    ['stdout = "a/../../x"', 'stdout', 'must not contain "..", got "a/../../x"'],
    ['stdout = "a//b"', 'stdout', 'must be a plain relative path (no empty or "." segments), got "a//b"'],
    ['gather = "yes"', 'gather', 'must be true or false, got string "yes"'],
    ['max_rounds = 0', 'max_rounds', 'must be a positive integer, got integer 0'],
    ['max_rounds = "x"', 'max_rounds', 'must be a positive integer, got string "x"'],
    ['max_rounds = 2.5', 'max_rounds', 'must be a positive integer, got float 2.5'],
    [
      'files = "tools/*.py"',
      'files',
      'must be an array of glob patterns, got string "tools/*.py" (write ["tools/*.py"])',
    ],
    ['files = [1]', 'files', 'item 1 must be a string, got integer 1'],
    ['files = { a = "x" }', 'files', 'must be an array of glob patterns, got a table'],
    [
      'files = ["/etc/passwd"]',
      'files',
      '"/etc/passwd" must be relative to the manifest\'s directory, not an absolute path',
    ],
    ['files = ["tools/[a-"]', 'files', 'bad glob "tools/[a-": unclosed "["'],
  ];
  for (const [line, field, message] of wrongTypes) {
    test(`wrong type: ${line}`, (t) => {
      const text = line.startsWith('name')
        ? `[[task]]\n${line}\nscript = "x"\n`
        : line.startsWith('script')
          ? `${task('a')}\n[[task]]\nname = "t"\n\n${line}\n`
          : `${task('a')}\n${task('t', `${line}\n`)}`;
      const expected = line.startsWith('name')
        ? `m.toml:2: field "name": ${message}`
        : `m.toml:8: task "t": field "${field}": ${message}`;
      assert.equal(one(t, text), expected);
    });
  }

  test('bad globs, each reported', (t) => {
    assert.deepEqual(problemsOf(t, task('a', 'match = ["ok-*", "[a-", "", "/abs", "x\\\\"]\n')), [
      'm.toml:4: task "a": field "match": bad glob "[a-": unclosed "["',
      'm.toml:4: task "a": field "match": bad glob "": empty pattern',
      'm.toml:4: task "a": field "match": bad glob "/abs": starts with "/": output names are relative, it would never match',
      'm.toml:4: task "a": field "match": bad glob "x\\\\": ends with a lone "\\"',
    ]);
  });

  test('a TOML syntax error gives its line and a one-line message', (t) => {
    const line = one(t, '[[task]]\nname = "a"\nscript = "unterminated\n');
    assert.equal(line, 'm.toml:3: invalid TOML, column 23: Unterminated string');
    assert.doesNotMatch(line, /\n/);
  });

  test('a key defined twice is a TOML error on the second line', (t) => {
    assert.match(
      one(t, '[[task]]\nname = "a"\nname = "b"\nscript = "x"\n'),
      /^m\.toml:3: invalid TOML, column \d+: Can't redefine existing key$/,
    );
  });

  test('a missing file', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-manifest-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'nope.toml');
    assert.throws(
      () => loadManifest(file),
      (err) => {
        assert.ok(err instanceof ManifestError);
        assert.equal(err.problems.length, 1);
        assert.equal(formatProblem(err.problems[0]), `${file}: cannot read manifest: no such file`);
        return true;
      },
    );
    assert.throws(
      () => loadManifest(dir),
      (err) => {
        assert.equal(formatProblem(err.problems[0]), `${dir}: cannot read manifest: is a directory`);
        return true;
      },
    );
  });

  test('the file is named as the user gave it', (t) => {
    const { dir } = withManifest(t, '[[task]]\nname = "a"\n');
    const cwd = process.cwd();
    process.chdir(dir);
    t.after(() => process.chdir(cwd));
    assert.throws(
      () => loadManifest('m.toml'),
      (err) => {
        assert.equal(
          formatProblem(err.problems[0]),
          'm.toml:1: task "a": field "script": missing: every task needs a script',
        );
        return true;
      },
    );
  });

  test('an empty manifest, unknown top-level keys, and a non-array task', (t) => {
    assert.equal(one(t, '# nothing\n'), 'm.toml: no tasks: a manifest needs at least one [[task]]');
    assert.deepEqual(problemsOf(t, 'version = 1\n[[tasks]]\nname = "a"\n'), [
      'm.toml: no tasks: a manifest needs at least one [[task]]',
      'm.toml:1: field "version": unknown top-level key',
      'm.toml:2: field "tasks": unknown top-level key (did you mean "task"?)',
    ]);
    assert.equal(
      one(t, '[task]\nname = "a"\nscript = "x"\n'),
      'm.toml:1: field "task": must be an array of tables ([[task]]), got a table',
    );
    assert.equal(one(t, 'task = []\n'), 'm.toml:1: field "task": no tasks: a manifest needs at least one [[task]]');
  });

  test('a gather task needs inputs', (t) => {
    assert.equal(
      one(t, `${task('a')}${task('g', 'gather = true\ninputs = []\n')}`),
      'm.toml:7: task "g": field "gather": a gather task needs inputs, and inputs = [] makes this task a root',
    );
    assert.equal(
      one(t, task('g', 'gather = true\n')),
      'm.toml:4: task "g": field "gather": a gather task needs inputs, and the first task has no previous task to read from',
    );
    // Not first, inputs omitted: it gathers the previous task.
    const m = load(t, `${task('a')}${task('g', 'gather = true\n')}`);
    assert.deepEqual(m.tasks[1].inputs, ['a']);
  });

  test('several errors at once, in file order, with their lines', (t) => {
    assert.deepEqual(
      problemsOf(
        t,
        `[[task]]
name = "split"
script = "split"

[[task]]
name = "count"
scirpt = "wc -l"
inputs = ["splt"]
parallel = "4"

[[task]]
name = "count"
script = "x"
[task.env]
A = 1

[[task]]
script = 1
`,
      ),
      [
        'm.toml:5: task "count": field "script": missing: every task needs a script',
        'm.toml:7: task "count": field "scirpt": unknown key (did you mean "script"?)',
        'm.toml:8: task "count": field "inputs": unknown task "splt" (did you mean "split"?)',
        'm.toml:9: task "count": field "parallel": must be a positive integer, got string "4"',
        'm.toml:12: task "count": field "name": duplicate name: already used by the task on line 6',
        'm.toml:14: task "count": field "env": "A" must be a string, got integer 1 (quote it: A = "1")',
        'm.toml:17: field "name": missing: every task needs a name (task 4 in the file)',
        'm.toml:18: field "script": must be a string, got integer 1',
      ],
    );
  });

  test('lines survive CRLF, dotted keys, comments and multi-line arrays', (t) => {
    const text = [
      '[[task]] # first',
      'name = "a"',
      'script = "x"',
      'inputs = [',
      '  "a", # itself',
      ']',
      'env.1X = "y"',
      '"scirpt" = 1',
    ].join('\r\n');
    assert.deepEqual(problemsOf(t, text), [
      'm.toml:7: task "a": field "env": "1X" is not a valid variable name: use letters, digits and "_", not starting with a digit',
      'm.toml:8: task "a": field "scirpt": unknown key (did you mean "script"?)',
    ]);
  });

  test('inline tasks fall back to the line of the task key', (t) => {
    assert.equal(
      one(t, '\ntask = [{ name = "a", scirpt = "x", script = "y" }]\n'),
      'm.toml:2: task "a": field "scirpt": unknown key (did you mean "script"?)',
    );
  });

  test('the error message summarises the first problem', (t) => {
    const { file } = withManifest(t, '[[task]]\n[[task]]\n');
    assert.throws(
      () => loadManifest(file),
      (err) => {
        assert.equal(err.problems.length, 4);
        assert.match(err.message, /field "name": missing.* \(and 3 more\)$/);
        return true;
      },
    );
  });
});

describe('formatProblem', () => {
  test('leaves out the null parts', () => {
    const p = { file: 'm.toml', line: null, task: null, field: null, message: 'boom' };
    assert.equal(formatProblem(p), 'm.toml: boom');
    assert.equal(formatProblem({ ...p, line: 3, task: 'a' }), 'm.toml:3: task "a": boom');
    assert.equal(formatProblem({ ...p, field: 'x' }), 'm.toml: field "x": boom');
  });
});

describe('globs', () => {
  test('a pattern without "/" matches the basename', () => {
    assert.ok(matchesAny(['part-*'], 'part-aa'));
    assert.ok(matchesAny(['part-*'], 'dir/sub/part-aa'));
    assert.ok(!matchesAny(['part-*'], 'part-dir/x'));
    assert.ok(matchesAny(['*.txt'], 'a/b.txt'));
    assert.ok(!matchesAny(['*.txt'], 'a/b.txt.gz'));
    assert.ok(matchesAny(['*'], '.hidden'));
  });

  test('a pattern with "/" matches the whole name', () => {
    assert.ok(matchesAny(['a/*.txt'], 'a/b.txt'));
    assert.ok(!matchesAny(['a/*.txt'], 'x/a/b.txt'));
    assert.ok(!matchesAny(['a/*.txt'], 'a/b/c.txt'));
    assert.ok(!matchesAny(['a/*.txt'], 'b.txt'));
  });

  test('** crosses directories, and **/ also matches none', () => {
    assert.ok(matchesAny(['a/**/*.txt'], 'a/b/c/d.txt'));
    assert.ok(matchesAny(['a/**/*.txt'], 'a/d.txt'));
    assert.ok(matchesAny(['**/x'], 'x'));
    assert.ok(matchesAny(['**/x'], 'p/q/x'));
    assert.ok(matchesAny(['a/**'], 'a/b/c'));
    assert.ok(!matchesAny(['a/**'], 'b/a/c'));
    assert.ok(matchesAny(['a**z/q'], 'a/b/z/q'));
  });

  test('? and classes never match "/"', () => {
    assert.ok(matchesAny(['f?o'], 'foo'));
    assert.ok(!matchesAny(['x/f?o'], 'x/f/o'));
    assert.ok(matchesAny(['[abc].txt'], 'b.txt'));
    assert.ok(!matchesAny(['[abc].txt'], 'd.txt'));
    assert.ok(matchesAny(['part-[a-c]'], 'part-b'));
    assert.ok(!matchesAny(['part-[a-c]'], 'part-d'));
    assert.ok(matchesAny(['[!a]x'], 'bx'));
    assert.ok(!matchesAny(['[!a]x'], 'ax'));
    assert.ok(!matchesAny(['d[!a]x'], 'd/x'));
    assert.ok(matchesAny(['[]]'], ']'));
    assert.ok(matchesAny(['[-a]'], '-'));
  });

  test('regex metacharacters are literal, \\ escapes', () => {
    assert.ok(matchesAny(['a.b(1)+$'], 'a.b(1)+$'));
    assert.ok(!matchesAny(['a.b'], 'axb'));
    assert.ok(matchesAny(['\\*'], '*'));
    assert.ok(!matchesAny(['\\*'], 'x'));
  });

  test('null patterns let everything through; an empty list nothing', () => {
    assert.ok(matchesAny(null, 'anything'));
    assert.ok(!matchesAny([], 'anything'));
  });

  test('globError and compileGlob', () => {
    assert.equal(globError('ok/*.[ch]'), null);
    assert.equal(globError(''), 'empty pattern');
    assert.equal(globError('[ab'), 'unclosed "["');
    assert.equal(globError('[z-a]'), 'bad range "z-a" in "[...]"');
    assert.throws(() => compileGlob('[ab'), /unclosed/);
    const re = compileGlob('*.txt');
    assert.ok(re instanceof RegExp);
    assert.equal(compileGlob('*.txt'), re, 'compiled once, then cached');
    assert.ok(re.test('a.txt'));
    assert.ok(!re.test('d/a.txt'), 'the regex itself matches a whole subject');
  });
});

describe('taskVersion', () => {
  const base = (t, extra = '') => load(t, `[[task]]\nname = "a"\nscript = "echo hi"\n${extra}`).tasks[0];

  test('is lowercase hex SHA-256', (t) => {
    assert.match(taskVersion(base(t)), /^[0-9a-f]{64}$/);
  });

  test('the default shell written out or omitted gives the same version', (t) => {
    assert.deepEqual(DEFAULT_SHELL, ['bash', '-euo', 'pipefail', '-c']);
    assert.equal(taskVersion(base(t)), taskVersion(base(t, 'shell = ["bash", "-euo", "pipefail", "-c"]\n')));
    assert.equal(taskVersion(base(t)), taskVersion(base(t, 'env = {}\n')));
  });

  test('changes with script, shell, env and stdout', (t) => {
    const v = taskVersion(base(t));
    const others = [
      load(t, '[[task]]\nname = "a"\nscript = "echo hi!"\n').tasks[0],
      base(t, 'shell = ["bash", "-c"]\n'),
      base(t, 'shell = ["sh", "-e", "-c"]\n'),
      base(t, 'env = { A = "1" }\n'),
      base(t, 'stdout = "out"\n'),
    ].map(taskVersion);
    for (const o of others) assert.notEqual(o, v);
    assert.equal(new Set(others).size, others.length);
  });

  test('ignores name, parallel, timeout, retries, inputs, match, max_rounds, gather position', (t) => {
    const v = taskVersion(base(t));
    const spec = base(t);
    assert.equal(
      taskVersion({
        ...spec,
        name: 'b',
        parallel: 3,
        timeout: 9,
        retries: 5,
        inputs: ['x'],
        match: ['*'],
        maxRounds: 3,
        line: 40,
        index: 7,
      }),
      v,
    );
    assert.equal(
      taskVersion(base(t, 'parallel = 2\ntimeout = 5\nretries = 1\ninputs = []\nmatch = ["*"]\nmax_rounds = 9\n')),
      v,
    );
  });

  test('env key order does not matter', (t) => {
    assert.equal(
      taskVersion(base(t, 'env = { A = "1", B = "2" }\n')),
      taskVersion(base(t, 'env = { B = "2", A = "1" }\n')),
    );
  });
});

describe('canonicalJson', () => {
  test('sorts keys at every depth, no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }, true] }), '{"a":[{"c":"x","d":null},true],"b":1}');
    assert.equal(canonicalJson({ a: undefined, b: 'é"' }), '{"b":"é\\""}');
  });

  test('refuses values with no JSON form', () => {
    assert.throws(() => canonicalJson(NaN), TypeError);
    assert.throws(() => canonicalJson(1n), TypeError);
  });
});

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A temp tree: { 'rel/path': 'content' } files, then the manifest at `manifest` (relative). */
function tree(t, files, manifest, text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  const file = path.join(dir, manifest);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return { dir, file, mdir: path.dirname(file) };
}

/** The formatted problems of a manifest that must fail, with its path and directory made short. */
function problemsAt(file) {
  try {
    loadManifest(file);
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected ManifestError, got ${err}`);
    return err.problems.map((p) => formatProblem({ ...p, file: 'm.toml' }).replaceAll(path.dirname(file), 'DIR'));
  }
  assert.fail('manifest was accepted');
}

describe('files', () => {
  const FILES = {
    'proj/tools/a.py': 'a',
    'proj/tools/b.py': 'bb',
    'proj/tools/c.sh': 'c',
    'proj/tools/sub/d.py': 'd',
    'proj/lib/top.sh': 'top',
    'proj/lib/x/y/z.sh': 'z',
    'proj/lib/x/readme.txt': 'r',
    'proj/lib/dir.sh/inner.txt': 'i',
    'shared/s.sh': 's',
    'other/real.py': 'real bytes',
  };
  const withFiles = (t, list, extra = {}) => {
    const files = `files = [${list.map((p) => JSON.stringify(p)).join(', ')}]\n`;
    return tree(t, { ...FILES, ...extra }, 'proj/m.toml', task('a', files));
  };
  const pathsOf = (file) => loadManifest(file).tasks[0].files.map((f) => f.path);

  test('are expanded, sorted, each with the SHA-256 of its bytes', (t) => {
    const { file } = withFiles(t, ['tools/*.py', 'lib/**/*.sh']);
    assert.deepEqual(loadManifest(file).tasks[0].files, [
      { path: 'lib/top.sh', hash: sha256('top') },
      { path: 'lib/x/y/z.sh', hash: sha256('z') },
      { path: 'tools/a.py', hash: sha256('a') },
      { path: 'tools/b.py', hash: sha256('bb') },
    ]);
  });

  test('* and ? stop at "/", ** crosses it, classes; directories never match', (t) => {
    assert.deepEqual(pathsOf(withFiles(t, ['tools/?.py']).file), ['tools/a.py', 'tools/b.py']);
    assert.deepEqual(pathsOf(withFiles(t, ['tools/[b-c].*']).file), ['tools/b.py', 'tools/c.sh']);
    assert.deepEqual(pathsOf(withFiles(t, ['tools/**']).file), [
      'tools/a.py',
      'tools/b.py',
      'tools/c.sh',
      'tools/sub/d.py',
    ]);
    assert.deepEqual(pathsOf(withFiles(t, ['*/*/*.py']).file), ['tools/sub/d.py']);
    assert.deepEqual(pathsOf(withFiles(t, ['lib/*']).file), ['lib/top.sh'], 'lib/x and lib/dir.sh are directories');
    assert.deepEqual(pathsOf(withFiles(t, ['**/*.sh']).file), ['lib/top.sh', 'lib/x/y/z.sh', 'tools/c.sh']);
    assert.deepEqual(pathsOf(withFiles(t, ['lib/x/readme.txt']).file), ['lib/x/readme.txt']);
  });

  test('duplicates are listed once, "./" is dropped, "../" reaches beside the manifest directory', (t) => {
    assert.deepEqual(pathsOf(withFiles(t, ['tools/a.py', './tools/*.py', 'tools/[a]*']).file), [
      'tools/a.py',
      'tools/b.py',
    ]);
    const { file } = withFiles(t, ['../shared/*.sh']);
    assert.deepEqual(loadManifest(file).tasks[0].files, [{ path: '../shared/s.sh', hash: sha256('s') }]);
  });

  test('a symlink to a file counts, with its target bytes; a dangling one does not; a symlink cycle ends', (t) => {
    const { dir, file } = withFiles(t, ['tools/**/*.py']);
    fs.symlinkSync('../../other/real.py', path.join(dir, 'proj/tools/link.py'));
    fs.symlinkSync('nowhere.py', path.join(dir, 'proj/tools/dangling.py'));
    fs.symlinkSync('..', path.join(dir, 'proj/tools/sub/loop'));
    const files = loadManifest(file).tasks[0].files;
    assert.deepEqual(
      files.find((f) => f.path === 'tools/link.py'),
      { path: 'tools/link.py', hash: sha256('real bytes') },
    );
    assert.ok(!files.some((f) => f.path.includes('dangling')));
    assert.ok(files.some((f) => f.path === 'tools/sub/d.py'));
  });

  test('a pattern that matches no file is an error, each one, with the directory it is relative to', (t) => {
    const { file } = withFiles(t, ['tools/*.py', 'tools/*.rb', 'nope/**', 'lib/x/y']);
    assert.deepEqual(problemsAt(file), [
      'm.toml:4: task "a": field "files": "tools/*.rb" matches no file (relative to DIR)',
      'm.toml:4: task "a": field "files": "nope/**" matches no file (relative to DIR)',
      'm.toml:4: task "a": field "files": "lib/x/y" matches no file (relative to DIR)',
    ]);
  });

  test('errors come with the others, in line order', (t) => {
    const { file } = tree(
      t,
      FILES,
      'proj/m.toml',
      `${task('a', 'files = ["tools/*.rb"]\n')}${task('b', 'parallel = 0\nfiles = ["/abs", "[x", "lib/*.rb", "lib/*.sh"]\n')}`,
    );
    assert.deepEqual(problemsAt(file), [
      'm.toml:4: task "a": field "files": "tools/*.rb" matches no file (relative to DIR)',
      'm.toml:8: task "b": field "parallel": must be a positive integer, got integer 0',
      'm.toml:9: task "b": field "files": "/abs" must be relative to the manifest\'s directory, not an absolute path',
      'm.toml:9: task "b": field "files": bad glob "[x": unclosed "["',
      'm.toml:9: task "b": field "files": "lib/*.rb" matches no file (relative to DIR)',
    ]);
  });

  test("the version includes the files' bytes, not their times; without files it is the old formula", (t) => {
    const { dir, file } = withFiles(t, ['tools/*.py']);
    const spec = loadManifest(file).tasks[0];
    const v1 = taskVersion(spec);
    const old = sha256(canonicalJson({ script: spec.script, shell: spec.shell, env: spec.env, stdout: spec.stdout }));
    assert.notEqual(v1, old);
    const files = Object.fromEntries(spec.files.map((f) => [f.path, f.hash]));
    assert.equal(
      v1,
      sha256(canonicalJson({ script: spec.script, shell: spec.shell, env: spec.env, stdout: spec.stdout, files })),
    );
    assert.equal(taskVersion({ ...spec, files: [] }), old);
    assert.equal(taskVersion(load(t, task('a')).tasks[0]), old);
    assert.equal(taskVersion(load(t, task('a', 'files = []\n')).tasks[0]), old);

    const a = path.join(dir, 'proj/tools/a.py');
    fs.utimesSync(a, new Date(2000, 1, 1), new Date(2000, 1, 1));
    fs.writeFileSync(a, 'a');
    assert.equal(taskVersion(loadManifest(file).tasks[0]), v1, 'same bytes rewritten, other times');
    fs.writeFileSync(a, 'a2');
    const v2 = taskVersion(loadManifest(file).tasks[0]);
    assert.notEqual(v2, v1);
    fs.writeFileSync(path.join(dir, 'proj/tools/new.py'), '');
    assert.notEqual(taskVersion(loadManifest(file).tasks[0]), v2, 'a new matching file');
  });
});

describe('the default shell needs bash', () => {
  const withPath = (t, value) => {
    const saved = process.env.PATH;
    process.env.PATH = value;
    t.after(() => {
      process.env.PATH = saved;
    });
  };
  const emptyDir = (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-nobash-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  const MESSAGE = 'field "shell": bash is not installed (not on PATH); set shell = ["sh", "-e", "-c"] or install bash';

  test('without bash on PATH, a task with no shell is an error on its header line', (t) => {
    withPath(t, emptyDir(t));
    assert.deepEqual(problemsOf(t, `${task('a')}\n${task('b')}`), [
      `m.toml:1: task "a": ${MESSAGE}`,
      `m.toml:5: task "b": ${MESSAGE}`,
    ]);
  });

  test('a non-executable bash does not count; an executable one in any PATH directory does', (t) => {
    const dir = emptyDir(t);
    fs.writeFileSync(path.join(dir, 'bash'), '', { mode: 0o644 });
    withPath(t, `/nonexistent:${dir}`);
    assert.equal(one(t, task('a')), `m.toml:1: task "a": ${MESSAGE}`);
    fs.chmodSync(path.join(dir, 'bash'), 0o755);
    assert.deepEqual(load(t, task('a')).tasks[0].shell, ['bash', '-euo', 'pipefail', '-c']);
  });

  test('an explicit shell, or a shebang script, needs no bash', (t) => {
    withPath(t, emptyDir(t));
    const m = load(
      t,
      `${task('a', 'shell = ["sh", "-e", "-c"]\n')}
[[task]]
name = "b"
script = """
#!/bin/sh
echo hi
"""
`,
    );
    assert.deepEqual(
      m.tasks.map((x) => x.name),
      ['a', 'b'],
    );
    // A shell that is itself wrong is reported as such, not as missing bash.
    assert.equal(
      one(t, task('a', 'shell = []\n')),
      'm.toml:4: task "a": field "shell": must not be empty: it needs at least the program to run',
    );
  });
});

describe('versionChange', () => {
  const def = (extra = {}) => canonicalJson({ script: 'echo', shell: ['bash', '-c'], env: {}, stdout: null, ...extra });

  test('names each changed field in reading order', () => {
    assert.deepEqual(versionChange(def(), def()), []);
    assert.deepEqual(versionChange(def(), def({ script: 'echo 2' })), ['script']);
    assert.deepEqual(versionChange(def(), def({ env: { A: '1' } })), ['env']);
    assert.deepEqual(versionChange(def({ env: { A: '1', B: '2' } }), def({ env: { B: '2', A: '1' } })), []);
    assert.deepEqual(versionChange(def(), def({ stdout: 'o', shell: ['sh'], script: 'x', env: { A: '' } })), [
      'script',
      'shell',
      'env',
      'stdout',
    ]);
    assert.deepEqual(versionChange(def(), def({ later: 1 })), ['later']);
  });

  test('names each file added, removed or changed, by path', () => {
    const f = (files) => def({ files });
    assert.deepEqual(versionChange(f({ 'tools/clean.py': 'aa' }), f({ 'tools/clean.py': 'bb' })), [
      'files: tools/clean.py',
    ]);
    assert.deepEqual(versionChange(def(), f({ 'tools/new.py': 'aa' })), ['files: +tools/new.py']);
    assert.deepEqual(versionChange(f({ 'tools/old.py': 'aa' }), def()), ['files: -tools/old.py']);
    assert.deepEqual(
      versionChange(f({ b: '1', c: '1', d: '1' }), def({ script: 'y', files: { a: '1', c: '2', d: '1' } })),
      ['script', 'files: +a', 'files: -b', 'files: c'],
    );
  });

  test('a damaged definition is named as such', () => {
    assert.deepEqual(versionChange('{not json', def()), ['definition']);
    assert.deepEqual(versionChange('[]', def()), ['definition']);
  });

  test("previousVersionChange diffs against the same name's highest older id", async () => {
    const db = new Database(':memory:');
    db.exec(`CREATE TABLE task (id INTEGER PRIMARY KEY, name TEXT NOT NULL, script TEXT NOT NULL, version TEXT NOT NULL,
             definition TEXT NOT NULL, created_at INTEGER NOT NULL)`);
    const add = (id, name, d) =>
      db.prepare('INSERT INTO task VALUES (?, ?, ?, ?, ?, 0)').run(id, name, 'x', sha256(d), d);
    add(1, 'a', def());
    add(2, 'b', def());
    add(3, 'a', def({ script: 'v2' }));
    add(4, 'b', def({ files: { 'x.sh': '1' } }));
    add(5, 'a', def({ script: 'v2', env: { A: '1' } }));
    const changed = async (name, id) => (await previousVersionChange(sqliteQuery(db), name, id))?.changed ?? null;
    assert.equal(await changed('a', 1), null);
    assert.equal(await changed('b', 2), null);
    assert.deepEqual(await changed('a', 3), ['script']);
    assert.deepEqual(await changed('b', 4), ['files: +x.sh']);
    assert.deepEqual(await changed('a', 5), ['env']);
    assert.equal(await changed('a', 99), null, 'no such version');
    db.close();
  });
});
