import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli, isEmptyDir, objectPath, openDb, sha256, workspace } from './helpers.js';

// A step's INPUT_FILE, and each file of a gather's INPUT_DIR, is a hard link of the object file:
// nothing is copied. These tests run the real CLI (as root, as the suite does: a root script can
// write to a read-only file) and check that whatever a script does, the store stays intact.

async function doneOutputs(db, task) {
  const d = await openDb(db);
  try {
    return d
      .prepare(
        `SELECT s.input_name AS input, o.name, lower(hex(o.object_hash)) AS hash FROM step s JOIN task t ON t.id = s.task
      JOIN step_output o ON o.step_id = s.id WHERE t.name = ? AND s.status = 'done' ORDER BY 1, 2`,
      )
      .all(task);
  } finally {
    d.close();
  }
}

test('INPUT_FILE and the files of INPUT_DIR are the objects themselves, and no link is left behind', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `
[[task]]
name = "each"
script = 'stat -c "%i %h" "$INPUT_FILE" > "$OUTPUT_DIR/inode"; cp "$INPUT_FILE" "$OUTPUT_DIR/copy"'

[[task]]
name = "all"
gather = true
script = 'for f in "$INPUT_DIR"/*; do echo "$(basename "$f") $(stat -c %i "$f")"; done > "$OUTPUT_DIR/inodes"'
`,
  );
  ws.write('in/a.txt', 'alpha\n');
  ws.write('in/b.txt', 'bravo\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')]);
  assert.equal(r.code, 0, r.stderr);
  for (const o of (await doneOutputs(ws.db, 'each')).filter((x) => x.name === 'inode')) {
    const [ino, links] = readFileSync(objectPath(ws.db, o.hash), 'utf8').trim().split(' ').map(Number);
    const input = sha256(o.input === 'a.txt' ? 'alpha\n' : 'bravo\n');
    assert.equal(ino, statSync(objectPath(ws.db, input)).ino, o.input);
    assert.equal(links, 2, 'the object and its link in the slot');
  }
  const [listing] = await doneOutputs(ws.db, 'all');
  const lines = readFileSync(objectPath(ws.db, listing.hash), 'utf8').trim().split('\n');
  assert.equal(lines.length, 4);
  for (const line of lines) {
    const [name, ino] = line.split(' ');
    const bytes = name.endsWith('__copy') ? (name.startsWith('a.txt') ? 'alpha\n' : 'bravo\n') : null;
    if (bytes !== null) assert.equal(Number(ino), statSync(objectPath(ws.db, sha256(bytes))).ino, name);
  }
  // Every slot link was removed: each object is back to its one name.
  for (const bytes of ['alpha\n', 'bravo\n']) assert.equal(statSync(objectPath(ws.db, sha256(bytes))).nlink, 1);
  assert.ok(isEmptyDir(ws.path('db', 'tmp')));
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
});

test("many steps over one object at once: the engine's own links are never taken for a change", async (t) => {
  const ws = workspace(t);
  // Thirty names, one object: every step links and unlinks the same inode, changing its ctime
  // under the others; a gather then links it thirty times more into one INPUT_DIR.
  ws.write(
    'm.toml',
    `
[[task]]
name = "each"
script = 'sleep 0.0$((RANDOM % 5)); cat "$INPUT_FILE" > "$OUTPUT_DIR/o"'

[[task]]
name = "all"
gather = true
script = 'cat "$INPUT_DIR"/* | wc -l > "$OUTPUT_DIR/n"'
`,
  );
  for (let i = 0; i < 30; i++) ws.write(`in/${i}`, 'the same bytes\n');
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '4']);
  assert.equal(r.code, 0, r.stderr);
  const [n] = await doneOutputs(ws.db, 'all');
  assert.equal(readFileSync(objectPath(ws.db, n.hash), 'utf8').trim(), '30');
  assert.equal(statSync(objectPath(ws.db, sha256('the same bytes\n'))).nlink, 1);
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
});

test('a script that links or moves its INPUT_FILE into OUTPUT_DIR, or removes it, passes; the object stays in place', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `[[task]]
name = "out"
script = '''
case "$INPUT_NAME" in
  link) ln "$INPUT_FILE" "$OUTPUT_DIR/same" ;;
  move) mkdir "$OUTPUT_DIR/d"; mv "$INPUT_FILE" "$OUTPUT_DIR/d/same" ;;
  rm) wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"; rm "$INPUT_FILE" ;;
esac
'''
`,
  );
  const bytes = { link: 'to be linked\n', move: Buffer.alloc(3 << 20, 'm'), rm: 'to be removed\n' };
  for (const [name, b] of Object.entries(bytes)) ws.write(`in/${name}`, b);
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')]);
  assert.equal(r.code, 0, r.stderr);
  const outs = await doneOutputs(ws.db, 'out');
  assert.deepEqual(
    outs.map((o) => `${o.input} ${o.name} ${o.hash}`),
    [`link same ${sha256(bytes.link)}`, `move d/same ${sha256(bytes.move)}`, `rm n ${sha256('14\n')}`],
  );
  for (const b of Object.values(bytes)) {
    const st = statSync(objectPath(ws.db, sha256(b)));
    assert.equal(st.nlink, 1);
    assert.equal(st.mode & 0o777, 0o444);
  }
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  assert.ok(isEmptyDir(ws.path('db', 'tmp')));
});

// Each way to change a file: the step fails; the bytes are restored when they can be (an
// append is cut back), else moved to damaged/ and stored again by the next run of the same input.
const TAMPER = {
  append: { script: 'echo more >> "$f"', survives: true },
  truncate: { script: 'truncate -s 3 "$f"', survives: false },
  rewrite: { script: 'chmod u+w "$f"; echo other bytes > "$f"', survives: false },
  // Same length, mode and mtime as before: only the ctime tells.
  'rewrite, mtime restored': {
    script:
      'm=$(stat -c %y "$f"); chmod u+w "$f"; printf XX | dd of="$f" conv=notrunc status=none; chmod a-w "$f"; touch -d "$m" "$f"',
    survives: false,
  },
  'rewrite, utimes restored': {
    script: `node -e 'const fs = require("fs"), p = process.argv[1], st = fs.statSync(p);
      fs.writeFileSync(p, "Y".repeat(st.size)); fs.utimesSync(p, st.atime, st.mtime)' "$f"`,
    survives: false,
  },
};

for (const [how, { script, survives }] of Object.entries(TAMPER)) {
  test(`INPUT_FILE changed (${how}): the step fails, fsck is clean ${survives ? 'at once' : 'after the input is given again'}`, async (t) => {
    const ws = workspace(t);
    ws.write(
      'm.toml',
      `[[task]]\nname = "t"\nscript = '''\nf="$INPUT_FILE"\n[ -n "\${FIXED:-}" ] || { ${script}; }\ncp "$f" "$OUTPUT_DIR/copy"\n'''\n`,
    );
    const bytes = 'the precious input bytes\n';
    ws.write('in.txt', bytes);
    const run = (env = {}) => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
    const r = run();
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /t step \d+: the script modified its INPUT_FILE \(inputs are read-only; write to OUTPUT_DIR instead\)/,
    );
    const h = sha256(bytes);
    if (survives) {
      assert.match(r.stderr, /its bytes were intact/);
      assert.equal(readFileSync(objectPath(ws.db, h), 'utf8'), bytes);
      assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
    } else {
      assert.match(r.stderr, /its bytes were damaged: the object was moved to .*damaged/);
      assert.equal(existsSync(objectPath(ws.db, h)), false);
      assert.ok(existsSync(join(ws.db, 'damaged', h)));
      assert.equal(cli(['fsck', '-db', ws.db]).code, 1, 'missing');
    }
    const again = run({ FIXED: '1' });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(objectPath(ws.db, h), 'utf8'), bytes);
    assert.equal(statSync(objectPath(ws.db, h)).mode & 0o777, 0o444);
    assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  });

  test(`a file of INPUT_DIR changed (${how}): the gather fails, fsck is clean ${survives ? 'at once' : 'after the input is given again'}`, async (t) => {
    const ws = workspace(t);
    // The gathered objects are copies of the run inputs (same bytes, same objects): giving the
    // inputs again is what stores a damaged one again.
    ws.write(
      'm.toml',
      `
[[task]]
name = "pass"
script = 'cat "$INPUT_FILE" > "$OUTPUT_DIR/copy"'

[[task]]
name = "all"
gather = true
script = '''
f="$INPUT_DIR/b.txt__copy"
[ -n "\${FIXED:-}" ] || { ${script}; }
cat "$INPUT_DIR"/* > "$OUTPUT_DIR/all"
'''
`,
    );
    ws.write('in/a.txt', 'first input\n');
    ws.write('in/b.txt', 'second input, to be damaged\n');
    const run = (env = {}) => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in')], { env });
    const r = run();
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /all step \d+: the script modified INPUT_DIR\/b\.txt__copy \(inputs are read-only; write to OUTPUT_DIR instead\)/,
    );
    const h = sha256('second input, to be damaged\n');
    assert.equal(existsSync(objectPath(ws.db, h)), survives);
    assert.equal(cli(['fsck', '-db', ws.db]).code, survives ? 0 : 1);
    const again = run({ FIXED: '1' });
    assert.equal(again.code, 0, again.stderr);
    const [all] = await doneOutputs(ws.db, 'all');
    assert.equal(readFileSync(objectPath(ws.db, all.hash), 'utf8'), 'first input\nsecond input, to be damaged\n');
    assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  });
}

test('a big INPUT_FILE appended to is cut back to its bytes', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `[[task]]\nname = "t"\nscript = '[ -n "\${FIXED:-}" ] || echo more >> "$INPUT_FILE"; wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/n"'\n`,
  );
  const bytes = Buffer.alloc(5 << 20, 'z');
  ws.write('big', bytes);
  const r = cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('big')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /modified its INPUT_FILE.*its bytes were intact/);
  assert.equal(statSync(objectPath(ws.db, sha256(bytes))).size, bytes.length);
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
});

test('two steps holding one object while one script changes it: both fail, the other one is told why, and both pass once fixed', async (t) => {
  const ws = workspace(t);
  // Two names, the same bytes: two steps, one object, linked into both slots at once.
  ws.write(
    'm.toml',
    `[[task]]
name = "t"
script = '''
if [ "$INPUT_NAME" = vandal ]; then sleep 0.2; [ -n "\${FIXED:-}" ] || echo more >> "$INPUT_FILE"; else sleep 1.5; fi
cp "$INPUT_FILE" "$OUTPUT_DIR/copy"
'''
`,
  );
  ws.write('in/vandal', 'shared bytes\n');
  ws.write('in/bystander', 'shared bytes\n');
  const run = (env = {}) =>
    cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in'), '-parallel', '2'], { env });
  const r = run();
  assert.equal(r.code, 1, r.stderr);
  assert.equal((r.stderr.match(/the script modified its INPUT_FILE/g) ?? []).length, 2, r.stderr);
  assert.match(r.stderr, /or the script of another step holding the same object at the same time did/);
  assert.equal(readFileSync(objectPath(ws.db, sha256('shared bytes\n')), 'utf8'), 'shared bytes\n');
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  const again = run({ FIXED: '1' });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    (await doneOutputs(ws.db, 't')).map((o) => o.hash),
    [sha256('shared bytes\n'), sha256('shared bytes\n')],
  );
});

test('an object with as many links as the filesystem allows is given as a private copy', async (t) => {
  const ws = workspace(t);
  ws.write(
    'm.toml',
    `[[task]]
name = "t"
script = 'stat -c %i "$INPUT_FILE" > "$OUTPUT_DIR/inode"; [ -z "\${VANDAL:-}" ] || echo more >> "$INPUT_FILE"'
`,
  );
  const bytes = 'linked to the limit\n';
  ws.write('in.txt', bytes);
  const run = (env = {}) => cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('in.txt')], { env });
  // A first run stores the object and fails its step (VANDAL), which the next run retries.
  assert.equal(run({ VANDAL: '1' }).code, 1);
  const obj = objectPath(ws.db, sha256(bytes));
  // ext4 allows 65,000 names per inode; other filesystems more (then this test proves less).
  const extra = ws.path('links');
  mkdirSync(extra);
  let made = 0;
  try {
    for (; made < 70_000; made++) linkSync(obj, join(extra, String(made)));
  } catch (err) {
    if (err.code !== 'EMLINK') throw err;
  }
  t.after(() => rmSync(extra, { recursive: true, force: true }));
  if (made === 70_000) {
    t.skip('this filesystem takes more than 70,000 links');
    return;
  }
  const r = run();
  assert.equal(r.code, 0, r.stderr);
  const [out] = await doneOutputs(ws.db, 't');
  assert.notEqual(
    Number(readFileSync(objectPath(ws.db, out.hash), 'utf8')),
    statSync(obj).ino,
    'a copy, not the object',
  );
  assert.equal(statSync(obj).nlink, made + 1);
  assert.equal(cli(['fsck', '-db', ws.db]).code, 0);
  assert.ok(isEmptyDir(ws.path('db', 'tmp')));
});
